package ops

import (
	"math"
	"slices"
	"sort"
)

// aggregateCols reduces the columns row by row with numpy's nan-functions:
// NaN is ignored, an all-NaN row gives NaN (0 for sum and count), std and
// var are of the population (ddof=0).
func aggregateCols(m Method, cols [][]float64, n int) []float64 {
	out := make([]float64, n)
	switch m.Name {
	case "mean", "sum", "count", "var", "std":
		cnt := make([]float64, n)
		for _, c := range cols {
			c = c[:n]
			for r, v := range c {
				if v == v {
					out[r] += v
					cnt[r]++
				}
			}
		}
		switch m.Name {
		case "count":
			copy(out, cnt)
		case "mean":
			for r := range out {
				out[r] /= cnt[r] // 0/0 is NaN, as nanmean of nothing
			}
		case "var", "std":
			mean := out
			sq := make([]float64, n)
			for r := range mean {
				mean[r] /= cnt[r]
			}
			for _, c := range cols {
				c = c[:n]
				for r, v := range c {
					if v == v {
						d := v - mean[r]
						sq[r] += d * d
					}
				}
			}
			for r := range sq {
				sq[r] /= cnt[r]
				if m.Name == "std" {
					sq[r] = math.Sqrt(sq[r])
				}
			}
			out = sq
		}
	case "min", "max":
		isMax := m.Name == "max"
		for r := range out {
			out[r] = math.NaN()
		}
		for _, c := range cols {
			c = c[:n]
			for r, v := range c {
				if v != v {
					continue
				}
				if o := out[r]; o != o || (isMax && v > o) || (!isMax && v < o) {
					out[r] = v
				}
			}
		}
	default:
		buf := make([]float64, 0, len(cols))
		for r := range out {
			buf = buf[:0]
			for _, c := range cols {
				buf = append(buf, c[r])
			}
			out[r] = reduceSlice(m, buf)
		}
	}
	return out
}

// reduceSlice reduces xs as numpy's nan-function for m does. It reorders
// xs.
func reduceSlice(m Method, xs []float64) float64 {
	vs := xs[:0]
	for _, v := range xs {
		if v == v {
			vs = append(vs, v)
		}
	}
	n := float64(len(vs))
	switch m.Name {
	case "count":
		return n
	case "sum":
		s := 0.0
		for _, v := range vs {
			s += v
		}
		return s
	}
	if len(vs) == 0 {
		return math.NaN()
	}
	switch m.Name {
	case "mean", "var", "std":
		s := 0.0
		for _, v := range vs {
			s += v
		}
		mean := s / n
		if m.Name == "mean" {
			return mean
		}
		sq := 0.0
		for _, v := range vs {
			sq += (v - mean) * (v - mean)
		}
		if m.Name == "std" {
			return math.Sqrt(sq / n)
		}
		return sq / n
	case "min":
		return slices.Min(vs)
	case "max":
		return slices.Max(vs)
	}
	slices.Sort(vs)
	return sortedQuantile(m, vs)
}

