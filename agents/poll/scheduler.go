package poll

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// Source is a set of pollsters run on one interval, keeping the meters its
// patterns select (Ceilometer's polling.yaml source).
type Source struct {
	Name      string
	Interval  time.Duration
	Pollsters []Pollster
	// Meters are fnmatch patterns with "!" exclusions, as
	// pipeline.NewMeterFilter takes them; empty keeps every meter.
	Meters []string
}

// Config configures a Scheduler. Zero values take the defaults below.
type Config struct {
	Sources []Source
	// Creator is "user_id:project_id" of the agent's service account; the
	// store derives the UUIDs of non-UUID resource ids from it.
	Creator string
	// PublishBatch bounds the samples in one published batch (default
	// 1000): the scheduler hands the pipeline that many at a time, and
	// publishes that many at most without one.
	PublishBatch int
	// Producer names the agent in batches (default: the hostname).
	Producer string
	// MaxBuffered bounds the samples held while the bus does not take them
	// (default 100000); past it the oldest are dropped and counted.
	MaxBuffered int
	// RetryBackoff is the first wait after a failed publish (default
	// 200 ms); it doubles up to RetryBackoffMax (default 10 s).
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// FlushTimeout bounds the flush Run does when its context is done
	// (default 3 s).
	FlushTimeout time.Duration
	// SpoolDir, when set, is where batches the bus does not take are kept
	// on disk, bounded by SpoolMaxBytes (default 256 MiB), and replayed in
	// order when it takes them again, also after a restart. Without it
	// they wait in memory, bounded by MaxBuffered.
	SpoolDir      string
	SpoolMaxBytes int64
	// PublishTimeout bounds one publish attempt in spooling mode, after
	// which the batch is spooled (default 5 s).
	PublishTimeout time.Duration
	// Pipeline, when set, is pipeline.yaml's (*sink.Pipeline): polled
	// samples go through its sources, transformers and publishers instead
	// of straight to the bus, in polling order from one goroutine, so that
	// rate_of_change and delta see each resource's samples in order. Its
	// gnocchi:// publishers write through the scheduler's publisher,
	// spool included (sink.WithBus); what its other publishers fail to
	// deliver is logged and lost, as in Ceilometer. Nil publishes every
	// sample unchanged to the bus, which is what Ceilometer's default
	// pipeline.yaml does, without the pipeline's per-sample work.
	Pipeline sink.Stage
}

// Defaults of Config.
const (
	DefaultPublishBatch    = 1000
	DefaultMaxBuffered     = 100_000
	DefaultRetryBackoff    = 200 * time.Millisecond
	DefaultRetryBackoffMax = 10 * time.Second
	DefaultFlushTimeout    = 3 * time.Second
	DefaultSpoolMaxBytes   = 256 << 20
	DefaultPublishTimeout  = 5 * time.Second
)

// maxFirstDelay bounds the random delay of a source's first poll: long
// enough to spread agents restarted together, short enough that data
// comes soon after start even for 10-minute intervals.
const maxFirstDelay = 10 * time.Second

// clockTolerance is the gap between a slot and the wall clock past which
// the clock was stepped or the machine slept, and the slot grid is
// re-anchored on the wall clock (timestamps follow the wall clock).
const clockTolerance = 2 * time.Second

// Scheduler polls its sources and publishes their samples. Each pollster of
// each source runs in its own goroutine on the source's interval, so a slow
// or failing pollster delays nobody else; one publishing goroutine drains
// the shared bounded queue in chunks of PublishBatch samples, through
// Config.Pipeline when set, into the outbox that delivers batches to the
// bus or spools them.
type Scheduler struct {
	cfg     Config
	log     *slog.Logger
	met     *schedMetrics
	jobs    []*job
	running atomic.Bool
	out     *outbox

	mu          sync.Mutex // guards queue and lastDropLog
	queue       sampleQueue
	lastDropLog time.Time

	wake     chan struct{} // capacity 1: "the queue has samples"
	stopping chan struct{} // closed by Run when the pollsters stopped

	// Owned by the publishing goroutine.
	scratch      []pipeline.Sample
	builder      *wire.Builder // batches of the direct path (no Config.Pipeline)
	seq          uint64
	idPrefix     string
	stageFailing bool // the pipeline's last Process failed
}

// job is one pollster of one source.
type job struct {
	source   string
	interval time.Duration
	p        Pollster
	filter   *pipeline.MeterFilter
	met      pollMetrics
	log      *slog.Logger

	// Owned by the job's goroutine.
	buf     []pipeline.Sample
	matches map[string]bool // filter cache by meter name
	failing bool
}

