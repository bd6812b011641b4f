package ops

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

var testMethods = []Method{
	{Name: "mean"}, {Name: "median"}, {Name: "std"}, {Name: "var"}, {Name: "min"},
	{Name: "max"}, {Name: "sum"}, {Name: "count"}, {Name: "5pct", Q: 5}, {Name: "50pct", Q: 50}, {Name: "99pct", Q: 99},
}

// naiveNan is numpy's nan-function of m, written the obvious way.
func naiveNan(m Method, xs []float64) float64 {
	var vs []float64
	for _, v := range xs {
		if !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	switch m.Name {
	case "count":
		return float64(len(vs))
	case "sum":
		return sum
	}
	if len(vs) == 0 {
		return math.NaN()
	}
	n := float64(len(vs))
	sort.Float64s(vs)
	switch m.Name {
	case "mean":
		return sum / n
	case "var", "std":
		ss := 0.0
		for _, v := range vs {
			ss += (v - sum/n) * (v - sum/n)
		}
		if m.Name == "var" {
			return ss / n
		}
		return math.Sqrt(ss / n)
	case "min":
		return vs[0]
	case "max":
		return vs[len(vs)-1]
	case "median": // the mean of the middle values, not the 50th percentile
		if len(vs)%2 == 1 {
			return vs[len(vs)/2]
		}
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return naivePct(vs, m.Q)
}

// naivePct is numpy's linear percentile, with its _lerp, which computes
// from the upper neighbour past the midpoint (so that Inf gives NaN there).
func naivePct(sorted []float64, q float64) float64 {
	pos := q / 100 * float64(len(sorted)-1)
	lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
	if lo == hi {
		return sorted[lo]
	}
	a, b, t := sorted[lo], sorted[hi], pos-float64(lo)
	if t >= 0.5 {
		return b - (b-a)*(1-t)
	}
	return a + (b-a)*t
}

// carbonaraPct is carbonara's quantile: a weighted sum of the neighbours.
func carbonaraPct(sorted []float64, q float64) float64 {
	pos := float64(len(sorted)-1) * q / 100
	lo, hi := math.Floor(pos), math.Ceil(pos)
	if lo == hi {
		return sorted[int(lo)]
	}
	return sorted[int(lo)]*(hi-pos) + sorted[int(hi)]*(pos-lo)
}

// naiveBucket is carbonara's bucket aggregate: NaN is a value like others
// except for min, which skips it, and for sorting, which puts it last.
func naiveBucket(m Method, vs []float64) (float64, bool) {
	n := float64(len(vs))
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	switch m.Name {
	case "count":
		return n, true
	case "first":
		return vs[0], true
	case "last":
		return vs[len(vs)-1], true
	case "sum":
		return sum, true
	case "mean":
		return sum / n, true
	case "std", "var":
		if len(vs) < 2 {
			return 0, false
		}
		ss := 0.0
		for _, v := range vs {
			ss += (v - sum/n) * (v - sum/n)
		}
		if m.Name == "var" {
			return ss / (n - 1), true
		}
		return math.Sqrt(ss / (n - 1)), true
	case "min":
		r := math.NaN()
		for _, v := range vs {
			if !math.IsNaN(v) && (math.IsNaN(r) || v < r) {
				r = v
			}
		}
		return r, true
	}
	s := append([]float64(nil), vs...)
	sort.Slice(s, func(i, j int) bool {
		if math.IsNaN(s[j]) {
			return !math.IsNaN(s[i])
		}
		return s[i] < s[j]
	})
	switch m.Name {
	case "max":
		return s[len(s)-1], true
	case "median":
		if len(s)%2 == 1 {
			return s[len(s)/2], true
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
	}
	return carbonaraPct(s, m.Q), true
}

func randomColumn(r *rand.Rand, n int) []float64 {
	c := make([]float64, n)
	for i := range c {
		switch x := r.IntN(40); {
		case x == 0:
			c[i] = math.NaN()
		case x == 1 && r.IntN(4) == 0:
			c[i] = math.Inf(1 - 2*r.IntN(2))
		case x < 8:
			c[i] = float64(r.IntN(5)) // ties
		default:
			c[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(7)-3))
		}
	}
	return c
}

func TestRollingMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		n := 1 + r.IntN(80)
		w := 1 + r.IntN(n)
		c := randomColumn(r, n)
		for _, m := range testMethods {
			got := rolling(m, w, c)
			if len(got) != n-w+1 {
				t.Fatalf("rolling %s %d over %d points: %d values", m, w, n, len(got))
			}
			for i := range got {
				want := naiveNan(m, append([]float64(nil), c[i:i+w]...))
				if !sameFloat(got[i], want) {
					t.Fatalf("iter %d: rolling %s window %d at %d over %v: got %v, want %v", iter, m, w, i, c[i:i+w], got[i], want)
				}
			}
		}
	}
}

