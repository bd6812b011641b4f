package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/alarms/notifier"
	"github.com/vigil-telemetry/vigil/alarms/store"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// openBus starts an embedded NATS server with JetStream.
func openBus(t testing.TB) *bus.Bus {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.DrainTimeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, testLog(t))
	if err != nil {
		t.Fatalf("bus.Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "alarms.db"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// receiver is a webhook endpoint recording what it gets.
type receiver struct {
	srv *httptest.Server
	ch  chan hook
}

type hook struct {
	at   time.Time
	path string
	body map[string]any
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{ch: make(chan hook, 100000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(req.Body).Decode(&body)
		r.ch <- hook{at: time.Now(), path: req.URL.Path, body: body}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) wait(t testing.TB, d time.Duration) hook {
	t.Helper()
	select {
	case h := <-r.ch:
		return h
	case <-time.After(d):
		t.Fatalf("no webhook call within %v", d)
	}
	return hook{}
}

func (r *receiver) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case h := <-r.ch:
		t.Fatalf("unexpected webhook call: %v", h.body)
	case <-time.After(d):
	}
}

type harness struct {
	t     testing.TB
	bus   *bus.Bus
	store *store.Store
	f     *memFetcher
	n     *notifier.Notifier
	e     *Evaluator
	stop  func()
}

func newHarness(t testing.TB, cfg Config, withNATS bool) *harness {
	t.Helper()
	h := &harness{t: t, store: openStore(t), f: newMemFetcher()}
	var nc *nats.Conn
	if withNATS {
		h.bus = openBus(t)
		nc = h.bus.Conn()
	}
	ncfg := notifier.DefaultConfig()
	ncfg.BackoffBase, ncfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	n, err := notifier.New(ncfg, notifier.Deps{History: h.store, NATS: nc, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	h.n = n
	d := Deps{Store: h.store, Fetcher: h.f, Notifier: n, NATS: nc, Log: testLog(t)}
	if withNATS {
		d.JetStream = h.bus.JetStream()
	}
	e, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = h.n.Close(cctx)
	}
	h.t.Cleanup(func() {
		if h.stop != nil {
			h.stop()
			h.stop = nil
		}
	})
}

func (h *harness) create(typ, ruleJSON string, mod func(a *alarms.Alarm)) *alarms.Alarm {
	h.t.Helper()
	r, err := alarms.ParseRule(typ, json.RawMessage(ruleJSON), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	now := time.Now().UTC()
	a := &alarms.Alarm{ID: uuid.NewString(), Name: "alarm-" + uuid.NewString()[:8], Type: typ, Enabled: true,
		State: alarms.StateInsufficient, StateReason: alarms.ReasonNotEvaluated, Severity: alarms.SeverityModerate,
		UserID: "u1", ProjectID: "p1", Timestamp: now, StateTimestamp: now, Rule: r}
	a.Description = alarms.DefaultDescription(typ, r)
	if mod != nil {
		mod(a)
	}
	d, _ := json.Marshal(a.StorageMap())
	if err := h.store.Create(context.Background(), a, alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeCreation, Detail: d, Timestamp: now}, store.Unlimited); err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) announce(p int, series ...alarms.UpdatedSeries) {
	h.t.Helper()
	b := alarms.AppendUpdate(nil, &alarms.Update{Version: alarms.UpdateVersion, Series: series})
	if err := h.bus.Conn().Publish(alarms.UpdatesSubject("vigil", p), b); err != nil {
		h.t.Fatal(err)
	}
}

// waitState waits until the store shows the alarm in a state.
func (h *harness) waitState(id string, want alarms.State, d time.Duration) *alarms.Alarm {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		a, err := h.store.Get(context.Background(), id, "")
		if err != nil {
			h.t.Fatal(err)
		}
		if a.State == want {
			return a
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("alarm %s is %q (%s) after %v, want %q", id, a.State, a.StateReason, d, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quickConfig() Config {
	cfg := DefaultConfig()
	cfg.SweepInterval = time.Hour
	return cfg
}

// TestEndToEnd: points appear in the store, ingest announces them on NATS,
// and the webhook receives Aodh's body within a second.
func TestEndToEnd(t *testing.T) {
	h := newHarness(t, quickConfig(), true)
	rcv := newReceiver(t)
	rid := uuid.NewString()
	a := h.create(alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "`+rid+`", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "evaluation_periods": 2, "granularity": 1}`,
		func(a *alarms.Alarm) {
			a.AlarmActions = []string{rcv.srv.URL + "/scale-up"}
			a.OKActions = []string{rcv.srv.URL + "/scale-down"}
		})
	h.f.set(resKey(rid, "cpu"), time.Second, time.Now(), 10, 12)
	h.start()
	got := rcv.wait(t, 5*time.Second)
	if got.path != "/scale-down" || got.body["current"] != "ok" || got.body["previous"] != "insufficient data" {
		t.Fatalf("first evaluation: %s %v", got.path, got.body)
	}
	h.waitState(a.ID, alarms.StateOK, time.Second)

	time.Sleep(time.Second) // into the next granularity step
	h.f.set(resKey(rid, "cpu"), time.Second, time.Now(), 90, 95)
	sent := time.Now()
	h.announce(3, alarms.UpdatedSeries{MetricID: uuid.NewString(), ResourceID: rid, ResourceType: "instance", Name: "cpu"})
	got = rcv.wait(t, time.Second)
	if lat := got.at.Sub(sent); lat > time.Second {
		t.Errorf("announcement to webhook took %v", lat)
	}
	want := map[string]any{"alarm_name": a.Name, "alarm_id": a.ID, "severity": "moderate", "previous": "ok", "current": "alarm",
		"reason":      "Transition to alarm due to 2 samples outside threshold, most recent: 95.0",
		"reason_data": map[string]any{"type": "threshold", "disposition": "outside", "count": 2.0, "most_recent": 95.0}}
	gb, _ := json.Marshal(got.body)
	wb, _ := json.Marshal(want)
	if got.path != "/scale-up" || string(gb) != string(wb) {
		t.Errorf("webhook %s body:\n got %s\nwant %s", got.path, gb, wb)
	}
	stored := h.waitState(a.ID, alarms.StateAlarm, time.Second)
	if stored.StateReason != want["reason"] {
		t.Errorf("stored reason %q", stored.StateReason)
	}
	hist, _ := h.store.History(context.Background(), a.ID, store.HistoryOptions{Type: ptr(alarms.ChangeStateTransition)})
	if len(hist) != 2 {
		t.Fatalf("%d state transitions in the history, want 2", len(hist))
	}
	var detail map[string]any
	_ = json.Unmarshal(hist[0].Detail, &detail)
	if detail["state"] != "alarm" || detail["transition_reason"] != want["reason"] || hist[0].OnBehalfOf != "p1" ||
		detail["reason_data"].(map[string]any)["most_recent"] != 95.0 {
		t.Errorf("history entry %s on behalf of %q", hist[0].Detail, hist[0].OnBehalfOf)
	}
	// An announcement of an unrelated series triggers nothing.
	h.f.set(resKey(rid, "cpu"), time.Second, time.Now(), 1, 1)
	time.Sleep(1100 * time.Millisecond)
	h.announce(0, alarms.UpdatedSeries{MetricID: uuid.NewString(), ResourceID: uuid.NewString(), Name: "cpu"})
	rcv.none(t, 300*time.Millisecond)
}

func ptr[T any](v T) *T { return &v }

// TestExpressionTwoMetrics: an expression alarm over two metrics fires
// when either one's announcement makes it true.
func TestExpressionTwoMetrics(t *testing.T) {
	h := newHarness(t, quickConfig(), true)
	rcv := newReceiver(t)
	m1, m2 := uuid.NewString(), uuid.NewString()
	a := h.create(alarms.TypeExpression, `{"expression": "rx.mean + tx.mean > 1000 && rx.last > 0",
		"queries": {"rx": {"metrics": ["`+m1+`"], "aggregation_method": "mean", "granularity": 1},
		            "tx": {"metrics": ["`+m2+`"], "aggregation_method": "mean", "granularity": 1}}}`,
		func(a *alarms.Alarm) { a.AlarmActions = []string{rcv.srv.URL + "/net"} })
	h.f.set("metrics:"+m1, time.Second, time.Now(), 100)
	h.f.set("metrics:"+m2, time.Second, time.Now(), 100)
	h.start()
	h.waitState(a.ID, alarms.StateOK, 5*time.Second)
	time.Sleep(time.Second)
	h.f.set("metrics:"+m2, time.Second, time.Now(), 950)
	h.announce(5, alarms.UpdatedSeries{MetricID: m2})
	got := rcv.wait(t, time.Second)
	if got.body["current"] != "alarm" || got.body["reason"] != "Transition to alarm due to expression rx.mean + tx.mean > 1000 && rx.last > 0 evaluating to true" {
		t.Errorf("expression webhook: %v", got.body)
	}
	rd := got.body["reason_data"].(map[string]any)
	if rd["type"] != "expression" || rd["values"].(map[string]any)["tx"].(map[string]any)["last"] != 950.0 {
		t.Errorf("reason_data %v", rd)
	}
}

// TestEventAlarm: an event on vigil.events.<type> fires a matching event
// alarm of its project.
func TestEventAlarm(t *testing.T) {
	h := newHarness(t, quickConfig(), true)
	rcv := newReceiver(t)
	a := h.create(alarms.TypeEvent, `{"event_type": "compute.instance.*", "query": [{"field": "traits.state", "op": "eq", "value": "error", "type": "string"}]}`,
		func(a *alarms.Alarm) { a.AlarmActions = []string{rcv.srv.URL + "/heal"} })
	other := h.create(alarms.TypeEvent, `{"event_type": "compute.instance.*"}`, func(a *alarms.Alarm) {
		a.ProjectID = "p2"
		a.AlarmActions = []string{rcv.srv.URL + "/other"}
	})
	h.start()
	pub := func(typ, state string) {
		ev, _ := json.Marshal(map[string]any{"message_id": uuid.NewString(), "event_type": typ, "generated": "2026-06-01T12:00:00",
			"traits": []map[string]any{{"name": "state", "type": "string", "value": state}, {"name": "project_id", "type": "string", "value": "p1"}}})
		if err := h.bus.Conn().Publish(alarms.EventsSubject("vigil", typ), ev); err != nil {
			t.Fatal(err)
		}
	}
	pub("compute.instance.update", "active")
	rcv.none(t, 200*time.Millisecond)
	pub("compute.instance.update", "error")
	got := rcv.wait(t, time.Second)
	if got.path != "/heal" || got.body["current"] != "alarm" || got.body["reason_data"].(map[string]any)["type"] != "event" {
		t.Errorf("event webhook %s %v", got.path, got.body)
	}
	h.waitState(a.ID, alarms.StateAlarm, time.Second)
	// Fired and no repeat_actions: a second matching event does nothing.
	pub("compute.instance.update", "error")
	rcv.none(t, 200*time.Millisecond)
	if st, _ := h.e.State(other.ID); st != alarms.StateInsufficient {
		t.Errorf("another project's event alarm is %q", st)
	}
}

// TestRateLimit: announcements within one granularity step evaluate an
// alarm once, and the last is evaluated at the next step.
func TestRateLimit(t *testing.T) {
	h := newHarness(t, quickConfig(), false)
	a := h.create(alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 2}`, nil)
	h.f.set(resKey("r1", "cpu"), 2*time.Second, time.Now(), 1)
	h.start()
	h.waitState(a.ID, alarms.StateOK, 5*time.Second)
	// Wait for the start of a step, then announce five times.
	time.Sleep(time.Until(time.Now().Truncate(2 * time.Second).Add(2*time.Second + 50*time.Millisecond)))
	before := h.f.calls.Load()
	h.f.set(resKey("r1", "cpu"), 2*time.Second, time.Now(), 90)
	for range 5 {
		h.e.SeriesUpdated(&alarms.Update{Version: 1, Series: []alarms.UpdatedSeries{{ResourceID: "r1", Name: "cpu"}}})
		time.Sleep(100 * time.Millisecond)
	}
	during := h.f.calls.Load() - before
	if during != 1 {
		t.Errorf("%d evaluations within one step, want 1", during)
	}
	h.waitState(a.ID, alarms.StateAlarm, 3*time.Second)
	time.Sleep(2100 * time.Millisecond)
	after := h.f.calls.Load() - before
	if after != 2 {
		t.Errorf("%d evaluations over two steps, want 2 (one deferred to the next step)", after)
	}
}

// TestSweepCatchesSilence: with no announcement at all, the sweep turns an
// alarm whose data stopped into insufficient data.
func TestSweepCatchesSilence(t *testing.T) {
	cfg := quickConfig()
	cfg.SweepInterval = time.Second
	h := newHarness(t, cfg, false)
	rcv := newReceiver(t)
	a := h.create(alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 1}`,
		func(a *alarms.Alarm) { a.InsufficientDataActions = []string{rcv.srv.URL + "/silence"} })
	h.f.setConst(resKey("r1", "cpu"), time.Second, 1)
	h.start()
	h.waitState(a.ID, alarms.StateOK, 5*time.Second)
	h.f.set(resKey("r1", "cpu"), time.Second, time.Now().Add(-time.Hour), 1)
	got := rcv.wait(t, 5*time.Second)
	if got.body["current"] != "insufficient data" || got.body["reason"] != "No datapoint for granularity 1" {
		t.Errorf("silence: %v", got.body)
	}
}

// TestRepeatActions: with repeat_actions the actions run on every
// evaluation while the state holds.
func TestRepeatActions(t *testing.T) {
	h := newHarness(t, quickConfig(), false)
	rcv := newReceiver(t)
	a := h.create(alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 1}`,
		func(a *alarms.Alarm) { a.AlarmActions = []string{rcv.srv.URL + "/a"}; a.RepeatActions = true })
	h.f.setConst(resKey("r1", "cpu"), time.Second, 99)
	h.start()
	first := rcv.wait(t, 5*time.Second)
	if first.body["previous"] != "insufficient data" {
		t.Errorf("first: %v", first.body)
	}
	for range 2 {
		time.Sleep(1100 * time.Millisecond)
		h.e.SeriesUpdated(&alarms.Update{Version: 1, Series: []alarms.UpdatedSeries{{ResourceID: "r1", Name: "cpu"}}})
		got := rcv.wait(t, time.Second)
		if got.body["previous"] != "alarm" || got.body["reason"] != "Remaining as alarm due to 1 samples outside threshold, most recent: 99.0" {
			t.Errorf("repeat: %v", got.body)
		}
	}
	hist, _ := h.store.History(context.Background(), a.ID, store.HistoryOptions{Type: ptr(alarms.ChangeStateTransition)})
	if len(hist) != 1 {
		t.Errorf("%d state transitions stored, want 1 (repeats only notify)", len(hist))
	}
}

// TestAlarmChanged: the API's changes reach the evaluator over NATS.
func TestAlarmChanged(t *testing.T) {
	h := newHarness(t, quickConfig(), true)
	rcv := newReceiver(t)
	h.start()
	h.f.setConst(resKey("r9", "cpu"), time.Second, 99)
	a := h.create(alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "r9", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 1}`,
		func(a *alarms.Alarm) { a.AlarmActions = []string{rcv.srv.URL + "/a"} })
	Announcer{NC: h.bus.Conn(), Prefix: "vigil"}.AlarmChanged(context.Background(), a.ID)
	rcv.wait(t, time.Second)
	// Disabled through the API: no longer evaluated.
	a = h.waitState(a.ID, alarms.StateAlarm, time.Second)
	a.Enabled = false
	if err := h.store.Update(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	h.e.AlarmChanged(context.Background(), a.ID)
	deadline := time.Now().Add(time.Second)
	for {
		if _, ok := h.e.State(a.ID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("disabled alarm still evaluated")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTimeConstraintSkips: outside its window an alarm is not evaluated.
func TestTimeConstraintSkips(t *testing.T) {
	h := newHarness(t, quickConfig(), false)
	now := time.Now().UTC()
	start := now.Add(3 * time.Hour)
	tcs, err := alarms.ParseTimeConstraints(json.RawMessage(fmt.Sprintf(`[{"name": "later", "start": "%d %d * * *", "duration": 60}]`, start.Minute(), start.Hour())))
	if err != nil {
		t.Fatal(err)
	}
	a := h.create(alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 1}`,
		func(a *alarms.Alarm) { a.TimeConstraints = tcs })
	h.f.setConst(resKey("r1", "cpu"), time.Second, 99)
	h.start()
	time.Sleep(300 * time.Millisecond)
	if st, _ := h.e.State(a.ID); st != alarms.StateInsufficient {
		t.Errorf("alarm outside its time constraint became %q", st)
	}
}

// TestLeases: two evaluators split the partitions, and one takes all when
// the other stops.
func TestLeases(t *testing.T) {
	b := openBus(t)
	st := openStore(t)
	f := newMemFetcher()
	mk := func(owner string) (*Evaluator, context.CancelFunc, chan error) {
		cfg := quickConfig()
		cfg.Leases = true
		cfg.Owner = owner
		cfg.LeaseTTL = 2 * time.Second
		cfg.LeaseRenew = 200 * time.Millisecond
		n, _ := notifier.New(notifier.DefaultConfig(), notifier.Deps{})
		e, err := New(cfg, Deps{Store: st, Fetcher: f, Notifier: n, NATS: b.Conn(), JetStream: b.JetStream(), Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		return e, cancel, done
	}
	e1, stop1, done1 := mk("eval-1")
	e2, stop2, done2 := mk("eval-2")
	defer func() { stop2(); <-done2 }()
	waitFor(t, 10*time.Second, func() bool {
		o1, o2 := e1.Owned(), e2.Owned()
		all := append(append([]int(nil), o1...), o2...)
		slices.Sort(all)
		return len(o1) == 8 && len(o2) == 8 && len(slices.Compact(all)) == 16
	}, func() string { return fmt.Sprintf("owned %v and %v", e1.Owned(), e2.Owned()) })
	stop1()
	<-done1
	waitFor(t, 10*time.Second, func() bool { return len(e2.Owned()) == 16 },
		func() string { return fmt.Sprintf("after eval-1 stopped eval-2 owns %v", e2.Owned()) })
}

func waitFor(t testing.TB, d time.Duration, ok func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManyAlarmsOneAnnouncement: one announcement naming many series
// triggers exactly their alarms.
func TestManyAlarmsOneAnnouncement(t *testing.T) {
	h := newHarness(t, quickConfig(), true)
	rcv := newReceiver(t)
	var ids, metrics []string
	var series []alarms.UpdatedSeries
	for i := range 50 {
		m := uuid.NewString()
		metrics = append(metrics, m)
		a := h.create(alarms.TypeAggregationByMetrics, `{"metrics": ["`+m+`"], "aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "granularity": 1}`,
			func(a *alarms.Alarm) { a.AlarmActions = []string{rcv.srv.URL + "/a"} })
		h.f.setConst("metrics:"+m, time.Second, 1)
		ids = append(ids, a.ID)
		if i%2 == 0 {
			series = append(series, alarms.UpdatedSeries{MetricID: m})
		}
	}
	h.start()
	for _, id := range ids {
		h.waitState(id, alarms.StateOK, 5*time.Second)
	}
	time.Sleep(1100 * time.Millisecond)
	// Every alarm's data breaches now, but only the even ones' is announced.
	for _, m := range metrics {
		h.f.setConst("metrics:"+m, time.Second, 99)
	}
	h.announce(1, series...)
	got := map[string]bool{}
	for range len(series) {
		hk := rcv.wait(t, 2*time.Second)
		got[hk.body["alarm_id"].(string)] = true
	}
	rcv.none(t, 200*time.Millisecond)
	for i, id := range ids {
		if got[id] != (i%2 == 0) {
			t.Errorf("alarm %d fired %v", i, got[id])
		}
	}
}
