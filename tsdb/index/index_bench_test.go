package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// benchIndex is an index of both dialects holding resources instance
// resources on hosts h0…h99, each with metrics named cpu and memory.
func benchIndex(b *testing.B, dialect string, resources int) (*Index, []Resource) {
	b.Helper()
	ix := openTest(b, dialect)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	rs := make([]Resource, resources)
	for i := range rs {
		r, err := ix.CreateResource(ctx, Resource{ID: uuid.New(), Type: "instance", Creator: "u:p", ProjectID: sp(fmt.Sprintf("p%d", rng.IntN(10))),
			Attributes: map[string]any{"flavor_id": "1", "host": fmt.Sprintf("h%d", rng.IntN(100)), "display_name": fmt.Sprintf("vm%d", i), "flavor_name": "m1"}},
			map[string]MetricSpec{"cpu": {}, "memory": {}})
		if err != nil {
			b.Fatal(err)
		}
		rs[i] = r
	}
	return ix, rs
}

func perSecond(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

func BenchmarkEnsureMetricExisting(b *testing.B) {
	for _, d := range testDialects {
		b.Run(d, func(b *testing.B) {
			ix, rs := benchIndex(b, d, 1000)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, _, err := ix.EnsureMetric(ctx, rs[i%len(rs)].ID, "cpu", "", "", "u:p"); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, "lookups/s")
		})
	}
}

func BenchmarkEnsureMetricNew(b *testing.B) {
	for _, d := range testDialects {
		b.Run(d, func(b *testing.B) {
			ix, rs := benchIndex(b, d, 100)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, created, err := ix.EnsureMetric(ctx, rs[i%len(rs)].ID, fmt.Sprintf("new.%d", i), "B", "", "u:p"); err != nil || !created {
					b.Fatal(err, created)
				}
			}
			perSecond(b, "creations/s")
		})
	}
}

func BenchmarkMetric(b *testing.B) {
	for _, d := range testDialects {
		b.Run(d, func(b *testing.B) {
			ix, rs := benchIndex(b, d, 1000)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := ix.Metric(ctx, rs[i%len(rs)].Metrics["memory"]); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, "lookups/s")
		})
	}
}

// BenchmarkListResources lists a 100-item page of a typed listing of 2,000
// resources: by default order, and filtered on an attribute.
func BenchmarkListResources(b *testing.B) {
	for _, d := range testDialects {
		b.Run(d, func(b *testing.B) {
			ix, _ := benchIndex(b, d, 2000)
			ctx := context.Background()
			for _, c := range []struct {
				name string
				opts ListOptions
			}{
				{"page", ListOptions{Type: "instance", Limit: 100}},
				{"host", ListOptions{Type: "instance", Limit: 100, Filter: search.Cmp{Op: search.OpEq, Attr: "host", Value: "h42"}}},
				{"sorted", ListOptions{Type: "instance", Limit: 100, Sort: []SortKey{{Key: "display_name", Desc: true}}}},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					n := 0
					for b.Loop() {
						rs, err := ix.ListResources(ctx, c.opts)
						if err != nil || len(rs) == 0 {
							b.Fatal(err, len(rs))
						}
						n += len(rs)
					}
					b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
				})
			}
		})
	}
}
