package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The benchmarks follow the tsdb issue's workload W1: an archive policy of
// 1 s/1 day, 60 s/30 days and 3600 s/1 year with mean, min, max, sum,
// count and last; metrics ten per resource; CPU-percent-like values with
// noise rounded to two decimals.

func benchPolicy(b testing.TB, e *env) {
	b.Helper()
	e.must(201, admin, "POST", "/v1/archive_policy", map[string]any{
		"name": "w1", "aggregation_methods": []string{"mean", "min", "max", "sum", "count", "last"},
		"definition": []any{
			map[string]any{"granularity": 1, "timespan": "1 day"},
			map[string]any{"granularity": 60, "timespan": "30 days"},
			map[string]any{"granularity": 3600, "timespan": "365 days"},
		},
	})
}

// benchMetrics creates n metrics of policy w1, ten per resource.
func benchMetrics(b testing.TB, e *env, n int) []string {
	b.Helper()
	var ids []string
	for r := 0; len(ids) < n; r++ {
		ms := map[string]any{}
		for i := 0; i < 10 && len(ids)+i < n; i++ {
			ms[fmt.Sprintf("cpu.%d", i)] = map[string]any{"archive_policy_name": "w1"}
		}
		res := e.must(201, admin, "POST", "/v1/resource/generic", map[string]any{"id": fmt.Sprintf("bench-%d-%d", r, rand.Uint32()), "metrics": ms}).obj(b)
		for _, id := range res["metrics"].(map[string]any) {
			ids = append(ids, id.(string))
		}
	}
	slices.Sort(ids)
	return ids
}

// batchBody writes a /v1/batch/metrics/measures body: points consecutive
// 1 s points for each metric from start, as ISO 8601 timestamps.
func batchBody(rng *rand.Rand, ids []string, start time.Time, points int) []byte {
	var b bytes.Buffer
	b.Grow(len(ids) * points * 52)
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + id + `": [`)
		base := 20 + rng.Float64()*60
		for p := 0; p < points; p++ {
			if p > 0 {
				b.WriteString(", ")
			}
			v := math.Round((base+rng.NormFloat64()*5)*100) / 100
			b.WriteString(`{"timestamp": "`)
			b.WriteString(start.Add(time.Duration(p) * time.Second).UTC().Format("2006-01-02T15:04:05"))
			b.WriteString(`", "value": `)
			b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// BenchmarkDecodeBatch measures the hand-written decoder of the batch
// body alone, against encoding/json decoding the same body into the types
// a straightforward handler would use.
func BenchmarkDecodeBatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	body := batchBody(rng, ids, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), 100)
	now := time.Now()
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for i := 0; i < b.N; i++ {
			if _, err := decodeMetricBatch(body, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "measures/s")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for i := 0; i < b.N; i++ {
			var v map[string][]struct {
				Timestamp json.RawMessage `json:"timestamp"`
				Value     json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "measures/s")
	})
}

// BenchmarkBatchIngestHTTP posts W1-shaped batches of 10,000 measures
// (100 metrics × 100 points) to /v1/batch/metrics/measures from 4
// concurrent keep-alive clients and reports the measures accepted per
// second: decoded, validated, looked up in the index and durable in the
// embedded JetStream. "accept-only" runs without a processor, so that the
// figure is the API's; "with-processor" has the processor consume the
// stream into storage on the same cores meanwhile.
func BenchmarkBatchIngestHTTP(b *testing.B) {
	for _, mode := range []string{"accept-only", "with-processor"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, "sqlite", envOptions{noProcessor: mode == "accept-only", quietLogging: true, partitions: 16})
			benchPolicy(b, e)
			ids := benchMetrics(b, e, 1000)
			rng := rand.New(rand.NewPCG(2, 2))
			// Ten bodies, one per group of 100 metrics.
			var bodies [][]byte
			start := time.Now().Add(-time.Hour).Truncate(time.Second)
			for g := 0; g < 10; g++ {
				bodies = append(bodies, batchBody(rng, ids[g*100:(g+1)*100], start, 100))
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			work := make(chan []byte)
			var wg sync.WaitGroup
			for c := 0; c < 4; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for body := range work {
						req, _ := http.NewRequest("POST", e.url+"/v1/batch/metrics/measures", bytes.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-User-Id", admin.user)
						req.Header.Set("X-Project-Id", admin.project)
						req.Header.Set("X-Roles", "admin")
						res, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 202 {
							b.Errorf("batch answered %d", res.StatusCode)
							return
						}
					}
				}()
			}
			// The requests are counted and timed here, to the last answer.
			start, n := time.Now(), 0
			for b.Loop() {
				work <- bodies[n%len(bodies)]
				n++
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(10000*n)/time.Since(start).Seconds(), "measures/s")
		})
	}
}

