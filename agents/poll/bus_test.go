package poll

import (
	"context"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// openBus opens an embedded JetStream bus of n partitions for the test.
func openBus(ctx context.Context, t testing.TB, n int) *bus.Bus {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Partitions = n
	b, err := bus.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("cannot open an embedded bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestSchedulerOnEmbeddedBus publishes through a real JetStream bus (an
// embedded server) and reads every stored message back.
func TestSchedulerOnEmbeddedBus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := openBus(ctx, t, 4)

	set := metrics.NewSet()
	hosts := []*counting{
		{name: "a", res: "host-a", meters: []string{"hardware.cpu.util", "hardware.memory.used"}, n: 40},
		{name: "b", res: "host-b", meters: []string{"hardware.cpu.util"}, n: 25},
	}
	stop := runScheduler(t, Config{
		Sources:      []Source{{Name: "host", Interval: tick, Pollsters: []Pollster{hosts[0], hosts[1]}}},
		PublishBatch: 30, Producer: "agent-1", Creator: "svc:admin",
	}, b, set)
	waitFor(t, "3 polls each", func() bool { return hosts[0].polls.Load() >= 3 && hosts[1].polls.Load() >= 3 })
	stop()

	emitted := hosts[0].emitted.Load() + hosts[1].emitted.Load()
	stream, err := b.JetStream().Stream(ctx, b.SamplesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var points int64
	var batch wire.Batch
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if err := wire.Unmarshal(msg.Data, &batch); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if batch.Producer != "agent-1" {
			t.Errorf("producer %q", batch.Producer)
		}
		for _, r := range batch.Resources {
			if r.Creator != "svc:admin" || r.Type != "host" {
				t.Errorf("resource %+v", r)
			}
		}
		for _, s := range batch.Series {
			points += int64(len(s.Values))
		}
	}
	if points != emitted {
		t.Errorf("stream holds %d points, the pollsters emitted %d", points, emitted)
	}
	if got := counterValue(set, "vigil_agent_samples_published_total"); got != float64(emitted) {
		t.Errorf("vigil_agent_samples_published_total = %v, want %d", got, emitted)
	}
}

// The bus is the publisher the agent runs with, including the retry path
// that deduplicates by message id.
var (
	_ Publisher            = (*bus.Bus)(nil)
	_ publisherWithOptions = (*bus.Bus)(nil)
)
