package aggregate

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

func TestFloor(t *testing.T) {
	for _, tc := range []struct{ t, g, want int64 }{
		{0, 10, 0}, {9, 10, 0}, {10, 10, 10}, {-1, 10, -10}, {-10, 10, -10}, {-11, 10, -20},
	} {
		if got := Floor(tc.t, tc.g); got != tc.want {
			t.Errorf("Floor(%d, %d) = %d, want %d", tc.t, tc.g, got, tc.want)
		}
	}
}

// naive computes a method the slow, obvious way.
func naive(m archive.Method, prev *float64, vs []float64) (float64, bool) {
	if m.Rate {
		var d []float64
		for i, v := range vs {
			switch {
			case i > 0:
				d = append(d, v-vs[i-1])
			case prev != nil:
				d = append(d, v-*prev)
			}
		}
		vs = d
	}
	if len(vs) == 0 {
		return 0, false
	}
	s := 0.0
	for _, v := range vs {
		s += v
	}
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	pct := func(q float64) float64 {
		r := q / 100 * float64(len(sorted)-1)
		lo, hi := math.Floor(r), math.Ceil(r)
		return sorted[int(lo)] + (sorted[int(hi)]-sorted[int(lo)])*(r-lo)
	}
	switch m.Kind {
	case archive.Mean:
		return s / float64(len(vs)), true
	case archive.Sum:
		return s, true
	case archive.Count:
		return float64(len(vs)), true
	case archive.Min:
		return sorted[0], true
	case archive.Max:
		return sorted[len(sorted)-1], true
	case archive.First:
		return vs[0], true
	case archive.Last:
		return vs[len(vs)-1], true
	case archive.Std:
		if len(vs) < 2 {
			return 0, false
		}
		mean := s / float64(len(vs))
		ss := 0.0
		for _, v := range vs {
			ss += (v - mean) * (v - mean)
		}
		return math.Sqrt(ss / float64(len(vs)-1)), true
	case archive.Median:
		return pct(50), true
	case archive.Percentile:
		return pct(m.Percentile), true
	}
	return 0, false
}

func TestComputeMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	methods := append(archive.AllMethods(), archive.Method{Kind: archive.Percentile, Percentile: 95}, archive.Method{Kind: archive.Percentile, Percentile: 1, Rate: true}, archive.Method{Kind: archive.Percentile, Percentile: 99.9})
	var b Bucket
	for iter := 0; iter < 2000; iter++ {
		n := rng.IntN(12)
		vs := make([]float64, n)
		for i := range vs {
			switch rng.IntN(3) {
			case 0:
				vs[i] = math.Round(rng.Float64()*10000) / 100
			case 1:
				vs[i] = float64(rng.IntN(5))
			default:
				vs[i] = rng.NormFloat64() * 1e6
			}
		}
		var prev *float64
		if rng.IntN(2) == 0 {
			p := rng.Float64() * 100
			prev = &p
		}
		for _, m := range methods {
			b.Reset()
			b.Values = append(b.Values, vs...)
			if prev != nil {
				b.Prev, b.HasPrev = *prev, true
			}
			got, ok := b.Compute(m)
			want, wok := naive(m, prev, vs)
			if ok != wok {
				t.Fatalf("%s over %v (prev %v): present %v, want %v", m, vs, prev, ok, wok)
			}
			if ok && math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Fatalf("%s over %v (prev %v) = %v, want %v", m, vs, prev, got, want)
			}
		}
	}
}

func TestComputeTable(t *testing.T) {
	var b Bucket
	for _, tc := range []struct {
		m    archive.Method
		vs   []float64
		want float64
		ok   bool
	}{
		{archive.Method{Kind: archive.Std}, []float64{5}, 0, false},
		{archive.Method{Kind: archive.Std}, []float64{2, 4, 4, 4, 5, 5, 7, 9}, 2.138089935299395, true},
		{archive.Method{Kind: archive.Median}, []float64{3, 1, 2, 10}, 2.5, true},
		{archive.Method{Kind: archive.Percentile, Percentile: 90}, []float64{1, 2, 3, 4, 5}, 4.6, true},
		{archive.Method{Kind: archive.Mean, Rate: true}, []float64{1, 4, 9}, 4, true},
		{archive.Method{Kind: archive.Mean, Rate: true}, []float64{1}, 0, false},
		{archive.Method{Kind: archive.Count}, nil, 0, false},
	} {
		b.Reset()
		b.Values = append(b.Values, tc.vs...)
		got, ok := b.Compute(tc.m)
		if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-12) {
			t.Errorf("%s over %v = %v, %v; want %v, %v", tc.m, tc.vs, got, ok, tc.want, tc.ok)
		}
	}
}
