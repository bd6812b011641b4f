package bus

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// testConfig is an embedded configuration with short lease times.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.LeaseTTL = 2 * time.Second
	cfg.LeaseRenew = 250 * time.Millisecond
	cfg.DrainTimeout = 2 * time.Second
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func openTestBus(t testing.TB, cfg Config) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// batchSpec describes a generated batch.
type batchSpec struct {
	resources int // resources, half with UUID ids and half with free-form ids
	meters    int // series per resource
	points    int // points per series
	byMetric  int // extra series named only by metric id
}

// makeBatch builds a valid batch with fixed-seed content.
func makeBatch(seed uint64, spec batchSpec) *wire.Batch {
	rng := rand.New(rand.NewPCG(seed, 42))
	b := &wire.Batch{Version: wire.Version, Producer: "test"}
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	addPoints := func(s *wire.Series) {
		for k := range spec.points {
			s.Timestamps = append(s.Timestamps, ts+int64(k)*int64(time.Second))
			s.Values = append(s.Values, float64(rng.IntN(1000000))/100)
		}
	}
	for i := range spec.resources {
		id := fmt.Sprintf("host-%d-%d", seed, i)
		if i%2 == 0 {
			id = uuid.NewSHA1(uuid.NameSpaceOID, []byte(id)).String()
		}
		b.Resources = append(b.Resources, &wire.Resource{
			Id: id, Type: "generic", UserId: "u", ProjectId: "p", Creator: "u:p",
			MetadataJson: []byte(`{"i":` + fmt.Sprint(i) + `}`),
		})
		for m := range spec.meters {
			ri := uint32(i)
			s := &wire.Series{Resource: &ri, Name: fmt.Sprintf("meter.%d", m), Type: wire.MeterType_GAUGE, Unit: "B"}
			if m == 0 {
				// A series with both: the resource decides its partition.
				s.MetricId = uuidBytes(rng)
			}
			addPoints(s)
			b.Series = append(b.Series, s)
		}
	}
	for range spec.byMetric {
		s := &wire.Series{MetricId: uuidBytes(rng), Type: wire.MeterType_CUMULATIVE}
		addPoints(s)
		b.Series = append(b.Series, s)
	}
	return b
}

func uuidBytes(rng *rand.Rand) []byte {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(rng.UintN(256))
	}
	return u[:]
}

// point is one sample as the round-trip tests compare them.
type point struct {
	series string // resource id + meter name, or metric id
	ts     int64
	v      float64
}

func seriesName(b *wire.Batch, s *wire.Series) string {
	if s.Resource != nil {
		return b.Resources[*s.Resource].Id + "/" + s.Name
	}
	return uuid.UUID(s.MetricId).String()
}

func points(b *wire.Batch) map[point]int {
	out := make(map[point]int)
	for _, s := range b.Series {
		for i := range s.Values {
			out[point{seriesName(b, s), s.Timestamps[i], s.Values[i]}]++
		}
	}
	return out
}
