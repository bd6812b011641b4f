package poll

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// schedMetrics are the scheduler's self-metrics, created in the Set given
// to NewScheduler so that `vigil all` exposes them on /metrics.
type schedMetrics struct {
	published     *metrics.Counter
	dropped       *metrics.Counter
	publishErrors *metrics.Counter
	polled        *metrics.Counter
	buffered      *metrics.Gauge
	spooled       *metrics.Gauge
	spoolWrites   *metrics.Counter
	spoolErrors   *metrics.Counter
}

func newSchedMetrics(s *metrics.Set) *schedMetrics {
	return &schedMetrics{
		published:     s.GetOrCreateCounter(`vigil_agent_samples_published_total`),
		dropped:       s.GetOrCreateCounter(`vigil_agent_samples_dropped_total`),
		publishErrors: s.GetOrCreateCounter(`vigil_agent_publish_errors_total`),
		polled:        s.GetOrCreateCounter(`vigil_agent_samples_polled_total`),
		buffered:      s.GetOrCreateGauge(`vigil_agent_buffered_samples`, nil),
		spooled:       s.GetOrCreateGauge(`vigil_agent_spooled_samples`, nil),
		spoolWrites:   s.GetOrCreateCounter(`vigil_agent_spooled_batches_total`),
		spoolErrors:   s.GetOrCreateCounter(`vigil_agent_spool_errors_total`),
	}
}

// pollMetrics are one pollster's; a pollster in several sources shares them.
type pollMetrics struct {
	polls    *metrics.Counter
	errors   *metrics.Counter
	skipped  *metrics.Counter
	duration *metrics.Histogram
}

func newPollMetrics(s *metrics.Set, pollster string) pollMetrics {
	l := fmt.Sprintf(`{pollster=%q}`, pollster)
	return pollMetrics{
		polls:    s.GetOrCreateCounter(`vigil_agent_polls_total` + l),
		errors:   s.GetOrCreateCounter(`vigil_agent_poll_errors_total` + l),
		skipped:  s.GetOrCreateCounter(`vigil_agent_polls_skipped_total` + l),
		duration: s.GetOrCreateHistogram(`vigil_agent_poll_duration_seconds` + l),
	}
}
