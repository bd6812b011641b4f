package bus

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// benchShapes are batches of about 1,000 samples as agents send them: many
// resources with a few meters (a compute node's instances), and one
// resource with many points (a host poller catching up).
var benchShapes = []struct {
	name string
	spec batchSpec
}{
	{"100res-10meters-1point", batchSpec{resources: 100, meters: 10, points: 1}},
	{"50res-4meters-5points", batchSpec{resources: 50, meters: 4, points: 5}},
	{"1res-10meters-100points", batchSpec{resources: 1, meters: 10, points: 100}},
}

func samplesOf(b *wire.Batch) int {
	n := 0
	for _, s := range b.Series {
		n += len(s.Values)
	}
	return n
}

// BenchmarkPublish publishes ~1,000-sample batches one after the other, as
// one producer does, against the embedded server, waiting for every ack.
func BenchmarkPublish(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			cfg := testConfig(b)
			bus := openTestBus(b, cfg)
			batch := makeBatch(1, shape.spec)
			n := samplesOf(batch)
			ctx := context.Background()
			// Consumers would keep the work queue short; here the stream
			// grows, which is the worse case for the server.
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if err := bus.Publish(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(n*b.N)/el, "samples/s")
			b.ReportMetric(float64(n), "samples/batch")
		})
	}
}

// BenchmarkPublishParallel publishes from 4 goroutines of one producer.
func BenchmarkPublishParallel(b *testing.B) {
	shape := benchShapes[0]
	bus := openTestBus(b, testConfig(b))
	batch := makeBatch(1, shape.spec)
	n := samplesOf(batch)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bus.Publish(ctx, batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkSplit measures the split and encoding alone, without NATS.
func BenchmarkSplit(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			batch := makeBatch(1, shape.spec)
			n := samplesOf(batch)
			sp := newSplitter(16)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				parts, err := sp.split(batch, 16)
				if err != nil {
					b.Fatal(err)
				}
				sp.buf = sp.buf[:0]
				if parts == 1 {
					sp.buf, err = wire.Marshal(sp.buf, batch)
				} else {
					sp.regroup(batch)
					for _, p := range sp.used {
						if sp.buf, err = wire.Marshal(sp.buf, &sp.parts[p]); err != nil {
							break
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				sp.release()
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "samples/s")
		})
	}
}
