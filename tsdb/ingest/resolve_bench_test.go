package ingest

import (
	"context"
	"testing"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// BenchmarkResolveKnownSeries is the hot path: series of a notification's
// resource whose metadata the resolver has applied already.
func BenchmarkResolveKnownSeries(b *testing.B) {
	idx := openTestIndexB(b)
	r := NewResolver(idx, nil, nil, discardLogger())
	bld := wire.NewBuilder("bench", "svc:svc")
	for _, m := range []string{"memory", "vcpus", "disk.root.size", "disk.ephemeral.size"} {
		s := sample(m, inst, novaMetadata("m1.tiny"))
		s.UserID, s.ProjectID = "1e3ce043029547f1a61c1996d1a531a2", "7c150a59fe714e6f9263774af9688f0e"
		if err := bld.Add(&s); err != nil {
			b.Fatal(err)
		}
	}
	batch := bld.Batch()
	ctx := context.Background()
	for _, s := range batch.Series {
		if _, err := r.Resolve(ctx, batch, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := batch.Series[i%len(batch.Series)]
		if _, err := r.Resolve(ctx, batch, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "series/s")
	_ = pipeline.Gauge
}
