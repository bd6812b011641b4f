package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

const pgBase = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const pgHelp = "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

var dialects = []string{"sqlite", "postgres"}

// indexURL returns the URL of a fresh index of dialect, removed when the
// test ends: a SQLite file, or a PostgreSQL schema of its own.
func indexURL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "index.db")
	}
	db, err := sql.Open("pgx", pgBase)
	if err != nil {
		t.Fatalf("cannot open PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		t.Fatalf("PostgreSQL is not reachable at 127.0.0.1:5432 (%v); %s", err, pgHelp)
	}
	schema := fmt.Sprintf("vigil_api_test_%d_%d", time.Now().UnixNano(), rand.Uint32())
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("cannot create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("cannot drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	return pgBase + "&search_path=" + schema
}

// env is a whole metering stack in-process, wired as cmd/vigil/app wires
// it: the embedded bus, the index, Pebble storage, a processor consuming
// the bus, and the API over them on a loopback HTTP server.
type env struct {
	t       testing.TB
	url     string
	idx     *index.Index
	bus     *bus.Bus
	store   storage.Storage
	proc    *ingest.Processor
	backlog *BusBacklog
	api     *Server
	srv     *httptest.Server
	deleted chan uuid.UUID
}

type envOptions struct {
	auth         string
	maxBody      int64
	maxLimit     int
	origins      []string
	noProcessor  bool
	partitions   int
	metricsSet   *metrics.Set
	quietLogging bool
}

func newEnv(t testing.TB, dialect string, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.quietLogging {
		log = slog.New(slog.DiscardHandler)
	}
	e := &env{t: t, deleted: make(chan uuid.UUID, 1024)}
	set := o.metricsSet
	if set == nil {
		set = metrics.NewSet()
	}
	bcfg := bus.DefaultConfig()
	bcfg.DataDir = filepath.Join(t.TempDir(), "jetstream")
	if o.partitions > 0 {
		bcfg.Partitions = o.partitions
	}
	var err error
	if e.bus, err = bus.Open(ctx, bcfg, log.With("part", "bus"), bus.WithMetrics(set)); err != nil {
		t.Fatalf("open bus: %v", err)
	}
	if e.idx, err = index.Open(ctx, indexURL(t, dialect), index.Options{}); err != nil {
		t.Fatalf("open index: %v", err)
	}
	if e.store, err = storage.OpenPebble(filepath.Join(t.TempDir(), "series"), storage.PebbleOptions{Metrics: set}); err != nil {
		t.Fatalf("open storage: %v", err)
	}
	e.backlog = NewBusBacklog(e.bus)
	done := make(chan struct{})
	if !o.noProcessor {
		e.proc = ingest.NewProcessor(ingest.Config{ID: fmt.Sprintf("api-test-%d", rand.Uint32()), FlushInterval: 20 * time.Millisecond}, e.bus, e.idx, e.store, set, log.With("part", "processor"))
		go func() {
			defer close(done)
			if err := e.proc.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("processor: %v", err)
			}
		}()
	} else {
		close(done)
	}
	auth := o.auth
	if auth == "" {
		auth = "noauth"
	}
	authn, err := NewAuthenticator(auth)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Index: e.idx, Reader: query.NewReader(e.store), Publisher: e.backlog, Backlog: e.backlog,
		Auth: authn, Metrics: set, MaxBodyBytes: o.maxBody, MaxLimit: o.maxLimit, Log: log.With("part", "api"),
		CORSAllowedOrigins: o.origins, RefreshTimeout: 20 * time.Second,
		Health: []HealthCheck{{Name: "bus", Check: e.bus.Healthy}, {Name: "index", Check: e.idx.Ping}},
		MetricDeleted: func(ctx context.Context, id uuid.UUID) {
			if e.proc != nil {
				e.proc.Resolver().ForgetMetric(id)
			}
			if err := e.store.DeleteMetric(ctx, id); err != nil {
				t.Errorf("free the series of %s: %v", id, err)
			}
			select {
			case e.deleted <- id:
			default:
			}
		},
	}
	if e.proc != nil {
		deps.Status = e.proc
	}
	e.api = New(deps)
	e.srv = httptest.NewServer(e.api.Handler())
	e.url = e.srv.URL
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		<-done
		e.store.Close()
		e.idx.Close()
		e.bus.Close()
	})
	return e
}

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// forDialects runs f on a fresh env of each dialect.
func forDialects(t *testing.T, o envOptions, f func(t *testing.T, e *env)) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			f(t, newEnv(t, d, o))
		})
	}
}

