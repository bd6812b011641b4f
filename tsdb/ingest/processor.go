package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// Config tunes a Processor.
type Config struct {
	// ID names this processor among those sharing the partitions.
	ID string
	// BatchMax is the most messages taken from a partition per flush.
	BatchMax int
	// FlushInterval is the longest a fetch waits for more messages before
	// the ones it has are aggregated, committed and acknowledged.
	FlushInterval time.Duration
	// MaxCachedBytes bounds the encoded raw windows cached per partition;
	// 0 is 4 MiB, about two million CPU-like points.
	MaxCachedBytes int
	// Resources are the resource definitions (gnocchi_resources.yaml) that
	// map meters to resource types, policies and attributes; nil is the
	// default.
	Resources *resources.Definitions
	// EventsStream is the stream of events the notification agents write
	// (<stream_prefix>_EVENTS); when set, the processor applies the
	// definitions' resource events from it. Empty applies none.
	EventsStream string
	// Creator is "user_id:project_id" of the agents, as their wire batches
	// name it: a resource event's non-UUID id maps to a UUID with it, as
	// the same resource's samples do.
	Creator string
}

// Processor consumes the sample stream into storage. It owns the partitions
// its lease manager gives it, one worker goroutine each.
type Processor struct {
	cfg   Config
	bus   *bus.Bus
	idx   *index.Index
	store storage.Storage
	res   *Resolver
	log   *slog.Logger
	set   *metrics.Set

	measures   *metrics.Counter
	batches    *metrics.Counter
	dropped    *metrics.Counter
	dead       *metrics.Counter
	unresolved *metrics.Counter
	notMapped  *metrics.Counter
	unstorable *metrics.Counter
	flushDur   *metrics.Histogram
	lag        *metrics.Histogram

	mu          sync.Mutex // guards droppedLate, lagSeconds and owned
	droppedLate map[uuid.UUID]int64
	lagSeconds  float64
	owned       []int

	// OnFlush, when set, is told which metrics a commit changed, for the
	// alarm evaluator. It runs on the partition's goroutine: keep it short.
	OnFlush func(partition int, metrics []uuid.UUID)
}

// NewProcessor wires a processor; Run starts it.
func NewProcessor(cfg Config, b *bus.Bus, idx *index.Index, store storage.Storage, set *metrics.Set, log *slog.Logger) *Processor {
	if cfg.BatchMax <= 0 {
		cfg.BatchMax = 256
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if cfg.MaxCachedBytes <= 0 {
		cfg.MaxCachedBytes = 4 << 20
	}
	p := &Processor{
		cfg: cfg, bus: b, idx: idx, store: store, log: log, set: set,
		res:         NewResolver(idx, cfg.Resources, set, log),
		droppedLate: make(map[uuid.UUID]int64),
	}
	p.measures = set.NewCounter(`vigil_ingest_measures_total`)
	p.batches = set.NewCounter(`vigil_ingest_batches_total`)
	p.dropped = set.NewCounter(`vigil_ingest_dropped_measures_total{reason="late"}`)
	p.unresolved = set.NewCounter(`vigil_ingest_dropped_measures_total{reason="unresolved"}`)
	p.notMapped = set.NewCounter(`vigil_ingest_dropped_measures_total{reason="not_mapped"}`)
	p.unstorable = set.NewCounter(`vigil_ingest_dropped_measures_total{reason="invalid"}`)
	p.dead = set.NewCounter(`vigil_ingest_deadletter_total`)
	p.flushDur = set.NewHistogram(`vigil_ingest_flush_duration_seconds`)
	p.lag = set.NewHistogram(`vigil_ingest_lag_seconds`)
	set.NewGauge(`vigil_ingest_lag_last_seconds`, func() float64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.lagSeconds
	})
	return p
}

// Resolver returns the processor's metric map, so that the API can tell it
// about deleted metrics and changed policies in the same process.
func (p *Processor) Resolver() *Resolver { return p.res }

