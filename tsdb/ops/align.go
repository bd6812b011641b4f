package ops

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// This file aligns the inputs of one granularity on a common grid, the
// step Gnocchi's processor takes before it evaluates the operations.

func checkSeries(s Series) error {
	if s.Granularity <= 0 {
		return fmt.Errorf("granularity %d is not positive", s.Granularity)
	}
	if len(s.Timestamps) != len(s.Values) {
		return fmt.Errorf("%d timestamps for %d values", len(s.Timestamps), len(s.Values))
	}
	for i := 1; i < len(s.Timestamps); i++ {
		if s.Timestamps[i] <= s.Timestamps[i-1] {
			return fmt.Errorf("timestamps are not strictly ascending at %d", i)
		}
	}
	return nil
}

func seriesAt(in Input, g int64) (Series, bool) {
	for _, s := range in.Series {
		if s.Granularity == g {
			return s, true
		}
	}
	return Series{}, false
}

// granularities returns the granularities to evaluate, the coarsest first.
func granularities(inputs []Input, refs [][2]string, want int64) ([]int64, error) {
	if want != 0 {
		var missing [][2]string
		for i, in := range inputs {
			if _, ok := seriesAt(in, want); !ok {
				missing = append(missing, refs[i])
			}
		}
		if missing != nil {
			return nil, unaggregable(missing, "granularity '%d' is missing", want/1e9)
		}
		return []int64{want}, nil
	}
	count := map[int64]int{}
	for _, in := range inputs {
		seen := map[int64]bool{}
		for _, s := range in.Series {
			if !seen[s.Granularity] {
				seen[s.Granularity] = true
				count[s.Granularity]++
			}
		}
	}
	var grans []int64
	for g, c := range count {
		if c == len(inputs) {
			grans = append(grans, g)
		}
	}
	if len(grans) == 0 {
		return nil, unaggregable(refs, "No granularity match")
	}
	slices.Sort(grans)
	slices.Reverse(grans)
	return grans, nil
}

func floorTo(t, g int64) int64 {
	r := t % g
	if r < 0 {
		r += g
	}
	return t - r
}

// grid aligns the inputs' series at granularity g on the union of their
// timestamps, then fills or trims it as Gnocchi's processor does.
func grid(inputs []Input, g int64, o Options, needed float64, refs [][2]string) ([]int64, [][]float64, error) {
	parts := make([]Series, len(inputs))
	for i, in := range inputs {
		s, _ := seriesAt(in, g)
		lo, hi := 0, len(s.Timestamps)
		if o.Start != nil {
			from := floorTo(*o.Start, g)
			lo = sort.Search(len(s.Timestamps), func(k int) bool { return s.Timestamps[k] >= from })
		}
		if o.Stop != nil {
			hi = sort.Search(len(s.Timestamps), func(k int) bool { return s.Timestamps[k] >= *o.Stop })
		}
		if hi < lo {
			hi = lo
		}
		parts[i] = Series{Granularity: g, Timestamps: s.Timestamps[lo:hi], Values: s.Values[lo:hi]}
	}
	times := union(parts)
	filler := math.NaN()
	if o.Fill != nil && o.Fill.Kind == FillNumber {
		filler = o.Fill.Value
	}
	cols := make([][]float64, len(parts))
	for i, p := range parts {
		if len(p.Timestamps) == len(times) {
			cols[i] = p.Values
			continue
		}
		c := make([]float64, len(times))
		k := 0
		for r, t := range times {
			if k < len(p.Timestamps) && p.Timestamps[k] == t {
				c[r] = p.Values[k]
				k++
			} else {
				c[r] = filler
			}
		}
		cols[i] = c
	}

	switch {
	case o.Fill == nil:
		full := fullRows(len(times), cols)
		first, last, overlap := -1, -1, 0
		for r, ok := range full {
			if ok {
				if first < 0 {
					first = r
				}
				last = r
				overlap++
			}
		}
		if overlap == 0 && needed > 0 {
			return nil, nil, unaggregable(refs, "No overlap")
		}
		lo, hi := 0, len(times)
		if o.Stop == nil && overlap > 0 {
			hi = last + 1
		}
		if o.Start == nil && overlap > 0 {
			lo = first
		}
		times = times[lo:hi]
		for i := range cols {
			cols[i] = cols[i][lo:hi]
		}
		pct := float64(overlap) * 100 / float64(len(times))
		if pct < needed {
			return nil, nil, unaggregable(refs, "Less than %f%% of datapoints overlap in this timespan (%.2f%%)", needed, pct)
		}
	case o.Fill.Kind == FillDropNA:
		full := fullRows(len(times), cols)
		keep := times[:0:0]
		for r, ok := range full {
			if ok {
				keep = append(keep, times[r])
			}
		}
		if len(keep) != len(times) {
			for i, c := range cols {
				nc := make([]float64, 0, len(keep))
				for r, ok := range full {
					if ok {
						nc = append(nc, c[r])
					}
				}
				cols[i] = nc
			}
			times = keep
		}
	case o.Fill.Kind == FillFFill:
		for i, c := range cols {
			var nc []float64
			for r := 1; r < len(c); r++ {
				if math.IsNaN(c[r]) && !math.IsNaN(c[r-1]) && nc == nil {
					nc = slices.Clone(c)
				}
				if nc != nil && math.IsNaN(nc[r]) {
					nc[r] = nc[r-1]
				}
			}
			if nc != nil {
				cols[i] = nc
			}
		}
	}
	return times, cols, nil
}

// fullRows reports, for each row, whether no series is NaN there.
func fullRows(n int, cols [][]float64) []bool {
	full := make([]bool, n)
	for r := range full {
		full[r] = true
	}
	for _, c := range cols {
		for r, v := range c {
			if v != v {
				full[r] = false
			}
		}
	}
	return full
}

// union merges the ascending timestamps of parts, without duplicates.
func union(parts []Series) []int64 {
	if len(parts) == 0 {
		return nil
	}
	u := parts[0].Timestamps
	same := true
	for _, p := range parts[1:] {
		if !slices.Equal(p.Timestamps, u) {
			same = false
			break
		}
	}
	if same {
		return u
	}
	u = slices.Clone(u)
	var buf []int64
	for _, p := range parts[1:] {
		buf = mergeUnique(buf[:0], u, p.Timestamps)
		u, buf = buf, u
	}
	return u
}

func mergeUnique(dst, a, b []int64) []int64 {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			dst = append(dst, a[i])
			i++
		case a[i] > b[j]:
			dst = append(dst, b[j])
			j++
		default:
			dst = append(dst, a[i])
			i++
			j++
		}
	}
	dst = append(dst, a[i:]...)
	return append(dst, b[j:]...)
}
