package poll

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// discard is a Publisher that accepts every batch, so that the benchmark
// measures the scheduler's own path: filter, queue, batch building.
type discard struct{}

func (discard) Publish(context.Context, *wire.Batch) error { return nil }

// BenchmarkPollToBatches runs one cycle of 500 resources × 30 meters (a
// busy compute node) through the filter, the queue and the batch builder.
func BenchmarkPollToBatches(b *testing.B) {
	const resources, meters = 500, 30
	names := make([]string, meters)
	for i := range names {
		names[i] = fmt.Sprintf("disk.device.meter%d", i)
	}
	ids := make([]string, resources)
	for i := range ids {
		ids[i] = fmt.Sprintf("instance-%04d", i)
	}
	s, err := NewScheduler(Config{
		Sources: []Source{{Name: "s", Interval: time.Minute, Meters: []string{"*", "!perf.*"},
			Pollsters: []Pollster{&counting{name: "c", meters: names}}}},
		Producer: "bench",
	}, discard{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	j := s.jobs[0]
	md := map[string]any{"host_name": "h"}
	now := time.Now()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := &run{j: j, late: s.met.dropped}
		smp := pipeline.Sample{Type: pipeline.Gauge, Unit: "B", Timestamp: now, Metadata: md}
		for _, id := range ids {
			smp.ResourceID = id
			for k, name := range names {
				smp.Name, smp.Volume = name, float64(k)
				r.emit(&smp)
			}
		}
		s.enqueue(j.buf)
		clear(j.buf)
		j.buf = j.buf[:0]
		for s.pending > 0 || s.fill() {
			if err := s.publishPending(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(resources*meters)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
