package poll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// publisherWithOptions is the part of *bus.Bus that makes a retried batch
// harmless: the same message id lets JetStream drop the partitions it
// already stored.
type publisherWithOptions interface {
	PublishWith(ctx context.Context, b *wire.Batch, opts bus.PublishOptions) error
}

// publishLoop publishes the queue as it fills until ctx is done. A batch it
// could not publish by then stays in the builder for the flush.
func (s *Scheduler) publishLoop(ctx context.Context) {
	var retry *time.Timer
	var retryC <-chan time.Time
	backoff := s.cfg.RetryBackoff
	for {
		select {
		case <-ctx.Done():
			if retry != nil {
				retry.Stop()
			}
			return
		case <-s.wake:
		case <-retryC:
			retryC = nil
		}
		if s.spool == nil {
			for s.pending > 0 || s.fill() {
				if err := s.publishPending(ctx); err != nil {
					return
				}
			}
			continue
		}
		if !s.publishSpooled(ctx) {
			backoff = s.cfg.RetryBackoff
			continue
		}
		if ctx.Err() != nil {
			return
		}
		// The bus is failing: try again after a jittered backoff, or at the
		// next poll's wake, whichever comes first.
		if retryC == nil {
			wait := backoff/2 + rand.N(backoff/2+1)
			if retry == nil {
				retry = time.NewTimer(wait)
			} else {
				retry.Reset(wait)
			}
			retryC = retry.C
			backoff = min(2*backoff, s.cfg.RetryBackoffMax)
		}
	}
}

// publishSpooled is publishLoop's work when the agent has a spool. Spooled
// batches are older than queued samples, so they are replayed first; queued
// samples go to the bus directly only while nothing waits in the spool, and
// behind the spooled ones otherwise, so that the bus sees them in polling
// order. It reports whether the bus is failing.
func (s *Scheduler) publishSpooled(ctx context.Context) (failing bool) {
	for s.spool.len() > 0 {
		if ctx.Err() != nil {
			return true
		}
		batch, msgID, n, err := s.spool.peek()
		if errors.Is(err, errSpoolCorrupt) {
			s.dropSpoolHead(err)
			continue
		}
		if err == nil {
			if err = wire.Unmarshal(batch, &s.replay); err != nil {
				s.dropSpoolHead(fmt.Errorf("%w: %w", errSpoolCorrupt, err))
				continue
			}
			err = s.publishOnce(ctx, &s.replay, msgID)
		}
		if err != nil {
			if errors.Is(err, bus.ErrTooLarge) {
				s.dropSpoolHead(err)
				continue
			}
			if ctx.Err() != nil {
				return true
			}
			s.notePublishError(err, n)
			s.spoolQueued()
			return true
		}
		s.met.published.Add(n)
		if err := s.spool.pop(); err != nil {
			// Left in place it would be published again, which the bus's
			// message-id window makes harmless for a while; say so.
			s.met.spoolErrors.Inc()
			s.log.Error("cannot remove a replayed batch from the spool", "err", err)
			return true
		}
		s.met.spooled.Set(float64(s.spool.samples()))
		s.notePublishOK()
	}
	for s.pending > 0 || s.fill() {
		err := s.publishOnce(ctx, s.builder.Batch(), s.msgID)
		switch {
		case err == nil:
			s.met.published.Add(s.pending)
			s.notePublishOK()
			s.reset()
		case errors.Is(err, bus.ErrTooLarge):
			s.met.dropped.Add(s.pending)
			s.log.Error("dropping a batch the bus refuses as too large; lower publish_batch", "samples", s.pending, "err", err)
			s.reset()
		case ctx.Err() != nil:
			return true // the batch stays in the builder for the flush
		default:
			s.notePublishError(err, s.pending)
			s.spoolPending()
			s.spoolQueued()
			return true
		}
	}
	return false
}

// publishOnce makes one attempt at publishing b.
func (s *Scheduler) publishOnce(ctx context.Context, b *wire.Batch, msgID string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if s.withOpts != nil {
		return s.withOpts.PublishWith(ctx, b, bus.PublishOptions{MsgID: msgID})
	}
	return s.pub.Publish(ctx, b)
}

func (s *Scheduler) notePublishOK() {
	if s.pubFailing {
		s.log.Info("publishing succeeds again")
		s.pubFailing = false
	}
}

func (s *Scheduler) notePublishError(err error, samples int) {
	s.met.publishErrors.Inc()
	if !s.pubFailing {
		s.log.Warn("cannot publish samples; spooling them to disk and retrying with backoff", "samples", samples, "err", err)
		s.pubFailing = true
	} else {
		s.log.Debug("cannot publish samples", "samples", samples, "err", err)
	}
}