// DroppedLate returns, per metric, how many points arrived older than the
// back window and were dropped.
func (p *Processor) DroppedLate() map[uuid.UUID]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[uuid.UUID]int64, len(p.droppedLate))
	for k, v := range p.droppedLate {
		out[k] = v
	}
	return out
}

// Partitions returns the partitions this processor owns now.
func (p *Processor) Partitions() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.owned...)
}

// Run consumes until ctx is cancelled, then finishes the flush in progress
// on every partition and returns.
func (p *Processor) Run(ctx context.Context) error {
	ensurePolicies(ctx, p.idx, p.res.Definitions(), p.log)
	if err := p.res.Warm(ctx); err != nil {
		return fmt.Errorf("cannot load metrics: %w", err)
	}
	go p.refreshPolicies(ctx)
	if p.cfg.EventsStream != "" {
		lc := newLifecycle(p.bus.JetStream(), p.cfg.EventsStream, p.res, p.idx, p.cfg.Creator, p.set, p.log)
		done := make(chan struct{})
		go func() {
			defer close(done)
			lc.run(ctx)
		}()
		defer func() { <-done }()
	}

	type worker struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	workers := make(map[int]*worker)
	var mu sync.Mutex
	onChange := func(owned []int) {
		mu.Lock()
		defer mu.Unlock()
		want := make(map[int]bool, len(owned))
		for _, part := range owned {
			want[part] = true
			if _, ok := workers[part]; ok {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			w := &worker{cancel: cancel, done: make(chan struct{})}
			workers[part] = w
			go func() {
				defer close(w.done)
				p.runPartition(wctx, part)
			}()
		}
		for part, w := range workers {
			if !want[part] {
				w.cancel()
				<-w.done
				delete(workers, part)
			}
		}
		p.mu.Lock()
		p.owned = append(p.owned[:0], owned...)
		p.mu.Unlock()
		p.log.Info("partitions owned", "processor", p.cfg.ID, "count", len(owned))
	}
	err := p.bus.Leases().Run(ctx, p.cfg.ID, onChange)
	mu.Lock()
	for _, w := range workers {
		w.cancel()
	}
	for _, w := range workers {
		<-w.done
	}
	mu.Unlock()
	p.mu.Lock()
	p.owned = nil
	p.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (p *Processor) refreshPolicies(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.res.RefreshPolicies(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("cannot refresh archive policies", "err", err)
			}
		}
	}
}

// idleWait is how long an idle partition's pull request stays open.
// Shutdown cancels it, so it only bounds how often an idle processor
// asks.
const idleWait = 5 * time.Second

// pending gathers one flush's points per metric, in arrival order.
type pending struct {
	target Target
	points []Point
}

