package host

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// BenchmarkPoll polls this machine: the cost of one host cycle.
func BenchmarkPoll(b *testing.B) {
	p, err := New(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	n := 0
	emit := func(*pipeline.Sample) { n++ }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Poll(ctx, time.Now(), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/float64(b.N), "samples/op")
}
