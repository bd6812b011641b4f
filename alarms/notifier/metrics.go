package notifier

import "github.com/VictoriaMetrics/metrics"

type notifyMetrics struct {
	delivered      *metrics.Counter
	failed         *metrics.Counter
	dropped        *metrics.Counter
	attemptErrors  *metrics.Counter
	historyDropped *metrics.Counter
	latency        *metrics.Histogram
}

func newNotifyMetrics(s *metrics.Set) *notifyMetrics {
	return &notifyMetrics{
		delivered:      s.GetOrCreateCounter("vigil_alarm_actions_delivered_total"),
		failed:         s.GetOrCreateCounter("vigil_alarm_actions_failed_total"),
		dropped:        s.GetOrCreateCounter("vigil_alarm_actions_dropped_total"),
		attemptErrors:  s.GetOrCreateCounter("vigil_alarm_action_attempt_errors_total"),
		historyDropped: s.GetOrCreateCounter("vigil_alarm_action_history_dropped_total"),
		latency:        s.GetOrCreateHistogram("vigil_alarm_decision_to_delivery_seconds"),
	}
}