func TestRollingLongSeriesDoesNotDrift(t *testing.T) {
	c := make([]float64, 20000)
	for i := range c {
		c[i] = 1e9 + float64(i%7)*1e-3
		if i%1000 == 0 {
			c[i] = 1e15
		}
	}
	got := rolling(Method{Name: "mean"}, 10, c)
	for i := range got {
		want := naiveNan(Method{Name: "mean"}, append([]float64(nil), c[i:i+10]...))
		if math.Abs(got[i]-want) > 1e-6*math.Abs(want) {
			t.Fatalf("at %d: %v, want %v", i, got[i], want)
		}
	}
}

func TestAggregateMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		rows, ncols := r.IntN(30), r.IntN(8)
		cols := make([][]float64, ncols)
		for i := range cols {
			cols[i] = randomColumn(r, rows)
		}
		for _, m := range testMethods {
			got := aggregateCols(m, cols, rows)
			for row := range rows {
				var xs []float64
				for _, c := range cols {
					xs = append(xs, c[row])
				}
				if want := naiveNan(m, xs); !sameFloat(got[row], want) {
					t.Fatalf("aggregate %s of %v: got %v, want %v", m, xs, got[row], want)
				}
			}
		}
	}
}

func TestResampleMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	methods := append([]Method{{Name: "first"}, {Name: "last"}}, testMethods...)
	for range 300 {
		g := int64(1+r.IntN(5)) * 60e9
		var times []int64
		ts := t0 - int64(r.IntN(10))*60e9
		for range r.IntN(60) {
			ts += int64(1+r.IntN(3)) * 60e9
			times = append(times, ts)
		}
		x := val{gran: 60e9, times: times, cols: [][]float64{randomColumn(r, len(times)), randomColumn(r, len(times))}}
		sampling := g * int64(1+r.IntN(4))
		for _, m := range methods {
			got := resample(m, sampling, x)
			if got.gran != sampling || len(got.cols) != 2 {
				t.Fatalf("resample %s: gran %d, %d cols", m, got.gran, len(got.cols))
			}
			for ci, c := range x.cols {
				groups := map[int64][]float64{}
				var keys []int64
				for i, t := range x.times {
					k := t - ((t%sampling)+sampling)%sampling
					if _, ok := groups[k]; !ok {
						keys = append(keys, k)
					}
					groups[k] = append(groups[k], c[i])
				}
				var wantT []int64
				var wantV []float64
				for _, k := range keys {
					if v, ok := naiveBucket(m, groups[k]); ok {
						wantT = append(wantT, k)
						wantV = append(wantV, v)
					}
				}
				if len(got.times) != len(wantT) || len(got.cols[ci]) != len(wantV) {
					t.Fatalf("resample %s %d: times %v, want %v", m, sampling, got.times, wantT)
				}
				for i := range wantT {
					if got.times[i] != wantT[i] || !sameFloat(got.cols[ci][i], wantV[i]) {
						t.Fatalf("resample %s %d bucket %d of %v: got %v@%d, want %v@%d", m, sampling, i, groups[wantT[i]], got.cols[ci][i], got.times[i], wantV[i], wantT[i])
					}
				}
			}
		}
	}
}

func TestRateOfChangeMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 100 {
		n := r.IntN(20)
		x := val{gran: 60e9, times: make([]int64, n), cols: [][]float64{randomColumn(r, n)}}
		for i := range x.times {
			x.times[i] = t0 + int64(i)*60e9
		}
		got := rateOfChange(x)
		if n == 0 {
			if len(got.times) != 0 || len(got.cols[0]) != 0 {
				t.Fatalf("rateofchange of nothing: %v", got)
			}
			continue
		}
		if len(got.times) != n-1 || (n > 1 && got.times[0] != x.times[1]) {
			t.Fatalf("rateofchange times %v of %v", got.times, x.times)
		}
		for i := range got.cols[0] {
			if want := x.cols[0][i+1] - x.cols[0][i]; !sameFloat(got.cols[0][i], want) {
				t.Fatalf("rateofchange at %d: %v, want %v", i, got.cols[0][i], want)
			}
		}
	}
}
