package app

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/vigil-telemetry/vigil/agents/notify"
	"github.com/vigil-telemetry/vigil/cmd/vigil/config"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
)

const (
	natsURL = "nats://127.0.0.1:4222"
	pgURL   = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// testConfig is the embedded default with a fast host poller, noauth and
// a free port.
func testConfig(t *testing.T, dataDir string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.AuthMode = "noauth"
	cfg.Agents.Host.Interval = config.Duration(time.Second)
	cfg.Processor.ID = "test-" + strconv.Itoa(rand.IntN(1e9))
	return cfg
}

// prepareIndex gives hardware meters a policy fine enough to see several
// points within a test: 1 s for an hour, with mean, min, max and count.
func prepareIndex(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	idx, err := index.Open(ctx, url, index.Options{})
	if err != nil {
		t.Fatalf("open index %s: %v", url, err)
	}
	defer idx.Close()
	p := archive.Policy{
		Name:        "test-1s",
		Methods:     []archive.Method{{Kind: archive.Mean}, {Kind: archive.Min}, {Kind: archive.Max}, {Kind: archive.Count}},
		Definitions: []archive.Definition{{Granularity: time.Second, Points: 3600}, {Granularity: time.Minute, Points: 60}},
	}
	if err := idx.CreateArchivePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateArchivePolicyRule(ctx, archive.Rule{Name: "hardware", MetricPattern: "hardware.*", PolicyName: "test-1s"}); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, cfg config.Config) *App {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := Start(context.Background(), cfg, All, log)
	if err != nil {
		t.Fatalf("start vigil all: %v", err)
	}
	return a
}

func stop(t *testing.T, a *App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("stop took %v, want under 5 s", d)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func get(t *testing.T, a *App, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+path, nil)
	req.Header.Set("X-User-Id", "tester")
	req.Header.Set("X-Project-Id", "ops")
	req.Header.Set("X-Roles", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

// eventually retries f every 200 ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type measure struct {
	ts time.Time
	g  float64
	v  float64
}

func measures(t *testing.T, a *App, metricID, q string) []measure {
	t.Helper()
	var raw [][3]any
	if code := get(t, a, "/v1/metric/"+metricID+"/measures?"+q, &raw); code != http.StatusOK {
		t.Fatalf("measures of %s: status %d", metricID, code)
	}
	out := make([]measure, len(raw))
	for i, r := range raw {
		ts, err := time.Parse(time.RFC3339Nano, r[0].(string))
		if err != nil {
			t.Fatalf("measure timestamp %v: %v", r[0], err)
		}
		out[i] = measure{ts, r[1].(float64), r[2].(float64)}
	}
	return out
}

func metricID(t *testing.T, a *App, name string) (string, error) {
	var ms []map[string]any
	get(t, a, "/v1/metric?name="+name, &ms)
	if len(ms) == 0 {
		return "", fmt.Errorf("no metric %s yet", name)
	}
	return ms[0]["id"].(string), nil
}

func memTotalKB(t *testing.T) float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// checkHostPath waits for the host poller's samples to come out of the API
// and checks they are plausible.
func checkHostPath(t *testing.T, a *App) {
	t.Helper()
	host, _ := os.Hostname()
	eventually(t, 30*time.Second, "host resource listed", func() error {
		var rs []map[string]any
		if code := get(t, a, "/v1/resource/host", &rs); code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		for _, r := range rs {
			if r["host_name"] == host && r["original_resource_id"] == host {
				if ms, _ := r["metrics"].(map[string]any); len(ms) < 5 {
					return fmt.Errorf("host has %d metrics", len(ms))
				}
				return nil
			}
		}
		return fmt.Errorf("no host resource named %s in %v", host, rs)
	})
	var cpuID string
	eventually(t, 30*time.Second, "cpu utilisation measured 3 times", func() error {
		var err error
		if cpuID, err = metricID(t, a, "hardware.cpu.util"); err != nil {
			return err
		}
		if ms := measures(t, a, cpuID, "granularity=1"); len(ms) < 3 {
			return fmt.Errorf("%d measures", len(ms))
		}
		return nil
	})
	ms := measures(t, a, cpuID, "granularity=1")
	for i, m := range ms {
		if m.v < 0 || m.v > 100 {
			t.Errorf("cpu utilisation %v at %v is outside 0–100", m.v, m.ts)
		}
		if m.g != 1 {
			t.Errorf("granularity %v, want 1", m.g)
		}
		if i > 0 && !m.ts.After(ms[i-1].ts) {
			t.Errorf("timestamps not increasing: %v then %v", ms[i-1].ts, m.ts)
		}
	}
	if c := measures(t, a, cpuID, "granularity=1&aggregation=count"); len(c) == 0 || c[0].v != 1 {
		t.Errorf("count at 1 s = %v, want 1 per bucket", c)
	}
	if mx, mn := measures(t, a, cpuID, "granularity=60&aggregation=max"), measures(t, a, cpuID, "granularity=60&aggregation=min"); len(mx) == 0 || len(mn) == 0 || mx[0].v < mn[0].v {
		t.Errorf("max %v < min %v at 60 s", mx, mn)
	}
	usedID, err := metricID(t, a, "hardware.memory.used")
	if err != nil {
		t.Fatal(err)
	}
	total := memTotalKB(t)
	for _, m := range measures(t, a, usedID, "granularity=1") {
		if m.v <= 0 || m.v > total {
			t.Errorf("memory used %v KB is not within (0, %v]", m.v, total)
		}
	}
}

func TestAllEmbedded(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	prepareIndex(t, cfg.IndexURL())
	a := start(t, cfg)
	defer stop(t, a)
	checkHostPath(t, a)

	var health struct {
		Status string
		Parts  map[string]map[string]string
	}
	if code := get(t, a, "/healthz", &health); code != http.StatusOK || health.Status != "ok" {
		t.Errorf("healthz = %d %v", code, health)
	}
	if p := health.Parts["pollster.host"]; p["status"] != "up" {
		t.Errorf("healthz says the host pollster is %v, want up", p)
	}
	if p := health.Parts["pollster.libvirt"]; p["status"] != "off" || !strings.Contains(p["reason"], "agents.libvirt.enabled") {
		t.Errorf("healthz says the libvirt pollster is %v, want off naming agents.libvirt.enabled", p)
	}
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"vigil_ingest_measures_total", "vigil_http_request_duration_seconds_bucket", "process_resident_memory_bytes", `vigil_agent_samples_published_total`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The embedded server opens no TCP port: nothing may listen on 4222
	// because of us, and the data directory holds the JetStream store.
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("no JetStream store under the data directory: %v", err)
	}
}

func TestAllRestartKeepsMeasures(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	prepareIndex(t, cfg.IndexURL())
	a := start(t, cfg)
	checkHostPath(t, a)
	id, err := metricID(t, a, "hardware.cpu.util")
	if err != nil {
		t.Fatal(err)
	}
	before := measures(t, a, id, "granularity=1")
	stop(t, a)

	cfg.Agents.Host.Enabled = false
	b := start(t, cfg)
	defer stop(t, b)
	after := measures(t, b, id, "granularity=1")
	if len(after) < len(before) {
		t.Fatalf("after restart %d measures, before %d", len(after), len(before))
	}
	for i, m := range before {
		if after[i] != m {
			t.Errorf("measure %d changed across the restart: %v → %v", i, m, after[i])
		}
	}
}

func requireService(t *testing.T, addr, how string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("this test needs the service on %s (%v); %s", addr, err, how)
	}
	c.Close()
}

