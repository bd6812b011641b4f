package sink

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// batchBus keeps a copy of every batch.
type batchBus struct {
	mu      sync.Mutex
	batches []*wire.Batch
}

func (b *batchBus) PublishWith(_ context.Context, batch *wire.Batch, _ bus.PublishOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, proto.Clone(batch).(*wire.Batch))
	return nil
}

// series returns "resource_id type name policy" of every series.
func (b *batchBus) series() map[string]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]bool{}
	for _, batch := range b.batches {
		for _, s := range batch.Series {
			r := batch.Resources[*s.Resource]
			out[strings.Join([]string{r.Id, r.Type, s.Name, s.ArchivePolicy}, " ")] = true
		}
	}
	return out
}

// TestGnocchiResourcesDefinitionFile maps samples with the publisher's own
// gnocchi_resources.yaml: types and policies from the file, unlisted
// meters dropped, producers' types kept; without the option the samples
// go as they are, for the processors to map.
func TestGnocchiResourcesDefinitionFile(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "gnocchi_resources.yaml")
	if err := os.WriteFile(defs, []byte(`
archive_policy_default: low
resources:
  - resource_type: instance
    metrics:
      memory:
      cpu: {archive_policy_name: ceilometer-low-rate}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	samples := []pipeline.Sample{
		{Name: "memory", Type: pipeline.Gauge, Volume: 1, ResourceID: "i1", Timestamp: now},
		{Name: "cpu", Type: pipeline.Cumulative, Volume: 1, ResourceID: "i1", Timestamp: now},
		{Name: "cpu_util", Type: pipeline.Gauge, Volume: 1, ResourceID: "i1", Timestamp: now},
		{Name: "hardware.cpu.util", Type: pipeline.Gauge, Volume: 1, ResourceID: "h1", ResourceType: "host", Timestamp: now},
		{Name: "storage.objects", Type: pipeline.Gauge, Volume: 1, ResourceID: "AUTH_a/c", Timestamp: now},
	}
	cases := []struct {
		name, url string
		want      []string
		notMapped uint64
	}{{
		name: "with the option", url: "gnocchi://?resources_definition_file=" + defs,
		want:      []string{"i1 instance memory low", "i1 instance cpu ceilometer-low-rate", "h1 host hardware.cpu.util "},
		notMapped: 2,
	}, {
		name: "archive_policy overrides the file", url: "gnocchi://?archive_policy=high&resources_definition_file=" + defs,
		want:      []string{"i1 instance memory high", "i1 instance cpu high", "h1 host hardware.cpu.util high"},
		notMapped: 2,
	}, {
		name: "without it", url: "gnocchi://",
		want: []string{"i1  memory ", "i1  cpu ", "i1  cpu_util ", "h1 host hardware.cpu.util ", "AUTH_a_c  storage.objects "},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &batchBus{}
			set := metrics.NewSet()
			pl, err := Load([]byte("sources: [{name: all, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: ['"+c.url+"']}]\n"),
				Options{Bus: b, Metrics: set})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pl.Process(context.Background(), nil, samples); err != nil {
				t.Fatal(err)
			}
			got := b.series()
			if len(got) != len(c.want) {
				t.Errorf("series %v, want %v", got, c.want)
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("no series %q in %v", w, got)
				}
			}
			if n := set.GetOrCreateCounter(`vigil_pipeline_gnocchi_not_mapped_total{sink="s"}`).Get(); n != c.notMapped {
				t.Errorf("not mapped %d, want %d", n, c.notMapped)
			}
		})
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("resources:\n  - resource_type: t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]byte("sources: [{name: all, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: ['gnocchi://?resources_definition_file="+bad+"']}]\n"),
		Options{Bus: &batchBus{}})
	if err == nil || !strings.Contains(err.Error(), "resources_definition_file") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad definitions file: %v", err)
	}
}
