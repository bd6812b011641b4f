package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms"
)

// PostgresURL is the machine's PostgreSQL for tests.
const PostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// openSQLite opens a store on a fresh SQLite file.
func openSQLite(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "alarms.db"), nil)
	if err != nil {
		t.Fatalf("Open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openPostgres opens a store in a fresh schema of the machine's
// PostgreSQL and drops the schema when the test ends.
func openPostgres(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", PostgresURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL is not answering at %s (%v); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", PostgresURL, err)
	}
	schema := "alarms_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("cannot create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("cannot drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	s, err := Open(ctx, "postgres", PostgresURL+"&search_path="+schema, nil)
	if err != nil {
		t.Fatalf("Open postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eachDialect runs f on a SQLite and a PostgreSQL store.
func eachDialect(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, openPostgres(t)) })
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func testAlarm(t testing.TB, name, project string, at time.Time) *alarms.Alarm {
	t.Helper()
	r, err := alarms.ParseRule(alarms.TypeResourcesThreshold, json.RawMessage(`{"metric":"cpu","resource_id":"r1","resource_type":"instance","aggregation_method":"mean","threshold":80,"comparison_operator":"gt"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &alarms.Alarm{
		ID: uuid.NewString(), Name: name, Description: "d", Type: alarms.TypeResourcesThreshold, Enabled: true,
		State: alarms.StateInsufficient, StateReason: alarms.ReasonNotEvaluated, Severity: alarms.SeverityLow,
		AlarmActions: []string{"http://example.com/hook"}, UserID: "u-" + project, ProjectID: project,
		Timestamp: at, StateTimestamp: at, EvaluateTimestamp: at, Rule: r,
	}
}

func creation(a *alarms.Alarm) alarms.Change {
	d, _ := json.Marshal(a.StorageMap())
	return alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeCreation, Detail: d,
		UserID: a.UserID, ProjectID: a.ProjectID, OnBehalfOf: a.ProjectID, Severity: a.Severity, Timestamp: a.Timestamp}
}

func ptr[T any](v T) *T { return &v }

func TestCRUD(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := testAlarm(t, "a1", "p1", t0)
		a.TimeConstraints, _ = alarms.ParseTimeConstraints(json.RawMessage(`[{"name":"night","start":"0 23 * * *","duration":3600,"timezone":"Europe/Paris"}]`))
		if err := s.Create(ctx, a, creation(a), Unlimited); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Get(ctx, a.ID, "")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		want, _ := json.Marshal(a.StorageMap())
		have, _ := json.Marshal(got.StorageMap())
		if string(want) != string(have) {
			t.Errorf("round trip:\n got %s\nwant %s", have, want)
		}
		if !got.EvaluateTimestamp.Equal(a.EvaluateTimestamp) {
			t.Errorf("evaluate_timestamp %v, want %v", got.EvaluateTimestamp, a.EvaluateTimestamp)
		}
		if !got.TimeConstraints[0].Active(time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC)) {
			t.Errorf("loaded time constraint is not active at 23:30 Paris")
		}
		if _, err := s.Get(ctx, a.ID, "p2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get in another project: %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, "nope", ""); !errors.Is(err, ErrNotFound) || err.Error() != "Alarm nope not found" {
			t.Errorf("Get unknown: %v", err)
		}

		dup := testAlarm(t, "a1", "p1", t0)
		if err := s.Create(ctx, dup, creation(dup), Unlimited); !errors.Is(err, ErrExists) || err.Error() != "Alarm with name='a1' exists" {
			t.Errorf("duplicate name: %v", err)
		}
		other := testAlarm(t, "a1", "p2", t0)
		if err := s.Create(ctx, other, creation(other), Unlimited); err != nil {
			t.Errorf("same name in another project: %v", err)
		}
		noProject := testAlarm(t, "np", "", t0)
		noProject2 := testAlarm(t, "np", "", t0)
		if err := s.Create(ctx, noProject, creation(noProject), Unlimited); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, noProject2, creation(noProject2), Unlimited); !errors.Is(err, ErrExists) {
			t.Errorf("duplicate name without project: %v", err)
		}

		upd := got.Clone()
		upd.Name = "a1-renamed"
		upd.Severity = alarms.SeverityCritical
		upd.Timestamp = t0.Add(time.Minute)
		ch := alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeRule, Detail: []byte(`{"name":"a1-renamed"}`), Timestamp: upd.Timestamp}
		if err := s.Update(ctx, upd, &ch); err != nil {
			t.Fatalf("Update: %v", err)
		}
		clash := upd.Clone()
		clash.ID = other.ID
		clash.ProjectID = "p1"
		clash.Name = "a1-renamed"
		if err := s.Update(ctx, clash, nil); !errors.Is(err, ErrExists) {
			t.Errorf("rename onto a taken name: %v", err)
		}
		got, _ = s.Get(ctx, a.ID, "p1")
		if got.Name != "a1-renamed" || got.Severity != alarms.SeverityCritical {
			t.Errorf("after update: %+v", got)
		}
		missing := upd.Clone()
		missing.ID = "gone"
		missing.Name = "x"
		if err := s.Update(ctx, missing, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("update of a missing alarm: %v", err)
		}

		st := alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeStateTransition, Detail: []byte(`{"state":"ok"}`), Timestamp: t0.Add(2 * time.Minute)}
		if err := s.SetState(ctx, a.ID, alarms.StateOK, alarms.ReasonManual, t0.Add(2*time.Minute), st); err != nil {
			t.Fatalf("SetState: %v", err)
		}
		got, _ = s.Get(ctx, a.ID, "")
		if got.State != alarms.StateOK || got.StateReason != alarms.ReasonManual || !got.StateTimestamp.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("after SetState: %v %q %v", got.State, got.StateReason, got.StateTimestamp)
		}

		h, err := s.History(ctx, a.ID, HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 3 || h[0].Type != alarms.ChangeStateTransition || h[2].Type != alarms.ChangeCreation {
			t.Errorf("history: %+v", h)
		}
		h, _ = s.History(ctx, a.ID, HistoryOptions{Type: ptr(alarms.ChangeRule)})
		if len(h) != 1 {
			t.Errorf("history of rule changes: %d entries", len(h))
		}
		h, _ = s.History(ctx, a.ID, HistoryOptions{Start: t0.Add(time.Minute), StartInclusive: true})
		if len(h) != 2 {
			t.Errorf("history from t0+1m: %d entries, want 2", len(h))
		}
		h, _ = s.History(ctx, a.ID, HistoryOptions{Start: t0.Add(time.Minute)})
		if len(h) != 1 {
			t.Errorf("history after t0+1m: %d entries, want 1", len(h))
		}
		h, _ = s.History(ctx, a.ID, HistoryOptions{OnBehalfOf: ptr("p9")})
		if len(h) != 0 {
			t.Errorf("history on behalf of another project: %d entries", len(h))
		}

		del := alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeDeletion, Detail: []byte(`{"state":"ok"}`), Timestamp: t0.Add(3 * time.Minute)}
		if err := s.Delete(ctx, a.ID, del); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := s.Delete(ctx, a.ID, del); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete: %v", err)
		}
		if _, err := s.Get(ctx, a.ID, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after delete: %v", err)
		}
		h, _ = s.QueryHistory(ctx, &alarms.ComplexQuery{Filter: &alarms.Filter{Op: "=", Field: "alarm_id", Value: a.ID}})
		if len(h) != 4 || h[0].Type != alarms.ChangeDeletion {
			t.Errorf("history kept after delete: %d entries, first %q", len(h), h[0].Type)
		}
	})
}

func TestQuota(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		q := Quotas{Project: 2, User: -1, Projects: map[string]int{"big": 3}}
		for i := range 2 {
			a := testAlarm(t, fmt.Sprint(i), "p1", t0)
			a.UserID = fmt.Sprint("u", i)
			if err := s.Create(ctx, a, creation(a), q); err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		a := testAlarm(t, "third", "p1", t0)
		err := s.Create(ctx, a, creation(a), q)
		if !errors.Is(err, ErrOverQuota) || err.Error() != "Alarm quota exceeded for user u-p1 on project p1" {
			t.Errorf("third alarm: %v", err)
		}
		for i := range 3 {
			a := testAlarm(t, fmt.Sprint(i), "big", t0)
			if err := s.Create(ctx, a, creation(a), q); err != nil {
				t.Errorf("big project alarm %d: %v", i, err)
			}
		}
		uq := Quotas{Project: -1, User: 1}
		a = testAlarm(t, "user-quota", "p3", t0)
		a.UserID = "u0"
		if err := s.Create(ctx, a, creation(a), uq); !errors.Is(err, ErrOverQuota) {
			t.Errorf("user over quota: %v", err)
		}
	})
}

func TestTransitions(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := testAlarm(t, "a", "p", t0)
		b := testAlarm(t, "b", "p", t0)
		for _, x := range []*alarms.Alarm{a, b} {
			if err := s.Create(ctx, x, creation(x), Unlimited); err != nil {
				t.Fatal(err)
			}
		}
		tr := func(id string, st alarms.State) alarms.Transition {
			return alarms.Transition{AlarmID: id, State: st, Reason: "because", Timestamp: t0.Add(time.Second),
				Change: alarms.Change{EventID: uuid.NewString(), AlarmID: id, Type: alarms.ChangeStateTransition,
					Detail: []byte(`{"state":"` + string(st) + `","transition_reason":"because"}`), OnBehalfOf: "p", Timestamp: t0.Add(time.Second)}}
		}
		applied, err := s.SaveTransitions(ctx, []alarms.Transition{tr(a.ID, alarms.StateAlarm), tr("deleted", alarms.StateOK), tr(b.ID, alarms.StateOK)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(applied, []bool{true, false, true}) {
			t.Errorf("applied = %v", applied)
		}
		got, _ := s.Get(ctx, a.ID, "")
		if got.State != alarms.StateAlarm || got.StateReason != "because" {
			t.Errorf("a after transition: %v %q", got.State, got.StateReason)
		}
		h, _ := s.QueryHistory(ctx, &alarms.ComplexQuery{Filter: &alarms.Filter{Op: "=", Field: "type", Value: alarms.ChangeStateTransition}})
		if len(h) != 2 {
			t.Errorf("%d transition entries, want 2", len(h))
		}
		all, err := s.EnabledAlarms(ctx)
		if err != nil || len(all) != 2 {
			t.Errorf("EnabledAlarms: %d, %v", len(all), err)
		}
	})
}

// TestListPaging checks List's filters, sorts and markers against a naive
// sort of the same alarms.
func TestListPaging(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 7))
		var all []*alarms.Alarm
		sev := []string{alarms.SeverityLow, alarms.SeverityModerate, alarms.SeverityCritical}
		for i := range 40 {
			a := testAlarm(t, fmt.Sprintf("n%02d", rng.IntN(20)*100+i), []string{"p1", "p2"}[i%2], t0.Add(time.Duration(rng.IntN(5))*time.Second))
			a.Severity = sev[rng.IntN(3)]
			a.Enabled = rng.IntN(3) > 0
			all = append(all, a)
			if err := s.Create(ctx, a, creation(a), Unlimited); err != nil {
				t.Fatal(err)
			}
		}
		sevRank := map[string]int{"low": 1, "moderate": 2, "critical": 3}
		cases := []struct {
			name string
			opts ListOptions
			keep func(a *alarms.Alarm) bool
			less func(a, b *alarms.Alarm) int
		}{
			{"default order", ListOptions{}, nil, func(a, b *alarms.Alarm) int {
				if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
					return c
				}
				return strings.Compare(a.ID, b.ID)
			}},
			{"severity desc, name", ListOptions{Sort: []alarms.Order{{Field: "severity", Desc: true}, {Field: "name"}}, ProjectID: ptr("p1")},
				func(a *alarms.Alarm) bool { return a.ProjectID == "p1" },
				func(a, b *alarms.Alarm) int {
					if c := sevRank[b.Severity] - sevRank[a.Severity]; c != 0 {
						return c
					}
					if c := strings.Compare(a.Name, b.Name); c != 0 {
						return c
					}
					return strings.Compare(a.ID, b.ID)
				}},
			{"enabled by name", ListOptions{Enabled: ptr(true), Sort: []alarms.Order{{Field: "name"}}},
				func(a *alarms.Alarm) bool { return a.Enabled },
				func(a, b *alarms.Alarm) int {
					if c := strings.Compare(a.Name, b.Name); c != 0 {
						return c
					}
					return strings.Compare(a.ID, b.ID)
				}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var want []string
				for _, a := range all {
					if c.keep == nil || c.keep(a) {
						want = append(want, a.ID)
					}
				}
				byID := map[string]*alarms.Alarm{}
				for _, a := range all {
					byID[a.ID] = a
				}
				slices.SortFunc(want, func(x, y string) int { return c.less(byID[x], byID[y]) })
				var got []string
				o := c.opts
				o.Limit = 7
				for page := 0; page < 20; page++ {
					res, err := s.List(ctx, o)
					if err != nil {
						t.Fatalf("List page %d: %v", page, err)
					}
					for _, a := range res {
						got = append(got, a.ID)
					}
					if len(res) < o.Limit {
						break
					}
					o.Marker = res[len(res)-1].ID
				}
				if !slices.Equal(got, want) {
					t.Errorf("paged list differs from the reference:\n got %v\nwant %v", got, want)
				}
			})
		}
		if _, err := s.List(ctx, ListOptions{Marker: "nope"}); !errors.Is(err, ErrInvalidMarker) || err.Error() != "Marker nope not found." {
			t.Errorf("unknown marker: %v", err)
		}
	})
}

func TestComplexQuery(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		mk := func(name, project, sev string, enabled bool, at time.Time) *alarms.Alarm {
			a := testAlarm(t, name, project, at)
			a.Severity, a.Enabled = sev, enabled
			if err := s.Create(ctx, a, creation(a), Unlimited); err != nil {
				t.Fatal(err)
			}
			return a
		}
		mk("cpu-high", "p1", "critical", true, t0)
		mk("cpu-low", "p1", "low", false, t0.Add(time.Hour))
		mk("mem-high", "p2", "moderate", true, t0.Add(2*time.Hour))
		limit := 2
		cases := []struct {
			filter, orderby string
			limit           *int
			restrict        string
			want            []string
		}{
			{`{"=": {"name": "cpu-high"}}`, "", nil, "", []string{"cpu-high"}},
			{`{"and": [{"=~": {"name": "^cpu"}}, {"=": {"enabled": true}}]}`, "", nil, "", []string{"cpu-high"}},
			{`{"or": [{"=": {"severity": "critical"}}, {"=": {"project": "p2"}}]}`, `[{"name": "asc"}]`, nil, "", []string{"cpu-high", "mem-high"}},
			{`{"not": {"=": {"project_id": "p1"}}}`, "", nil, "", []string{"mem-high"}},
			{`{"in": {"name": ["cpu-low", "mem-high", "x"]}}`, `[{"timestamp": "DESC"}]`, nil, "", []string{"mem-high", "cpu-low"}},
			{`{">": {"timestamp": "2026-03-01T12:30:00"}}`, `[{"timestamp": "asc"}]`, nil, "", []string{"cpu-low", "mem-high"}},
			{`{"=<": {"timestamp": "2026-03-01T13:00:00.123456"}}`, `[{"name": "asc"}]`, nil, "", []string{"cpu-high", "cpu-low"}},
			{"", `[{"name": "desc"}]`, &limit, "", []string{"mem-high", "cpu-low"}},
			{"", `[{"name": "asc"}]`, nil, "p1", []string{"cpu-high", "cpu-low"}},
			{`{"=": {"enabled": false}}`, "", nil, "p1", []string{"cpu-low"}},
			{`{"!=": {"severity": "low"}}`, `[{"severity": "desc"}]`, nil, "", []string{"cpu-high", "mem-high"}},
		}
		for _, c := range cases {
			q, err := alarms.ParseComplexQuery(c.filter, c.orderby, c.limit, alarms.AlarmQueryFields)
			if err != nil {
				t.Errorf("%s: %v", c.filter, err)
				continue
			}
			if c.restrict != "" {
				if err := q.Restrict("project_id", c.restrict); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.QueryAlarms(ctx, q)
			if err != nil {
				t.Errorf("%s: %v", c.filter, err)
				continue
			}
			var got []string
			for _, a := range res {
				got = append(got, a.Name)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s %s: got %v, want %v", c.filter, c.orderby, got, c.want)
			}
		}
		q, _ := alarms.ParseComplexQuery(`{"=~": {"name": "("}}`, "", nil, alarms.AlarmQueryFields)
		var ie *alarms.InvalidError
		if _, err := s.QueryAlarms(ctx, q); !errors.As(err, &ie) {
			t.Errorf("bad regexp: %v, want an InvalidError", err)
		}
		q, _ = alarms.ParseComplexQuery(`{"=": {"enabled": "maybe"}}`, "", nil, alarms.AlarmQueryFields)
		if _, err := s.QueryAlarms(ctx, q); !errors.As(err, &ie) {
			t.Errorf("bad boolean: %v, want an InvalidError", err)
		}
	})
}

func TestExpireHistory(t *testing.T) {
	s := openSQLite(t)
	ctx := context.Background()
	a := testAlarm(t, "a", "p", t0)
	if err := s.Create(ctx, a, creation(a), Unlimited); err != nil {
		t.Fatal(err)
	}
	n, err := s.ExpireHistory(ctx, t0.Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("ExpireHistory = %d, %v; want 1", n, err)
	}
}
