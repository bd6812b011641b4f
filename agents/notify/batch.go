package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// message is one received notification in a batch and what became of it.
type message struct {
	body []byte
	// dead is the dead-letter reason label when the message must be
	// dead-lettered, with deadReason the text and attempts the publish
	// attempts made.
	dead       string
	deadReason string
	attempts   int
	requeue    bool
}

type batchResult int

const (
	batchDone    batchResult = iota // every message is published or marked dead
	batchRequeue                    // ctx ended: nothing may be acknowledged
)

type batchLimits struct {
	maxBytes   int
	attempts   int
	backoff    time.Duration
	backoffMax time.Duration
	timeout    time.Duration
}

// batcher turns a batch of received messages into one Output and
// publishes it, retrying with backoff. Both listeners use it; one batcher
// serves one consumer at a time.
type batcher struct {
	proc    *Processor
	pub     Publisher
	met     *listenerMetrics
	log     *slog.Logger
	lim     batchLimits
	out     Output
	failing bool
	// onRetry, when set, runs before each retry (the NATS listener tells
	// JetStream the messages are still being worked on).
	onRetry func()
}

func newBatcher(proc *Processor, pub Publisher, met *listenerMetrics, log *slog.Logger, lim batchLimits) *batcher {
	return &batcher{proc: proc, pub: pub, met: met, log: log, lim: lim}
}

// run parses, converts and publishes msgs. Messages that cannot be parsed
// are marked dead at once; after lim.attempts failed publishes every other
// message is marked dead with the last error. When ctx ends first it
// returns batchRequeue.
func (b *batcher) run(ctx context.Context, msgs []message) batchResult {
	b.out.Reset()
	good := 0
	for i := range msgs {
		m := &msgs[i]
		if len(m.body) > b.lim.maxBytes {
			m.dead, m.deadReason = deadTooLarge, fmt.Sprintf("%d bytes is more than the limit of %d", len(m.body), b.lim.maxBytes)
			continue
		}
		n, err := ParseNotification(m.body)
		if err != nil {
			m.dead, m.deadReason = deadMalformed, err.Error()
			continue
		}
		b.proc.Add(&b.out, n)
		good++
	}
	b.met.batches.Update(float64(len(msgs)))
	if good == 0 || (len(b.out.Samples) == 0 && len(b.out.Events) == 0) {
		return batchDone
	}
	wait := b.lim.backoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, b.lim.timeout)
		err := b.pub.Publish(pctx, &b.out)
		cancel()
		if err == nil {
			b.met.publishTime.UpdateDuration(start)
			if b.failing {
				b.failing = false
				b.log.Info("publishing notifications succeeds again")
			}
			return batchDone
		}
		b.met.publishErrors.Inc()
		if ctx.Err() != nil {
			return batchRequeue
		}
		if attempt >= b.lim.attempts {
			reason := fmt.Sprintf("publish failed %d times: %v", attempt, err)
			b.log.Error("cannot publish what notifications produced; dead-lettering them", "notifications", good, "attempts", attempt, "err", err)
			for i := range msgs {
				if msgs[i].dead == "" {
					msgs[i].dead, msgs[i].deadReason, msgs[i].attempts = deadPublishFailed, reason, attempt
				}
			}
			return batchDone
		}
		if !b.failing {
			b.failing = true
			b.log.Warn("cannot publish what notifications produced; retrying", "notifications", good, "err", err)
		}
		d := wait/2 + rand.N(wait/2+1)
		if !sleep(ctx, d) {
			return batchRequeue
		}
		wait = min(2*wait, b.lim.backoffMax)
		if b.onRetry != nil {
			b.onRetry()
		}
	}
}