func TestAllExternalNATSAndPostgres(t *testing.T) {
	requireService(t, "127.0.0.1:4222", "start NATS with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log")
	requireService(t, "127.0.0.1:5432", "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
	suffix := strconv.Itoa(rand.IntN(1e9))
	schema := "vigil_app_" + suffix
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	defer func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	}()

	cfg := testConfig(t, t.TempDir())
	cfg.NATS.URL = natsURL
	cfg.NATS.SubjectPrefix = "vigiltest" + suffix
	cfg.NATS.StreamPrefix = "VIGILTEST" + suffix
	cfg.Index.URL = pgURL + "&search_path=" + schema
	prepareIndex(t, cfg.Index.URL)
	a := start(t, cfg)
	defer func() {
		stop(t, a)
		deleteStreams(t, cfg.NATS.StreamPrefix)
	}()
	checkHostPath(t, a)
}

// deleteStreams removes the streams and buckets a test made on the
// machine's NATS.
func deleteStreams(t *testing.T, prefix string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Errorf("connect to clean up: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var doomed []string
	for n := range names.Name() {
		if strings.HasPrefix(n, prefix) || strings.HasPrefix(n, "KV_"+prefix) {
			doomed = append(doomed, n)
		}
	}
	for _, n := range doomed {
		if err := js.DeleteStream(ctx, n); err != nil {
			t.Errorf("delete stream %s: %v", n, err)
		}
	}
}

func send(t *testing.T, a *App, method, path, body string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+a.Addr()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", "tester")
	req.Header.Set("X-Project-Id", "ops")
	req.Header.Set("X-Roles", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// TestAlarmFiresFromPostedMeasures posts a breaching measure through the
// Gnocchi API and expects the alarm's webhook, called with Aodh's body,
// within seconds: the measure goes through JetStream and ingest, whose
// announcement makes the evaluator look at once.
func TestAlarmFiresFromPostedMeasures(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Agents.Host.Enabled = false
	a := start(t, cfg)
	defer stop(t, a)

	calls := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		calls <- body
	}))
	defer hook.Close()

	send(t, a, http.MethodPost, "/v1/archive_policy", `{"name":"fast","aggregation_methods":["mean","max"],"definition":[{"granularity":"1s","points":3600}]}`, http.StatusCreated)
	var m struct{ ID string }
	if err := json.Unmarshal(send(t, a, http.MethodPost, "/v1/metric", `{"archive_policy_name":"fast","name":"load"}`, http.StatusCreated), &m); err != nil {
		t.Fatal(err)
	}
	alarm := fmt.Sprintf(`{"name":"hot","type":"gnocchi_aggregation_by_metrics_threshold","alarm_actions":[%q],
		"gnocchi_aggregation_by_metrics_threshold_rule":{"metrics":[%q],"aggregation_method":"mean","granularity":1,
		"evaluation_periods":1,"threshold":50,"comparison_operator":"gt"}}`, hook.URL, m.ID)
	var created struct {
		AlarmID string `json:"alarm_id"`
	}
	if err := json.Unmarshal(send(t, a, http.MethodPost, "/v2/alarms", alarm, http.StatusCreated), &created); err != nil {
		t.Fatal(err)
	}
	posted := time.Now()
	send(t, a, http.MethodPost, "/v1/metric/"+m.ID+"/measures", fmt.Sprintf(`[{"timestamp":%q,"value":93.5}]`, posted.UTC().Format(time.RFC3339Nano)), http.StatusAccepted)
	select {
	case body := <-calls:
		t.Logf("webhook called %v after the POST", time.Since(posted))
		if body["alarm_id"] != created.AlarmID || body["current"] != "alarm" || body["alarm_name"] != "hot" {
			t.Fatalf("webhook body %v", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the alarm's webhook was not called within 20 s of the breaching measure")
	}
	var st string
	if err := json.Unmarshal(send(t, a, http.MethodGet, "/v2/alarms/"+created.AlarmID+"/state", "", http.StatusOK), &st); err != nil || st != "alarm" {
		t.Fatalf("state %q, %v; want alarm", st, err)
	}
}

// TestBillingScheduleWritesClosedPeriods starts vigil all with an hourly
// billing schedule that begins three hours ago: the closed hours appear as
// files in billing.dir.
func TestBillingScheduleWritesClosedPeriods(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Agents.Host.Enabled = false
	rating, err := filepath.Abs("../../../api/billing/testdata/rating.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cfg.Billing.ConfigFile = rating
	cfg.Billing.Schedule = "hourly"
	cfg.Billing.Dir = out
	cfg.Billing.Delay = 0
	cfg.Billing.Formats = []string{"csv", "focus"}
	cfg.Billing.Since = time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := start(t, cfg)
	defer stop(t, a)
	eventually(t, 20*time.Second, "three closed hours exported in two formats", func() error {
		files, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(files) < 6 {
			return fmt.Errorf("%d files: %v", len(files), files)
		}
		return nil
	})
	// The billing endpoints are mounted on the API too.
	body := send(t, a, http.MethodGet, "/v1/billing/summary?from="+url.QueryEscape(cfg.Billing.Since)+"&to="+url.QueryEscape(time.Now().UTC().Truncate(time.Hour).Format(time.RFC3339)), "", http.StatusOK)
	if !strings.Contains(string(body), "{") {
		t.Fatalf("summary %s", body)
	}
}

// TestEventAlarmFromRabbitMQNotification publishes an oslo.messaging
// notification on the machine's RabbitMQ: the notification listener makes
// an event of it, and the event alarm watching that event type calls its
// webhook.
func TestEventAlarmFromRabbitMQNotification(t *testing.T) {
	exchange := "vigiltest" + strconv.Itoa(rand.IntN(1e9))
	rt := startWithRabbit(t, exchange, exchange)
	a, conn, ch, topic := rt.app, rt.conn, rt.ch, rt.topic

	calls := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		calls <- body
	}))
	defer hook.Close()
	send(t, a, http.MethodPost, "/v2/alarms", fmt.Sprintf(`{"name":"created","type":"event","alarm_actions":[%q],
		"event_rule":{"event_type":"compute.instance.create.end","query":[]}}`, hook.URL), http.StatusCreated)

	msg, _ := json.Marshal(map[string]any{
		"message_id": "7f0bd1b3-9d4c-4a59-9b5b-7a1f1d8f0a01", "event_type": "compute.instance.create.end",
		"publisher_id": "compute.node-1", "priority": "INFO", "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05.000000"),
		"payload": map[string]any{"instance_id": "3c1d7e3e-2b7a-4d4e-9c8e-1a2b3c4d5e6f", "tenant_id": "ops", "user_id": "tester",
			"display_name": "vm-1", "instance_type": "m1.small", "state": "active", "host": "node-1"},
	})
	env, _ := json.Marshal(map[string]any{"oslo.version": "2.0", "oslo.message": string(msg)})
	// The listener declares its exchanges and queues as it starts.
	eventually(t, 20*time.Second, "the notification is accepted and the webhook called", func() error {
		if err := ch.ExchangeDeclarePassive(exchange, "topic", true, false, false, false, nil); err != nil {
			if ch, err = conn.Channel(); err != nil {
				t.Fatal(err)
			}
			return fmt.Errorf("exchange not declared yet")
		}
		if err := ch.PublishWithContext(context.Background(), exchange, topic+".info", false, false,
			amqp.Publishing{ContentType: "application/json", Body: env}); err != nil {
			return err
		}
		select {
		case body := <-calls:
			if body["alarm_name"] != "created" || body["current"] != "alarm" {
				t.Fatalf("webhook body %v", body)
			}
			// The event is kept and served as Panko served it.
			var evs []map[string]any
			if err := json.Unmarshal(send(t, a, http.MethodGet, "/v2/events?q.field=event_type&q.value=compute.instance.create.end", "", http.StatusOK), &evs); err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 || evs[0]["message_id"] != "7f0bd1b3-9d4c-4a59-9b5b-7a1f1d8f0a01" {
				t.Fatalf("GET /v2/events: %v", evs)
			}
			return nil
		case <-time.After(3 * time.Second):
			return fmt.Errorf("no webhook call yet")
		}
	})
}