// maxMatchCache bounds a job's filter cache; pollsters with unbounded meter
// names (dynamic pollsters) fall back to matching every time.
const maxMatchCache = 4096

// NewScheduler validates cfg and returns a Scheduler publishing on pub. set
// receives the scheduler's metrics; nil keeps them private.
func NewScheduler(cfg Config, pub Publisher, set *metrics.Set, log *slog.Logger) (*Scheduler, error) {
	if pub == nil {
		return nil, fmt.Errorf("polling scheduler needs a publisher")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if set == nil {
		set = metrics.NewSet()
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg:      cfg,
		log:      log,
		met:      newSchedMetrics(set),
		queue:    sampleQueue{max: cfg.MaxBuffered},
		wake:     make(chan struct{}, 1),
		stopping: make(chan struct{}),
		builder:  wire.NewBuilder(cfg.Producer, cfg.Creator),
		idPrefix: fmt.Sprintf("%s:%x", cfg.Producer, time.Now().UnixNano()),
	}
	s.out = &outbox{pub: pub, cfg: &s.cfg, met: s.met, log: log, stopping: s.stopping}
	s.out.withOpts, _ = pub.(publisherWithOptions)
	if cfg.SpoolDir != "" {
		sp, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes)
		if err != nil {
			return nil, err
		}
		s.out.spool = sp
		s.met.spooled.Set(float64(sp.samples()))
		if sp.len() > 0 {
			log.Info("replaying batches spooled by an earlier run", "batches", sp.len(), "bytes", sp.size())
		}
	}
	names := make(map[string]bool, len(cfg.Sources))
	for i, src := range cfg.Sources {
		if src.Name == "" {
			return nil, fmt.Errorf("polling source %d has no name", i)
		}
		if names[src.Name] {
			return nil, fmt.Errorf("polling source %q is defined twice", src.Name)
		}
		names[src.Name] = true
		if src.Interval <= 0 {
			return nil, fmt.Errorf("polling source %q: interval must be > 0, got %v", src.Name, src.Interval)
		}
		if len(src.Pollsters) == 0 {
			return nil, fmt.Errorf("polling source %q has no pollster", src.Name)
		}
		f, err := pipeline.NewMeterFilter(src.Meters)
		if err != nil {
			return nil, fmt.Errorf("polling source %q: meters: %w", src.Name, err)
		}
		for k, p := range src.Pollsters {
			if p == nil {
				return nil, fmt.Errorf("polling source %q: pollster %d is nil", src.Name, k)
			}
			if ml, ok := p.(MeterLister); ok && !anyMatch(f, ml.Meters()) {
				log.Info("pollster selects no meter of the source; not running it", "source", src.Name, "pollster", p.Name())
				continue
			}
			s.jobs = append(s.jobs, &job{
				source: src.Name, interval: src.Interval, p: p, filter: f,
				met:     newPollMetrics(set, p.Name()),
				log:     log.With("source", src.Name, "pollster", p.Name()),
				matches: make(map[string]bool),
			})
		}
	}
	return s, nil
}

func (c *Config) setDefaults() error {
	if len(c.Sources) == 0 {
		return fmt.Errorf("polling scheduler has no source")
	}
	if c.SpoolMaxBytes < 0 {
		return fmt.Errorf("polling scheduler: negative spool max bytes %d", c.SpoolMaxBytes)
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.PublishTimeout < 0 {
		return fmt.Errorf("polling scheduler: negative publish timeout %v", c.PublishTimeout)
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.PublishBatch < 0 || c.MaxBuffered < 0 || c.RetryBackoff < 0 || c.RetryBackoffMax < 0 || c.FlushTimeout < 0 {
		return fmt.Errorf("polling scheduler: negative publish_batch %d, max_buffered %d, retry backoff %v/%v or flush timeout %v",
			c.PublishBatch, c.MaxBuffered, c.RetryBackoff, c.RetryBackoffMax, c.FlushTimeout)
	}
	if c.PublishBatch == 0 {
		c.PublishBatch = DefaultPublishBatch
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = max(DefaultRetryBackoffMax, c.RetryBackoff)
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.Producer == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "vigil-agent"
		}
		c.Producer = h
	}
	return nil
}

func anyMatch(f *pipeline.MeterFilter, names []string) bool {
	for _, n := range names {
		if f.Match(n) {
			return true
		}
	}
	return false
}

// Run polls until ctx is done, then stops the pollsters, publishes what
// they polled within FlushTimeout (spooling it when the agent has a spool),
// and returns nil. Samples it could not publish by then are counted as
// dropped. Run may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("polling scheduler is already running")
	}
	var polling sync.WaitGroup
	for _, j := range s.jobs {
		polling.Add(1)
		go func() {
			defer polling.Done()
			s.runJob(ctx, j)
		}()
	}
	// Publishing outlives ctx by the flush, so that a publish under way
	// when ctx is done completes instead of losing its batch: s.stopping
	// tells the publishing goroutine to flush, and pctx's end bounds it.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	publishing := make(chan struct{})
	go func() {
		defer close(publishing)
		s.publishLoop(pctx, s.stopping)
	}()
	s.log.Info("polling started", "pollsters", len(s.jobs), "sources", len(s.cfg.Sources))
	<-ctx.Done()

	stopped := make(chan struct{})
	go func() { polling.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(s.cfg.FlushTimeout):
		// A pollster ignoring its context must not keep the agent from
		// stopping; what it emits later is dropped (its run is closed).
		s.log.Warn("a pollster did not stop in time; flushing without it", "timeout", s.cfg.FlushTimeout)
	}
	close(s.stopping)
	deadline := time.AfterFunc(s.cfg.FlushTimeout, pcancel)
	defer deadline.Stop()
	<-publishing
	return nil
}

