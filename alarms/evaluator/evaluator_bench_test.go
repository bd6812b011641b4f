package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/alarms/notifier"
	"github.com/vigil-telemetry/vigil/alarms/store"
)

// benchFetcher serves constant series cheaply: a value per metric id,
// repeated at every step of the query window, so that the benchmarks
// measure the evaluator rather than a stand-in store.
type benchFetcher struct {
	vals map[string]*atomic.Uint64 // "metrics:<id>" → float64 bits
}

func (f *benchFetcher) Measures(_ context.Context, q *alarms.Query, dst []alarms.Point) ([]alarms.Point, error) {
	if len(q.MetricIDs) != 1 {
		return dst, alarms.ErrMetricNotFound
	}
	v, ok := f.vals[q.MetricIDs[0]]
	if !ok {
		return dst, alarms.ErrMetricNotFound
	}
	x := math.Float64frombits(v.Load())
	for t := q.Start.Truncate(q.Granularity); !t.After(q.Stop); t = t.Add(q.Granularity) {
		if !t.Before(q.Start) {
			dst = append(dst, alarms.Point{Time: t, Value: x})
		}
	}
	return dst, nil
}

func (f *benchFetcher) set(id string, v float64) { f.vals[id].Store(math.Float64bits(v)) }

// benchAlarms creates n by-metrics alarms at granularity 1 s, one metric
// each, with actions from actionsFor.
func benchAlarms(b *testing.B, s *store.Store, f *benchFetcher, n int, actionsFor func(i int) []string) (ids, metrics []string) {
	b.Helper()
	now := time.Now().UTC()
	for i := range n {
		m := uuid.NewString()
		f.vals[m] = &atomic.Uint64{}
		f.set(m, 10)
		r, err := alarms.ParseRule(alarms.TypeAggregationByMetrics, json.RawMessage(`{"metrics": ["`+m+`"], "aggregation_method": "mean",
			"threshold": 80, "comparison_operator": "gt", "granularity": 1, "evaluation_periods": 1}`), nil)
		if err != nil {
			b.Fatal(err)
		}
		acts := actionsFor(i)
		a := &alarms.Alarm{ID: uuid.NewString(), Name: fmt.Sprintf("bench-%d", i), Type: alarms.TypeAggregationByMetrics, Enabled: true,
			State: alarms.StateInsufficient, Severity: alarms.SeverityLow, AlarmActions: acts, OKActions: acts,
			ProjectID: "p", UserID: "u", Timestamp: now, StateTimestamp: now, Rule: r}
		if err := s.Create(context.Background(), a, alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeCreation, Timestamp: now}, store.Unlimited); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, a.ID)
		metrics = append(metrics, m)
	}
	return ids, metrics
}

// nullNotifier drops notifications.
type nullNotifier struct{ n atomic.Int64 }

func (n *nullNotifier) Notify(*alarms.Notification) { n.n.Add(1) }

// BenchmarkEvaluate measures one threshold evaluation that changes
// nothing, the common case, on one goroutine.
func BenchmarkEvaluate(b *testing.B) {
	f := &benchFetcher{vals: map[string]*atomic.Uint64{"m": {}}}
	f.set("m", 10)
	r, _ := alarms.ParseRule(alarms.TypeAggregationByMetrics, json.RawMessage(`{"metrics": ["m"], "aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 60, "evaluation_periods": 3}`), nil)
	a := &alarms.Alarm{Rule: r}
	sc := &scratch{}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if d := evaluate(context.Background(), f, a, alarms.StateOK, now, 0, sc); d.refresh {
			b.Fatal("unexpected refresh")
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "evaluations/s")
}

