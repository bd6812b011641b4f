package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// onePublisher loads a pipeline whose only sink publishes to url.
func onePublisher(t *testing.T, url string, opts Options) *Pipeline {
	t.Helper()
	p, err := Load([]byte(fmt.Sprintf("sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: [%q]}]", url)), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSampleJSON(t *testing.T) {
	s := pipeline.Sample{
		Name: "memory", Type: pipeline.Gauge, Unit: "MB", Volume: 512, ResourceID: "9f9d01b9", ProjectID: "p1",
		Timestamp: time.Date(2012, 5, 8, 20, 23, 48, 28195000, time.UTC), Metadata: map[string]any{"host": "h\"1"},
	}
	var got map[string]any
	b := AppendSampleJSON(nil, &s)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{
		"source": "openstack", "name": "memory", "type": "gauge", "unit": "MB", "volume": 512.0,
		"user_id": nil, "project_id": "p1", "resource_id": "9f9d01b9", "timestamp": "2012-05-08T20:23:48.028195+00:00",
		"resource_metadata": map[string]any{"host": "h\"1"}, "id": SampleID(&s).String(), "monotonic_time": nil,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if !strings.Contains(string(b), `"volume":512.0`) {
		t.Errorf("volume not written as Python writes a float: %s", b)
	}
	bad := pipeline.Sample{Name: "x\xff\n", Type: pipeline.Delta, Timestamp: t0}
	if !json.Valid(AppendSampleJSON(nil, &bad)) {
		t.Errorf("invalid JSON for invalid UTF-8: %s", AppendSampleJSON(nil, &bad))
	}
}

func TestFilePublisherRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "samples.json")
	one := len(AppendSampleJSON(nil, ptr(smp{name: "cpu", v: 1}.sample()))) + 1
	// Room for two lines per file, three files in all.
	p := onePublisher(t, fmt.Sprintf("file://%s?max_bytes=%d&backup_count=2&json", path, 2*one+1), Options{})
	for i := range 7 {
		if _, err := p.Process(context.Background(), nil, samples(smp{name: "cpu", v: 1, at: time.Duration(i) * time.Second})); err != nil {
			t.Fatal(err)
		}
	}
	count := func(name string) int {
		f, err := os.Open(name)
		if err != nil {
			return -1
		}
		defer f.Close()
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			n++
		}
		return n
	}
	// 7 lines: the current file has the last one, .1 and .2 two each, the
	// first two are gone.
	for name, n := range map[string]int{path: 1, path + ".1": 2, path + ".2": 2, path + ".3": -1} {
		if got := count(name); got != n {
			t.Errorf("%s holds %d lines, want %d", filepath.Base(name), got, n)
		}
	}
}

func TestFilePublisherAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	p := onePublisher(t, "file://"+path+"?sync=true", Options{})
	if _, err := p.Process(context.Background(), nil, samples(smp{name: "a"}, smp{name: "b"})); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p = onePublisher(t, "file://"+path, Options{})
	if _, err := p.Process(context.Background(), nil, samples(smp{name: "c"})); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 3 {
		t.Errorf("%d lines after reopening, want 3", n)
	}
	if _, err := Load([]byte("sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: ['file://']}]"), Options{}); err == nil {
		t.Error("file:// without a path loaded")
	}
}

func ptr[T any](v T) *T { return &v }

