package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchEnv passes BENCH_<X> to the vigil process as X for the memory
// settings (GOGC, GOMEMLIMIT, storage sizes), to compare them.
func benchEnv() []string {
	var env []string
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "VIGIL_STORAGE_MEMTABLE_MB", "VIGIL_STORAGE_CACHE_MB", "VIGIL_MEMORY_LIMIT_MB", "VIGIL_GC_PERCENT"} {
		if v := os.Getenv("BENCH_" + k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// client talks to a vigil process as a noauth admin.
type client struct {
	base string
	http *http.Client
}

func newClient(addr string) *client {
	return &client{base: "http://" + addr, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 60 * time.Second}}
}

func (c *client) do(tb testing.TB, method, path string, body []byte, want int) []byte {
	tb.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", "bench")
	req.Header.Set("X-Project-Id", "bench")
	req.Header.Set("X-Roles", "admin")
	resp, err := c.http.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// ingested reads vigil_ingest_measures_total from /metrics.
func (c *client) ingested(tb testing.TB) int64 {
	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "vigil_ingest_measures_total "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int64(n)
		}
	}
	return 0
}

// createMetrics makes n metrics of the W1 policy and returns their ids.
func (c *client) createMetrics(tb testing.TB, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out := c.do(tb, http.MethodPost, "/v1/metric", []byte(`{"archive_policy_name":"bench-w","name":"m`+strconv.Itoa(i)+`"}`), http.StatusCreated)
				var m struct{ ID string }
				if err := json.Unmarshal(out, &m); err != nil {
					tb.Error(err)
					return
				}
				ids[i] = m.ID
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return ids
}

// measuresBody is a /v1/batch/metrics/measures body: points [from, to) of
// each of ids, one a second from start, CPU-percent-like with noise.
func measuresBody(dst []byte, rng *rand.Rand, ids []string, start time.Time, from, to int) []byte {
	dst = append(dst, '{')
	for k, id := range ids {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, id...)
		dst = append(dst, `":[`...)
		v := 20 + 60*rng.Float64()
		for i := from; i < to; i++ {
			if i > from {
				dst = append(dst, ',')
			}
			v = min(100, max(0, v+rng.NormFloat64()))
			dst = append(dst, `{"timestamp":`...)
			dst = strconv.AppendInt(dst, start.Unix()+int64(i), 10)
			dst = append(dst, `,"value":`...)
			dst = strconv.AppendFloat(dst, float64(int(v*100))/100, 'f', -1, 64)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// BenchmarkW1ThroughVigil runs W1 through a `vigil all` process over its
// HTTP batch API and reports the end-to-end rate (accepted and stored) and
// the process's peak RSS while doing it.
func BenchmarkW1ThroughVigil(b *testing.B) {
	bin := buildVigil(b)
	for range b.N {
		p := startVigil(b, bin, b.TempDir(), append(benchEnv(), "VIGIL_API_AUTH_MODE=noauth", "VIGIL_AGENTS_HOST_ENABLED=false")...)
		c := newClient(p.addr)
		c.do(b, http.MethodPost, "/v1/archive_policy", []byte(`{"name":"bench-w","back_window":0,
			"aggregation_methods":["mean","min","max","sum","count","last"],
			"definition":[{"granularity":"1s","timespan":"1 day"},{"granularity":"60s","timespan":"30 days"},{"granularity":"3600s","timespan":"365 days"}]}`), http.StatusCreated)
		ids := c.createMetrics(b, W1.Metrics)

		var peak float64
		stopRSS := make(chan struct{})
		rssDone := make(chan struct{})
		go func() {
			defer close(rssDone)
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopRSS:
					return
				case <-t.C:
					peak = max(peak, rssBytes(b, p.cmd.Process.Pid))
				}
			}
		}()
		start := time.Unix(1_700_000_000, 0).Truncate(time.Hour)
		t0 := time.Now()
		// 10 metrics × 1,000 points = 10,000 measures a request, 4 clients.
		var wg sync.WaitGroup
		work := make(chan int)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				var body []byte
				for k := range work {
					body = measuresBody(body[:0], rng, ids[k:k+10], start, 0, W1.Points)
					c.do(b, http.MethodPost, "/v1/batch/metrics/measures", body, http.StatusAccepted)
				}
			}()
		}
		for k := 0; k < len(ids); k += 10 {
			work <- k
		}
		close(work)
		wg.Wait()
		accepted := time.Since(t0)
		total := int64(W1.Metrics * W1.Points)
		deadline := time.Now().Add(5 * time.Minute)
		for c.ingested(b) < total {
			if time.Now().After(deadline) {
				b.Fatalf("stored %d of %d measures in 5 minutes", c.ingested(b), total)
			}
			time.Sleep(20 * time.Millisecond)
		}
		stored := time.Since(t0)
		close(stopRSS)
		<-rssDone
		p.stop(b)
		b.ReportMetric(float64(total)/accepted.Seconds(), "accepted-measures/s")
		b.ReportMetric(float64(total)/stored.Seconds(), "stored-measures/s")
		b.ReportMetric(peak/1e6, "peak-RSS-MB")
		fmt.Printf("W1 through vigil all: %.0f measures/s accepted, %.0f stored, peak RSS %.1f MB\n",
			float64(total)/accepted.Seconds(), float64(total)/stored.Seconds(), peak/1e6)
	}
}

