package poll

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
)

// publishLoop drains the queue as it fills until stopping is closed, then
// drains it a last time (the flush) and returns. ctx ends the flush.
func (s *Scheduler) publishLoop(ctx context.Context, stopping <-chan struct{}) {
	var retry *time.Timer
	var retryC <-chan time.Time
	backoff := s.cfg.RetryBackoff
	for {
		select {
		case <-stopping:
			if retry != nil {
				retry.Stop()
			}
			s.flush(ctx)
			return
		case <-s.wake:
		case <-retryC:
			retryC = nil
		}
		if !s.drain(ctx) {
			backoff = s.cfg.RetryBackoff
			continue
		}
		// The bus is failing and the spool holds batches: replay them after
		// a jittered backoff, or at the next poll's wake, whichever comes
		// first.
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

// drain replays the spool, then hands the queued samples on in chunks of
// PublishBatch: spooled batches are older than queued samples, and while
// the spool holds any the outbox spools new batches behind them, so the bus
// sees samples in polling order. It reports whether the spool still holds
// batches. Without a spool, once ctx is done the queue is dropped and
// counted.
func (s *Scheduler) drain(ctx context.Context) (spooled bool) {
	s.out.replay(ctx)
	for {
		if s.out.spool == nil && ctx.Err() != nil {
			s.dropQueue(ctx.Err())
			return false
		}
		ss := s.pop()
		if len(ss) == 0 {
			break
		}
		s.send(ctx, ss)
		clear(ss)
	}
	return s.out.spooledBatches() > 0
}

// flush is the last drain, when the pollsters stopped.
func (s *Scheduler) flush(ctx context.Context) {
	if s.drain(ctx) {
		s.log.Info("polling stopped; samples the bus did not take are spooled", "spooled_batches", s.out.spooledBatches())
		return
	}
	s.log.Info("polling stopped")
}

// pop takes up to PublishBatch samples from the queue into s.scratch.
func (s *Scheduler) pop() []pipeline.Sample {
	s.mu.Lock()
	s.scratch = s.queue.pop(s.scratch[:0], s.cfg.PublishBatch)
	n := s.queue.len()
	s.mu.Unlock()
	s.met.buffered.Set(float64(n))
	return s.scratch
}

func (s *Scheduler) dropQueue(reason error) {
	s.mu.Lock()
	lost := s.queue.len()
	s.queue.reset()
	s.mu.Unlock()
	s.met.buffered.Set(0)
	if lost > 0 {
		s.met.dropped.Add(lost)
		s.log.Error("cannot flush polled samples before stopping; dropping them", "dropped", lost, "err", reason)
	}
}

// send hands one chunk of polled samples to Config.Pipeline, or without
// one publishes them as one batch. The outbox counts what is published or
// lost on the bus's side.
func (s *Scheduler) send(ctx context.Context, ss []pipeline.Sample) {
	if s.cfg.Pipeline != nil {
		_, err := s.cfg.Pipeline.Process(sink.WithBus(ctx, s.out), nil, ss)
		switch {
		case err != nil && !s.stageFailing:
			s.log.Warn("the pipeline did not deliver polled samples to every publisher", "samples", len(ss), "err", err)
			s.stageFailing = true
		case err != nil:
			s.log.Debug("the pipeline did not deliver polled samples to every publisher", "samples", len(ss), "err", err)
		case s.stageFailing:
			s.log.Info("the pipeline delivers polled samples again")
			s.stageFailing = false
		}
		return
	}
	s.builder.Reset()
	for i := range ss {
		if err := s.builder.Add(&ss[i]); err != nil {
			// A pollster bug, not a bus problem: retrying cannot help.
			s.met.dropped.Inc()
			s.log.Warn("dropping an invalid sample", "err", err)
		}
	}
	if s.builder.Len() == 0 {
		return
	}
	s.seq++
	msgID := s.idPrefix + ":" + strconv.FormatUint(s.seq, 10)
	n := s.builder.Len()
	if err := s.out.PublishWith(ctx, s.builder.Batch(), bus.PublishOptions{MsgID: msgID}); err != nil && ctx.Err() != nil {
		s.log.Error("cannot flush polled samples before stopping; dropping them", "dropped", n, "err", err)
	}
}