// sortedQuantile is numpy's median or linear percentile of sorted values
// without NaN; vs must not be empty.
func sortedQuantile(m Method, vs []float64) float64 {
	n := len(vs)
	if m.Name == "median" {
		if n%2 == 1 {
			return vs[n/2]
		}
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	idx := m.Q / 100 * float64(n-1)
	lo := math.Floor(idx)
	t := idx - lo
	i := int(lo)
	a := vs[i]
	if t == 0 || i+1 >= n {
		return a
	}
	b := vs[i+1]
	if t >= 0.5 {
		return b - (b-a)*(1-t)
	}
	return a + (b-a)*t
}

// rolling reduces c over each window of w points (w <= len(c)), as
// numpy's nan-functions over a strided view do. Sums are kept sliding and
// recomputed every w points so that rounding does not drift.
func rolling(m Method, w int, c []float64) []float64 {
	out := make([]float64, len(c)-w+1)
	switch m.Name {
	case "sum", "mean", "count":
		var sum float64
		var cnt, pinf, ninf int
		add := func(v float64, sign int) {
			switch {
			case v != v:
				return
			case math.IsInf(v, 1):
				pinf += sign
			case math.IsInf(v, -1):
				ninf += sign
			default:
				sum += float64(sign) * v
			}
			cnt += sign
		}
		for i, v := range c {
			add(v, 1)
			if i >= w {
				add(c[i-w], -1)
			}
			if i < w-1 {
				continue
			}
			if (i-w+1)%w == 0 {
				sum = 0
				for _, x := range c[i-w+1 : i+1] {
					if x == x && !math.IsInf(x, 0) {
						sum += x
					}
				}
			}
			total := sum
			switch {
			case pinf > 0 && ninf > 0:
				total = math.NaN()
			case pinf > 0:
				total = math.Inf(1)
			case ninf > 0:
				total = math.Inf(-1)
			}
			switch m.Name {
			case "count":
				out[i-w+1] = float64(cnt)
			case "sum":
				out[i-w+1] = total
			default:
				out[i-w+1] = total / float64(cnt)
			}
		}
	case "min", "max":
		isMax := m.Name == "max"
		dq := make([]int, 0, w)
		for i, v := range c {
			if len(dq) > 0 && dq[0] <= i-w {
				dq = dq[1:]
			}
			if v == v {
				for len(dq) > 0 && ((isMax && c[dq[len(dq)-1]] <= v) || (!isMax && c[dq[len(dq)-1]] >= v)) {
					dq = dq[:len(dq)-1]
				}
				dq = append(dq, i)
			}
			if i >= w-1 {
				if len(dq) == 0 {
					out[i-w+1] = math.NaN()
				} else {
					out[i-w+1] = c[dq[0]]
				}
			}
		}
	case "var", "std":
		buf := make([]float64, w)
		for i := range out {
			copy(buf, c[i:i+w])
			out[i] = reduceSlice(m, buf)
		}
	default: // median and percentiles: a sorted window
		sorted := make([]float64, 0, w)
		for i, v := range c {
			if v == v {
				k := sort.SearchFloat64s(sorted, v)
				sorted = slices.Insert(sorted, k, v)
			}
			if i >= w {
				if x := c[i-w]; x == x {
					k := sort.SearchFloat64s(sorted, x)
					sorted = slices.Delete(sorted, k, k+1)
				}
			}
			if i >= w-1 {
				if len(sorted) == 0 {
					out[i-w+1] = math.NaN()
				} else {
					out[i-w+1] = sortedQuantile(m, sorted)
				}
			}
		}
	}
	return out
}

// resample regroups each series into buckets of g, as carbonara's
// GroupedTimeSeries does: NaN propagates except for min, count, first and
// last; std and var are of the sample (ddof=1) and buckets of one point
// have none.
func resample(m Method, g int64, x val) val {
	var starts []int // index of the first point of each bucket
	var keys []int64
	for i, t := range x.times {
		k := floorTo(t, g)
		if len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
			starts = append(starts, i)
		}
	}
	starts = append(starts, len(x.times))
	dropSingles := m.Name == "std" || m.Name == "var"
	out := val{gran: g, aggregated: x.aggregated, cols: make([][]float64, len(x.cols))}
	for b, k := range keys {
		if !dropSingles || starts[b+1]-starts[b] > 1 {
			out.times = append(out.times, k)
		}
	}
	var buf []float64
	for ci, c := range x.cols {
		o := make([]float64, 0, len(out.times))
		for b := range keys {
			grp := c[starts[b]:starts[b+1]]
			if dropSingles && len(grp) < 2 {
				continue
			}
			buf = append(buf[:0], grp...)
			o = append(o, bucketValue(m, buf))
		}
		out.cols[ci] = o
	}
	return out
}

// bucketValue is carbonara's aggregate of one bucket; it reorders vs.
func bucketValue(m Method, vs []float64) float64 {
	n := float64(len(vs))
	switch m.Name {
	case "count":
		return n
	case "first":
		return vs[0]
	case "last":
		return vs[len(vs)-1]
	case "sum", "mean", "std", "var":
		s := 0.0
		for _, v := range vs {
			s += v
		}
		if m.Name == "sum" {
			return s
		}
		mean := s / n
		if m.Name == "mean" {
			return mean
		}
		sq := 0.0
		for _, v := range vs {
			sq += (v - mean) * (v - mean)
		}
		if m.Name == "var" {
			return sq / (n - 1)
		}
		return math.Sqrt(sq / (n - 1))
	case "max":
		r := math.Inf(-1)
		for _, v := range vs {
			if v != v {
				return v
			}
			r = max(r, v)
		}
		return r
	case "min":
		r := math.NaN()
		for _, v := range vs {
			if v == v && (r != r || v < r) {
				r = v
			}
		}
		return r
	}
	// median and quantiles sort NaN last, as numpy's lexsort does.
	slices.SortFunc(vs, func(a, b float64) int {
		switch {
		case a != a && b != b:
			return 0
		case a != a:
			return 1
		case b != b:
			return -1
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	})
	l := len(vs)
	if m.Name == "median" {
		lo := l - 1 - l/2
		hi := lo
		if l%2 == 0 {
			hi++
		}
		return (vs[lo] + vs[hi]) / 2
	}
	real := float64(l-1) * (m.Q / 100)
	f, cl := math.Floor(real), math.Ceil(real)
	if f == cl {
		return vs[int(f)]
	}
	return vs[int(f)]*(cl-real) + vs[int(cl)]*(real-f)
}
