package sink

import (
	"context"
	"encoding/pem"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

var t0 = time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// fakeClock is a settable clock for the time-based transformers.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTransformer builds transformer name from YAML parameters.
func newTransformer(t testing.TB, name, params string, clock *fakeClock) (Stage, *metrics.Set) {
	t.Helper()
	st, set, err := tryTransformer(name, params, clock)
	if err != nil {
		t.Fatalf("cannot build %s: %v", name, err)
	}
	return st, set
}

func tryTransformer(name, params string, clock *fakeClock) (Stage, *metrics.Set, error) {
	var node *yaml.Node
	if strings.TrimSpace(params) != "" {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(params), &doc); err != nil {
			return nil, nil, err
		}
		node = doc.Content[0]
	}
	if clock == nil {
		clock = &fakeClock{t: t0}
	}
	set := metrics.NewSet()
	env := &buildEnv{sink: "s", opts: &Options{}, set: set, log: testLogger(), now: clock.now}
	st, err := transformerBuilders[name](transformerConfig{name: name, params: node, path: "t"}, env)
	return st, set, err
}

// smp is a compact sample for tables.
type smp struct {
	name string
	typ  pipeline.Type
	unit string
	v    float64
	at   time.Duration // after t0
	res  string
	user string
	proj string
	meta map[string]any
}

func (s smp) sample() pipeline.Sample {
	res := s.res
	if res == "" {
		res = "r1"
	}
	typ := s.typ
	if typ == 0 {
		typ = pipeline.Cumulative
	}
	return pipeline.Sample{
		Name: s.name, Type: typ, Unit: s.unit, Volume: s.v, ResourceID: res, UserID: s.user, ProjectID: s.proj,
		Timestamp: t0.Add(s.at), Source: "openstack", Metadata: s.meta,
	}
}

func samples(in ...smp) []pipeline.Sample {
	out := make([]pipeline.Sample, len(in))
	for i, s := range in {
		out[i] = s.sample()
	}
	return out
}

func process(t testing.TB, st Stage, in []pipeline.Sample) []pipeline.Sample {
	t.Helper()
	out, err := st.Process(context.Background(), nil, in)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func counter(set *metrics.Set, name string) float64 {
	return float64(set.GetOrCreateCounter(name).Get())
}

func dropped(set *metrics.Set, transformer, reason string) float64 {
	return counter(set, `vigil_pipeline_transformer_dropped_total{sink="s",transformer="`+transformer+`",reason="`+reason+`"}`)
}

// capture is a publisher stage that records what it gets.
type capture struct {
	mu  sync.Mutex
	got []pipeline.Sample
	err error
}

func (c *capture) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return dst, c.err
	}
	c.got = append(c.got, src...)
	return dst, nil
}

// nopBus accepts every batch.
type nopBus struct{}

func (nopBus) PublishWith(context.Context, *wire.Batch, bus.PublishOptions) error { return nil }

// recordingBus keeps the samples of every batch.
type recordingBus struct {
	mu  sync.Mutex
	got []pipeline.Sample
	ids []string
	err error
}

func (b *recordingBus) PublishWith(_ context.Context, batch *wire.Batch, opts bus.PublishOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.ids = append(b.ids, opts.MsgID)
	for _, s := range batch.Series {
		r := batch.Resources[*s.Resource]
		for i := range s.Values {
			b.got = append(b.got, pipeline.Sample{
				Name: s.Name, Type: pipeline.Type(s.Type), Unit: s.Unit, Volume: s.Values[i],
				ResourceID: r.Id, UserID: r.UserId, ProjectID: r.ProjectId, Timestamp: time.Unix(0, s.Timestamps[i]).UTC(),
			})
		}
	}
	return nil
}

func (b *recordingBus) samples() []pipeline.Sample {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]pipeline.Sample(nil), b.got...)
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