// caller is who makes a test request.
type caller struct {
	user, project string
	admin         bool
	basic         string // basic-auth user instead of the noauth headers
}

var (
	admin  = caller{user: "admin-user", project: "admin-project", admin: true}
	alice  = caller{user: "alice", project: "project-a"}
	bob    = caller{user: "bob", project: "project-b"}
	nobody = caller{}
)

// resp is an answer to a test request.
type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, r.body)
	}
	return v
}

func (r resp) obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("answer is not an object: %s", r.body)
	}
	return m
}

func (r resp) list(t testing.TB) []any {
	t.Helper()
	l, ok := r.json(t).([]any)
	if !ok {
		t.Fatalf("answer is not a list: %s", r.body)
	}
	return l
}

// description returns the description of an error answer.
func (r resp) description(t testing.TB) any {
	t.Helper()
	m := r.obj(t)
	if m["title"] != http.StatusText(r.code) {
		t.Errorf("error title %v, want %q (body %s)", m["title"], http.StatusText(r.code), r.body)
	}
	if fmt.Sprint(m["code"]) != fmt.Sprint(r.code) {
		t.Errorf("error code %v in the body of a %d answer", m["code"], r.code)
	}
	return m["description"]
}

// do makes a request; body is sent as JSON unless it is a string or
// []byte, sent as they are.
func (e *env) do(c caller, method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatalf("request %s %s: %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	switch {
	case c.basic != "":
		req.SetBasicAuth(c.basic, "password")
	case c != nobody:
		req.Header.Set("X-User-Id", c.user)
		req.Header.Set("X-Project-Id", c.project)
		if c.admin {
			req.Header.Set("X-Roles", "admin,member")
		} else {
			req.Header.Set("X-Roles", "member")
		}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp{code: res.StatusCode, header: res.Header, body: b}
}

// must makes a request that must answer code.
func (e *env) must(code int, c caller, method, path string, body any, headers ...string) resp {
	e.t.Helper()
	r := e.do(c, method, path, body, headers...)
	if r.code != code {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.code, r.body, code)
	}
	return r
}

// policy creates an archive policy with a 1 s and a 60 s granularity.
func (e *env) policy(name string) {
	e.t.Helper()
	e.must(201, admin, "POST", "/v1/archive_policy", map[string]any{
		"name":                name,
		"aggregation_methods": []string{"mean", "min", "max", "sum", "count", "last"},
		"definition":          []any{map[string]any{"granularity": "1s", "points": 3600}, map[string]any{"granularity": 60, "timespan": "1 day"}},
	})
}

// metric creates a stand-alone metric of policy and returns its id.
func (e *env) metric(c caller, policy string) string {
	e.t.Helper()
	r := e.must(201, c, "POST", "/v1/metric", map[string]any{"archive_policy_name": policy})
	return r.obj(e.t)["id"].(string)
}

// waitMeasures polls GET path until it answers n points, the ingest being
// asynchronous.
func (e *env) waitMeasures(c caller, path string, n int) []any {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.must(200, c, "GET", path, nil)
		l := r.list(e.t)
		if len(l) >= n || time.Now().After(deadline) {
			if len(l) != n {
				e.t.Fatalf("GET %s: %d points, want %d: %s", path, len(l), n, r.body)
			}
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
}
