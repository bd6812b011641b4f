package evaluator

import "github.com/VictoriaMetrics/metrics"

// evalMetrics are the evaluator's self-metrics.
type evalMetrics struct {
	alarms         *metrics.Gauge
	evaluations    *metrics.Counter
	transitions    *metrics.Counter
	notifications  *metrics.Counter
	commitErrors   *metrics.Counter
	updates        *metrics.Counter
	updatedSeries  *metrics.Counter
	events         *metrics.Counter
	badMessages    *metrics.Counter
	sweeps         *metrics.Counter
	evalDuration   *metrics.Histogram
	triggerLatency *metrics.Histogram
}

func newEvalMetrics(s *metrics.Set) *evalMetrics {
	return &evalMetrics{
		alarms:         s.GetOrCreateGauge("vigil_alarm_enabled_alarms", nil),
		evaluations:    s.GetOrCreateCounter("vigil_alarm_evaluations_total"),
		transitions:    s.GetOrCreateCounter("vigil_alarm_transitions_total"),
		notifications:  s.GetOrCreateCounter("vigil_alarm_notifications_total"),
		commitErrors:   s.GetOrCreateCounter("vigil_alarm_commit_errors_total"),
		updates:        s.GetOrCreateCounter("vigil_alarm_update_messages_total"),
		updatedSeries:  s.GetOrCreateCounter("vigil_alarm_updated_series_total"),
		events:         s.GetOrCreateCounter("vigil_alarm_events_total"),
		badMessages:    s.GetOrCreateCounter("vigil_alarm_bad_messages_total"),
		sweeps:         s.GetOrCreateCounter("vigil_alarm_sweeps_total"),
		evalDuration:   s.GetOrCreateHistogram("vigil_alarm_evaluation_duration_seconds"),
		triggerLatency: s.GetOrCreateHistogram("vigil_alarm_trigger_to_evaluation_seconds"),
	}
}
