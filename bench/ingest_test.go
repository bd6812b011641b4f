package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// Workload is the tsdb issue's W1/W2: Metrics metrics, ten per resource,
// Points points each at 1 s spacing, CPU-percent-like values with noise
// rounded to two decimals, stored under a 1 s/1 day, 60 s/30 days,
// 3600 s/1 year policy with mean, min, max, sum, count and last.
type Workload struct {
	Metrics, Points int
	// PointsPerBatch is how many consecutive points of each of a
	// resource's metrics one bus message carries.
	PointsPerBatch int
}

// W1 is the workload the store's targets are stated on.
var W1 = Workload{Metrics: 1000, Points: 1000, PointsPerBatch: 100}

// W2 is W1 with ten times the metrics.
var W2 = Workload{Metrics: 10000, Points: 1000, PointsPerBatch: 100}

const metricsPerResource = 10

func workloadPolicy() archive.Policy {
	p := archive.Policy{Name: "bench-w", Methods: []archive.Method{
		{Kind: archive.Mean}, {Kind: archive.Min}, {Kind: archive.Max},
		{Kind: archive.Sum}, {Kind: archive.Count}, {Kind: archive.Last},
	}}
	for _, d := range [][2]time.Duration{{time.Second, 24 * time.Hour}, {time.Minute, 30 * 24 * time.Hour}, {time.Hour, 365 * 24 * time.Hour}} {
		p.Definitions = append(p.Definitions, archive.Definition{
			Granularity: d[0], Timespan: d[1], Points: int64(d[1] / d[0]),
		})
	}
	return p
}

// aggregatedPoints is how many aggregated points W stores: one per
// method per occupied bucket of every granularity.
func (w Workload) aggregatedPoints(start time.Time) int64 {
	var n int64
	for _, g := range []time.Duration{time.Second, time.Minute, time.Hour} {
		first := start.Truncate(g)
		last := start.Add(time.Duration(w.Points-1) * time.Second).Truncate(g)
		n += int64(last.Sub(first)/g) + 1
	}
	return n * 6 * int64(w.Metrics)
}

// values is a random walk between 0 and 100, rounded to 2 decimals.
func values(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	v := 20 + rng.Float64()*60
	for i := range out {
		v += rng.NormFloat64() * 2
		v = math.Max(0, math.Min(100, v))
		out[i] = math.Round(v*100) / 100
	}
	return out
}

// publish puts the whole workload on the bus, resource by resource, and
// returns how many messages that took.
func (w Workload) publish(ctx context.Context, tb testing.TB, b *bus.Bus, start time.Time) int {
	rng := rand.New(rand.NewPCG(1, 2))
	series := make([][]float64, w.Metrics)
	for i := range series {
		series[i] = values(rng, w.Points)
	}
	msgs := 0
	for off := 0; off < w.Points; off += w.PointsPerBatch {
		end := min(off+w.PointsPerBatch, w.Points)
		ts := make([]int64, end-off)
		for i := range ts {
			ts[i] = start.Add(time.Duration(off+i) * time.Second).UnixNano()
		}
		for r := 0; r < w.Metrics/metricsPerResource; r++ {
			ri := uint32(0)
			batch := &wire.Batch{
				Version: wire.Version, Producer: "bench",
				Resources: []*wire.Resource{{Id: "bench-resource-" + strconv.Itoa(r), Type: "generic", Creator: "bench"}},
			}
			for m := 0; m < metricsPerResource; m++ {
				batch.Series = append(batch.Series, &wire.Series{
					Resource: &ri, Name: "cpu" + strconv.Itoa(m), Type: wire.MeterType(pipeline.Gauge),
					Unit: "%", ArchivePolicy: "bench-w",
					Timestamps: ts, Values: series[r*metricsPerResource+m][off:end],
				})
			}
			if err := b.Publish(ctx, batch); err != nil {
				tb.Fatalf("publish: %v", err)
			}
			msgs++
		}
	}
	return msgs
}

// store is the processor side of a vigil: bus, index and series storage
// on a temporary directory.
type store struct {
	dir string
	bus *bus.Bus
	idx *index.Index
	st  storage.Storage
	set *metrics.Set
}

