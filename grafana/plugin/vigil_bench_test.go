package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/vigil-telemetry/vigil/cmd/vigil/app"
	"github.com/vigil-telemetry/vigil/cmd/vigil/config"
)

// BenchmarkPanel200InstancesVigil is the performance target end to end:
// the 24-hour, 60 s panel of 200 instances answered by the plugin from an
// in-process `vigil all` holding those 288,000 points, written through the
// REST API. It reports the p99 latency.
func BenchmarkPanel200InstancesVigil(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.AuthMode = "basic"
	cfg.Agents.Host.Enabled = false
	cfg.Processor.ID = "grafana-bench-" + strconv.Itoa(rand.IntN(1e9))
	a, err := app.Start(context.Background(), cfg, app.All, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatalf("start vigil all in-process: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	}()
	base := "http://" + a.Addr()
	call := func(method, path string, body any, out any, want int) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, strings.NewReader(string(raw)))
		req.SetBasicAuth("admin", "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, rb)
		}
		if out != nil {
			if err := json.Unmarshal(rb, out); err != nil {
				b.Fatal(err)
			}
		}
	}
	call("POST", "/v1/archive_policy", map[string]any{
		"name": "bench-60s", "back_window": 1440, "aggregation_methods": []string{"mean", "max"},
		"definition": []any{map[string]any{"granularity": 60, "points": 1500}},
	}, nil, http.StatusCreated)
	call("POST", "/v1/resource_type", map[string]any{"name": "bench_vm", "attributes": map[string]any{
		"display_name": map[string]any{"type": "string", "required": false}}}, nil, http.StatusCreated)
	now := time.Now().UTC().Truncate(time.Minute)
	first := now.Add(-1439 * time.Minute)
	var ids []string
	batch := map[string][]map[string]any{}
	flush := func() {
		if len(batch) > 0 {
			call("POST", "/v1/batch/metrics/measures", batch, nil, http.StatusAccepted)
			batch = map[string][]map[string]any{}
		}
	}
	for i := 0; i < 200; i++ {
		var res struct {
			Metrics map[string]string `json:"metrics"`
		}
		call("POST", "/v1/resource/bench_vm", map[string]any{
			"id": fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i), "project_id": "p", "user_id": "u", "display_name": fmt.Sprintf("web-%03d", i),
			"metrics": map[string]any{"cpu": map[string]any{"archive_policy_name": "bench-60s", "unit": "%"}},
		}, &res, http.StatusCreated)
		id := res.Metrics["cpu"]
		ids = append(ids, id)
		ms := make([]map[string]any, 1440)
		for m := range ms {
			ms[m] = map[string]any{"timestamp": first.Add(time.Duration(m) * time.Minute).Format(time.RFC3339), "value": float64(i) + float64(m%60)/60}
		}
		batch[id] = ms
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
	deadline := time.Now().Add(5 * time.Minute)
	for _, id := range ids {
		for {
			var got []any
			call("GET", "/v1/metric/"+id+"/measures?granularity=60", nil, &got, http.StatusOK)
			if len(got) == 1440 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("metric %s: %d of 1440 measures after 5 minutes", id, len(got))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	d, err := New(Settings{URL: base, AuthMode: AuthBasic, BasicUser: "admin"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Dispose()
	q, _ := json.Marshal(Query{QueryType: QueryResources, ResourceType: "bench_vm", MetricName: "cpu", Legend: "{{display_name}}"})
	req := &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", JSON: q, Interval: time.Minute, MaxDataPoints: 1500,
		TimeRange: backend.TimeRange{From: first, To: now.Add(59 * time.Second)},
	}}}
	run := func() int {
		resp, _ := d.QueryData(context.Background(), req)
		r := resp.Responses["A"]
		if r.Error != nil {
			b.Fatal(r.Error)
		}
		if _, err := r.Frames.MarshalArrow(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, f := range r.Frames {
			n += f.Rows()
		}
		return n
	}
	if n := run(); n != 200*1440 {
		b.Fatalf("%d points, want %d", n, 200*1440)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		run()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}
