package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// BenchmarkPanel200Instances is the dashboard panel of the performance
// target: the CPU of 200 instances over 24 hours at 60 s (1440 points
// each, 288,000 in all), as a resources query: search, policy, one
// aggregates call of 200 metrics, frames, and their Arrow encoding for
// Grafana. The fake API replays recorded answers, so the figure is the
// plugin's own cost plus loopback HTTP. It reports the p99 latency.
func BenchmarkPanel200Instances(b *testing.B) {
	f := newFakeAPI(b, testNow)
	for i := 0; i < 200; i++ {
		f.addResource(fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i), "instance", map[string]any{
			"display_name": fmt.Sprintf("web-%03d", i), "project_id": fmt.Sprintf("project-%d", i%10), "flavor_name": "m1.small", "host": "cmp1",
		}, "cpu", "memory.usage")
	}
	f.cache = map[string]cachedAnswer{}
	d := newTestDS(b, f.url(), nil)
	q, _ := json.Marshal(Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Aggregation: "mean", Legend: "{{display_name}}"})
	req := &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", JSON: q, Interval: time.Minute, MaxDataPoints: 1500,
		TimeRange: backend.TimeRange{From: testNow.Add(-24 * time.Hour), To: testNow},
	}}}
	run := func() int {
		resp, err := d.QueryData(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		r := resp.Responses["A"]
		if r.Error != nil {
			b.Fatal(r.Error)
		}
		if _, err := r.Frames.MarshalArrow(); err != nil {
			b.Fatal(err)
		}
		points := 0
		for _, fr := range r.Frames {
			points += fr.Rows()
		}
		return points
	}
	if n := run(); n != 200*1440 {
		b.Fatalf("%d points, want %d", n, 200*1440)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		run()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	// CPU time per answer (the process's, the fake's replay included):
	// unlike the latencies it does not grow when other work shares the
	// machine's cores.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(float64(200*1440)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// processCPU is the user and system time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParseAggregates is the decoding of one aggregates answer of
// 200 series of 1440 points.
func BenchmarkParseAggregates(b *testing.B) {
	buf := []byte(`{"measures": {`)
	start := testNow.Add(-24 * time.Hour)
	for i := 0; i < 200; i++ {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		buf = fmt.Appendf(buf, `"%08d-0000-4000-8000-%012d": {"mean": `, i, i)
		pts := make([]fakePoint, 1440)
		for j := range pts {
			t := start.Add(time.Duration(j) * time.Minute)
			pts[j] = fakePoint{t, time.Minute, fakeValue(fmt.Sprint(i), t, "mean")}
		}
		buf = appendFakeMeasures(buf, pts)
		buf = append(buf, '}')
	}
	buf = append(buf, "}}"...)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		gs, err := parseAggregates(buf, window{})
		if err != nil || len(gs[0].Series) != 200 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(200*1440)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}
