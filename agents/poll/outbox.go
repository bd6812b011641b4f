package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// publisherWithOptions is the part of *bus.Bus that makes a retried batch
// harmless: the same message id lets JetStream drop the partitions it
// already stored.
type publisherWithOptions interface {
	PublishWith(ctx context.Context, b *wire.Batch, opts bus.PublishOptions) error
}

// outbox delivers the scheduler's wire batches to its Publisher: those of
// the direct path and those Config.Pipeline's gnocchi:// publishers write
// through it (it is their sink.BatchPublisher, by sink.WithBus).
//
// With a spool, PublishWith makes one attempt bounded by PublishTimeout and
// spools the batch when it fails, and spools every batch while the spool
// holds any, so that the bus gets batches in the order they were handed
// over; replay, which the publishing goroutine calls before handing over
// new ones, empties the spool in order once the bus takes batches again. A
// nil error then means the batch is on the bus or synced to disk. Without a
// spool, PublishWith retries with backoff until the batch is on the bus or
// ctx is done.
//
// The outbox counts what it publishes and what it loses in the scheduler's
// metrics, so callers only log its errors. Its methods are safe for
// concurrent use; the publishing goroutine is the only caller in practice.
type outbox struct {
	pub      Publisher
	withOpts publisherWithOptions // pub's, when it has it
	cfg      *Config
	met      *schedMetrics
	log      *slog.Logger

	mu sync.Mutex // guards the fields below
	// stopping is closed when the scheduler flushes: a backoff wait then
	// ends at once, as the flush must not wait a full backoff. Cleared by
	// the first wait that sees it closed, so that later waits back off.
	stopping <-chan struct{}
	spool    *spool // nil without Config.SpoolDir
	failing  bool
	encoded  []byte // scratch for spooled batches
	replayed wire.Batch
}

var _ sink.BatchPublisher = (*outbox)(nil)

// PublishWith delivers b; see outbox. It does not keep b after it returns.
func (o *outbox) PublishWith(ctx context.Context, b *wire.Batch, opts bus.PublishOptions) error {
	n := batchSamples(b)
	if n == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spool == nil {
		return o.publishRetrying(ctx, b, opts.MsgID, n)
	}
	if o.spool.len() > 0 {
		return o.spoolBatch(b, opts.MsgID, n)
	}
	err := o.publishOnce(ctx, b, opts.MsgID)
	switch {
	case err == nil:
		o.met.published.Add(n)
		o.notePublishOK()
		return nil
	case errors.Is(err, bus.ErrTooLarge):
		o.met.dropped.Add(n)
		o.log.Error("dropping a batch the bus refuses as too large; lower publish_batch", "samples", n, "err", err)
		return err
	case ctx.Err() == nil:
		o.notePublishError(err, n)
	}
	// Also when ctx is done: the flush ran out of time, and the batch is
	// better on disk than lost.
	return o.spoolBatch(b, opts.MsgID, n)
}

func batchSamples(b *wire.Batch) int {
	n := 0
	for _, s := range b.Series {
		n += len(s.Values)
	}
	return n
}

// publishOnce makes one attempt at publishing b.
func (o *outbox) publishOnce(ctx context.Context, b *wire.Batch, msgID string) error {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.PublishTimeout)
	defer cancel()
	return o.publish(ctx, b, msgID)
}

func (o *outbox) publish(ctx context.Context, b *wire.Batch, msgID string) error {
	if o.withOpts != nil {
		return o.withOpts.PublishWith(ctx, b, bus.PublishOptions{MsgID: msgID})
	}
	return o.pub.Publish(ctx, b)
}