// rabbitTest is a vigil all listening on the machine's RabbitMQ to
// exchanges and a topic of the test's own, with a connection to publish.
type rabbitTest struct {
	app   *App
	conn  *amqp.Connection
	ch    *amqp.Channel
	topic string
}

// startWithRabbit starts vigil all listening to exchanges with the topic
// <prefix>.notifications: a topic of its own, because another test
// consuming notifications.info would take this test's messages. Cleanup
// removes the exchanges and queues and stops vigil.
func startWithRabbit(t *testing.T, prefix string, exchanges ...string) *rabbitTest {
	t.Helper()
	requireService(t, "127.0.0.1:5672", "start RabbitMQ with: rabbitmq-server -detached")
	const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
	rt := &rabbitTest{topic: prefix + ".notifications"}
	cfg := testConfig(t, t.TempDir())
	cfg.Agents.Host.Enabled = false
	cfg.Agents.Notify.AMQP.URL = amqpURL
	cfg.Agents.Notify.AMQP.Exchanges = exchanges
	cfg.Agents.Notify.AMQP.Topics = []string{rt.topic}
	rt.app = start(t, cfg)
	t.Cleanup(func() { stop(t, rt.app) })
	var err error
	if rt.conn, err = amqp.Dial(amqpURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.conn.Close() })
	if rt.ch, err = rt.conn.Channel(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAMQP(t, rt.conn, exchanges, rt.topic) })
	// The listener declares exchanges, then queues and their bindings,
	// then consumes: a message published before the bindings is routed
	// nowhere, so wait for the consumer rather than for the exchanges.
	eventually(t, 20*time.Second, "the listener consumes "+rt.topic+".info", func() error {
		ch, err := rt.conn.Channel() // a failed passive declare closes it
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(rt.topic+".info", true, false, false, false, nil)
		if err != nil {
			return err
		}
		if q.Consumers == 0 {
			return fmt.Errorf("queue %s has no consumer yet", q.Name)
		}
		return nil
	})
	return rt
}

// deleteAMQP removes what a test's listener declared on the shared broker:
// its exchanges and the queues of its topic.
func deleteAMQP(t *testing.T, conn *amqp.Connection, exchanges []string, topic string) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cannot open a channel to clean up: %v", err)
		return
	}
	defer ch.Close()
	for _, e := range exchanges {
		if err := ch.ExchangeDelete(e, false, false); err != nil {
			t.Errorf("delete exchange %s: %v", e, err)
		}
	}
	for _, p := range notify.DefaultPriorities {
		if _, err := ch.QueueDelete(topic+"."+p, false, false, false); err != nil {
			t.Errorf("delete queue %s.%s: %v", topic, p, err)
		}
	}
}
