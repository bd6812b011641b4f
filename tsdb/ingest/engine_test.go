package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/aggregate"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

func openTestStore(t *testing.T) storage.Storage {
	t.Helper()
	st, err := storage.OpenPebble(t.TempDir(), storage.PebbleOptions{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// naive is the reference the engine is checked against: it keeps every
// accepted raw point (last write wins) and computes each bucket from
// scratch with textbook formulas, sharing no code with the engine.
type naive struct {
	points map[int64]float64
	maxT   int64
	seen   bool
}

// apply mirrors the engine's acceptance rule for one batch: within the
// batch the last point of a timestamp wins; points older than the back
// window counted from the newest point stored before the batch are
// dropped.
func (n *naive) apply(p *archive.Policy, batch []Point) (accepted, dropped int) {
	maxG := int64(p.MaxGranularity())
	windowStart := int64(math.MinInt64)
	if n.seen {
		windowStart = aggregate.Floor(n.maxT, maxG) - p.BackWindow*maxG
	}
	last := map[int64]float64{}
	for _, pt := range batch {
		last[pt.T] = pt.V
	}
	for t, v := range last {
		if t < windowStart {
			dropped++
			continue
		}
		accepted++
		n.points[t] = v
		if !n.seen || t > n.maxT {
			n.maxT, n.seen = t, true
		}
	}
	return accepted, dropped
}

func percentileOf(vs []float64, q float64) float64 {
	s := slices.Clone(vs)
	sort.Float64s(s)
	rank := q / 100 * float64(len(s)-1)
	lo, hi := int(math.Floor(rank)), int(math.Ceil(rank))
	return s[lo] + (s[hi]-s[lo])*(rank-float64(lo))
}

func reduce(m archive.Method, vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	switch m.Kind {
	case archive.Mean:
		return sum / float64(len(vs)), true
	case archive.Sum:
		return sum, true
	case archive.Count:
		return float64(len(vs)), true
	case archive.Min:
		return slices.Min(vs), true
	case archive.Max:
		return slices.Max(vs), true
	case archive.First:
		return vs[0], true
	case archive.Last:
		return vs[len(vs)-1], true
	case archive.Std:
		if len(vs) < 2 {
			return 0, false
		}
		mean := sum / float64(len(vs))
		var ss float64
		for _, v := range vs {
			ss += (v - mean) * (v - mean)
		}
		return math.Sqrt(ss / float64(len(vs)-1)), true
	case archive.Median:
		return percentileOf(vs, 50), true
	case archive.Percentile:
		return percentileOf(vs, m.Percentile), true
	}
	panic("BUG: method " + m.String())
}

// expected returns the measures Gnocchi would show for method m at
// granularity d: one per bucket holding a value, within the definition's
// timespan counted back from the newest bucket.
func (n *naive) expected(m archive.Method, d archive.Definition) []query.Measure {
	ts := make([]int64, 0, len(n.points))
	for t := range n.points {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	g := int64(d.Granularity)
	buckets := map[int64][]float64{}
	var order []int64
	for i, t := range ts {
		v := n.points[t]
		if m.Rate {
			if i == 0 {
				continue
			}
			v -= n.points[ts[i-1]]
		}
		b := aggregate.Floor(t, g)
		if _, ok := buckets[b]; !ok {
			order = append(order, b)
		}
		buckets[b] = append(buckets[b], v)
	}
	var out []query.Measure
	for _, b := range order {
		if v, ok := reduce(m, buckets[b]); ok {
			out = append(out, query.Measure{Timestamp: b, Granularity: d.Granularity, Value: v})
		}
	}
	if len(out) > 0 {
		cut := out[len(out)-1].Timestamp - int64(d.Timespan)
		i := sort.Search(len(out), func(i int) bool { return out[i].Timestamp > cut })
		out = out[i:]
	}
	return out
}

func near(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestEngineMatchesNaiveReference feeds random point streams (out of
// order, duplicated, with gaps and late points) through the engine in
// random batches and checks every aggregate of every granularity against
// the naive reference.
func TestEngineMatchesNaiveReference(t *testing.T) {
	methods := []archive.Method{
		{Kind: archive.Mean}, {Kind: archive.Min}, {Kind: archive.Max}, {Kind: archive.Sum},
		{Kind: archive.Count}, {Kind: archive.First}, {Kind: archive.Last}, {Kind: archive.Std},
		{Kind: archive.Median}, {Kind: archive.Percentile, Percentile: 95},
		{Kind: archive.Mean, Rate: true}, {Kind: archive.Sum, Rate: true}, {Kind: archive.Max, Rate: true},
	}
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			p := archive.Policy{
				Name: "prop", BackWindow: int64(rng.IntN(3)), Methods: methods,
				Definitions: []archive.Definition{
					{Granularity: time.Second, Points: 600},
					{Granularity: 10 * time.Second, Points: 100},
					{Granularity: time.Minute, Points: 1000},
				},
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st := openTestStore(t)
			// A small cache makes the engine re-read its state from storage.
			eng := NewEngine(st, discardLogger(), 1+rng.IntN(200))
			dropped := 0
			eng.Dropped = func(_ uuid.UUID, n int) { dropped += n }
			ref := &naive{points: map[int64]float64{}}
			wantDropped := 0
			ids := []uuid.UUID{uuid.New(), uuid.New()}
			refs := map[uuid.UUID]*naive{ids[0]: ref, ids[1]: {points: map[int64]float64{}}}
			drops := map[uuid.UUID]int{}
			base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
			cursor := base
			for range 40 {
				b := st.NewBatch()
				for _, id := range ids {
					var batch []Point
					for range rng.IntN(30) {
						var ts int64
						switch r := rng.IntN(10); {
						case r < 6: // moving forward, sometimes with a gap
							cursor += int64(rng.IntN(3000)) * int64(time.Millisecond)
							ts = cursor
						case r < 8: // late, maybe past the back window
							ts = cursor - int64(rng.IntN(240))*int64(time.Second)
						default: // a duplicate of a recent timestamp
							ts = cursor - int64(rng.IntN(5))*int64(time.Second)
						}
						v := math.Round(rng.NormFloat64()*2000) / 100
						batch = append(batch, Point{T: ts, V: v})
					}
					_, d := refs[id].apply(&p, batch)
					drops[id] += d
					if _, err := eng.Apply(ctx, b, id, &p, slices.Clone(batch)); err != nil {
						t.Fatalf("apply: %v", err)
					}
				}
				if err := b.Commit(ctx, false); err != nil {
					t.Fatal(err)
				}
				b.Close()
			}
			for _, id := range ids {
				wantDropped += drops[id]
			}
			if dropped != wantDropped {
				t.Errorf("engine dropped %d late points, the reference %d", dropped, wantDropped)
			}
			rd := query.NewReader(st)
			for _, id := range ids {
				for _, m := range methods {
					for _, d := range p.Definitions {
						got, err := rd.Measures(ctx, id, &p, query.MeasuresOptions{Method: m, Granularity: d.Granularity})
						if err != nil {
							t.Fatalf("measures %s at %v: %v", m, d.Granularity, err)
						}
						want := refs[id].expected(m, d)
						if len(got) != len(want) {
							t.Fatalf("%s at %v: %d measures, want %d\n got %v\nwant %v", m, d.Granularity, len(got), len(want), got, want)
						}
						for i := range want {
							if got[i].Timestamp != want[i].Timestamp || !near(got[i].Value, want[i].Value) {
								t.Fatalf("%s at %v, measure %d: got %v, want %v", m, d.Granularity, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestEngineRedeliveryIsHarmless applies the same batches twice, as a
// redelivery after a crash does, and expects count and sum unchanged.
func TestEngineRedeliveryIsHarmless(t *testing.T) {
	ctx := context.Background()
	p := archive.Policy{Name: "r", Methods: []archive.Method{{Kind: archive.Count}, {Kind: archive.Sum}},
		Definitions: []archive.Definition{{Granularity: time.Minute, Points: 60}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t)
	id := uuid.New()
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	var pts []Point
	for i := range 300 {
		pts = append(pts, Point{T: base + int64(i)*int64(time.Second), V: float64(i)})
	}
	for round := range 2 {
		// A fresh engine each round: the second round is the restarted
		// processor that sees the same messages again.
		eng := NewEngine(st, discardLogger(), 1<<20)
		for i := 0; i < len(pts); i += 50 {
			b := st.NewBatch()
			if _, err := eng.Apply(ctx, b, id, &p, slices.Clone(pts[i:i+50])); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(ctx, true); err != nil {
				t.Fatal(err)
			}
			b.Close()
		}
		rd := query.NewReader(st)
		counts, _ := rd.Measures(ctx, id, &p, query.MeasuresOptions{Method: archive.Method{Kind: archive.Count}})
		sums, _ := rd.Measures(ctx, id, &p, query.MeasuresOptions{Method: archive.Method{Kind: archive.Sum}})
		if len(counts) != 5 || len(sums) != 5 {
			t.Fatalf("round %d: %d counts, %d sums, want 5 minutes", round, len(counts), len(sums))
		}
		for i := range 5 {
			wantSum := 0.0
			for k := i * 60; k < (i+1)*60; k++ {
				wantSum += float64(k)
			}
			if counts[i].Value != 60 || sums[i].Value != wantSum {
				t.Errorf("round %d minute %d: count %v sum %v, want 60 and %v", round, i, counts[i].Value, sums[i].Value, wantSum)
			}
		}
	}
}
