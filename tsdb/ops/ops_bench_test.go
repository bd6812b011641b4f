package ops

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchInputs is metrics series of one day at 60 s, the aggregates API's
// common case.
func benchInputs(metrics int) (Node, []Input) {
	r := rand.New(rand.NewPCG(42, 42))
	var b strings.Builder
	b.WriteString("(aggregate mean (metric")
	inputs := make([]Input, metrics)
	for i := range inputs {
		id := fmt.Sprintf("m%04d", i)
		fmt.Fprintf(&b, " (%s mean)", id)
		vals := make([]float64, 1440)
		for k := range vals {
			vals[k] = 50 + 10*r.NormFloat64()
		}
		inputs[i] = Input{Ref: ref(id, "mean"), Series: []Series{ser(60e9, t0, vals...)}}
	}
	b.WriteString("))")
	n, err := ParseString(b.String())
	if err != nil {
		panic(err)
	}
	return n, inputs
}

func BenchmarkAggregateMean(b *testing.B) {
	for _, metrics := range []int{10, 100} {
		b.Run(fmt.Sprintf("metrics=%d", metrics), func(b *testing.B) {
			n, inputs := benchInputs(metrics)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Eval(ctx, n, inputs, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(metrics*1440)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkAggregateMeanMisaligned has series that start at different
// times, so that the union of timestamps and the overlap trimming run.
func BenchmarkAggregateMeanMisaligned(b *testing.B) {
	n, inputs := benchInputs(100)
	for i := range inputs {
		s := inputs[i].Series[0]
		k := i % 5
		inputs[i].Series[0] = Series{Granularity: s.Granularity, Timestamps: s.Timestamps[k:], Values: s.Values[k:]}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Eval(ctx, n, inputs, Options{NeededOverlap: f64(90)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*1440)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

func BenchmarkRollingMedian(b *testing.B) {
	_, inputs := benchInputs(1)
	n, _ := ParseString("(rolling median 60 (metric m0000 mean))")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Eval(ctx, n, inputs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseString(b *testing.B) {
	n, _ := benchInputs(100)
	s := n.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := ParseString(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResultJSON(b *testing.B) {
	n, inputs := benchInputs(10)
	r, err := Eval(context.Background(), &Metric{Refs: References(n)}, inputs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
	b.ReportMetric(float64(len(buf))/float64(10*1440), "bytes/point")
}
