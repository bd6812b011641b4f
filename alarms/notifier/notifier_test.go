package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/alarms/store"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "alarms.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Timeout = 2 * time.Second
	cfg.BackoffBase = 10 * time.Millisecond
	cfg.BackoffMax = 50 * time.Millisecond
	return cfg
}

func newNotifier(t testing.TB, cfg Config, d Deps) *Notifier {
	t.Helper()
	n, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func note(id string, actions ...string) *alarms.Notification {
	return &alarms.Notification{Actions: actions, AlarmID: id, AlarmName: "cpu-high", Severity: "critical",
		Previous: alarms.StateOK, Current: alarms.StateAlarm,
		Reason:     "Transition to alarm due to 3 samples outside threshold, most recent: 94.0",
		ReasonData: json.RawMessage(`{"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 94.0}`),
		ProjectID:  "p1", At: time.Now()}
}

// attempts waits for n action entries of an alarm in the history.
func attempts(t testing.TB, s *store.Store, alarmID string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := s.History(context.Background(), alarmID, store.HistoryOptions{Type: ptr(alarms.ChangeAction), Sort: []alarms.Order{{Field: "timestamp"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) >= n || time.Now().After(deadline) {
			var out []map[string]any
			for _, c := range h {
				var d map[string]any
				_ = json.Unmarshal(c.Detail, &d)
				out = append(out, d)
			}
			if len(out) != n {
				t.Fatalf("%d action entries for %s, want %d: %v", len(out), alarmID, n, out)
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

var requestID = regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// heat plays Heat's side of a scaling policy signal: it reads the alarm
// state from the body as Heat's handler does and scales on "alarm" only.
type heat struct {
	t       testing.TB
	scaled  atomic.Int32
	ignored atomic.Int32
	bodies  chan map[string]any
}

func (h *heat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || !requestID.MatchString(r.Header.Get("X-Openstack-Request-Id")) {
		h.t.Errorf("signal request: %s, content-type %q, request id %q", r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Openstack-Request-Id"))
	}
	var details map[string]any
	if err := json.NewDecoder(r.Body).Decode(&details); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.bodies <- details
	state, _ := details["current"].(string)
	if state == "" {
		state, _ = details["state"].(string)
	}
	if strings.ToLower(state) == "alarm" {
		h.scaled.Add(1)
	} else {
		h.ignored.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

func TestHeatSignal(t *testing.T) {
	s := openStore(t)
	h := &heat{t: t, bodies: make(chan map[string]any, 4)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	n := newNotifier(t, testConfig(), Deps{History: s})
	// Heat's pre-signed alarm_url: a plain URL whose query must be kept.
	signal := srv.URL + "/v1/signal/arn%3Aopenstack%3Aheat%3A%3At%3Astacks%2Fs%2Fid%2Fresources%2Fup?Timestamp=2026-06-01T12%3A00%3A00Z&SignatureMethod=HmacSHA256&AWSAccessKeyId=k&SignatureVersion=2&Signature=sig"
	n.Notify(note("a1", signal))
	select {
	case body := <-h.bodies:
		want := map[string]any{"alarm_name": "cpu-high", "alarm_id": "a1", "severity": "critical", "previous": "ok", "current": "alarm",
			"reason":      "Transition to alarm due to 3 samples outside threshold, most recent: 94.0",
			"reason_data": map[string]any{"type": "threshold", "disposition": "outside", "count": 3.0, "most_recent": 94.0}}
		gb, _ := json.Marshal(body)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("signal body:\n got %s\nwant %s", gb, wb)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Heat got no signal")
	}
	ok := note("a1", signal)
	ok.Previous, ok.Current = alarms.StateAlarm, alarms.StateOK
	n.Notify(ok)
	<-h.bodies
	got := attempts(t, s, "a1", 2)
	if h.scaled.Load() != 1 || h.ignored.Load() != 1 {
		t.Errorf("Heat scaled %d times and ignored %d signals, want 1 and 1", h.scaled.Load(), h.ignored.Load())
	}
	if got[0]["outcome"] != "delivered" || got[0]["status"] != 200.0 || got[0]["attempt"] != 1.0 || !strings.HasPrefix(got[0]["action"].(string), srv.URL) {
		t.Errorf("history of the signal: %v", got[0])
	}
}

func TestRetries(t *testing.T) {
	s := openStore(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky":
			if calls.Add(1) <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	n := newNotifier(t, testConfig(), Deps{History: s})
	n.Notify(note("flaky", srv.URL+"/flaky"))
	got := attempts(t, s, "flaky", 3)
	for i, want := range []string{"retrying", "retrying", "delivered"} {
		if got[i]["outcome"] != want || got[i]["attempt"] != float64(i+1) {
			t.Errorf("attempt %d: %v, want %s", i+1, got[i], want)
		}
	}
	if got[0]["status"] != 503.0 || got[0]["error"] != "target answered 503 Service Unavailable" {
		t.Errorf("first attempt: %v", got[0])
	}
	n.Notify(note("gone", srv.URL+"/gone"))
	got = attempts(t, s, "gone", 1)
	if got[0]["outcome"] != "failed" || got[0]["status"] != 404.0 {
		t.Errorf("a 404 is not retried: %v", got[0])
	}
	// A refused connection is retried, then given up.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	n.Notify(note("refused", "http://"+addr+"/x"))
	got = attempts(t, s, "refused", 3)
	if got[2]["outcome"] != "failed" || !strings.Contains(got[2]["error"].(string), "refused") {
		t.Errorf("refused connection: %v", got[2])
	}
}

// blackhole accepts connections and never answers.
func blackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String()
}

// TestDeadTargetIsolation: a target that never answers, with a full queue,
// costs another target nothing.
func TestDeadTargetIsolation(t *testing.T) {
	s := openStore(t)
	dead := blackhole(t)
	got := make(chan time.Time, 100)
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- time.Now() }))
	defer live.Close()
	cfg := testConfig()
	cfg.Timeout = 500 * time.Millisecond
	cfg.MaxAttempts = 2
	cfg.QueueSize = 10
	cfg.WorkersPerTarget = 2
	n := newNotifier(t, cfg, Deps{History: s})
	for i := range 50 {
		n.Notify(note("dead"+string(rune('a'+i%26)), dead+"/hook"))
	}
	for range 20 {
		start := time.Now()
		n.Notify(note("live", live.URL+"/hook"))
		select {
		case at := <-got:
			if d := at.Sub(start); d > 200*time.Millisecond {
				t.Errorf("live target took %v behind a dead one", d)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("live target got nothing")
		}
	}
	// The dead target's overflow is recorded as dropped.
	h, _ := s.QueryHistory(context.Background(), &alarms.ComplexQuery{Filter: &alarms.Filter{Op: "=~", Field: "detail", Value: `"outcome":"dropped"`}})
	if len(h) < 30 {
		t.Errorf("%d dropped deliveries recorded, want at least 30", len(h))
	}
}

func TestTimeout(t *testing.T) {
	s := openStore(t)
	cfg := testConfig()
	cfg.Timeout = 200 * time.Millisecond
	cfg.MaxAttempts = 2
	n := newNotifier(t, cfg, Deps{History: s})
	n.Notify(note("slow", blackhole(t)+"/hook"))
	got := attempts(t, s, "slow", 2)
	if got[1]["outcome"] != "failed" || !strings.Contains(got[1]["error"].(string), "deadline exceeded") {
		t.Errorf("timeout: %v", got[1])
	}
}

// keystone is a Keystone that issues trust-scoped tokens.
type keystone struct {
	t      testing.TB
	issued atomic.Int32
	trusts atomic.Int32
	next   atomic.Int32
}

func (k *keystone) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v3/auth/tokens":
		var body struct {
			Auth struct {
				Identity struct {
					Methods  []string `json:"methods"`
					Password struct {
						User struct {
							Name     string `json:"name"`
							Password string `json:"password"`
						} `json:"user"`
					} `json:"password"`
				} `json:"identity"`
				Scope map[string]map[string]string `json:"scope"`
			} `json:"auth"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Auth.Identity.Password.User.Name != "aodh" || body.Auth.Identity.Password.User.Password != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		trust := body.Auth.Scope["OS-TRUST:trust"]["id"]
		k.issued.Add(1)
		tok := "tok-" + trust + "-" + string(rune('0'+k.next.Add(1)))
		w.Header().Set("X-Subject-Token", tok)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "user": map[string]any{"id": "aodh-user-id"}}})
	case r.Method == http.MethodPost && r.URL.Path == "/v3/OS-TRUST/trusts":
		if r.Header.Get("X-Auth-Token") != "caller-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body map[string]map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["trust"]["trustee_user_id"] != "aodh-user-id" || body["trust"]["impersonation"] != true {
			k.t.Errorf("trust request %v", body)
		}
		k.trusts.Add(1)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"trust": map[string]any{"id": "trust-1"}})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v3/OS-TRUST/trusts/"):
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func TestTrust(t *testing.T) {
	s := openStore(t)
	ks := &keystone{t: t}
	ksrv := httptest.NewServer(ks)
	defer ksrv.Close()
	var tokens []string
	var mu sync.Mutex
	reject := atomic.Bool{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.Header.Get("X-Auth-Token"))
		mu.Unlock()
		if reject.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer target.Close()
	cfg := testConfig()
	cfg.Keystone = KeystoneConfig{URL: ksrv.URL, Username: "aodh", Password: "secret"}
	n := newNotifier(t, cfg, Deps{History: s})
	action := "trust+" + strings.Replace(target.URL, "http://", "http://trust-1:delete@", 1) + "/v1/tenant/stacks/s/id/resources/policy/signal"
	n.Notify(note("t1", action))
	attempts(t, s, "t1", 1)
	n.Notify(note("t2", action))
	got := attempts(t, s, "t2", 1)
	if ks.issued.Load() != 1 {
		t.Errorf("keystone issued %d tokens for two deliveries, want 1 (cached)", ks.issued.Load())
	}
	if got[0]["action"] != "trust+"+target.URL+"/v1/tenant/stacks/s/id/resources/policy/signal" {
		t.Errorf("history shows the trust id: %v", got[0]["action"])
	}
	// A refused token is dropped and a new one fetched for the retry.
	reject.Store(true)
	n.Notify(note("t3", action))
	got = attempts(t, s, "t3", 2)
	if got[0]["status"] != 401.0 || got[1]["outcome"] != "delivered" || ks.issued.Load() != 2 {
		t.Errorf("after a 401: %v, %d tokens issued", got, ks.issued.Load())
	}
	mu.Lock()
	if len(tokens) != 4 || tokens[0] != "tok-trust-1-1" || tokens[3] != "tok-trust-1-2" {
		t.Errorf("tokens seen by the target: %v", tokens)
	}
	mu.Unlock()

	k := n.Keystone()
	id, err := k.CreateTrust(context.Background(), "caller-token", "u1", "p1", []string{"member"})
	if err != nil || id != "trust-1" {
		t.Errorf("CreateTrust = %q, %v", id, err)
	}
	if err := k.DeleteTrust(context.Background(), "", id); err != nil {
		t.Errorf("DeleteTrust: %v", err)
	}
	bad := NewKeystone(KeystoneConfig{URL: ksrv.URL + "/v3", Username: "aodh", Password: "wrong"}, nil)
	if _, err := bad.Token(context.Background(), "trust-1"); err == nil {
		t.Errorf("wrong password accepted")
	}
}

func TestTLSVerification(t *testing.T) {
	s := openStore(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	n := newNotifier(t, testConfig(), Deps{History: s})
	n.Notify(note("tls-default", srv.URL+"/hook"))
	got := attempts(t, s, "tls-default", 1)
	if got[0]["outcome"] != "failed" || !strings.Contains(got[0]["error"].(string), "certificate") {
		t.Errorf("self-signed certificate accepted by default: %v", got[0])
	}
	n.Notify(note("tls-off", srv.URL+"/hook?aodh-alarm-ssl-verify=0"))
	if got := attempts(t, s, "tls-off", 1); got[0]["outcome"] != "delivered" {
		t.Errorf("aodh-alarm-ssl-verify=0: %v", got[0])
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.CAFile = ca
	n2 := newNotifier(t, cfg, Deps{History: s})
	n2.Notify(note("tls-ca", srv.URL+"/hook"))
	if got := attempts(t, s, "tls-ca", 1); got[0]["outcome"] != "delivered" {
		t.Errorf("with the CA bundle: %v", got[0])
	}
}

type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

func TestLogAndNATS(t *testing.T) {
	s := openStore(t)
	cfg := bus.DefaultConfig()
	cfg.DataDir = t.TempDir()
	b, err := bus.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sub, err := b.Conn().SubscribeSync("alarm.hook")
	if err != nil {
		t.Fatal(err)
	}
	lc := &logCapture{}
	n := newNotifier(t, testConfig(), Deps{History: s, NATS: b.Conn(), Log: slog.New(lc)})
	n.Notify(note("a1", "log://", "nats://alarm.hook"))
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, note("a1").Body()) || !requestID.MatchString(m.Header.Get("X-Openstack-Request-Id")) {
		t.Errorf("nats action message %s %v", m.Data, m.Header)
	}
	attempts(t, s, "a1", 2)
	want := "Notifying alarm cpu-high a1 of critical priority from ok to alarm with action log: because Transition to alarm due to 3 samples outside threshold, most recent: 94.0."
	lc.mu.Lock()
	defer lc.mu.Unlock()
	found := false
	for _, l := range lc.lines {
		found = found || l == want
	}
	if !found {
		t.Errorf("log action wrote %q", lc.lines)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxAttempts = 0
	cfg.QueueSize = 0
	cfg.CertFile = "x"
	err := cfg.Validate()
	for _, key := range []string{"max_attempts", "queue_size", "cert_file"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not name %s: %v", key, err)
		}
	}
}

// TestCloseAbandons: Close waits for deliveries only as long as its
// context allows, then fails those in flight and drops the rest.
func TestCloseAbandons(t *testing.T) {
	s := openStore(t)
	cfg := testConfig()
	cfg.Timeout = time.Minute
	n, err := New(cfg, Deps{History: s})
	if err != nil {
		t.Fatal(err)
	}
	dead := blackhole(t)
	for range 20 {
		n.Notify(note("stuck", dead+"/hook"))
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := n.Close(ctx); err == nil {
		t.Errorf("Close with stuck deliveries returned nil")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	got := attempts(t, s, "stuck", 20)
	dropped := 0
	for _, a := range got {
		if a["outcome"] == "dropped" {
			dropped++
		}
	}
	if dropped < 16 {
		t.Errorf("%d of 20 stuck deliveries recorded as dropped", dropped)
	}
	n.Notify(note("late", dead+"/hook")) // after Close: recorded as dropped, no panic
}
