package billing

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

const pgBase = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const pgHelp = "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

// env is a real store: an index (SQLite or PostgreSQL) and Pebble series
// storage, written through the index's calls and the ingest engine.
type env struct {
	t       testing.TB
	ctx     context.Context
	dialect string
	ix      *index.Index
	st      storage.Storage
	eng     *ingest.Engine
	raw     *sql.DB
	src     *IndexSource
}

var testNS = uuid.MustParse("6f1c2b9e-1d7a-4f0e-9c43-5a2b8e7d1c10")

// rid is the fixed resource UUID of a test name, so that golden files
// hold stable ids.
func rid(name string) uuid.UUID { return uuid.NewSHA1(testNS, []byte(name)) }

func newEnv(t testing.TB, dialect string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, dialect: dialect}
	var url string
	switch dialect {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "index.db")
		url = "sqlite://" + path
		raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		e.raw = raw
	case "postgres":
		db, err := sql.Open("pgx", pgBase)
		if err != nil {
			t.Fatalf("cannot open PostgreSQL: %v", err)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := db.PingContext(cctx); err != nil {
			db.Close()
			t.Fatalf("PostgreSQL is not reachable at 127.0.0.1:5432 (%v); %s", err, pgHelp)
		}
		schema := fmt.Sprintf("vigil_billing_test_%d_%d", time.Now().UnixNano(), rand.Uint32())
		if _, err := db.ExecContext(cctx, "CREATE SCHEMA "+schema); err != nil {
			db.Close()
			t.Fatalf("cannot create schema %s: %v", schema, err)
		}
		t.Cleanup(func() {
			if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
				t.Errorf("cannot drop schema %s: %v", schema, err)
			}
			db.Close()
		})
		url = pgBase + "&search_path=" + schema
		raw, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		e.raw = raw
	default:
		t.Fatalf("BUG: dialect %q", dialect)
	}
	t.Cleanup(func() { e.raw.Close() })
	ix, err := index.Open(ctx, url, index.Options{})
	if err != nil {
		t.Fatalf("open index %s: %v", url, err)
	}
	t.Cleanup(func() { ix.Close() })
	st, err := storage.OpenPebble(t.TempDir(), storage.PebbleOptions{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e.ix, e.st = ix, st
	e.eng = ingest.NewEngine(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 1<<20)
	e.src = NewIndexSource(ix, query.NewReader(st))
	for _, p := range testPolicies() {
		if err := ix.CreateArchivePolicy(ctx, p); err != nil {
			t.Fatalf("create policy %s: %v", p.Name, err)
		}
	}
	return e
}

// testPolicies are the archive policies of the data sets: hourly with
// the methods the measures read, and a five-minute one with a rate.
func testPolicies() []archive.Policy {
	return []archive.Policy{
		{Name: "bill-hourly", Methods: []archive.Method{{Kind: archive.Mean}, {Kind: archive.Last}, {Kind: archive.Max}},
			Definitions: []archive.Definition{{Granularity: time.Hour, Points: 24 * 400}}},
		{Name: "bill-rate", Methods: []archive.Method{{Kind: archive.Mean}, {Kind: archive.Sum, Rate: true}},
			Definitions: []archive.Definition{{Granularity: 5 * time.Minute, Points: 12 * 24 * 60}}},
		{Name: "bill-count", Methods: []archive.Method{{Kind: archive.Count}, {Kind: archive.Std}},
			Definitions: []archive.Definition{{Granularity: time.Hour, Points: 24 * 400}}},
	}
}

type res struct {
	typ, name, project string
	started, ended     time.Time
	attrs              map[string]any
	metrics            map[string]string // name → policy
}

// create makes a resource through the index and returns its metrics.
func (e *env) create(r res) map[string]uuid.UUID {
	e.t.Helper()
	p := r.project
	ir := index.Resource{
		ID: rid(r.name), OriginalResourceID: r.name, Type: r.typ, Creator: "admin:admin",
		CreatedByUserID: "admin", CreatedByProjectID: "admin", ProjectID: &p, StartedAt: r.started, Attributes: r.attrs,
	}
	if !r.ended.IsZero() {
		end := r.ended
		ir.EndedAt = &end
	}
	ms := map[string]index.MetricSpec{}
	for name, pol := range r.metrics {
		ms[name] = index.MetricSpec{ArchivePolicyName: pol}
	}
	got, err := e.ix.CreateResource(e.ctx, ir, ms)
	if err != nil {
		e.t.Fatalf("create resource %s: %v", r.name, err)
	}
	// The first revision starts when the resource was created in the
	// index, that is now; the data sets are in the past.
	e.exec("UPDATE resource SET revision_start = ? WHERE id = ?", e.tsArg(r.started), rid(r.name).String())
	return got.Metrics
}

// change applies attrs to resource name as a new revision starting at.
func (e *env) change(typ, name string, at time.Time, attrs map[string]any) {
	e.t.Helper()
	before, err := e.ix.Resource(e.ctx, typ, rid(name))
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.ix.UpdateResource(e.ctx, typ, rid(name), index.ResourcePatch{Attributes: attrs}, 0)
	if err != nil {
		e.t.Fatalf("update resource %s: %v", name, err)
	}
	if r.Revision == before.Revision {
		return // nothing changed: no revision
	}
	// The index stamps revisions with the wall clock; move this one to
	// the instant of the data set, keeping the revisions tiled.
	e.exec("UPDATE resource_history SET revision_end = ? WHERE id = ? AND revision = ?", e.tsArg(at), rid(name).String(), r.Revision-1)
	e.exec("UPDATE resource SET revision_start = ? WHERE id = ?", e.tsArg(at), rid(name).String())
}

// move gives resource name to project from at on.
func (e *env) move(typ, name string, at time.Time, project string) {
	e.t.Helper()
	pp := &project
	r, err := e.ix.UpdateResource(e.ctx, typ, rid(name), index.ResourcePatch{ProjectID: &pp}, 0)
	if err != nil {
		e.t.Fatalf("update resource %s: %v", name, err)
	}
	e.exec("UPDATE resource_history SET revision_end = ? WHERE id = ? AND revision = ?", e.tsArg(at), rid(name).String(), r.Revision-1)
	e.exec("UPDATE resource SET revision_start = ? WHERE id = ?", e.tsArg(at), rid(name).String())
}

func (e *env) tsArg(t time.Time) any {
	if e.dialect == "sqlite" {
		return t.UTC().UnixMicro()
	}
	return t.UTC()
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if e.dialect == "postgres" {
		n := 0
		b := []byte{}
		for i := 0; i < len(q); i++ {
			if q[i] == '?' {
				n++
				b = fmt.Appendf(b, "$%d", n)
				continue
			}
			b = append(b, q[i])
		}
		q = string(b)
	}
	if _, err := e.raw.ExecContext(e.ctx, q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// write stores pts in metric id of policy name through the ingest engine.
func (e *env) write(id uuid.UUID, policy string, pts []ingest.Point) {
	e.t.Helper()
	p, err := e.ix.ArchivePolicy(e.ctx, policy)
	if err != nil {
		e.t.Fatal(err)
	}
	for len(pts) > 0 {
		n := min(len(pts), 5000)
		b := e.st.NewBatch()
		if _, err := e.eng.Apply(e.ctx, b, id, &p, pts[:n]); err != nil {
			e.t.Fatalf("apply: %v", err)
		}
		if err := b.Commit(e.ctx, false); err != nil {
			e.t.Fatal(err)
		}
		b.Close()
		pts = pts[n:]
	}
}

// hourly returns one point per hour of [from, to), at second off of the
// hour, with value v(h) for hour h counted from from.
func hourly(from, to time.Time, off time.Duration, v func(h int) float64) []ingest.Point {
	var out []ingest.Point
	h := 0
	for t := from; t.Before(to); t = t.Add(time.Hour) {
		out = append(out, ingest.Point{T: t.Add(off).UnixNano(), V: v(h)})
		h++
	}
	return out
}

func day(d, h, m int) time.Time { return time.Date(2024, 3, d, h, m, 0, 0, time.UTC) }