// runJob polls j on its source's interval. Slots are on a fixed grid from a
// random first delay, so consecutive samples are exactly one interval
// apart (one point per bucket when granularity = interval) and agents
// started together do not poll in step.
func (s *Scheduler) runJob(ctx context.Context, j *job) {
	first := time.Duration(rand.Int64N(int64(min(j.interval, maxFirstDelay))))
	slot := time.Now().Add(first)
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d := time.Now().Round(0).Sub(slot.Round(0)); d > clockTolerance || d < -clockTolerance {
			slot = time.Now()
		}
		s.pollOnce(ctx, j, slot)
		slot = slot.Add(j.interval)
		if now := time.Now(); !now.Before(slot) {
			missed := now.Sub(slot)/j.interval + 1
			slot = slot.Add(missed * j.interval)
			j.met.skipped.Add(int(missed))
			j.log.Warn("poll took longer than the interval; skipping polls", "interval", j.interval, "skipped", int(missed))
		}
		t.Reset(time.Until(slot))
	}
}

// run collects one poll's samples. Its lock lets a pollster emit from
// several goroutines and closes the door once Poll returned.
type run struct {
	mu     sync.Mutex // guards closed and the job's buf and matches
	j      *job
	closed bool
	late   *metrics.Counter // samples emitted after Poll returned
}

func (r *run) emit(smp *pipeline.Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.late.Inc()
		return
	}
	ok, cached := r.j.matches[smp.Name]
	if !cached {
		ok = r.j.filter.Match(smp.Name)
		if len(r.j.matches) < maxMatchCache {
			r.j.matches[smp.Name] = ok
		}
	}
	if ok {
		r.j.buf = append(r.j.buf, *smp)
	}
}

func (s *Scheduler) pollOnce(ctx context.Context, j *job, now time.Time) {
	pctx, cancel := context.WithTimeout(ctx, j.interval)
	defer cancel()
	r := &run{j: j, late: s.met.dropped}
	start := time.Now()
	err := j.p.Poll(pctx, now.UTC(), r.emit)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	j.met.duration.UpdateDuration(start)
	j.met.polls.Inc()
	switch {
	case err != nil && ctx.Err() == nil:
		j.met.errors.Inc()
		if !j.failing {
			j.log.Warn("poll failed", "err", err, "samples", len(j.buf))
		} else {
			j.log.Debug("poll failed again", "err", err, "samples", len(j.buf))
		}
		j.failing = true
	case err == nil && j.failing:
		j.log.Info("poll succeeds again")
		j.failing = false
	}
	if len(j.buf) > 0 {
		s.met.polled.Add(len(j.buf))
		s.enqueue(j.buf)
		clear(j.buf)
		j.buf = j.buf[:0]
	}
}

func (s *Scheduler) enqueue(ss []pipeline.Sample) {
	s.mu.Lock()
	dropped := s.queue.push(ss)
	n := s.queue.len()
	logDrop := dropped > 0 && time.Since(s.lastDropLog) > time.Minute
	if logDrop {
		s.lastDropLog = time.Now()
	}
	s.mu.Unlock()
	s.met.buffered.Set(float64(n))
	if dropped > 0 {
		s.met.dropped.Add(dropped)
		if logDrop {
			s.log.Warn("sample buffer full; dropping the oldest samples", "dropped", dropped, "max_buffered", s.cfg.MaxBuffered)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
