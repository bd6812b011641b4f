package sink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// benchSamples makes rounds of samples of meter name for resources
// resources, one round per timestamp, with fixed-seed cumulative volumes.
func benchSamples(name string, typ pipeline.Type, resources, rounds int) [][]pipeline.Sample {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, resources)
	meta := make([]map[string]any, resources)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-4a58-4271-9e27-398b21ab20d1", rng.Uint32())
		meta[i] = map[string]any{"cpu_number": 1 + i%8, "host": "compute-1", "flavor": map[string]any{"vcpus": 2}}
	}
	out := make([][]pipeline.Sample, rounds)
	vol := make([]float64, resources)
	for r := range out {
		out[r] = make([]pipeline.Sample, resources)
		for i := range ids {
			vol[i] += float64(rng.IntN(1e9))
			out[r][i] = pipeline.Sample{Name: name, Type: typ, Unit: "ns", Volume: vol[i], ResourceID: ids[i],
				ProjectID: "p", UserID: "u", Timestamp: t0.Add(time.Duration(r) * 10 * time.Second), Metadata: meta[i]}
		}
	}
	return out
}

// runStage feeds rounds to st in batches of batch samples, b.N samples in
// all, and reports ns/sample.
func runStage(b *testing.B, st Stage, rounds [][]pipeline.Sample, batch int) {
	ctx := context.Background()
	dst := make([]pipeline.Sample, 0, 4*batch)
	// Prime every series so that the loop measures the steady state.
	for _, s := range rounds[0] {
		st.Process(ctx, dst[:0], []pipeline.Sample{s})
	}
	b.ReportAllocs()
	b.ResetTimer()
	done, r, off := 0, 1, 0
	start := time.Now()
	for done < b.N {
		round := rounds[r]
		n := min(batch, len(round)-off, b.N-done)
		var err error
		dst, err = st.Process(ctx, dst[:0], round[off:off+n])
		if err != nil {
			b.Fatal(err)
		}
		done += n
		off += n
		if off == len(round) {
			off = 0
			r++
			if r == len(rounds) {
				// Start over later in time, so that rates stay in order.
				b.StopTimer()
				shift(rounds)
				r = 0
				b.StartTimer()
			}
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(el.Nanoseconds())/float64(b.N), "ns/sample")
	b.ReportMetric(0, "ns/op")
}

func shift(rounds [][]pipeline.Sample) {
	d := time.Duration(len(rounds)) * 10 * time.Second
	for _, round := range rounds {
		for i := range round {
			round[i].Timestamp = round[i].Timestamp.Add(d)
			round[i].Volume += 1e12
		}
	}
}

func BenchmarkTransformers(b *testing.B) {
	const resources, batch = 1000, 100
	for _, tc := range []struct {
		name, transformer, params string
		meter                     string
		typ                       pipeline.Type
	}{
		{"rate_of_change/cpu_util", "rate_of_change", cpuUtil, "cpu", pipeline.Cumulative},
		{"rate_of_change/no_scale", "rate_of_change", `target: {name: r, type: gauge}`, "cpu", pipeline.Cumulative},
		{"unit_conversion/expression", "unit_conversion", `target: {unit: KB, scale: "volume / 1024"}`, "cpu", pipeline.Cumulative},
		{"unit_conversion/factor", "unit_conversion", `target: {unit: KB, scale: 0.0009765625}`, "cpu", pipeline.Cumulative},
		{"delta", "delta", `target: {name: cpu.delta}`, "cpu", pipeline.Cumulative},
		{"accumulator", "accumulator", `size: 50`, "cpu", pipeline.Cumulative},
		{"aggregator", "aggregator", `{size: 500, user_id: last}`, "cpu", pipeline.Gauge},
		{"arithmetic/one_meter_with_metadata", "arithmetic", `target: {name: cpu.per.vcpu, expr: "$(cpu) / ($(cpu).resource_metadata.cpu_number or 1)"}`, "cpu", pipeline.Cumulative},
		{"arithmetic/memory_util", "arithmetic", `target: {name: memory_util, unit: "%", expr: "$(memory.usage) / $(memory) * 100"}`, "memory", pipeline.Gauge},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st, _ := newTransformer(b, tc.transformer, tc.params, nil)
			rounds := benchSamples(tc.meter, tc.typ, resources, 20)
			if tc.meter == "memory" {
				// Alternate memory and memory.usage of each resource.
				for r := range rounds {
					for i := range rounds[r] {
						if i%2 == 1 {
							rounds[r][i].Name, rounds[r][i].ResourceID = "memory.usage", rounds[r][i-1].ResourceID
						}
					}
				}
			}
			runStage(b, st, rounds, batch)
		})
	}
}

// BenchmarkSinkChain is a sink of Ceilometer's cpu_util pipeline with a
// publisher that takes the samples and does nothing: what a Pipeline adds
// per sample before its publishers.
func BenchmarkSinkChain(b *testing.B) {
	const file = `
sources:
  - {name: meters, meters: ["*", "!disk.*"], sinks: [rates]}
sinks:
  - name: rates
    transformers:
      - name: rate_of_change
        parameters:
          target: {name: cpu_util, unit: "%", type: gauge, max: 100, scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"}
      - name: unit_conversion
        parameters:
          target: {scale: "volume / 100"}
    publishers: [gnocchi://]
`
	p, err := Load([]byte(file), Options{Bus: nopBus{}})
	if err != nil {
		b.Fatal(err)
	}
	p.sinks[0].stage.(Sequence)[2] = StageFunc(func(_ context.Context, dst, _ []pipeline.Sample) ([]pipeline.Sample, error) { return dst, nil })
	runStage(b, p, benchSamples("cpu", pipeline.Cumulative, 1000, 20), 100)
}