// spoolPending writes the builder's batch to the spool and empties the
// builder. A batch the spool cannot take is dropped and counted.
func (s *Scheduler) spoolPending() {
	if s.pending == 0 {
		return
	}
	var err error
	s.encoded, err = wire.Marshal(s.encoded[:0], s.builder.Batch())
	if err == nil {
		var dropped int
		dropped, err = s.spool.push(s.encoded, s.msgID, s.pending)
		if dropped > 0 {
			s.met.dropped.Add(dropped)
			s.log.Warn("spool is full; dropped its oldest samples", "dropped", dropped, "max_bytes", s.cfg.SpoolMaxBytes)
		}
	}
	if err != nil {
		s.met.spoolErrors.Inc()
		s.met.dropped.Add(s.pending)
		s.log.Error("cannot spool a batch; dropping it", "samples", s.pending, "err", err)
	} else {
		s.met.spoolWrites.Inc()
	}
	s.met.spooled.Set(float64(s.spool.samples()))
	s.reset()
}

// spoolQueued moves every queued sample to the spool, so that an outage
// is bounded by disk rather than memory and survives a restart.
func (s *Scheduler) spoolQueued() {
	for s.fill() {
		s.spoolPending()
	}
}

func (s *Scheduler) dropSpoolHead(reason error) {
	_, _, n, _ := s.spool.peek()
	s.met.dropped.Add(n)
	s.met.spoolErrors.Inc()
	s.log.Error("dropping a spooled batch that cannot be replayed", "samples", n, "err", reason)
	if err := s.spool.pop(); err != nil {
		s.log.Error("cannot remove a spooled batch", "err", err)
	}
	s.met.spooled.Set(float64(s.spool.samples()))
}

// flush publishes the builder and the queue until ctx is done. What is
// left then is spooled when the agent has a spool, and counted as dropped
// otherwise.
func (s *Scheduler) flush(ctx context.Context) {
	if s.spool != nil {
		if s.publishSpooled(ctx) {
			s.spoolPending()
			s.spoolQueued()
			s.log.Info("polling stopped; samples the bus did not take are spooled", "spooled_batches", s.spool.len())
			return
		}
		s.log.Info("polling stopped")
		return
	}
	flushed := 0
	for s.pending > 0 || s.fill() {
		n := s.pending
		if err := s.publishPending(ctx); err != nil {
			s.mu.Lock()
			lost := s.pending + s.queue.len()
			s.queue.reset()
			s.mu.Unlock()
			s.met.dropped.Add(lost)
			s.met.buffered.Set(0)
			s.log.Error("cannot flush polled samples before stopping; dropping them", "dropped", lost, "err", err)
			s.reset()
			return
		}
		flushed += n
	}
	s.log.Info("polling stopped", "flushed_samples", flushed)
}

// fill moves up to PublishBatch samples from the queue into the builder and
// reports whether the builder holds any.
func (s *Scheduler) fill() bool {
	s.mu.Lock()
	s.scratch = s.queue.pop(s.scratch[:0], s.cfg.PublishBatch)
	n := s.queue.len()
	s.mu.Unlock()
	s.met.buffered.Set(float64(n))
	if len(s.scratch) == 0 {
		return false
	}
	for i := range s.scratch {
		if err := s.builder.Add(&s.scratch[i]); err != nil {
			// A pollster bug, not a bus problem: retrying cannot help.
			s.met.dropped.Inc()
			s.log.Warn("dropping an invalid sample", "err", err)
		}
	}
	clear(s.scratch)
	s.pending = s.builder.Len()
	s.seq++
	s.msgID = s.idPrefix + ":" + strconv.FormatUint(s.seq, 10)
	return s.pending > 0
}

func (s *Scheduler) reset() {
	s.builder.Reset()
	s.pending = 0
}

// publishPending publishes the builder's batch, retrying with exponential
// backoff until it succeeds or ctx is done, in which case it returns ctx's
// error and keeps the batch.
func (s *Scheduler) publishPending(ctx context.Context) error {
	backoff := s.cfg.RetryBackoff
	for {
		var err error
		if s.withOpts != nil {
			err = s.withOpts.PublishWith(ctx, s.builder.Batch(), bus.PublishOptions{MsgID: s.msgID})
		} else {
			err = s.pub.Publish(ctx, s.builder.Batch())
		}
		if err == nil {
			s.met.published.Add(s.pending)
			if s.pubFailing {
				s.log.Info("publishing succeeds again")
				s.pubFailing = false
			}
			s.reset()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.met.publishErrors.Inc()
		if errors.Is(err, bus.ErrTooLarge) {
			s.met.dropped.Add(s.pending)
			s.log.Error("dropping a batch the bus refuses as too large; lower publish_batch", "samples", s.pending, "err", err)
			s.reset()
			return nil
		}
		if !s.pubFailing {
			s.log.Warn("cannot publish samples; retrying with backoff", "samples", s.pending, "err", err)
			s.pubFailing = true
		} else {
			s.log.Debug("cannot publish samples", "samples", s.pending, "err", err, "backoff", backoff)
		}
		// Jitter keeps agents cut off together from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.RetryBackoffMax)
	}
}
