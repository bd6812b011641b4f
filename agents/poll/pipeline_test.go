package poll

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// cpuHost is a pollster for one host keeping a quarter of its two cpus
// busy: its cumulative cpu time (ns) follows the poll's timestamp exactly,
// so that cpu_util is 25 % whatever the scheduling jitter. It also reports the
// memory in use, in bytes, and a meter no pipeline source selects.
type cpuHost struct {
	base time.Time
	mu   sync.Mutex
	at   []time.Time // poll timestamps, in order
}

func newCPUHost() *cpuHost { return &cpuHost{base: time.Now().Add(-time.Hour)} }

func (c *cpuHost) Name() string { return "cpuhost" }

func (c *cpuHost) Meters() []string {
	return []string{"cpu", "hardware.memory.used", "perf.cpu.cycles"}
}

func (c *cpuHost) Poll(_ context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	md := map[string]any{"cpu_number": 2}
	s := pipeline.Sample{Name: "cpu", Type: pipeline.Cumulative, Unit: "ns", ResourceID: "host-a", ResourceType: "host",
		Timestamp: now, Metadata: md, Volume: c.cpuTime(now)}
	emit(&s)
	s.Name, s.Type, s.Unit, s.Volume = "hardware.memory.used", pipeline.Gauge, "B", 512<<20
	emit(&s)
	s.Name, s.Type, s.Unit, s.Volume = "perf.cpu.cycles", pipeline.Cumulative, "cycle", 1
	emit(&s)
	c.mu.Lock()
	c.at = append(c.at, now)
	c.mu.Unlock()
	return nil
}

func (c *cpuHost) cpuTime(at time.Time) float64 { return float64(at.Sub(c.base).Nanoseconds()) / 2 }

func (c *cpuHost) polls() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...)
}

// testPipeline is a pipeline.yaml of the Ceilometer kind: cpu becomes
// cpu_util, memory goes from B to MB, the raw cpu samples also go to a file,
// and perf.* goes nowhere.
func testPipeline(file string) string {
	return fmt.Sprintf(`
sources:
  - name: cpu_source
    meters: [cpu]
    sinks: [cpu_sink, raw_sink]
  - name: memory_source
    meters: ["hardware.memory.*"]
    sinks: [memory_sink]
sinks:
  - name: cpu_sink
    transformers:
      - name: rate_of_change
        parameters:
          target: {name: cpu_util, unit: "%%", type: gauge, scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"}
    publishers: ["gnocchi://"]
  - name: memory_sink
    transformers:
      - name: unit_conversion
        parameters: {source: {unit: B}, target: {unit: MB, scale: "volume / 1048576"}}
    publishers: ["gnocchi://"]
  - name: raw_sink
    publishers: ["file://%s"]
`, file)
}

