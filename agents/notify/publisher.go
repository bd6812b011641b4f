package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigil-telemetry/vigil/pipeline/sink"
)

// Publisher makes what a batch of notifications produced durable. The
// listeners acknowledge the notifications only after Publish returns nil,
// and retry or dead-letter them otherwise. Publish must not keep out after
// it returns and must return soon after ctx is done. It must be safe for
// concurrent use.
//
// A Publisher may see the same notification twice (a redelivery after a
// crash or a lost ack): the pipeline's gnocchi:// publisher drops a batch
// it has just stored, the event stream drops an event whose message id it
// has seen within its duplicate window, and past that the store keeps the
// last write per (metric, timestamp), so a sample counts once.
type Publisher interface {
	Publish(ctx context.Context, out *Output) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, out *Output) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, out *Output) error { return f(ctx, out) }

// BusPublisher is the default Publisher: samples through the pipeline
// (pipeline.yaml; *sink.Pipeline), events to the event stream. Either may be
// nil to drop that kind.
type BusPublisher struct {
	samples sink.Stage
	events  *EventStream
}

// NewBusPublisher returns a BusPublisher.
func NewBusPublisher(samples sink.Stage, events *EventStream) *BusPublisher {
	return &BusPublisher{samples: samples, events: events}
}

// Publish sends samples and events; a nil error means both are durable.
func (p *BusPublisher) Publish(ctx context.Context, out *Output) error {
	var errs []error
	if p.samples != nil && len(out.Samples) > 0 {
		if _, err := p.samples.Process(ctx, nil, out.Samples); err != nil {
			errs = append(errs, fmt.Errorf("cannot publish %d samples: %w", len(out.Samples), err))
		}
	}
	if p.events != nil && len(out.Events) > 0 {
		if err := p.events.Publish(ctx, out.Events); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