func (p *Processor) runPartition(ctx context.Context, part int) {
	log := p.log.With("partition", part)
	var cons *bus.PartitionConsumer
	for {
		var err error
		cons, err = p.bus.Consumer(ctx, part)
		if err == nil {
			break
		}
		log.Warn("cannot open partition consumer; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	eng := NewEngine(p.store, log, p.cfg.MaxCachedBytes)
	eng.Dropped = func(id uuid.UUID, n int) { p.noteDropped(log, id, n) }
	work := make(map[uuid.UUID]*pending)
	var batch wire.Batch
	idle := false
	for ctx.Err() == nil {
		var msgs []jetstream.Msg
		var err error
		if idle {
			msgs, err = cons.WaitFetch(ctx, p.cfg.BatchMax, p.cfg.FlushInterval, idleWait)
		} else {
			msgs, err = cons.Fetch(ctx, p.cfg.BatchMax, p.cfg.FlushInterval)
		}
		idle = err == nil && len(msgs) == 0
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetch failed", "err", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		// The flush must not be cut short by shutdown: what was fetched is
		// committed and acknowledged, or not acknowledged at all.
		fctx := context.WithoutCancel(ctx)
		if err := p.flush(fctx, log, cons, eng, work, &batch, msgs); err != nil {
			log.Error("flush failed; messages will be redelivered", "err", err, "messages", len(msgs))
			eng.Abort()
			for _, m := range msgs {
				_ = m.Nak()
			}
			time.Sleep(time.Second)
		}
	}
}

func (p *Processor) flush(ctx context.Context, log *slog.Logger, cons *bus.PartitionConsumer, eng *Engine, work map[uuid.UUID]*pending, batch *wire.Batch, msgs []jetstream.Msg) error {
	start := time.Now()
	clear(work)
	good := msgs[:0:0]
	var oldest time.Time
	for _, m := range msgs {
		if err := wire.Unmarshal(m.Data(), batch); err != nil {
			p.deadLetter(ctx, log, cons, m, err)
			continue
		}
		for _, s := range batch.Series {
			t, err := p.res.Resolve(ctx, batch, s)
			if err != nil {
				switch {
				case errors.Is(err, ErrUnknownMetric):
					p.unresolved.Add(len(s.Values))
					log.Warn("dropping measures of a metric that does not exist", "err", err, "measures", len(s.Values))
					continue
				case errors.Is(err, ErrNotMapped):
					p.notMapped.Add(len(s.Values))
					p.res.warnOnce("unmapped:"+s.Name, "meter is not handled by the resource definitions; its measures are dropped",
						"meter", s.Name)
					continue
				case errors.Is(err, ErrUnstorable):
					p.unstorable.Add(len(s.Values))
					p.res.warnOnce("unstorable:"+s.Name, "dropping measures that cannot be stored", "meter", s.Name, "err", err)
					continue
				}
				// An index failure is not the message's fault: retry it.
				return err
			}
			w := work[t.Metric]
			if w == nil {
				w = &pending{target: t}
				work[t.Metric] = w
			}
			for i, ts := range s.Timestamps {
				w.points = append(w.points, Point{T: ts, V: s.Values[i]})
			}
		}
		good = append(good, m)
		if md, err := m.Metadata(); err == nil && (oldest.IsZero() || md.Timestamp.Before(oldest)) {
			oldest = md.Timestamp
		}
	}
	b := p.store.NewBatch()
	defer b.Close()
	n := 0
	changed := make([]uuid.UUID, 0, len(work))
	for id, w := range work {
		k, err := eng.Apply(ctx, b, id, w.target.Policy, w.points)
		if err != nil {
			return err
		}
		n += k
		if k > 0 {
			changed = append(changed, id)
		}
	}
	if err := b.Commit(ctx, true); err != nil {
		return fmt.Errorf("cannot commit %d metrics: %w", len(work), err)
	}
	for _, m := range good {
		if err := m.Ack(); err != nil {
			log.Warn("ack failed; the batch will be redelivered and applied again harmlessly", "err", err)
		}
	}
	p.measures.Add(n)
	p.batches.Add(len(good))
	p.flushDur.UpdateDuration(start)
	if !oldest.IsZero() {
		lag := time.Since(oldest).Seconds()
		p.lag.Update(lag)
		p.mu.Lock()
		p.lagSeconds = lag
		p.mu.Unlock()
	}
	if p.OnFlush != nil && len(changed) > 0 {
		p.OnFlush(cons.Partition(), changed)
	}
	return nil
}

func (p *Processor) deadLetter(ctx context.Context, log *slog.Logger, cons *bus.PartitionConsumer, m jetstream.Msg, reason error) {
	p.dead.Inc()
	log.Warn("dead-lettering a bad batch", "err", reason, "bytes", len(m.Data()))
	if err := p.bus.DeadLetter(ctx, m, reason); err != nil {
		log.Error("cannot dead-letter a bad batch; leaving it for redelivery", "err", err)
	}
}

func (p *Processor) noteDropped(log *slog.Logger, id uuid.UUID, n int) {
	p.dropped.Add(n)
	p.mu.Lock()
	first := p.droppedLate[id] == 0
	p.droppedLate[id] += int64(n)
	p.mu.Unlock()
	if first {
		log.Warn("dropping measures older than the archive policy's back window", "metric", id, "measures", n)
	}
}
