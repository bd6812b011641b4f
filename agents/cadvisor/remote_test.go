package cadvisor

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// daemon is a cAdvisor REST API serving recorded replies, which a test
// may swap between polls.
type daemon struct {
	*httptest.Server
	mu      sync.Mutex
	replies map[string][]byte // by path
	status  int               // when not 0, every reply has this status
	queries []string
}

func newDaemon(t testing.TB) *daemon {
	d := &daemon{replies: map[string][]byte{
		"/api/v2.1/stats/":       testdata(t, "v2.1-stats-root-recursive-count1.json"),
		"/api/v2.1/machinestats": testdata(t, "v2.1-machinestats-last2.json"),
	}}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		body, ok := d.replies[r.URL.Path]
		status := d.status
		d.queries = append(d.queries, r.URL.RequestURI())
		d.mu.Unlock()
		switch {
		case status != 0:
			http.Error(w, "boom", status)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *daemon) set(path string, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replies[path] = body
}

func (d *daemon) setStatus(code int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = code
}

// polled is one Poll's samples by "<resource id> <meter>".
type polled map[string]pipeline.Sample

func pollOnce(t testing.TB, p *Pollster, now time.Time) (polled, error) {
	t.Helper()
	got := polled{}
	err := p.Poll(context.Background(), now, func(s *pipeline.Sample) {
		if err := s.Validate(); err != nil {
			t.Errorf("invalid sample: %v", err)
		}
		k := s.ResourceID + " " + s.Name
		if _, dup := got[k]; dup {
			t.Errorf("%s emitted twice in one poll", k)
		}
		got[k] = *s
	})
	return got, err
}

func newRemoteForTest(t testing.TB, d *daemon, set *metrics.Set) *Pollster {
	t.Helper()
	p, err := New(Config{Mode: ModeRemote, URL: d.URL, Hostname: "node-1", Metrics: set}, testLogger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// TestRemoteRecorded polls recorded replies of a real cAdvisor daemon and
// checks the samples against the values in them.
func TestRemoteRecorded(t *testing.T) {
	d := newDaemon(t)
	p := newRemoteForTest(t, d, nil)
	now := time.Date(2026, 11, 22, 2, 32, 30, 0, time.UTC)
	got, err := pollOnce(t, p, now)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	want := map[string]float64{
		// /comptest: a python busy loop, recorded while it ran.
		"node-1:_comptest container.cpu":                    544455569,
		"node-1:_comptest container.memory.usage":           8192,
		"node-1:_comptest container.memory.working_set":     8192,
		"node-1:_comptest container.memory.rss":             0,
		"node-1:_process_api container.memory.usage":        2447749120,
		"node-1:_process_api container.memory.rss":          941891584,
		"node-1:_process_api container.memory.cache":        1211920384,
		"node-1:_ container.cpu":                            696432894319,
		"node-1:_ container.memory.working_set":             1523990528,
		"node-1:_ container.network.incoming.bytes":         439783173, // ifb0 + ifb1 + eth0
		"node-1:_ container.network.outgoing.packets":       14467,
		"node-1:_ container.network.incoming.packets.error": 0,
		"node-1:_ container.filesystem.limit":               308467929088, // 4 filesystems
		"node-1:_ container.filesystem.usage":               20292014080,
	}
	for k, v := range want {
		s, ok := got[k]
		if !ok {
			t.Errorf("no sample %s", k)
			continue
		}
		if s.Volume != v {
			t.Errorf("%s = %v, want %v", k, s.Volume, v)
		}
	}
	for k, s := range got {
		if s.ResourceType != "container" || s.Source != "cadvisor" || !s.Timestamp.Equal(now) {
			t.Errorf("%s: %+v", k, s)
		}
		// The raw handler gives sub-cgroups neither network nor filesystems,
		// and /process_api's cgroups have no cpu controller.
		if s.ResourceID != "node-1:_" && (strings.Contains(s.Name, ".network.") || strings.Contains(s.Name, ".filesystem.")) {
			t.Errorf("%s: sub-cgroup with network or filesystem meters", k)
		}
		if strings.HasPrefix(s.ResourceID, "node-1:_process_api") && strings.HasPrefix(s.Name, "container.cpu") {
			t.Errorf("%s: memory-only cgroup with cpu meters", k)
		}
		if strings.HasSuffix(s.Name, ".util") {
			t.Errorf("%s on the first poll", k)
		}
	}
	// 7 sub-containers: 1 with cpu+memory, 6 with memory only; and "/".
	if n, want := len(got), (1+4)+6*4+(1+4+8+2); n != want {
		t.Errorf("%d samples, want %d", n, want)
	}
	md := got["node-1:_comptest container.memory.usage"].Metadata
	if md["host"] != "node-1" || md["name"] != "/comptest" || md["labels"] != nil {
		t.Errorf("metadata of /comptest: %v", md)
	}
	d.mu.Lock()
	q := d.queries
	d.mu.Unlock()
	if len(q) != 2 || q[0] != "/api/v2.1/stats/?type=name&count=1&recursive=true" || q[1] != "/api/v2.1/machinestats" {
		t.Errorf("requests %q", q)
	}
}

// recordedSeries returns the stats reply of /comptest holding only its
// i-th recorded sample, with the labels a kubelet-run container has.
func recordedSeries(t testing.TB, i int, labels map[string]string) ([]byte, map[string]any) {
	t.Helper()
	var all map[string]map[string]any
	if err := json.Unmarshal(testdata(t, "v2.1-stats-comptest-count3.json"), &all); err != nil {
		t.Fatal(err)
	}
	ci := all["/comptest"]
	stats := ci["stats"].([]any)
	sample := stats[i].(map[string]any)
	ci["stats"] = []any{sample}
	if labels != nil {
		ci["spec"].(map[string]any)["labels"] = labels
		ci["spec"].(map[string]any)["image"] = "registry.example/app:1.2"
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return b, sample
}

// TestRemoteRate checks container.cpu.util against cAdvisor's own rate
// (cpu_inst, in nanocores) over the same two recorded readings.
func TestRemoteRate(t *testing.T) {
	d := newDaemon(t)
	labels := map[string]string{
		labelPodName: "web-7d4b9c", labelPodNamespace: "shop", labelPodUID: "0b7c-11",
		labelContainerName: "nginx", "app": "web",
	}
	p := newRemoteForTest(t, d, nil)
	now := time.Date(2026, 11, 22, 2, 33, 0, 0, time.UTC)
	for i := range 3 {
		body, sample := recordedSeries(t, i, labels)
		d.set("/api/v2.1/stats/", body)
		got, err := pollOnce(t, p, now.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		util, ok := got["node-1:_comptest container.cpu.util"]
		if i == 0 {
			if ok {
				t.Errorf("util on the first poll")
			}
			continue
		}
		inst := sample["cpu_inst"].(map[string]any)["usage"].(map[string]any)["total"].(float64)
		if want := inst / 1e7; !ok || math.Abs(util.Volume-want) > 0.01 {
			t.Errorf("poll %d: container.cpu.util = %v (present %v), cAdvisor says %v%%", i, util.Volume, ok, want)
		}
		if util.Unit != "%" || util.Type != pipeline.Gauge {
			t.Errorf("util sample %+v", util)
		}
		md := util.Metadata
		if md["pod_name"] != "web-7d4b9c" || md["namespace"] != "shop" || md["pod_uid"] != "0b7c-11" ||
			md["container_name"] != "nginx" || md["image"] != "registry.example/app:1.2" {
			t.Errorf("metadata %v", md)
		}
		if l, _ := md["labels"].(map[string]any); l["app"] != "web" || l[labelPodName] != "web-7d4b9c" {
			t.Errorf("labels %v", md["labels"])
		}
	}
}

// TestRemoteCounterReset: a cpu counter that goes back (same container,
// counters reset) gives no rate and is counted.
func TestRemoteCounterReset(t *testing.T) {
	d := newDaemon(t)
	set := metrics.NewSet()
	p := newRemoteForTest(t, d, set)
	now := time.Now()
	late, _ := recordedSeries(t, 2, nil)
	early, _ := recordedSeries(t, 1, nil)
	// The early counter with a later timestamp: a reset.
	early = []byte(strings.Replace(string(early), "2026-11-22T02:32:27.12911659Z", "2026-11-22T02:40:00Z", 1))
	for i, body := range [][]byte{late, early} {
		d.set("/api/v2.1/stats/", body)
		got, err := pollOnce(t, p, now.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got["node-1:_comptest container.cpu.util"]; ok {
			t.Errorf("poll %d: util across a counter reset", i)
		}
		if _, ok := got["node-1:_comptest container.cpu"]; !ok {
			t.Errorf("poll %d: no container.cpu", i)
		}
	}
	if n := set.GetOrCreateCounter("vigil_agent_cadvisor_counter_resets_total").Get(); n != 1 {
		t.Errorf("%d resets counted, want 1", n)
	}
}

// TestRemoteStoppedContainers: a container listed without statistics is
// skipped and counted; one that disappears is forgotten; neither fails
// the poll.
func TestRemoteStoppedContainers(t *testing.T) {
	d := newDaemon(t)
	set := metrics.NewSet()
	p := newRemoteForTest(t, d, set)
	body, _ := recordedSeries(t, 0, nil)
	var infos map[string]map[string]any
	if err := json.Unmarshal(body, &infos); err != nil {
		t.Fatal(err)
	}
	// cAdvisor lists a container whose cgroup went away mid-read with
	// its spec and no statistics.
	infos["/stopped"] = map[string]any{"spec": infos["/comptest"]["spec"]}
	infos["/nulls"] = map[string]any{"spec": infos["/comptest"]["spec"], "stats": []any{nil}}
	b, _ := json.Marshal(infos)
	d.set("/api/v2.1/stats/", b)
	got, err := pollOnce(t, p, time.Now())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if _, ok := got["node-1:_comptest container.cpu"]; !ok {
		t.Error("running container missing")
	}
	for k := range got {
		if strings.Contains(k, "stopped") || strings.Contains(k, "nulls") {
			t.Errorf("sample of a stopped container: %s", k)
		}
	}
	if n := set.GetOrCreateCounter("vigil_agent_cadvisor_containers_skipped_total").Get(); n != 2 {
		t.Errorf("%d containers skipped, want 2", n)
	}
	// Next: /comptest is gone.
	d.set("/api/v2.1/stats/", []byte(`{}`))
	for range forgetAfter {
		got, err = pollOnce(t, p, time.Now())
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	if _, ok := got["node-1:_ container.cpu"]; !ok || len(got) != 15 {
		t.Errorf("after the containers went: %d samples", len(got))
	}
	p.mu.Lock()
	_, kept := p.containers["/comptest"]
	p.mu.Unlock()
	if kept {
		t.Error("state of a vanished container kept")
	}
}

func TestRemoteFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		stats  string
		mstats string
		max    int64
		want   string // in the error
		partly bool   // some samples still emitted
	}{
		{name: "server error", status: 500, want: "500"},
		{name: "not json", stats: "<html>oops</html>", want: "cannot decode"},
		{name: "wrong shape", stats: `{"/a": {"stats": "x"}}`, want: "cannot decode"},
		{name: "truncated", stats: `{"/a": {"spec": {"has_cpu": tr`, want: "cannot decode"},
		{name: "too large", max: 100, want: "larger than 100 bytes"},
		{name: "machine stats broken", mstats: `[{"cpu": 7}]`, want: "machinestats", partly: true},
		{name: "negative counters", stats: `{"/a": {"spec": {"has_cpu": true}, "stats": [{"cpu": {"usage": {"total": -5}}}]}}`, want: "cannot decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t)
			if tc.status != 0 {
				d.setStatus(tc.status)
			}
			if tc.stats != "" {
				d.set("/api/v2.1/stats/", []byte(tc.stats))
			}
			if tc.mstats != "" {
				d.set("/api/v2.1/machinestats", []byte(tc.mstats))
			}
			p, err := New(Config{Mode: ModeRemote, URL: d.URL + "/", Hostname: "n", MaxReplyBytes: tc.max}, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			got, err := pollOnce(t, p, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Poll error %v, want one with %q", err, tc.want)
			}
			if (len(got) > 0) != tc.partly {
				t.Errorf("%d samples emitted", len(got))
			}
		})
	}
}

func TestRemoteTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	p, err := New(Config{Mode: ModeRemote, URL: srv.URL, Hostname: "n"}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Poll(ctx, time.Now(), func(*pipeline.Sample) {})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("Poll on a hung daemon: %v after %v", err, time.Since(start))
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Mode: "docker"},
		{Mode: ModeRemote},
		{Mode: ModeRemote, URL: "127.0.0.1:8080"},
		{Mode: ModeRemote, URL: "ftp://host/"},
		{Mode: ModeRemote, URL: "http://%zz"},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestMetersListsEverything(t *testing.T) {
	d := newDaemon(t)
	p := newRemoteForTest(t, d, nil)
	listed := map[string]bool{}
	for _, m := range p.Meters() {
		listed[m] = true
	}
	for i := range 2 {
		body, _ := recordedSeries(t, i, nil)
		d.set("/api/v2.1/stats/", body)
		got, err := pollOnce(t, p, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if !listed[s.Name] {
				t.Errorf("poll %d emitted %s, which Meters does not list", i, s.Name)
			}
		}
	}
	if len(listed) != len(allMeters) {
		t.Errorf("%d distinct meters listed of %d", len(listed), len(allMeters))
	}
}
