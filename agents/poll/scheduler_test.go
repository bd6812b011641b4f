package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

const tick = 50 * time.Millisecond

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// recorder is a Publisher that keeps a copy of every batch it accepts and
// refuses batches while down is set.
type recorder struct {
	mu      sync.Mutex
	batches []recorded
	down    atomic.Bool
	calls   atomic.Int64
}

type recorded struct {
	points int
	series map[string][]float64 // by "<resource> <meter>"
	times  map[string][]int64
}

func (r *recorder) Publish(ctx context.Context, b *wire.Batch) error {
	r.calls.Add(1)
	if err := wire.Validate(b); err != nil {
		return fmt.Errorf("BUG: invalid batch: %w", err)
	}
	if r.down.Load() {
		return errors.New("bus unreachable")
	}
	rec := recorded{series: map[string][]float64{}, times: map[string][]int64{}}
	for _, s := range b.Series {
		k := b.Resources[*s.Resource].Id + " " + s.Name
		rec.series[k] = append(rec.series[k], s.Values...)
		rec.times[k] = append(rec.times[k], s.Timestamps...)
		rec.points += len(s.Values)
	}
	r.mu.Lock()
	r.batches = append(r.batches, rec)
	r.mu.Unlock()
	return nil
}

// points returns the published values and timestamps of one series in
// publishing order, and the total number of points.
func (r *recorder) points(key string) (vals []float64, times []int64, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		vals = append(vals, b.series[key]...)
		times = append(times, b.times[key]...)
		total += b.points
	}
	return vals, times, total
}

// counting emits n samples per poll for resource res, volumes counting up
// from 1 across polls, and can be made to fail or to hang.
type counting struct {
	name    string
	res     string
	meters  []string
	n       int
	fail    bool
	hang    bool
	polls   atomic.Int64
	emitted atomic.Int64
	next    atomic.Int64
}

func (c *counting) Name() string { return c.name }

func (c *counting) Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	c.polls.Add(1)
	if c.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	s := pipeline.Sample{Type: pipeline.Gauge, Unit: "B", ResourceID: c.res, ResourceType: "host", Timestamp: now,
		Metadata: map[string]any{"host_name": c.res}}
	for i := range c.n {
		s.Name = c.meters[i%len(c.meters)]
		s.Volume = float64(c.next.Add(1))
		emit(&s)
		c.emitted.Add(1)
	}
	if c.fail {
		return errors.New("device on fire")
	}
	return nil
}

func (c *counting) Meters() []string { return c.meters }

