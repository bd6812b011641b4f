package split

import (
	"math/rand/v2"
	"testing"
)

// The W1 workload's splits: 3600 slots of the 6 methods mean, min, max,
// sum, count and last over CPU-percent-like values rounded to 2 decimals.
// At 1 s every bucket holds one point (five equal columns and a constant
// count); at 60 s each holds 60.
var benchSplits = []struct {
	name    string
	perSlot int
	g       int64
}{
	{"W1-1s", 1, sec},
	{"W1-60s", 60, 60 * sec},
}

func BenchmarkEncode(b *testing.B) {
	for _, bs := range benchSplits {
		b.Run(bs.name, func(b *testing.B) {
			sp := w1Split(rand.New(rand.NewPCG(1, 2)), 3600, bs.perSlot, bs.g)
			points := len(sp.Slots) * len(sp.Columns)
			var buf []byte
			var err error
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = AppendEncode(buf[:0], sp); err != nil {
					b.Fatal(err)
				}
			}
			reportPoints(b, len(buf), points)
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bs := range benchSplits {
		b.Run(bs.name, func(b *testing.B) {
			sp := w1Split(rand.New(rand.NewPCG(1, 2)), 3600, bs.perSlot, bs.g)
			points := len(sp.Slots) * len(sp.Columns)
			buf, err := AppendEncode(nil, sp)
			if err != nil {
				b.Fatal(err)
			}
			var got Split
			b.ReportAllocs()
			for b.Loop() {
				if err := Decode(buf, &got); err != nil {
					b.Fatal(err)
				}
			}
			reportPoints(b, len(buf), points)
		})
	}
}

// The raw window of one W1 metric over an hour: 3600 points 1 s apart.
func benchRaw() ([]int64, []float64) {
	return regularTimes(3600, sec), cpuWalk(rand.New(rand.NewPCG(1, 2)), 3600)
}

func BenchmarkEncodeRaw(b *testing.B) {
	ts, vs := benchRaw()
	var buf []byte
	var err error
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEncodeRaw(buf[:0], ts, vs); err != nil {
			b.Fatal(err)
		}
	}
	reportPoints(b, len(buf), len(ts))
}

func BenchmarkDecodeRaw(b *testing.B) {
	ts, vs := benchRaw()
	buf, err := AppendEncodeRaw(nil, ts, vs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ts, vs, err = DecodeRaw(buf, ts, vs); err != nil {
			b.Fatal(err)
		}
	}
	reportPoints(b, len(buf), len(ts))
}

// reportPoints reports the encoded size and the time per stored point.
func reportPoints(b *testing.B, size, points int) {
	b.ReportMetric(float64(size)/float64(points), "bytes/point")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(points), "ns/point")
}
