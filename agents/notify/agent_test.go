package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline/sink"
)

func TestConfigYAML(t *testing.T) {
	cfg := DefaultConfig()
	in := `
amqp:
  url: amqp://guest:guest@127.0.0.1:5672/
  exchanges: [nova, cinder]
nats:
  enabled: false
meters_file: /etc/vigil/meters.yaml
`
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.AMQP.URL == "" || len(cfg.AMQP.Exchanges) != 2 || cfg.NATS.Enabled || cfg.NATS.BatchSize != 500 || cfg.AMQP.Consumers != 2 || cfg.MetersFile == "" {
		t.Errorf("%+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	cfg.AMQP.Prefetch = 0
	cfg.NATS.Enabled, cfg.NATS.Workers = true, 0
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "amqp.prefetch:") || !strings.Contains(err.Error(), "nats.workers:") {
		t.Errorf("got %v", err)
	}
}

// TestAgentLoadErrors: a definition with a bad expression fails New with
// the file's line.
func TestAgentLoadErrors(t *testing.T) {
	st := newStack(t, EventOptions{})
	dir := t.TempDir()
	meters := filepath.Join(dir, "meters.yaml")
	os.WriteFile(meters, []byte("metric:\n  - name: x\n    event_type: a\n    type: gauge\n    unit: B\n    volume: $.payload.[?\n    resource_id: $.id\n"), 0o600)
	cfg := DefaultConfig()
	cfg.MetersFile = meters
	_, err := New(context.Background(), cfg, st.bus, st.pl, metrics.NewSet(), nil)
	if err == nil || !strings.Contains(err.Error(), "agents.notify.meters_file") || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("got %v", err)
	}
	events := filepath.Join(dir, "events.yaml")
	os.WriteFile(events, []byte("- event_type: a\n  traits:\n    x: {fields: payload.x, type: number}\n"), 0o600)
	cfg = DefaultConfig()
	cfg.EventsFile = events
	_, err = New(context.Background(), cfg, st.bus, st.pl, metrics.NewSet(), nil)
	if err == nil || !strings.Contains(err.Error(), "agents.notify.events_file") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("got %v", err)
	}
}

// TestAgentRuns wires the agent as `vigil agent` would and sends one
// notification over each transport.
func TestAgentRuns(t *testing.T) {
	conn := needRabbit(t)
	names := newRabbitNames(t, conn, "glance")
	st := newStack(t, EventOptions{})
	set := metrics.NewSet()
	pl, err := sink.Load([]byte(sink.DefaultPipelineYAML), sink.Options{Bus: st.bus, Producer: "agent-test", Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.AMQP = names.config()
	cfg.NATS.FetchWait = 50 * time.Millisecond
	a, err := New(context.Background(), cfg, st.bus, pl, set, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, a.Run)
	names.waitConsumers(t, conn, "info")
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	names.publish(t, ch, names.exchanges[0], "info", envelope(t, fixture(t, "image_upload")))
	waitFor(t, "the NATS stream", 10*time.Second, func() bool {
		_, err := st.bus.JetStream().Stream(context.Background(), a.NATS.Stream())
		return err == nil
	})
	if _, err := st.bus.JetStream().Publish(context.Background(), "vigil.notifications.x", envelope(t, fixture(t, "volume_create_end"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both acknowledged", 20*time.Second, func() bool {
		return counterOf(set, `vigil_notify_acked_total{transport="amqp"}`) == 1 && counterOf(set, `vigil_notify_acked_total{transport="nats"}`) == 1
	})
	got := map[string]bool{}
	for _, p := range st.storedSamples(t) {
		got[p.name] = true
	}
	if !got["image.size"] || !got["volume.size"] {
		t.Errorf("stored %v", got)
	}
}