// BenchmarkEvaluatorThroughput runs the whole evaluator (queue, workers,
// rate limit bookkeeping) over 10,000 alarms whose state holds.
func BenchmarkEvaluatorThroughput(b *testing.B) {
	s := openStore(b)
	f := &benchFetcher{vals: map[string]*atomic.Uint64{}}
	const n = 10000
	benchAlarms(b, s, f, n, func(int) []string { return nil })
	e, err := New(quickConfig(), Deps{Store: s, Fetcher: f, Notifier: &nullNotifier{}, Log: testLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	evals := func() int64 { return int64(e.met.evaluations.Get()) }
	// Wait for the start-up evaluation (and its transitions to ok).
	for evals() < n {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	e.mu.RLock()
	entries := make([]*entry, 0, n)
	for _, en := range e.entries {
		entries = append(entries, en)
	}
	e.mu.RUnlock()
	rounds := max(1, b.N/n)
	b.ResetTimer()
	start := time.Now()
	base := evals()
	for r := range rounds {
		for _, en := range entries {
			en.nextAllowed.Store(0)
		}
		e.sweep()
		for evals() < base+int64((r+1)*n) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(rounds*n)/el.Seconds(), "evaluations/s")
}

// BenchmarkAlarmLatency measures announcement → webhook receipt with
// 10,000 enabled alarms at granularity 1 s, all announced every second (in
// rounds of 100 series per message, one round every 10 ms); one alarm in
// flipEvery has its data cross the threshold, so it transitions and calls
// its webhook. "dead-target" points 1,000 of the alarms at a webhook that
// never answers: the others' latency must not change. "all-flip" makes
// every announced alarm transition (10,000 webhook calls per second).
func BenchmarkAlarmLatency(b *testing.B) {
	for _, c := range []struct {
		name            string
		dead, flipEvery int
	}{{"healthy", 0, 10}, {"dead-target-1000", 1000, 10}, {"all-flip", 0, 1}} {
		b.Run(c.name, func(b *testing.B) { benchLatency(b, 10000, c.dead, c.flipEvery) })
	}
}

func benchLatency(b *testing.B, n, dead, flipEvery int) {
	h := &harness{t: b, bus: openBus(b), store: openStore(b)}
	f := &benchFetcher{vals: map[string]*atomic.Uint64{}}
	var (
		mu       sync.Mutex
		sentAt   = map[string]time.Time{}
		lat      []time.Duration
		toNotify []time.Duration // announcement → stored and handed to the notifier
		received atomic.Int64
		rec      = &recordingNotifier{at: map[string]time.Time{}}
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID      string `json:"alarm_id"`
			Current string `json:"current"`
			Prev    string `json:"previous"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		now := time.Now()
		if body.Prev != string(alarms.StateInsufficient) {
			mu.Lock()
			if t, ok := sentAt[body.ID]; ok {
				lat = append(lat, now.Sub(t))
				delete(sentAt, body.ID)
				if n, ok := rec.take(body.ID); ok {
					toNotify = append(toNotify, n.Sub(t))
				}
			}
			mu.Unlock()
		}
		received.Add(1)
	}))
	defer rcv.Close()
	hole := blackholeURL(b)
	ids, metrics := benchAlarms(b, h.store, f, n, func(i int) []string {
		if i < dead {
			return []string{hole + "/dead"}
		}
		return []string{rcv.URL + "/hook"}
	})
	ncfg := notifier.DefaultConfig()
	ncfg.MaxAttempts = 1
	ncfg.QueueSize = 2 * n // the start-up burst: every alarm goes to ok at once
	nt, err := notifier.New(ncfg, notifier.Deps{History: h.store, Log: testLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	rec.next = nt
	e, err := New(quickConfig(), Deps{Store: h.store, Fetcher: f, Notifier: rec, NATS: h.bus.Conn(), Log: testLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_ = nt.Close(cctx)
		ccancel()
	}()
	// Start-up: every alarm goes to ok and the live ones call the hook.
	deadline := time.Now().Add(time.Minute)
	for received.Load() < int64(n-dead) {
		if time.Now().After(deadline) {
			b.Fatalf("start-up: %d of %d webhook calls after a minute", received.Load(), n-dead)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the start-up burst's history reach the store: the measurement is
	// of the steady state.
	for {
		hist, err := h.store.QueryHistory(context.Background(), &alarms.ComplexQuery{Filter: &alarms.Filter{Op: "=", Field: "type", Value: alarms.ChangeAction}})
		if err != nil {
			b.Fatal(err)
		}
		if len(hist) >= n-dead || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	const batch = 100
	value := make([]float64, n)
	for i := range value {
		value[i] = 10
	}
	b.ResetTimer()
	next := 0
	for round := 0; round < max(b.N, 20); round++ {
		series := make([]alarms.UpdatedSeries, 0, batch)
		now := time.Now()
		mu.Lock()
		for range batch {
			i := next % n
			next++
			series = append(series, alarms.UpdatedSeries{MetricID: metrics[i]})
			if (next/n+i)%flipEvery != 0 {
				continue // announced, evaluated, unchanged
			}
			value[i] = 100 - value[i] + 10 // 10 ↔ 100
			f.set(metrics[i], value[i])
			if i >= dead {
				sentAt[ids[i]] = now
			}
		}
		mu.Unlock()
		h.announce(round%16, series...)
		// 100 rounds cover the 10,000 alarms in 1 s: no alarm is flipped
		// twice within its granularity step.
		time.Sleep(10 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		pending := len(sentAt)
		mu.Unlock()
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(sentAt) > 0 {
		b.Errorf("%d alarms never called their webhook", len(sentAt))
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no latency measured")
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	if len(toNotify) > 0 {
		slices.Sort(toNotify)
		b.ReportMetric(float64(toNotify[int(0.99*float64(len(toNotify)-1))].Microseconds())/1000, "p99-to-notifier-ms")
	}
	b.ReportMetric(float64(len(lat)), "alarms-measured")
}

// recordingNotifier notes when each alarm's notification leaves the
// evaluator, to split the latency between evaluation and delivery.
type recordingNotifier struct {
	next Notifier
	mu   sync.Mutex
	at   map[string]time.Time
}

func (r *recordingNotifier) Notify(n *alarms.Notification) {
	r.mu.Lock()
	r.at[n.AlarmID] = time.Now()
	r.mu.Unlock()
	r.next.Notify(n)
}

func (r *recordingNotifier) take(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[id]
	delete(r.at, id)
	return t, ok
}

// blackholeURL is a webhook that accepts connections and never answers.
func blackholeURL(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String()
}