func loadPipeline(t *testing.T, yaml string, opts sink.Options) *sink.Pipeline {
	t.Helper()
	p, err := sink.Load([]byte(yaml), opts)
	if err != nil {
		t.Fatalf("cannot load the pipeline: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// point is one stored sample as the stream holds it.
type point struct {
	unit string
	at   time.Time
	v    float64
}

// streamPoints reads the whole samples stream, by meter name, in stream order.
func streamPoints(t *testing.T, ctx context.Context, b *bus.Bus) (map[string][]point, int) {
	t.Helper()
	stream, err := b.JetStream().Stream(ctx, b.SamplesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]point{}
	total := 0
	var batch wire.Batch
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if err := wire.Unmarshal(msg.Data, &batch); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		for _, s := range batch.Series {
			for i, v := range s.Values {
				out[s.Name] = append(out[s.Name], point{unit: s.Unit, at: time.Unix(0, s.Timestamps[i]).UTC(), v: v})
				total++
			}
		}
	}
	return out, total
}

// fileVolumes reads the volumes a file:// publisher wrote, by meter name.
func fileVolumes(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the file:// publisher wrote nothing: %v", err)
	}
	defer f.Close()
	out := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s struct {
			Name   string  `json:"name"`
			Volume float64 `json:"volume"`
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out[s.Name] = append(out[s.Name], s.Volume)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCPUUtil checks that the stream's cpu_util points are one per poll
// of want, in order, each 25 %.
func checkCPUUtil(t *testing.T, got []point, want []time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("stream holds %d cpu_util points, want %d (one per poll after the first of each run)", len(got), len(want))
	}
	for i, p := range got {
		if !p.at.Equal(want[i]) || math.Abs(p.v-25) > 1e-6 || p.unit != "%" {
			t.Fatalf("cpu_util point %d is %v %s at %v, want 25 %% at %v: order or rate broken", i, p.v, p.unit, p.at, want[i])
		}
	}
}

// TestPipelineTransformsPolledSamples polls through a pipeline.yaml onto a
// real JetStream bus: the stream holds what the transformers made of the
// polled meters, the file holds the raw ones, and a meter no pipeline
// source selects is published nowhere.
func TestPipelineTransformsPolledSamples(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := openBus(ctx, t, 2)
	file := filepath.Join(t.TempDir(), "raw.json")
	set := metrics.NewSet()
	pl := loadPipeline(t, testPipeline(file), sink.Options{Bus: b, Producer: "agent-1", Creator: "svc:admin", Metrics: set})
	host := newCPUHost()
	stop := runScheduler(t, Config{
		Sources:  []Source{{Name: "host", Interval: tick, Pollsters: []Pollster{host}}},
		Producer: "agent-1", Creator: "svc:admin", Pipeline: pl, SpoolDir: t.TempDir(),
	}, b, set)
	waitFor(t, "5 polls", func() bool { return len(host.polls()) >= 5 })
	stop()

	polls := host.polls()
	got, total := streamPoints(t, ctx, b)
	checkCPUUtil(t, got["cpu_util"], polls[1:])
	mem := got["hardware.memory.used"]
	if len(mem) != len(polls) {
		t.Errorf("stream holds %d hardware.memory.used points for %d polls", len(mem), len(polls))
	}
	for _, p := range mem {
		if p.v != 512 || p.unit != "MB" {
			t.Errorf("hardware.memory.used is %v %s, want 512 MB", p.v, p.unit)
		}
	}
	for _, name := range []string{"cpu", "perf.cpu.cycles"} {
		if n := len(got[name]); n != 0 {
			t.Errorf("stream holds %d %s points; the pipeline sends it to no gnocchi:// sink", n, name)
		}
	}
	if got := counterValue(set, "vigil_agent_samples_published_total"); got != float64(total) {
		t.Errorf("vigil_agent_samples_published_total = %v, the stream holds %d", got, total)
	}
	raw := fileVolumes(t, file)
	if len(raw["cpu"]) != len(polls) || len(raw) != 1 {
		t.Fatalf("file:// got %d cpu samples for %d polls, and meters %v", len(raw["cpu"]), len(polls), raw)
	}
	for i, v := range raw["cpu"] {
		if want := host.cpuTime(polls[i]); v != want {
			t.Errorf("file:// cpu sample %d is %v, want the polled %v", i, v, want)
		}
	}
}

// TestPipelineSpoolSurvivesOutageAndRestart polls through the pipeline while
// the bus is down, stops, and starts again on the same spool with the bus
// back and a new pipeline, as a restarted agent would: the stream must hold
// every cpu_util the two runs computed, exactly once and in polling order,
// and the file:// publisher, which does not need the bus, must have had
// every raw sample all along.
func TestPipelineSpoolSurvivesOutageAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spoolDir := t.TempDir()
	file := filepath.Join(t.TempDir(), "raw.json")
	pub := &switchable{}
	host := newCPUHost()
	cfg := Config{
		Sources:      []Source{{Name: "host", Interval: tick, Pollsters: []Pollster{host}}},
		PublishBatch: 5, Producer: "agent-1", Creator: "svc:admin",
		SpoolDir: spoolDir, RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond,
	}
	// The scheduler must route gnocchi:// through its own spooling
	// publisher: the pipeline's default bus refuses everything.
	opts := sink.Options{Bus: unusedBus{}, Producer: "agent-1", Creator: "svc:admin"}
	set := metrics.NewSet()
	cfg.Pipeline = loadPipeline(t, testPipeline(file), opts)
	stop := runScheduler(t, cfg, pub, set)
	waitFor(t, "batches spooled", func() bool { return counterValue(set, "vigil_agent_spooled_batches_total") >= 6 })
	stop()
	if files, _ := filepath.Glob(filepath.Join(spoolDir, "*.batch")); len(files) == 0 {
		t.Fatal("nothing spooled on disk while the bus was down")
	}
	if got := counterValue(set, "vigil_agent_samples_dropped_total"); got != 0 {
		t.Fatalf("%v samples dropped during the outage", got)
	}
	first := host.polls()
	if raw := fileVolumes(t, file); len(raw["cpu"]) != len(first) {
		t.Errorf("file:// got %d cpu samples for %d polls while the bus was down", len(raw["cpu"]), len(first))
	}

	b := openBus(ctx, t, 2)
	pub.b.Store(b)
	cfg.Pipeline = loadPipeline(t, testPipeline(file), opts)
	stop = runScheduler(t, cfg, pub, metrics.NewSet())
	waitFor(t, "spool replayed", func() bool {
		files, _ := filepath.Glob(filepath.Join(spoolDir, "*.batch"))
		return len(files) == 0 && len(host.polls()) > len(first)+5
	})
	stop()

	all := host.polls()
	second := all[len(first):]
	// A new pipeline has no rate state: each run's first poll only primes it.
	want := append(append([]time.Time(nil), first[1:]...), second[1:]...)
	got, _ := streamPoints(t, ctx, b)
	checkCPUUtil(t, got["cpu_util"], want)
	if n := len(got["hardware.memory.used"]); n != len(all) {
		t.Errorf("stream holds %d hardware.memory.used points for %d polls", n, len(all))
	}
	if raw := fileVolumes(t, file); len(raw["cpu"]) != len(all) {
		t.Errorf("file:// got %d cpu samples for %d polls", len(raw["cpu"]), len(all))
	}
}
