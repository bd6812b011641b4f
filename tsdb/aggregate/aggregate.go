// Package aggregate is the aggregation maths of the store: the value of each
// archive policy method over the raw points of one bucket, as Gnocchi
// computes it, and the bucketing of timestamps on a granularity grid.
package aggregate

import (
	"math"
	"slices"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// Floor returns the start of the bucket of granularity g (ns) holding t
// (Unix ns). Buckets are aligned on the Unix epoch, as in Gnocchi, and
// negative times round down.
func Floor(t, g int64) int64 {
	r := t % g
	if r < 0 {
		r += g
	}
	return t - r
}

// Bucket holds the raw points of one bucket, in timestamp order, and the
// point before it (for the rate methods). It reuses its scratch space
// between calls and is not safe for concurrent use.
type Bucket struct {
	// Values are the raw values in the bucket, by ascending timestamp.
	Values []float64
	// Prev is the value of the last raw point before the bucket; HasPrev
	// says whether there is one.
	Prev    float64
	HasPrev bool

	sorted []float64
	diffs  []float64
}

// Reset empties b for the next bucket.
func (b *Bucket) Reset() {
	b.Values = b.Values[:0]
	b.HasPrev = false
	b.sorted = b.sorted[:0]
	b.diffs = b.diffs[:0]
}

// Compute returns the value of m over b and whether the bucket has one. A
// bucket has no value when it is empty, for std of a single point, and for
// a rate method without two points to subtract: Gnocchi stores no point
// then.
func (b *Bucket) Compute(m archive.Method) (float64, bool) {
	vs := b.Values
	if m.Rate {
		b.diffs = b.diffs[:0]
		prev, has := b.Prev, b.HasPrev
		for _, v := range vs {
			if has {
				b.diffs = append(b.diffs, v-prev)
			}
			prev, has = v, true
		}
		vs = b.diffs
	}
	if len(vs) == 0 {
		return 0, false
	}
	switch m.Kind {
	case archive.Mean:
		return sum(vs) / float64(len(vs)), true
	case archive.Sum:
		return sum(vs), true
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
		mean := sum(vs) / float64(len(vs))
		var ss float64
		for _, v := range vs {
			d := v - mean
			ss += d * d
		}
		return math.Sqrt(ss / float64(len(vs)-1)), true
	case archive.Median:
		return b.percentile(vs, 50), true
	case archive.Percentile:
		return b.percentile(vs, m.Percentile), true
	}
	return 0, false
}

// percentile is numpy's default (linear) percentile: rank q/100·(n-1)
// interpolated between its neighbours.
func (b *Bucket) percentile(vs []float64, q float64) float64 {
	if len(vs) == 1 {
		return vs[0]
	}
	b.sorted = append(b.sorted[:0], vs...)
	slices.Sort(b.sorted)
	rank := q / 100 * float64(len(b.sorted)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	if lo == hi {
		return b.sorted[lo]
	}
	frac := rank - float64(lo)
	return b.sorted[lo] + (b.sorted[hi]-b.sorted[lo])*frac
}

// sum adds with Kahan compensation so that sums and means of long buckets
// do not drift with the order of the points.
func sum(vs []float64) float64 {
	var s, c float64
	for _, v := range vs {
		y := v - c
		t := s + y
		c = (t - s) - y
		s = t
	}
	return s
}