// publishRetrying publishes b, retrying with exponential backoff until it
// succeeds or ctx is done; then the batch is dropped and counted.
func (o *outbox) publishRetrying(ctx context.Context, b *wire.Batch, msgID string, n int) error {
	backoff := o.cfg.RetryBackoff
	for {
		err := o.publish(ctx, b, msgID)
		if err == nil {
			o.met.published.Add(n)
			o.notePublishOK()
			return nil
		}
		if ctx.Err() != nil {
			o.met.dropped.Add(n)
			return fmt.Errorf("cannot publish %d polled samples: %w", n, err)
		}
		o.met.publishErrors.Inc()
		if errors.Is(err, bus.ErrTooLarge) {
			o.met.dropped.Add(n)
			o.log.Error("dropping a batch the bus refuses as too large; lower publish_batch", "samples", n, "err", err)
			return err
		}
		if !o.failing {
			o.log.Warn("cannot publish samples; retrying with backoff", "samples", n, "err", err)
			o.failing = true
		} else {
			o.log.Debug("cannot publish samples", "samples", n, "err", err, "backoff", backoff)
		}
		// Jitter keeps agents cut off together from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, o.cfg.RetryBackoffMax)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			o.met.dropped.Add(n)
			return fmt.Errorf("cannot publish %d polled samples: %w", n, err)
		case <-o.stopping:
			// The flush starts: one attempt now, then the backoff again
			// from its start, as the flush's own retries go.
			t.Stop()
			o.stopping = nil
			backoff = o.cfg.RetryBackoff
		case <-t.C:
		}
	}
}

// replay publishes the spooled batches, oldest first, until the spool is
// empty or the bus fails, and reports whether batches are left in the
// spool. Without a spool it does nothing.
func (o *outbox) replay(ctx context.Context) (left bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spool == nil {
		return false
	}
	for o.spool.len() > 0 {
		if ctx.Err() != nil {
			return true
		}
		batch, msgID, n, err := o.spool.peek()
		if errors.Is(err, errSpoolCorrupt) {
			o.dropSpoolHead(err)
			continue
		}
		if err == nil {
			if err = wire.Unmarshal(batch, &o.replayed); err != nil {
				o.dropSpoolHead(fmt.Errorf("%w: %w", errSpoolCorrupt, err))
				continue
			}
			err = o.publishOnce(ctx, &o.replayed, msgID)
		}
		if err != nil {
			if errors.Is(err, bus.ErrTooLarge) {
				o.dropSpoolHead(err)
				continue
			}
			if ctx.Err() == nil {
				o.notePublishError(err, n)
			}
			return true
		}
		o.met.published.Add(n)
		if err := o.spool.pop(); err != nil {
			// Left in place it would be published again, which the bus's
			// message-id window makes harmless for a while; say so.
			o.met.spoolErrors.Inc()
			o.log.Error("cannot remove a replayed batch from the spool", "err", err)
			return true
		}
		o.met.spooled.Set(float64(o.spool.samples()))
		o.notePublishOK()
	}
	return false
}

// spooledBatches returns how many batches wait in the spool.
func (o *outbox) spooledBatches() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spool == nil {
		return 0
	}
	return o.spool.len()
}

func (o *outbox) notePublishOK() {
	if o.failing {
		o.log.Info("publishing succeeds again")
		o.failing = false
	}
}

func (o *outbox) notePublishError(err error, samples int) {
	o.met.publishErrors.Inc()
	if !o.failing {
		o.log.Warn("cannot publish samples; spooling them to disk and retrying with backoff", "samples", samples, "err", err)
		o.failing = true
	} else {
		o.log.Debug("cannot publish samples", "samples", samples, "err", err)
	}
}

// spoolBatch writes b of n samples to the spool. A batch the spool cannot
// take is dropped and counted.
func (o *outbox) spoolBatch(b *wire.Batch, msgID string, n int) error {
	var err error
	o.encoded, err = wire.Marshal(o.encoded[:0], b)
	if err == nil {
		var dropped int
		dropped, err = o.spool.push(o.encoded, msgID, n)
		if dropped > 0 {
			o.met.dropped.Add(dropped)
			o.log.Warn("spool is full; dropped its oldest samples", "dropped", dropped, "max_bytes", o.cfg.SpoolMaxBytes)
		}
	}
	o.met.spooled.Set(float64(o.spool.samples()))
	if err != nil {
		o.met.spoolErrors.Inc()
		o.met.dropped.Add(n)
		o.log.Error("cannot spool a batch; dropping it", "samples", n, "err", err)
		return fmt.Errorf("cannot spool %d polled samples: %w", n, err)
	}
	o.met.spoolWrites.Inc()
	return nil
}

func (o *outbox) dropSpoolHead(reason error) {
	_, _, n, _ := o.spool.peek()
	o.met.dropped.Add(n)
	o.met.spoolErrors.Inc()
	o.log.Error("dropping a spooled batch that cannot be replayed", "samples", n, "err", reason)
	if err := o.spool.pop(); err != nil {
		o.log.Error("cannot remove a spooled batch", "err", err)
	}
	o.met.spooled.Set(float64(o.spool.samples()))
}
