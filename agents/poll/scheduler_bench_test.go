package poll

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// discard is a Publisher that accepts every batch, so that the benchmark
// measures the scheduler's own path: filter, queue, batch building.
type discard struct{}

func (discard) Publish(context.Context, *wire.Batch) error { return nil }

// BenchmarkPollToBatches runs one cycle of 500 resources × 30 meters (a
// busy compute node) through the filter, the queue and the batch builder.
func BenchmarkPollToBatches(b *testing.B) { benchPollToBatches(b, "") }

// BenchmarkPollToBatchesDefaultPipeline does the same through Ceilometer's
// default pipeline.yaml (every meter to gnocchi://), which the agent skips
// when no pipeline file is given: the difference is what that saves.
func BenchmarkPollToBatchesDefaultPipeline(b *testing.B) {
	benchPollToBatches(b, sink.DefaultPipelineYAML)
}

// BenchmarkPollToBatchesRateOfChange turns every meter into a rate on the
// way, as a cpu_util sink does for cpu.
func BenchmarkPollToBatchesRateOfChange(b *testing.B) {
	benchPollToBatches(b, `
sources: [{name: all, meters: ["*"], sinks: [rate]}]
sinks:
  - name: rate
    transformers:
      - name: rate_of_change
        parameters:
          source: {map_from: {name: 'disk\.device\.(.*)'}}
          target: {map_to: {name: 'disk.device.\1.rate'}, unit: B/s, type: gauge}
    publishers: ["gnocchi://"]
`)
}

// unusedBus is the pipeline's Options.Bus: the scheduler routes gnocchi://
// to its own publisher.
type unusedBus struct{}

func (unusedBus) PublishWith(context.Context, *wire.Batch, bus.PublishOptions) error {
	panic("BUG: gnocchi:// bypassed the scheduler's publisher")
}

func benchPollToBatches(b *testing.B, pipelineYAML string) {
	const resources, meters = 500, 30
	names := make([]string, meters)
	for i := range names {
		names[i] = fmt.Sprintf("disk.device.meter%d", i)
	}
	ids := make([]string, resources)
	for i := range ids {
		ids[i] = fmt.Sprintf("instance-%04d", i)
	}
	var pl sink.Stage
	if pipelineYAML != "" {
		p, err := sink.Load([]byte(pipelineYAML), sink.Options{Bus: unusedBus{}, Producer: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		pl = p
	}
	s, err := NewScheduler(Config{
		Sources: []Source{{Name: "s", Interval: time.Minute, Meters: []string{"*", "!perf.*"},
			Pollsters: []Pollster{&counting{name: "c", meters: names}}}},
		Producer: "bench", Pipeline: pl,
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
		now = now.Add(time.Minute) // a new cycle, for the rate's sake
		r := &run{j: j, late: s.met.dropped}
		smp := pipeline.Sample{Type: pipeline.Cumulative, Unit: "B", Timestamp: now, Metadata: md}
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
		s.drain(ctx)
	}
	b.ReportMetric(float64(resources*meters)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