func TestHTTPPublisher(t *testing.T) {
	var calls, failFirst atomic.Int32
	var mu sync.Mutex
	var bodies [][]map[string]any
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failFirst.Add(-1) >= 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" || r.URL.RawQuery != "" {
			http.Error(w, "bad request: "+r.Header.Get("Content-Type")+" ?"+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		var body []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u, pw, _ := r.BasicAuth()
		mu.Lock()
		bodies = append(bodies, body)
		auth = u + ":" + pw
		mu.Unlock()
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://user:secret@", 1)
	ctx := context.Background()

	t.Run("batched with retries", func(t *testing.T) {
		calls.Store(0)
		failFirst.Store(2)
		bodies = nil
		p := onePublisher(t, base+"/samples?max_retries=2&timeout=2", Options{})
		if _, err := p.Process(ctx, nil, samples(smp{name: "a"}, smp{name: "b"})); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 3 || len(bodies) != 1 || len(bodies[0]) != 2 {
			t.Fatalf("%d calls, bodies %v", calls.Load(), bodies)
		}
		if auth != "user:secret" || bodies[0][0]["name"] != "a" {
			t.Errorf("auth %q, body %v", auth, bodies[0])
		}
	})
	t.Run("gives up after max_retries", func(t *testing.T) {
		calls.Store(0)
		failFirst.Store(10)
		p := onePublisher(t, base+"/samples?max_retries=1", Options{})
		_, err := p.Process(ctx, nil, samples(smp{name: "a"}))
		if err == nil || !strings.Contains(err.Error(), "status 503") || calls.Load() != 2 {
			t.Fatalf("err %v after %d calls", err, calls.Load())
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	})
	t.Run("a 4xx is not retried", func(t *testing.T) {
		calls.Store(0)
		failFirst.Store(0)
		p := onePublisher(t, base+"/bad?max_retries=5", Options{})
		if _, err := p.Process(ctx, nil, samples(smp{name: "a"})); err == nil || calls.Load() != 1 {
			t.Fatalf("err %v after %d calls", err, calls.Load())
		}
	})
	t.Run("batch=False posts each sample", func(t *testing.T) {
		calls.Store(0)
		failFirst.Store(0)
		bodies = nil
		p := onePublisher(t, base+"/samples?batch=False", Options{})
		if _, err := p.Process(ctx, nil, samples(smp{name: "a"}, smp{name: "b"}, smp{name: "c"})); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 3 || len(bodies) != 3 || len(bodies[2]) != 1 {
			t.Fatalf("%d calls, bodies %v", calls.Load(), bodies)
		}
	})
	t.Run("the context bounds the retries", func(t *testing.T) {
		failFirst.Store(1000)
		p := onePublisher(t, base+"/samples?max_retries=100", Options{})
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := p.Process(cctx, nil, samples(smp{name: "a"})); err == nil {
			t.Fatal("no error")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

func TestHTTPSPublisherVerifiesWithBundle(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer srv.Close()
	ctx := context.Background()
	p := onePublisher(t, srv.URL+"/?max_retries=0", Options{})
	if _, err := p.Process(ctx, nil, samples(smp{name: "a"})); err == nil {
		t.Fatal("an unknown certificate was accepted")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pemOf(srv.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	p = onePublisher(t, srv.URL+"/?verify_ssl="+ca, Options{})
	if _, err := p.Process(ctx, nil, samples(smp{name: "a"})); err != nil {
		t.Fatal(err)
	}
	p = onePublisher(t, srv.URL+"/?verify_ssl=False", Options{})
	if _, err := p.Process(ctx, nil, samples(smp{name: "a"})); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 2 {
		t.Errorf("%d posts", got.Load())
	}
}

func TestPrometheusPublisher(t *testing.T) {
	var body, ctype, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body, ctype, path = string(b), r.Header.Get("Content-Type"), r.URL.Path
	}))
	defer srv.Close()
	p := onePublisher(t, strings.Replace(srv.URL, "http://", "prometheus://", 1)+"/metrics/job/vigil", Options{})
	in := samples(
		smp{name: "cpu", v: 10, res: "r1", proj: "p"},
		smp{name: "cpu", v: 20, res: "r1", proj: "p", at: time.Second}, // same series: the last wins
		smp{name: "cpu", v: 5, res: `r"2`, proj: "p"},
		smp{name: "memory.usage", typ: pipeline.Gauge, v: 1.5, res: "r1"},
		smp{name: "network.outgoing.packets.delta", typ: pipeline.Delta, v: 3, res: "r1"},
	)
	if _, err := p.Process(context.Background(), nil, in); err != nil {
		t.Fatal(err)
	}
	want := `# TYPE cpu counter
cpu{resource_id="r1", project_id="p"} 20
cpu{resource_id="r\"2", project_id="p"} 5
# TYPE memory_usage gauge
memory_usage{resource_id="r1", project_id=""} 1.5
network_outgoing_packets_delta{resource_id="r1", project_id=""} 3
`
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	if path != "/metrics/job/vigil" || !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("path %q, content type %q", path, ctype)
	}
}

func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Partitions = 4
	cfg.DrainTimeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("cannot open an embedded bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestNATSPublisher(t *testing.T) {
	b := openBus(t)
	sub, err := b.Conn().SubscribeSync("metering.json")
	if err != nil {
		t.Fatal(err)
	}
	p := onePublisher(t, "nats://metering.json", Options{NATS: b.Conn(), Bus: b})
	if _, err := p.Process(context.Background(), nil, samples(smp{name: "a"}, smp{name: "b"})); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(msg.Data, &got); err != nil || len(got) != 2 || got[1]["name"] != "b" {
		t.Fatalf("%s: %v", msg.Data, err)
	}
	for _, bad := range []string{"nats://", "nats://a..b", "nats://a.*", "nats://a.b?x=1"} {
		if _, err := Load([]byte(fmt.Sprintf("sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: [%q]}]", bad)), Options{NATS: b.Conn()}); err == nil {
			t.Errorf("%s loaded", bad)
		}
	}
}

// smallPayload is a NATSConn with a small max payload, to see the split.
type smallPayload struct {
	*nats.Conn
	limit int64
}

func (s smallPayload) MaxPayload() int64 { return s.limit }

func TestNATSPublisherSplits(t *testing.T) {
	b := openBus(t)
	sub, err := b.Conn().SubscribeSync("split")
	if err != nil {
		t.Fatal(err)
	}
	one := len(AppendSampleJSON(nil, ptr(smp{name: "a"}.sample())))
	p := onePublisher(t, "nats://split", Options{NATS: smallPayload{b.Conn(), int64(2*one + 4)}})
	if _, err := p.Process(context.Background(), nil, samples(smp{name: "a"}, smp{name: "a"}, smp{name: "a"}, smp{name: "a"}, smp{name: "a"})); err != nil {
		t.Fatal(err)
	}
	total := 0
	for total < 5 {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d samples: %v", total, err)
		}
		var got []map[string]any
		if err := json.Unmarshal(msg.Data, &got); err != nil || len(got) > 2 {
			t.Fatalf("%s: %v", msg.Data, err)
		}
		total += len(got)
	}
}

// TestGnocchiPublisherOnBus publishes through a real embedded bus and reads
// the wire batches back from the stream; a repeat of the same samples is
// stored once.
func TestGnocchiPublisherOnBus(t *testing.T) {
	b := openBus(t)
	p := onePublisher(t, "gnocchi://?archive_policy=ceilometer-low&filter_project=service", Options{Bus: b, Producer: "test", Creator: "svc:admin"})
	in := samples(
		smp{name: "memory", typ: pipeline.Gauge, unit: "MB", v: 512, res: "i-1", proj: "p1", meta: map[string]any{"host": "c1"}},
		smp{name: "vcpus", typ: pipeline.Gauge, unit: "vcpu", v: 2, res: "i-1", proj: "p1"},
		smp{name: "memory", typ: pipeline.Gauge, unit: "MB", v: 256, res: "i-2", proj: "p2"},
		smp{name: "memory", typ: pipeline.Gauge, unit: "MB", v: 1, res: "i-3", proj: "service"}, // filtered
	)
	ctx := context.Background()
	for range 2 {
		if _, err := p.Process(ctx, nil, in); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := b.JetStream().Stream(ctx, b.SamplesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	points := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var batch wire.Batch
		if err := wire.Unmarshal(msg.Data, &batch); err != nil {
			t.Fatal(err)
		}
		for _, s := range batch.Series {
			r := batch.Resources[*s.Resource]
			if s.ArchivePolicy != "ceilometer-low" || r.Creator != "svc:admin" || batch.Producer != "test" {
				t.Errorf("series %s of %s: policy %q creator %q producer %q", s.Name, r.Id, s.ArchivePolicy, r.Creator, batch.Producer)
			}
			for _, v := range s.Values {
				got[r.Id+"/"+s.Name] = v
				points++
			}
		}
	}
	want := map[string]float64{"i-1/memory": 512, "i-1/vcpus": 2, "i-2/memory": 256}
	if fmt.Sprint(got) != fmt.Sprint(want) || points != 3 {
		t.Errorf("stream holds %d points %v, want %v once", points, got, want)
	}
}

func TestGnocchiPublisherError(t *testing.T) {
	rb := &recordingBus{err: errors.New("bus down")}
	p := onePublisher(t, "gnocchi://", Options{Bus: rb})
	_, err := p.Process(context.Background(), nil, samples(smp{name: "a"}))
	if err == nil || !strings.Contains(err.Error(), "bus down") || !strings.Contains(err.Error(), "sink s") {
		t.Fatalf("got %v", err)
	}
}

// TestWithBusRoutesGnocchi shares one pipeline between two callers: the
// gnocchi:// batches of a call whose context names a bus go to that bus,
// the others to Options.Bus.
func TestWithBusRoutesGnocchi(t *testing.T) {
	def, other := &recordingBus{}, &recordingBus{}
	p := onePublisher(t, "gnocchi://", Options{Bus: def})
	ctx := context.Background()
	for _, tc := range []struct {
		ctx  context.Context
		name string
	}{
		{ctx, "a"},
		{WithBus(ctx, other), "b"},
		{ctx, "c"},
		{WithBus(ctx, other), "d"},
	} {
		if _, err := p.Process(tc.ctx, nil, samples(smp{name: tc.name})); err != nil {
			t.Fatal(err)
		}
	}
	names := func(b *recordingBus) (out []string) {
		for _, s := range b.samples() {
			out = append(out, s.Name)
		}
		return out
	}
	if got := names(def); fmt.Sprint(got) != "[a c]" {
		t.Errorf("Options.Bus got %v, want [a c]", got)
	}
	if got := names(other); fmt.Sprint(got) != "[b d]" {
		t.Errorf("the context's bus got %v, want [b d]", got)
	}
	other.err = errors.New("spool full")
	if _, err := p.Process(WithBus(ctx, other), nil, samples(smp{name: "e"})); err == nil || !strings.Contains(err.Error(), "spool full") {
		t.Errorf("an error of the context's bus: got %v", err)
	}
}