func openStore(ctx context.Context, tb testing.TB) *store {
	tb.Helper()
	s := &store{dir: tb.TempDir(), set: metrics.NewSet()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := bus.DefaultConfig()
	cfg.DataDir = filepath.Join(s.dir, "jetstream")
	var err error
	if s.bus, err = bus.Open(ctx, cfg, log, bus.WithMetrics(s.set)); err != nil {
		tb.Fatalf("open bus: %v", err)
	}
	tb.Cleanup(func() { s.bus.Close() })
	if s.idx, err = index.Open(ctx, "sqlite://"+filepath.Join(s.dir, "index.db"), index.Options{}); err != nil {
		tb.Fatalf("open index: %v", err)
	}
	tb.Cleanup(func() { s.idx.Close() })
	if err := s.idx.CreateArchivePolicy(ctx, workloadPolicy()); err != nil {
		tb.Fatalf("create policy: %v", err)
	}
	if s.st, err = storage.OpenPebble(filepath.Join(s.dir, "series"), storage.PebbleOptions{}); err != nil {
		tb.Fatalf("open storage: %v", err)
	}
	tb.Cleanup(func() { s.st.Close() })
	return s
}

// ingest runs a processor until it has stored want measures and returns
// how long that took.
func (s *store) ingest(ctx context.Context, tb testing.TB, want int64) time.Duration {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	set := metrics.NewSet()
	proc := ingest.NewProcessor(ingest.Config{ID: "bench", BatchMax: 64, FlushInterval: 20 * time.Millisecond}, s.bus, s.idx, s.st, set, log)
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- proc.Run(pctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("processor: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if got := counter(set, "vigil_ingest_measures_total"); got >= want {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ingested %d of %d measures before the deadline", counter(set, "vigil_ingest_measures_total"), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// filesByKind splits the allocated bytes of a Pebble directory into its
// tables and its write-ahead logs: the logs are a fixed cost of a few
// memtables, the tables grow with the data.
func filesByKind(tb testing.TB, dir string) (tables, logs int64) {
	des, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			continue
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = st.Blocks * 512
		}
		switch filepath.Ext(de.Name()) {
		case ".sst":
			tables += n
		case ".log":
			logs += n
		}
	}
	return tables, logs
}

func counter(set *metrics.Set, name string) int64 {
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for _, line := range strings.Split(sb.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int64(n)
		}
	}
	return 0
}

// rssMB is the process's peak resident set.
func rssMB(tb testing.TB) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

func benchIngest(b *testing.B, w Workload) {
	ctx := context.Background()
	for range b.N {
		s := openStore(ctx, b)
		start := time.Unix(1_700_000_000, 0).Truncate(time.Hour)
		// The first pass creates the resources and metrics (a one-off cost
		// per metric, reported apart); the measured one is steady state.
		warm := Workload{Metrics: w.Metrics, Points: 1, PointsPerBatch: 1}
		warm.publish(ctx, b, s.bus, start.Add(-time.Hour))
		created := s.ingest(ctx, b, int64(w.Metrics))

		t0 := time.Now()
		msgs := w.publish(ctx, b, s.bus, start)
		pubDur := time.Since(t0)
		total := int64(w.Metrics * w.Points)
		dur := s.ingest(ctx, b, total)

		if err := s.st.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		flushed, err := s.st.DiskUsage()
		if err != nil {
			b.Fatal(err)
		}
		// What the store keeps once its compactions have caught up; right
		// after the flush, superseded versions of rewritten splits are
		// still on disk.
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := s.st.(*storage.Pebble).Settle(sctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		disk, err := s.st.DiskUsage()
		if err != nil {
			b.Fatal(err)
		}
		// The warm-up points live in other buckets; count them too.
		points := w.aggregatedPoints(start) + warm.aggregatedPoints(start.Add(-time.Hour))
		b.ReportMetric(float64(total)/dur.Seconds(), "measures/s")
		b.ReportMetric(float64(total)/pubDur.Seconds(), "published-measures/s")
		b.ReportMetric(float64(msgs), "messages")
		b.ReportMetric(float64(w.Metrics)/created.Seconds(), "new-metrics/s")
		b.ReportMetric(float64(disk)/float64(points), "disk-bytes/point")
		b.ReportMetric(float64(flushed)/float64(points), "flushed-disk-bytes/point")
		tables, logs := filesByKind(b, filepath.Join(s.dir, "series"))
		b.ReportMetric(float64(tables)/float64(points), "table-bytes/point")
		b.ReportMetric(float64(logs)/(1<<20), "wal-MB")
		b.ReportMetric(rssMB(b), "peak-RSS-MB")
		if b.N == 1 {
			benchQueries(b, ctx, s, start, w)
		}
	}
}

// benchQueries reports the latency of reading one metric at 60 s.
func benchQueries(b *testing.B, ctx context.Context, s *store, start time.Time, w Workload) {
	ms, err := s.idx.ListMetrics(ctx, index.ListMetricOptions{Limit: 100})
	if err != nil || len(ms) == 0 {
		b.Fatalf("list metrics: %v (%d)", err, len(ms))
	}
	p, err := s.idx.ArchivePolicy(ctx, "bench-w")
	if err != nil {
		b.Fatal(err)
	}
	r := query.NewReader(s.st)
	lat := make([]time.Duration, 0, 5000)
	for i := range cap(lat) {
		m := ms[i%len(ms)]
		t := time.Now()
		out, err := r.Measures(ctx, m.ID, &p, query.MeasuresOptions{Method: archive.Method{Kind: archive.Mean}, Granularity: time.Minute})
		lat = append(lat, time.Since(t))
		if err != nil || len(out) == 0 {
			b.Fatalf("measures: %v (%d)", err, len(out))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "query-60s-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "query-60s-p99-µs")
	_ = uuid.Nil
	_ = fmt.Sprint(start, w)
}

func BenchmarkIngestW1(b *testing.B) { benchIngest(b, W1) }

func BenchmarkIngestW2(b *testing.B) { benchIngest(b, W2) }
