package bus

import "github.com/VictoriaMetrics/metrics"

// busMetrics are the bus's self-metrics. They are created in the Set given
// to Open (or a private one), never in the global registry, so that several
// buses in one process (tests, `vigil all`) do not collide unless they share
// a Set on purpose.
type busMetrics struct {
	publishedBatches  *metrics.Counter
	publishedMessages *metrics.Counter
	publishedSamples  *metrics.Counter
	publishedBytes    *metrics.Counter
	publishErrors     *metrics.Counter
	publishDuration   *metrics.Summary
	fetches           *metrics.Counter
	fetchedMessages   *metrics.Counter
	fetchErrors       *metrics.Counter
	deadLettered      *metrics.Counter
	deadLetterErrors  *metrics.Counter
	leaseChanges      *metrics.Counter
	leaseErrors       *metrics.Counter
	reconnects        *metrics.Counter
	disconnects       *metrics.Counter
}

func newBusMetrics(s *metrics.Set) *busMetrics {
	return &busMetrics{
		publishedBatches:  s.GetOrCreateCounter(`vigil_bus_published_batches_total`),
		publishedMessages: s.GetOrCreateCounter(`vigil_bus_published_messages_total`),
		publishedSamples:  s.GetOrCreateCounter(`vigil_bus_published_samples_total`),
		publishedBytes:    s.GetOrCreateCounter(`vigil_bus_published_bytes_total`),
		publishErrors:     s.GetOrCreateCounter(`vigil_bus_publish_errors_total`),
		publishDuration:   s.GetOrCreateSummary(`vigil_bus_publish_duration_seconds`),
		fetches:           s.GetOrCreateCounter(`vigil_bus_fetches_total`),
		fetchedMessages:   s.GetOrCreateCounter(`vigil_bus_fetched_messages_total`),
		fetchErrors:       s.GetOrCreateCounter(`vigil_bus_fetch_errors_total`),
		deadLettered:      s.GetOrCreateCounter(`vigil_bus_deadlettered_messages_total`),
		deadLetterErrors:  s.GetOrCreateCounter(`vigil_bus_deadletter_errors_total`),
		leaseChanges:      s.GetOrCreateCounter(`vigil_bus_lease_changes_total`),
		leaseErrors:       s.GetOrCreateCounter(`vigil_bus_lease_errors_total`),
		reconnects:        s.GetOrCreateCounter(`vigil_bus_reconnects_total`),
		disconnects:       s.GetOrCreateCounter(`vigil_bus_disconnects_total`),
	}
}
