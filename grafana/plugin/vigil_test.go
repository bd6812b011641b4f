package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/vigil-telemetry/vigil/cmd/vigil/app"
	"github.com/vigil-telemetry/vigil/cmd/vigil/config"
)

// liveVigil is an in-process `vigil all` (embedded NATS, SQLite, the
// series storage in a temporary directory, basic auth) with data the test
// wrote through the REST API, as an operator's agents would have.
type liveVigil struct {
	t   *testing.T
	url string
	now time.Time // the last minute written
	vms []liveVM
}

type liveVM struct {
	id, name, flavor, project, cpu string
}

// liveMinutes is how many minutes of measures each VM gets.
const liveMinutes = 180

// liveValue is what VM i measured at minute m (counted from the first).
func liveValue(i, m int) float64 { return float64(i*1000+m) / 4 }

func startVigil(t *testing.T) *liveVigil {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.AuthMode = "basic"
	cfg.Agents.Host.Enabled = false
	cfg.Processor.ID = "grafana-test-" + strconv.Itoa(rand.IntN(1e9))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.Start(context.Background(), cfg, app.All, log)
	if err != nil {
		t.Fatalf("start vigil all in-process: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop vigil: %v", err)
		}
	})
	v := &liveVigil{t: t, url: "http://" + a.Addr(), now: time.Now().UTC().Truncate(time.Minute)}
	v.populate()
	return v
}

