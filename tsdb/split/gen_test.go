package split

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vigil-telemetry/vigil/tsdb/aggregate"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// w1Methods are the methods of the W1 workload's archive policy.
var w1Methods = []archive.Method{
	{Kind: archive.Mean}, {Kind: archive.Min}, {Kind: archive.Max},
	{Kind: archive.Sum}, {Kind: archive.Count}, {Kind: archive.Last},
}

// cpuWalk returns n CPU-percent-like values as W1 makes them: a random walk
// with steps of σ 2 between 0 and 100, rounded to 2 decimals.
func cpuWalk(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	v := 20 + rng.Float64()*60
	for i := range out {
		v += rng.NormFloat64() * 2
		v = math.Max(0, math.Min(100, v))
		out[i] = math.Round(v*100) / 100
	}
	return out
}

// w1Split aggregates slots×perSlot raw values of cpuWalk into a full split
// of the W1 policy, each slot over perSlot consecutive points, with the
// store's own aggregation maths.
func w1Split(rng *rand.Rand, slots, perSlot int, g int64) *Split {
	raw := cpuWalk(rng, slots*perSlot)
	sp := &Split{Start: 1_700_000_000e9 / (g * 3600) * (g * 3600), Granularity: g,
		Columns: make([][]float64, len(w1Methods))}
	var b aggregate.Bucket
	for s := range slots {
		b.Reset()
		b.Values = append(b.Values, raw[s*perSlot:(s+1)*perSlot]...)
		sp.Slots = append(sp.Slots, uint32(s))
		for k, m := range w1Methods {
			v, ok := b.Compute(m)
			if !ok {
				v = math.NaN()
			}
			sp.Columns[k] = append(sp.Columns[k], v)
		}
	}
	return sp
}

// regularTimes returns n timestamps step ns apart.
func regularTimes(n int, step int64) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = 1_700_000_000e9 + int64(i)*step
	}
	return ts
}

// sameBits reports whether a and b hold the same bits, any NaN matching any
// other (the format keeps no NaN payload).
func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

// equalSplits returns a description of the first difference of a and b, or
// "".
func equalSplits(a, b *Split) string {
	switch {
	case a.Start != b.Start:
		return "start"
	case a.Granularity != b.Granularity:
		return "granularity"
	case !slices.Equal(a.Slots, b.Slots):
		return "slots"
	case len(a.Columns) != len(b.Columns):
		return "column count"
	}
	for k := range a.Columns {
		if len(a.Columns[k]) != len(b.Columns[k]) {
			return "column length"
		}
		for i := range a.Columns[k] {
			if !sameBits(a.Columns[k][i], b.Columns[k][i]) {
				return "value"
			}
		}
	}
	return ""
}

// roundTrip encodes sp, decodes it into a fresh and into a reused split, and
// fails the test unless both equal sp. It returns the encoding.
func roundTrip(t testing.TB, sp *Split, reused *Split) []byte {
	t.Helper()
	prefix := []byte("prefix")
	b, err := AppendEncode(slices.Clone(prefix), sp)
	if err != nil {
		t.Fatalf("AppendEncode: %v", err)
	}
	if string(b[:len(prefix)]) != string(prefix) {
		t.Fatalf("AppendEncode overwrote dst")
	}
	b = b[len(prefix):]
	var fresh Split
	for _, got := range []*Split{&fresh, reused} {
		if got == nil {
			continue
		}
		if err := Decode(b, got); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if d := equalSplits(sp, got); d != "" {
			t.Fatalf("round trip differs in %s:\n got %+v\nwant %+v", d, got, sp)
		}
	}
	return b
}

// roundTripRaw is roundTrip for a raw window.
func roundTripRaw(t testing.TB, ts []int64, vs []float64) []byte {
	t.Helper()
	b, err := AppendEncodeRaw([]byte{9}, ts, vs)
	if err != nil {
		t.Fatalf("AppendEncodeRaw: %v", err)
	}
	b = b[1:]
	gt, gv, err := DecodeRaw(b, []int64{1, 2, 3}, []float64{4})
	if err != nil {
		t.Fatalf("DecodeRaw: %v", err)
	}
	if !slices.Equal(gt, ts) && !(len(gt) == 0 && len(ts) == 0) {
		t.Fatalf("timestamps differ:\n got %v\nwant %v", gt, ts)
	}
	if len(gv) != len(vs) {
		t.Fatalf("got %d values, want %d", len(gv), len(vs))
	}
	for i := range vs {
		if !sameBits(gv[i], vs[i]) {
			t.Fatalf("value %d: got %v (%#x), want %v (%#x)", i, gv[i], math.Float64bits(gv[i]), vs[i], math.Float64bits(vs[i]))
		}
	}
	return b
}
