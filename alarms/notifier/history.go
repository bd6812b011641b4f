package notifier

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// historyWriter stores attempt entries in batches off the delivery path.
// When its queue is full it drops entries (counted and logged) rather than
// delay deliveries.
type historyWriter struct {
	h    History
	log  *slog.Logger
	met  *notifyMetrics
	ch   chan alarms.Change
	done chan struct{}
	// mu guards sending on ch against closing it; closed is set under it.
	mu     sync.RWMutex
	closed bool
}

// historyBatch bounds the entries stored in one transaction.
const historyBatch = 500

func newHistoryWriter(h History, size int, log *slog.Logger, met *notifyMetrics) *historyWriter {
	w := &historyWriter{h: h, log: log, met: met, ch: make(chan alarms.Change, size), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *historyWriter) add(c alarms.Change) {
	if w.h == nil {
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.met.historyDropped.Inc()
		return
	}
	select {
	case w.ch <- c:
	default:
		w.met.historyDropped.Inc()
		w.log.Warn("alarm history queue is full; dropping an action entry", "alarm_id", c.AlarmID)
	}
}

func (w *historyWriter) run() {
	defer close(w.done)
	batch := make([]alarms.Change, 0, historyBatch)
	for c := range w.ch {
		batch = append(batch[:0], c)
	fill:
		for len(batch) < historyBatch {
			select {
			case c, ok := <-w.ch:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := w.h.AppendHistory(ctx, batch); err != nil {
			w.met.historyDropped.Add(len(batch))
			w.log.Error("cannot store alarm action history", "entries", len(batch), "err", err)
		}
		cancel()
	}
}

// close stores what is queued, waiting at most until ctx ends.
func (w *historyWriter) close(ctx context.Context) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}