// BenchmarkActiveMetrics100k holds 100,000 metrics that each get measures,
// and reports the RSS of the `vigil all` process that serves them.
func BenchmarkActiveMetrics100k(b *testing.B) {
	const n = 100_000
	bin := buildVigil(b)
	for range b.N {
		p := startVigil(b, bin, b.TempDir(), append(benchEnv(), "VIGIL_API_AUTH_MODE=noauth", "VIGIL_AGENTS_HOST_ENABLED=false")...)
		c := newClient(p.addr)
		c.do(b, http.MethodPost, "/v1/archive_policy", []byte(`{"name":"bench-w","back_window":0,
			"aggregation_methods":["mean","min","max","sum","count","last"],
			"definition":[{"granularity":"60s","timespan":"1 day"},{"granularity":"3600s","timespan":"30 days"}]}`), http.StatusCreated)
		t0 := time.Now()
		ids := c.createMetrics(b, n)
		created := time.Since(t0)
		rng := rand.New(rand.NewPCG(7, 7))
		start := time.Unix(1_700_000_000, 0).Truncate(time.Hour)
		var body []byte
		var peak float64
		for round := range 3 {
			for k := 0; k < n; k += 1000 {
				body = measuresBody(body[:0], rng, ids[k:k+1000], start.Add(time.Duration(round)*time.Minute), 0, 10)
				c.do(b, http.MethodPost, "/v1/batch/metrics/measures", body, http.StatusAccepted)
				peak = max(peak, rssBytes(b, p.cmd.Process.Pid))
			}
		}
		want := int64(3 * n * 10)
		deadline := time.Now().Add(5 * time.Minute)
		for c.ingested(b) < want {
			if time.Now().After(deadline) {
				b.Fatalf("stored %d of %d measures in 5 minutes", c.ingested(b), want)
			}
			peak = max(peak, rssBytes(b, p.cmd.Process.Pid))
			time.Sleep(50 * time.Millisecond)
		}
		peak = max(peak, rssBytes(b, p.cmd.Process.Pid))
		p.stop(b)
		b.ReportMetric(peak/1e6, "peak-RSS-MB")
		b.ReportMetric(float64(n)/created.Seconds(), "metrics-created/s")
		fmt.Printf("100,000 active metrics: peak RSS %.1f MB; created at %.0f/s\n", peak/1e6, float64(n)/created.Seconds())
	}
}

// BenchmarkAlarmLatencyThroughVigil measures, with 10,000 enabled alarms in
// a `vigil all` process, the time from the POST of a breaching measure to
// the alarm's webhook receiving Aodh's call, at granularity 1 s.
func BenchmarkAlarmLatencyThroughVigil(b *testing.B) {
	const alarms, probes = 10000, 200
	bin := buildVigil(b)
	for range b.N {
		var mu sync.Mutex
		arrived := make(map[string]time.Time, probes)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				AlarmName string `json:"alarm_name"`
				Current   string `json:"current"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			if body.Current == "alarm" {
				mu.Lock()
				if _, ok := arrived[body.AlarmName]; !ok {
					arrived[body.AlarmName] = time.Now()
				}
				mu.Unlock()
			}
		}))
		p := startVigil(b, bin, b.TempDir(), append(benchEnv(), "VIGIL_API_AUTH_MODE=noauth", "VIGIL_AGENTS_HOST_ENABLED=false")...)
		c := newClient(p.addr)
		c.do(b, http.MethodPost, "/v1/archive_policy", []byte(`{"name":"bench-w","aggregation_methods":["mean"],"definition":[{"granularity":"1s","points":3600}]}`), http.StatusCreated)
		ids := c.createMetrics(b, alarms)
		var wg sync.WaitGroup
		next := make(chan int)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					body := fmt.Sprintf(`{"name":"a%d","type":"gnocchi_aggregation_by_metrics_threshold","alarm_actions":[%q],
						"gnocchi_aggregation_by_metrics_threshold_rule":{"metrics":[%q],"aggregation_method":"mean","granularity":1,
						"evaluation_periods":1,"threshold":50,"comparison_operator":"gt"}}`, i, hook.URL, ids[i])
					c.do(b, http.MethodPost, "/v2/alarms", []byte(body), http.StatusCreated)
				}
			}()
		}
		for i := range alarms {
			next <- i
		}
		close(next)
		wg.Wait()
		time.Sleep(2 * time.Second) // past the creation-time evaluations' step
		posted := make(map[string]time.Time, probes)
		for k := range probes {
			i := k * (alarms / probes)
			ts := time.Now().UTC()
			posted[fmt.Sprintf("a%d", i)] = ts
			c.do(b, http.MethodPost, "/v1/metric/"+ids[i]+"/measures", []byte(fmt.Sprintf(`[{"timestamp":%q,"value":90}]`, ts.Format(time.RFC3339Nano))), http.StatusAccepted)
			time.Sleep(20 * time.Millisecond)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(arrived)
			mu.Unlock()
			if n >= probes || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.stop(b)
		hook.Close()
		var lat []time.Duration
		for name, t := range posted {
			if a, ok := arrived[name]; ok {
				lat = append(lat, a.Sub(t))
			}
		}
		if len(lat) < probes {
			b.Fatalf("%d of %d alarms called their webhook within 30 s", len(lat), probes)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
		fmt.Printf("alarm latency with %d alarms: p50 %v, p99 %v (POST to webhook)\n", alarms, lat[len(lat)/2], lat[len(lat)*99/100])
	}
}