func runScheduler(t *testing.T, cfg Config, pub Publisher, set *metrics.Set) (stop func()) {
	t.Helper()
	if cfg.FlushTimeout == 0 {
		// Generous: the tests check that the flush is complete, and a
		// loaded machine can stall goroutines for seconds.
		cfg.FlushTimeout = 20 * time.Second
	}
	s, err := NewScheduler(cfg, pub, set, testLogger())
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counterValue(set *metrics.Set, name string) float64 {
	var b strings.Builder
	set.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

func TestSchedulerPollsFiltersAndPublishes(t *testing.T) {
	rec := &recorder{}
	set := metrics.NewSet()
	p := &counting{name: "fake", res: "h1", meters: []string{"hardware.cpu.util", "perf.cpu.cycles"}, n: 2}
	stop := runScheduler(t, Config{
		Sources:  []Source{{Name: "s", Interval: tick, Pollsters: []Pollster{p}, Meters: []string{"*", "!perf.*"}}},
		Producer: "test", Creator: "u:p",
	}, rec, set)
	waitFor(t, "5 polls published", func() bool {
		v, _, _ := rec.points("h1 hardware.cpu.util")
		return len(v) >= 5
	})
	stop()

	vals, times, total := rec.points("h1 hardware.cpu.util")
	if perf, _, _ := rec.points("h1 perf.cpu.cycles"); len(perf) != 0 {
		t.Errorf("excluded meter perf.cpu.cycles published %d times", len(perf))
	}
	if total != len(vals) {
		t.Errorf("published %d points, %d of hardware.cpu.util: something else got through", total, len(vals))
	}
	if int64(len(vals)) != p.polls.Load() {
		t.Errorf("%d polls but %d hardware.cpu.util points: cancel must flush every poll", p.polls.Load(), len(vals))
	}
	for i := 1; i < len(times); i++ {
		// A poll delayed past its slot skips slots, so the gap is a
		// multiple of the interval, never a fraction.
		if d := time.Duration(times[i] - times[i-1]); d <= 0 || d%tick != 0 {
			t.Errorf("points %d and %d are %v apart, want a multiple of the interval %v", i-1, i, d, tick)
		}
	}
	if got := counterValue(set, "vigil_agent_samples_published_total"); got != float64(total) {
		t.Errorf("vigil_agent_samples_published_total = %v, want %d", got, total)
	}
	if got := counterValue(set, `vigil_agent_polls_total{pollster="fake"}`); got != float64(p.polls.Load()) {
		t.Errorf("polls_total = %v, want %d", got, p.polls.Load())
	}
	if got := counterValue(set, `vigil_agent_poll_duration_seconds_count{pollster="fake"}`); got != float64(p.polls.Load()) {
		t.Errorf("poll_duration_seconds_count = %v, want %d", got, p.polls.Load())
	}
}

func TestFailingAndHangingPollstersDoNotStopOthers(t *testing.T) {
	rec := &recorder{}
	set := metrics.NewSet()
	good := &counting{name: "good", res: "g", meters: []string{"m"}, n: 1}
	bad := &counting{name: "bad", res: "b", meters: []string{"m"}, n: 1, fail: true}
	stuck := &counting{name: "stuck", res: "s", meters: []string{"m"}, hang: true}
	// The stuck pollster is in the same source: only its own goroutine waits.
	stop := runScheduler(t, Config{
		Sources: []Source{{Name: "s", Interval: tick, Pollsters: []Pollster{stuck, bad, good}}},
	}, rec, set)
	waitFor(t, "10 good polls", func() bool { return good.polls.Load() >= 10 })
	stop()

	if v, _, _ := rec.points("g m"); int64(len(v)) != good.polls.Load() {
		t.Errorf("good pollster: %d points for %d polls", len(v), good.polls.Load())
	}
	// A failing poll's samples are still published.
	if v, _, _ := rec.points("b m"); int64(len(v)) != bad.polls.Load() {
		t.Errorf("failing pollster: %d points for %d polls", len(v), bad.polls.Load())
	}
	if got := counterValue(set, `vigil_agent_poll_errors_total{pollster="bad"}`); got < float64(bad.polls.Load()-1) || got == 0 {
		t.Errorf(`poll_errors_total{pollster="bad"} = %v after %d polls`, got, bad.polls.Load())
	}
	if got := counterValue(set, `vigil_agent_poll_errors_total{pollster="good"}`); got != 0 {
		t.Errorf(`poll_errors_total{pollster="good"} = %v, want 0`, got)
	}
	// A poll that times out after its interval counts as an error and the
	// next one is skipped, not stacked.
	if stuck.polls.Load() < 2 || stuck.polls.Load() > good.polls.Load() {
		t.Errorf("stuck pollster polled %d times (good: %d)", stuck.polls.Load(), good.polls.Load())
	}
	if got := counterValue(set, `vigil_agent_poll_errors_total{pollster="stuck"}`); got < 1 {
		t.Errorf(`poll_errors_total{pollster="stuck"} = %v, want timeouts counted`, got)
	}
}

func TestBatchSizeBound(t *testing.T) {
	rec := &recorder{}
	p := &counting{name: "many", res: "h", meters: []string{"a", "b", "c"}, n: 250}
	stop := runScheduler(t, Config{
		Sources:      []Source{{Name: "s", Interval: tick, Pollsters: []Pollster{p}}},
		PublishBatch: 100,
	}, rec, nil)
	waitFor(t, "3 polls", func() bool { return p.polls.Load() >= 3 })
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	total := 0
	for i, b := range rec.batches {
		if b.points > 100 || b.points == 0 {
			t.Errorf("batch %d holds %d points, want 1..100", i, b.points)
		}
		total += b.points
	}
	if int64(total) != p.emitted.Load() {
		t.Errorf("published %d of %d samples", total, p.emitted.Load())
	}
}

// TestBufferDropsOldestWhileBusIsDown cuts the bus off, lets the buffer
// overflow, brings the bus back and checks that the newest samples survive
// in order and the rest are counted as dropped.
func TestBufferDropsOldestWhileBusIsDown(t *testing.T) {
	rec := &recorder{}
	rec.down.Store(true)
	set := metrics.NewSet()
	p := &counting{name: "c", res: "h", meters: []string{"m"}, n: 10}
	stop := runScheduler(t, Config{
		Sources:      []Source{{Name: "s", Interval: tick, Pollsters: []Pollster{p}}},
		PublishBatch: 5, MaxBuffered: 30, RetryBackoff: 5 * time.Millisecond, RetryBackoffMax: 20 * time.Millisecond,
	}, rec, set)
	waitFor(t, "6 polls while down", func() bool { return p.polls.Load() >= 6 })
	waitFor(t, "retries", func() bool { return rec.calls.Load() >= 3 })
	rec.down.Store(false)
	waitFor(t, "publishing resumes", func() bool {
		_, _, total := rec.points("h m")
		return total > 30
	})
	stop()

	vals, _, total := rec.points("h m")
	emitted := p.emitted.Load()
	dropped := counterValue(set, "vigil_agent_samples_dropped_total")
	if float64(total)+dropped != float64(emitted) {
		t.Errorf("published %d + dropped %v != emitted %d", total, dropped, emitted)
	}
	if dropped == 0 {
		t.Error("no sample dropped though the buffer overflowed")
	}
	if !slices.IsSorted(vals) {
		t.Errorf("published out of order: %v", vals)
	}
	if vals[len(vals)-1] != float64(emitted) {
		t.Errorf("last published value %v, want the newest %d", vals[len(vals)-1], emitted)
	}
	if got := counterValue(set, "vigil_agent_publish_errors_total"); got < 3 {
		t.Errorf("vigil_agent_publish_errors_total = %v, want the failed attempts counted", got)
	}
}

// TestCancelFlushesBufferedSamples stops the scheduler while the bus has
// just come back: everything polled must be published before Run returns.
func TestCancelFlushesBufferedSamples(t *testing.T) {
	rec := &recorder{}
	rec.down.Store(true)
	p := &counting{name: "c", res: "h", meters: []string{"m"}, n: 7}
	s, err := NewScheduler(Config{
		Sources:      []Source{{Name: "s", Interval: tick, Pollsters: []Pollster{p}}},
		PublishBatch: 4, RetryBackoff: time.Hour, // only the flush can publish
		FlushTimeout: 20 * time.Second,
	}, rec, nil, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "4 polls", func() bool { return p.polls.Load() >= 4 && rec.calls.Load() >= 1 })
	rec.down.Store(false)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, _, total := rec.points("h m"); int64(total) != p.emitted.Load() {
		t.Errorf("flushed %d of %d polled samples", total, p.emitted.Load())
	}
}

func TestPollsterWithoutSelectedMetersDoesNotRun(t *testing.T) {
	rec := &recorder{}
	host := &counting{name: "host", res: "h", meters: []string{"hardware.cpu.util"}, n: 1}
	virt := &counting{name: "libvirt", res: "i", meters: []string{"cpu", "memory.usage"}, n: 1}
	stop := runScheduler(t, Config{
		Sources: []Source{{Name: "s", Interval: tick, Pollsters: []Pollster{host, virt}, Meters: []string{"hardware.*"}}},
	}, rec, nil)
	waitFor(t, "host polls", func() bool { return host.polls.Load() >= 3 })
	stop()
	if n := virt.polls.Load(); n != 0 {
		t.Errorf("libvirt pollster polled %d times though the source selects none of its meters", n)
	}
}

func TestNewSchedulerErrors(t *testing.T) {
	p := &counting{name: "p", meters: []string{"m"}}
	src := func(mod func(*Source)) Config {
		s := Source{Name: "s", Interval: time.Second, Pollsters: []Pollster{p}}
		mod(&s)
		return Config{Sources: []Source{s}}
	}
	tests := []struct {
		cfg  Config
		pub  Publisher
		want string
	}{
		{Config{}, &recorder{}, "no source"},
		{src(func(s *Source) {}), nil, "needs a publisher"},
		{src(func(s *Source) { s.Name = "" }), &recorder{}, "has no name"},
		{src(func(s *Source) { s.Interval = 0 }), &recorder{}, "interval must be > 0"},
		{src(func(s *Source) { s.Pollsters = nil }), &recorder{}, "has no pollster"},
		{src(func(s *Source) { s.Pollsters = []Pollster{nil} }), &recorder{}, "pollster 0 is nil"},
		{src(func(s *Source) { s.Meters = []string{"a", "!b"} }), &recorder{}, `source "s": meters: meter patterns`},
		{Config{Sources: src(func(*Source) {}).Sources, PublishBatch: -1}, &recorder{}, "negative publish_batch"},
		{Config{Sources: append(src(func(*Source) {}).Sources, src(func(*Source) {}).Sources...)}, &recorder{}, "defined twice"},
	}
	for _, tt := range tests {
		_, err := NewScheduler(tt.cfg, tt.pub, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewScheduler(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestRunTwice(t *testing.T) {
	s, err := NewScheduler(Config{Sources: []Source{{Name: "s", Interval: time.Hour, Pollsters: []Pollster{&counting{name: "p", meters: []string{"m"}}}}}}, &recorder{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "running", s.running.Load)
	if err := s.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestSampleQueue(t *testing.T) {
	q := sampleQueue{max: 5}
	mk := func(vs ...float64) []pipeline.Sample {
		var ss []pipeline.Sample
		for _, v := range vs {
			ss = append(ss, pipeline.Sample{Volume: v})
		}
		return ss
	}
	vols := func(ss []pipeline.Sample) []float64 {
		var out []float64
		for _, s := range ss {
			out = append(out, s.Volume)
		}
		return out
	}
	if d := q.push(mk(1, 2, 3)); d != 0 {
		t.Fatalf("dropped %d", d)
	}
	if got := vols(q.pop(nil, 2)); !slices.Equal(got, []float64{1, 2}) {
		t.Fatalf("pop = %v", got)
	}
	if d := q.push(mk(4, 5, 6, 7, 8)); d != 1 {
		t.Fatalf("dropped %d, want 1", d)
	}
	if d := q.push(mk(9, 10, 11, 12, 13, 14, 15)); d != 7 {
		t.Fatalf("dropped %d, want 7", d)
	}
	if got := vols(q.pop(nil, 10)); !slices.Equal(got, []float64{11, 12, 13, 14, 15}) {
		t.Fatalf("pop = %v", got)
	}
	if q.len() != 0 {
		t.Fatalf("len %d", q.len())
	}
}