// call sends a request as vigil's admin and decodes the answer into out.
func (v *liveVigil) call(method, path string, body, out any, want int) {
	v.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, v.url+path, rd)
	req.SetBasicAuth("admin", "")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		v.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			v.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func (v *liveVigil) populate() {
	v.call("POST", "/v1/archive_policy", map[string]any{
		"name": "grafana-test", "back_window": 0, "aggregation_methods": []string{"mean", "max", "min", "sum", "count"},
		"definition": []any{map[string]any{"granularity": 60, "points": 1440}, map[string]any{"granularity": 3600, "points": 168}},
	}, nil, http.StatusCreated)
	v.call("POST", "/v1/resource_type", map[string]any{
		"name": "grafana_vm", "attributes": map[string]any{
			"display_name": map[string]any{"type": "string", "required": false},
			"flavor_name":  map[string]any{"type": "string", "required": false},
		},
	}, nil, http.StatusCreated)
	batch := map[string][]map[string]any{}
	first := v.now.Add(-(liveMinutes - 1) * time.Minute)
	for i := 0; i < 4; i++ {
		vm := liveVM{
			id:      fmt.Sprintf("5a301761-c8ef-4a6c-a7f5-4d64f4a2fd%02d", i),
			name:    fmt.Sprintf("web-%d", i),
			flavor:  []string{"m1.small", "m1.large"}[i%2],
			project: "b1b2c3d4-0000-4000-8000-00000000000" + strconv.Itoa(i/2),
		}
		var res struct {
			Metrics map[string]string `json:"metrics"`
		}
		v.call("POST", "/v1/resource/grafana_vm", map[string]any{
			"id": vm.id, "user_id": "u1", "project_id": vm.project, "display_name": vm.name, "flavor_name": vm.flavor,
			"metrics": map[string]any{"cpu_util": map[string]any{"archive_policy_name": "grafana-test", "unit": "%"}},
		}, &res, http.StatusCreated)
		vm.cpu = res.Metrics["cpu_util"]
		if vm.cpu == "" {
			v.t.Fatalf("resource %s was created without its metric: %v", vm.id, res.Metrics)
		}
		var ms []map[string]any
		for m := 0; m < liveMinutes; m++ {
			ms = append(ms, map[string]any{"timestamp": first.Add(time.Duration(m) * time.Minute).Format(time.RFC3339), "value": liveValue(i, m)})
		}
		batch[vm.cpu] = ms
		v.vms = append(v.vms, vm)
	}
	v.call("POST", "/v1/batch/metrics/measures", batch, nil, http.StatusAccepted)
	// Measures are readable once the processor has stored them.
	deadline := time.Now().Add(60 * time.Second)
	for _, vm := range v.vms {
		for {
			var got [][3]any
			v.call("GET", "/v1/metric/"+vm.cpu+"/measures?granularity=60", nil, &got, http.StatusOK)
			if len(got) == liveMinutes {
				break
			}
			if time.Now().After(deadline) {
				v.t.Fatalf("metric %s: %d of %d measures readable after 60 s", vm.cpu, len(got), liveMinutes)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func (v *liveVigil) datasource(t *testing.T) *Datasource {
	d, err := New(Settings{URL: v.url, AuthMode: AuthBasic, BasicUser: "admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Dispose)
	return d
}

func (v *liveVigil) query(t *testing.T, d *Datasource, q Query) backend.DataResponse {
	r := rangeQuery{from: v.now.Add(-(liveMinutes - 1) * time.Minute), to: v.now.Add(30 * time.Second), interval: time.Minute, maxDP: 1000}
	return runQuery(t, d, q, r)
}

// TestAgainstVigil runs the plugin against the real API: health, every
// Gnocchi query mode, and the editor's lookups, asserting frame contents
// against what the test wrote.
func TestAgainstVigil(t *testing.T) {
	v := startVigil(t)
	d := v.datasource(t)
	ctx := context.Background()

	t.Run("health", func(t *testing.T) {
		res, err := d.CheckHealth(ctx, &backend.CheckHealthRequest{})
		if err != nil || res.Status != backend.HealthStatusOk || !strings.HasPrefix(res.Message, "vigil ") || !strings.Contains(res.Message, "connected as user admin") {
			t.Fatalf("health %v %q %v", res.Status, res.Message, err)
		}
		bad, _ := New(Settings{URL: v.url, AuthMode: AuthNoAuth, UserID: "x"}, nil)
		defer bad.Dispose()
		res, _ = bad.CheckHealth(ctx, &backend.CheckHealthRequest{})
		if res.Status != backend.HealthStatusError || !strings.Contains(res.Message, "refuses the credentials") {
			t.Fatalf("noauth headers against a basic API: %v %q", res.Status, res.Message)
		}
	})

	checkVM := func(t *testing.T, f interface {
		Rows() int
	}, at func(int) (time.Time, float64), i int) {
		t.Helper()
		if f.Rows() != liveMinutes {
			t.Fatalf("vm %d: %d points, want %d", i, f.Rows(), liveMinutes)
		}
		first := v.now.Add(-(liveMinutes - 1) * time.Minute)
		for m := 0; m < liveMinutes; m++ {
			ts, val := at(m)
			if !ts.Equal(first.Add(time.Duration(m)*time.Minute)) || val != liveValue(i, m) {
				t.Fatalf("vm %d point %d: %v %v, want %v %v", i, m, ts, val, first.Add(time.Duration(m)*time.Minute), liveValue(i, m))
			}
		}
	}

	t.Run("metric by id", func(t *testing.T) {
		fs := mustFrames(t, v.query(t, d, Query{QueryType: QueryMetric, MetricID: v.vms[2].cpu, Legend: "{{display_name}}"}))
		if len(fs) != 1 || fs[0].Name != "web-2" || fs[0].Fields[1].Config.Unit != "percent" {
			t.Fatalf("frames %d, name %q, unit %q", len(fs), fs[0].Name, fs[0].Fields[1].Config.Unit)
		}
		checkVM(t, fs[0], func(m int) (time.Time, float64) {
			return fs[0].Fields[0].At(m).(time.Time), fs[0].Fields[1].At(m).(float64)
		}, 2)
	})

	t.Run("resources by search", func(t *testing.T) {
		fs := mustFrames(t, v.query(t, d, Query{QueryType: QueryResources, ResourceType: "grafana_vm", MetricName: "cpu_util", Filter: "flavor_name='m1.large'", Legend: "{{display_name}} {{flavor_name}}"}))
		if len(fs) != 2 || fs[0].Name != "web-1 m1.large" || fs[1].Name != "web-3 m1.large" {
			t.Fatalf("frames %v", fs)
		}
		for k, i := range []int{1, 3} {
			f := fs[k]
			if f.Fields[1].Labels["resource_id"] != v.vms[i].id {
				t.Fatalf("frame %s labels %v", f.Name, f.Fields[1].Labels)
			}
			checkVM(t, f, func(m int) (time.Time, float64) {
				return f.Fields[0].At(m).(time.Time), f.Fields[1].At(m).(float64)
			}, i)
		}
	})

	t.Run("aggregates grouped", func(t *testing.T) {
		fs := mustFrames(t, v.query(t, d, Query{QueryType: QueryAggregates, ResourceType: "grafana_vm", Operations: "(aggregate max (metric cpu_util mean))", GroupBy: []string{"flavor_name"}, Legend: "{{flavor_name}}"}))
		if len(fs) != 2 || fs[0].Name != "m1.large" || fs[1].Name != "m1.small" {
			t.Fatalf("frames %v", fs)
		}
		// The max over web-1 and web-3 is web-3's, over web-0 and web-2 web-2's.
		checkVM(t, fs[0], func(m int) (time.Time, float64) {
			return fs[0].Fields[0].At(m).(time.Time), fs[0].Fields[1].At(m).(float64)
		}, 3)
		checkVM(t, fs[1], func(m int) (time.Time, float64) {
			return fs[1].Fields[0].At(m).(time.Time), fs[1].Fields[1].At(m).(float64)
		}, 2)
		if fs[0].Fields[1].Labels["flavor_name"] != "m1.large" {
			t.Fatalf("labels %v", fs[0].Fields[1].Labels)
		}
	})

	t.Run("hour granularity", func(t *testing.T) {
		fs := mustFrames(t, v.query(t, d, Query{QueryType: QueryMetric, MetricID: v.vms[0].cpu, Granularity: "1h", Aggregation: "count"}))
		total := 0.0
		for m := 0; m < fs[0].Rows(); m++ {
			total += fs[0].Fields[1].At(m).(float64)
		}
		// The range starts inside the first hour, whose point lies before
		// it and is left out: the hours in the range hold the rest.
		if fs[0].Rows() == 0 || total > liveMinutes || total < liveMinutes-60 {
			t.Fatalf("%d hourly counts summing to %v, want within the %d minutes written", fs[0].Rows(), total, liveMinutes)
		}
	})

	t.Run("editor lookups", func(t *testing.T) {
		for _, tc := range []struct{ method, path, body, want string }{
			{"GET", "resource-types", "", `{"name":"grafana_vm","attributes":["display_name","flavor_name"]}`},
			{"GET", "metric-names?type=grafana_vm", "", `["cpu_util"]`},
			{"GET", "archive-policies", "", `{"name":"grafana-test","aggregation_methods":["count","max","mean","min","sum"],"granularities":[60,3600]}`},
			{"GET", "resources?type=grafana_vm&filter=display_name%3D%27web-0%27", "", `"id":"` + v.vms[0].id + `","name":"web-0","type":"grafana_vm"`},
			{"POST", "variable", `{"query": "resources(grafana_vm, flavor_name='m1.small')"}`, `[{"text":"web-0","value":"` + v.vms[0].id + `"},{"text":"web-2","value":"` + v.vms[2].id + `"}]`},
			{"POST", "variable", `{"query": "attribute_values(grafana_vm, flavor_name)"}`, `[{"text":"m1.large","value":"m1.large"},{"text":"m1.small","value":"m1.small"}]`},
			{"POST", "variable", `{"query": "metrics(grafana_vm)"}`, `[{"text":"cpu_util","value":"cpu_util"}]`},
		} {
			code, body := callResource(t, d, tc.method, tc.path, tc.body)
			if code != 200 || !strings.Contains(body, tc.want) {
				t.Errorf("%s %s: %d %s, want %s", tc.method, tc.path, code, body, tc.want)
			}
		}
	})

	t.Run("errors of the API", func(t *testing.T) {
		r := v.query(t, d, Query{QueryType: QueryResources, ResourceType: "grafana_vm", MetricName: "cpu_util", Filter: "flavor_name=="})
		if r.Error == nil || r.Status != backend.StatusBadRequest || !strings.Contains(r.Error.Error(), "400") {
			t.Fatalf("bad filter: %v %v", r.Status, r.Error)
		}
		r = v.query(t, d, Query{QueryType: QueryMetric, MetricID: "6a301761-c8ef-4a6c-a7f5-4d64f4a2fd55"})
		if r.Error == nil || r.Status != backend.StatusNotFound {
			t.Fatalf("unknown metric: %v %v", r.Status, r.Error)
		}
	})
}