// latencies runs f from one keep-alive client for the benchmark's time and
// reports the median and 99th percentile in milliseconds.
func latencies(b *testing.B, f func() error) {
	b.Helper()
	var d []time.Duration
	for b.Loop() {
		t := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100])/1e6, "p99-ms")
}

// loadDay stores one day of 1 s points for each metric (86,400 each),
// so that the 60 s series hold 1,440 points, and waits until they are
// processed.
func loadDay(b *testing.B, e *env, ids []string) time.Time {
	b.Helper()
	start := time.Now().Add(-24 * time.Hour).Truncate(time.Hour)
	rng := rand.New(rand.NewPCG(3, 3))
	for off := 0; off < 86400; off += 3600 {
		for k := 0; k < len(ids); k += 10 {
			e.must(202, admin, "POST", "/v1/batch/metrics/measures", batchBody(rng, ids[k:min(k+10, len(ids))], start.Add(time.Duration(off)*time.Second), 3600))
		}
	}
	for _, id := range ids {
		e.must(200, admin, "GET", "/v1/metric/"+id+"/measures?refresh=true&granularity=3600", nil)
	}
	return start
}

func benchGet(client *http.Client, method, url string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-User-Id", admin.user)
	req.Header.Set("X-Project-Id", admin.project)
	req.Header.Set("X-Roles", "admin")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || n < 100 {
		return fmt.Errorf("%s %s: %d, %d bytes", method, url, res.StatusCode, n)
	}
	return nil
}

// BenchmarkGetMeasures reads the 60 s series of one metric (1,440 points,
// a day) over HTTP.
func BenchmarkGetMeasures(b *testing.B) {
	e := newEnv(b, "sqlite", envOptions{quietLogging: true})
	benchPolicy(b, e)
	ids := benchMetrics(b, e, 1)
	loadDay(b, e, ids)
	client := &http.Client{}
	url := e.url + "/v1/metric/" + ids[0] + "/measures?granularity=60"
	latencies(b, func() error { return benchGet(client, "GET", url, nil) })
}

// BenchmarkAggregates10 evaluates (aggregate mean (metric ...)) over ten
// metrics' 60 s series of a day over HTTP.
func BenchmarkAggregates10(b *testing.B) { benchAggregates(b, 10) }

// BenchmarkAggregates100 is the same over a hundred metrics.
func BenchmarkAggregates100(b *testing.B) { benchAggregates(b, 100) }

func benchAggregates(b *testing.B, n int) {
	e := newEnv(b, "sqlite", envOptions{quietLogging: true})
	benchPolicy(b, e)
	ids := benchMetrics(b, e, n)
	loadDay(b, e, ids)
	var refs []string
	for _, id := range ids {
		refs = append(refs, "("+id+" mean)")
	}
	body, _ := json.Marshal(map[string]any{"operations": "(aggregate mean (metric " + strings.Join(refs, " ") + "))"})
	client := &http.Client{}
	url := e.url + "/v1/aggregates?granularity=60"
	latencies(b, func() error { return benchGet(client, "POST", url, body) })
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkIdleConnections opens 1,000 keep-alive connections that each
// make one request and then idle, and reports the growth of the process's
// resident memory. Client and server share the process; the clients are
// bare sockets, so nearly all the growth is the server's.
func BenchmarkIdleConnections(b *testing.B) {
	e := newEnv(b, "sqlite", envOptions{quietLogging: true})
	addr := strings.TrimPrefix(e.url, "http://")
	req := []byte("GET /v1/capabilities HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		before := rssBytes()
		conns := make([]net.Conn, 0, 1000)
		for c := 0; c < 1000; c++ {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := conn.Write(req); err != nil {
				b.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			conns = append(conns, conn)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		after := rssBytes()
		b.ReportMetric(float64(after-before)/(1<<20), "MB-per-1000-conns")
		for _, c := range conns {
			c.Close()
		}
	}
}
