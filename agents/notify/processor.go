package notify

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Output is what a batch of notifications produced, for a Publisher.
type Output struct {
	// MessageIDs are the notifications' ids, in order.
	MessageIDs []string
	Samples    []pipeline.Sample
	Events     []Event
}

// Reset empties o, keeping its memory.
func (o *Output) Reset() {
	clear(o.MessageIDs)
	o.MessageIDs = o.MessageIDs[:0]
	clear(o.Samples)
	o.Samples = o.Samples[:0]
	clear(o.Events)
	o.Events = o.Events[:0]
}

// ProcessorConfig tunes a Processor.
type ProcessorConfig struct {
	// Source is the samples' source; Ceilometer's sample_source, "openstack",
	// when empty.
	Source string
}

// Processor turns notifications into samples (meter definitions) and
// events (event definitions). It is safe for concurrent use.
type Processor struct {
	meters *MeterDefinitions
	events *EventDefinitions
	source string
	log    *slog.Logger
	set    *metrics.Set

	processed *metrics.Counter
	samples   *metrics.Counter
	evCount   *metrics.Counter
	ignored   *metrics.Counter
	traitErrs *metrics.Counter
	skipped   sync.Map // "meter\x00reason" → *metrics.Counter
}

// NewProcessor returns a Processor; events may be nil to make no events.
// set receives its metrics (nil keeps them private); logger may be nil.
func NewProcessor(meters *MeterDefinitions, events *EventDefinitions, cfg ProcessorConfig, set *metrics.Set, logger *slog.Logger) *Processor {
	if set == nil {
		set = metrics.NewSet()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Source == "" {
		cfg.Source = "openstack"
	}
	return &Processor{
		meters: meters, events: events, source: cfg.Source, log: logger.With("component", "notify"), set: set,
		processed: set.GetOrCreateCounter(`vigil_notify_processed_total`),
		samples:   set.GetOrCreateCounter(`vigil_notify_samples_total`),
		evCount:   set.GetOrCreateCounter(`vigil_notify_events_total`),
		ignored:   set.GetOrCreateCounter(`vigil_notify_ignored_total`),
		traitErrs: set.GetOrCreateCounter(`vigil_notify_trait_errors_total`),
	}
}

// Add converts n and appends its id, samples and event to out. A
// notification that no definition matches (an unknown event type, with
// DropUnmatched events) adds nothing but its id and is counted as ignored.
func (p *Processor) Add(out *Output, n *Notification) {
	p.processed.Inc()
	out.MessageIDs = append(out.MessageIDs, n.MessageID)
	before := len(out.Samples)
	var matched int
	if p.meters != nil {
		out.Samples, matched = p.meters.Samples(out.Samples, n, p.source, p.skip)
	}
	p.samples.Add(len(out.Samples) - before)
	made := false
	if p.events != nil {
		if ev, ok := p.events.Event(n, p.traitError); ok {
			out.Events = append(out.Events, *ev)
			p.evCount.Inc()
			made = true
		}
	}
	if matched == 0 && !made {
		p.ignored.Inc()
	}
}

func (p *Processor) skip(meter, reason string) {
	key := meter + "\x00" + reason
	c, ok := p.skipped.Load(key)
	if !ok {
		c, _ = p.skipped.LoadOrStore(key, p.set.GetOrCreateCounter(fmt.Sprintf(`vigil_notify_meters_skipped_total{meter=%q,reason=%q}`, meter, reason)))
	}
	c.(*metrics.Counter).Inc()
}

func (p *Processor) traitError(trait string, err error) {
	p.traitErrs.Inc()
	p.log.Debug("leaving out a trait that does not convert", "trait", trait, "err", err)
}
