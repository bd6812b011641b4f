package notify

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// Dead-letter reasons, the values of the reason label of
// vigil_notify_deadlettered_total.
const (
	deadMalformed     = "malformed"
	deadTooLarge      = "too_large"
	deadPublishFailed = "publish_failed"
)

// listenerMetrics are a listener's self-metrics, labelled by transport.
type listenerMetrics struct {
	received      *metrics.Counter
	redelivered   *metrics.Counter
	acked         *metrics.Counter
	ackErrors     *metrics.Counter
	requeued      *metrics.Counter
	publishErrors *metrics.Counter
	deadErrors    *metrics.Counter
	reconnects    *metrics.Counter
	batches       *metrics.Histogram
	publishTime   *metrics.Histogram
	dead          map[string]*metrics.Counter
}

func newListenerMetrics(set *metrics.Set, transport string) *listenerMetrics {
	l := fmt.Sprintf(`{transport=%q}`, transport)
	m := &listenerMetrics{
		received:      set.GetOrCreateCounter(`vigil_notify_received_total` + l),
		redelivered:   set.GetOrCreateCounter(`vigil_notify_redelivered_total` + l),
		acked:         set.GetOrCreateCounter(`vigil_notify_acked_total` + l),
		ackErrors:     set.GetOrCreateCounter(`vigil_notify_ack_errors_total` + l),
		requeued:      set.GetOrCreateCounter(`vigil_notify_requeued_total` + l),
		publishErrors: set.GetOrCreateCounter(`vigil_notify_publish_errors_total` + l),
		deadErrors:    set.GetOrCreateCounter(`vigil_notify_deadletter_errors_total` + l),
		reconnects:    set.GetOrCreateCounter(`vigil_notify_reconnects_total` + l),
		batches:       set.GetOrCreateHistogram(`vigil_notify_batch_size` + l),
		publishTime:   set.GetOrCreateHistogram(`vigil_notify_publish_duration_seconds` + l),
		dead:          map[string]*metrics.Counter{},
	}
	for _, r := range []string{deadMalformed, deadTooLarge, deadPublishFailed} {
		m.dead[r] = set.GetOrCreateCounter(fmt.Sprintf(`vigil_notify_deadlettered_total{transport=%q,reason=%q}`, transport, r))
	}
	return m
}
