package search

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

const testCreator = "u1:p1"

// resourceColumns is a resource table as the index would describe it, with
// the resource id mapped through Gnocchi's UUIDv5 rule for testCreator.
func resourceColumns(attr string) (Column, bool) {
	switch attr {
	case "id":
		return Column{SQL: "r.id", Kind: UUID, Encode: func(v any) (any, error) {
			u, err := pipeline.ResourceUUID(v.(string), testCreator)
			if err != nil {
				return nil, err
			}
			return u.String(), nil
		}}, true
	case "project_id", "display_name":
		return Column{SQL: "r." + attr, Kind: String}, true
	case "started_at", "ended_at":
		return Column{SQL: "r." + attr, Kind: Time}, true
	case "vcpus":
		return Column{SQL: "r.vcpus", Kind: Int}, true
	case "size":
		return Column{SQL: "r.size", Kind: Number}, true
	case "enabled":
		return Column{SQL: "r.enabled", Kind: Bool}, true
	case "lifespan":
		return Column{SQL: "EXTRACT(EPOCH FROM r.ended_at - r.started_at)", Kind: Duration}, true
	case "created_by_user_id":
		return Column{SQL: "r.creator", Kind: CreatorUser}, true
	case "created_by_project_id":
		return Column{SQL: "r.creator", Kind: CreatorProject}, true
	case "metric_id":
		return Column{SQL: "m.id", Kind: UUID}, true
	}
	return Column{}, false
}

func TestCompile(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := pipeline.ResourceUUID("my-server", testCreator)
	if err != nil {
		t.Fatal(err)
	}
	nameUUID := u.String()
	const aUUID = "5a301761-f78b-46e2-8900-8b4f6fe6675a"
	cases := []struct {
		filter     string
		sqlite, pg string
		args       []any
		sqliteArgs []any // when they differ from args
	}{
		{`project_id = 'p'`, `r.project_id = ?`, `r.project_id = $3`, []any{"p"}, nil},
		{`project_id != 42`, `r.project_id <> ?`, `r.project_id <> $3`, []any{"42"}, nil},
		{`started_at > '2024-01-01'`, `r.started_at > ?`, `r.started_at > $3`, []any{t0}, nil},
		{`started_at >= '2024-01-01T01:00:00+01:00'`, `r.started_at >= ?`, `r.started_at >= $3`, []any{t0}, nil},
		{`started_at < 1704067200`, `r.started_at < ?`, `r.started_at < $3`, []any{t0}, nil},
		{`started_at <= '2024-01-01 00:00:00.5'`, `r.started_at <= ?`, `r.started_at <= $3`, []any{t0.Add(500 * time.Millisecond)}, nil},
		{`ended_at = null`, `r.ended_at IS NULL`, `r.ended_at IS NULL`, nil, nil},
		{`ended_at != null`, `r.ended_at IS NOT NULL`, `r.ended_at IS NOT NULL`, nil, nil},
		{`ended_at < null`, `CAST(NULL AS BOOLEAN)`, `CAST(NULL AS BOOLEAN)`, nil, nil},
		{`vcpus >= '4'`, `r.vcpus >= ?`, `r.vcpus >= $3`, []any{int64(4)}, nil},
		{`size < 2.5`, `r.size < ?`, `r.size < $3`, []any{2.5}, nil},
		{`enabled = 'yes'`, `r.enabled = ?`, `r.enabled = $3`, []any{true}, nil},
		{`lifespan > '1 hour'`, `EXTRACT(EPOCH FROM r.ended_at - r.started_at) > ?`, `EXTRACT(EPOCH FROM r.ended_at - r.started_at) > $3`, []any{3600.0}, nil},
		{`id = '` + aUUID + `'`, `r.id = ?`, `r.id = $3`, []any{aUUID}, nil},
		{`id = 'my-server'`, `r.id = ?`, `r.id = $3`, []any{nameUUID}, nil},
		{`metric_id = '5A301761F78B46E289008B4F6FE6675A'`, `m.id = ?`, `m.id = $3`, []any{aUUID}, nil},
		{`display_name like 'Web_%'`, `r.display_name GLOB ?`, `r.display_name LIKE $3`, []any{"Web_%"}, []any{"Web?*"}},
		{`display_name like 'a\%*[?'`, `r.display_name GLOB ?`, `r.display_name LIKE $3`, []any{`a\%*[?`}, []any{"a%[*][[][?]"}},
		{`id in ['my-server', '` + aUUID + `']`, `r.id IN (?, ?)`, `r.id IN ($3, $4)`, []any{nameUUID, aUUID}, nil},
		{`project_id in []`, `1=0`, `1=0`, nil, nil},
		{`project_id in [null]`, `r.project_id IS NULL`, `r.project_id IS NULL`, nil, nil},
		{`project_id in ['a', null]`, `(r.project_id IN (?) OR r.project_id IS NULL)`, `(r.project_id IN ($3) OR r.project_id IS NULL)`, []any{"a"}, nil},
		{`created_by_user_id = 'u_1'`, `r.creator GLOB ?`, `r.creator LIKE $3`, []any{`u\_1:%`}, []any{"u_1:*"}},
		{`created_by_project_id != 'p%'`, `r.creator NOT GLOB ?`, `r.creator NOT LIKE $3`, []any{`%:p\%`}, []any{"*:p%"}},
		{`created_by_project_id like 'p%'`, `r.creator GLOB ?`, `r.creator LIKE $3`, []any{`%:p%`}, []any{"*:p*"}},
		{`project_id = 'p' and (size > 1 or not display_name like 'x%') and vcpus = 2`,
			`(r.project_id = ? AND (r.size > ? OR NOT (r.display_name GLOB ?)) AND r.vcpus = ?)`,
			`(r.project_id = $3 AND (r.size > $4 OR NOT (r.display_name LIKE $5)) AND r.vcpus = $6)`,
			[]any{"p", 1.0, "x%", int64(2)}, []any{"p", 1.0, "x*", int64(2)}},
		{`project_id = 'x''); DROP TABLE r; --'`, `r.project_id = ?`, `r.project_id = $3`, []any{"x'); DROP TABLE r; --"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			e, err := ParseString(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []Dialect{SQLite, PostgreSQL} {
				want, wantArgs := tc.pg, tc.args
				if d == SQLite {
					want = tc.sqlite
					if tc.sqliteArgs != nil {
						wantArgs = tc.sqliteArgs
					}
				}
				where, args, err := Compile(e, d, resourceColumns, 2)
				if err != nil {
					t.Fatalf("dialect %d: %v", d, err)
				}
				if where != want {
					t.Errorf("dialect %d: where = %q, want %q", d, where, want)
				}
				if !reflect.DeepEqual(args, wantArgs) {
					t.Errorf("dialect %d: args = %#v, want %#v", d, args, wantArgs)
				}
			}
		})
	}
}

func TestCompileNilAndEmpty(t *testing.T) {
	for _, tc := range []struct {
		e    Expr
		want string
	}{{nil, "1=1"}, {And{}, "1=1"}, {Or{}, "1=0"}} {
		where, args, err := Compile(tc.e, PostgreSQL, resourceColumns, 0)
		if err != nil || where != tc.want || len(args) != 0 {
			t.Errorf("Compile(%#v) = %q, %v, %v; want %q", tc.e, where, args, err, tc.want)
		}
	}
}

func TestCompileRelativeTime(t *testing.T) {
	e, err := ParseString(`started_at > '-10 minutes'`)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	_, args, err := Compile(e, SQLite, resourceColumns, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := args[0].(time.Time)
	if lo, hi := before.Add(-10*time.Minute-time.Second), time.Now().Add(-10*time.Minute+time.Second); got.Before(lo) || got.After(hi) {
		t.Errorf("relative time = %v, want about %v", got, before.Add(-10*time.Minute))
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		filter string
		is     error
		msg    string
	}{
		{`flavor = 'x'`, ErrUnknownAttribute, "Unknown attribute: flavor"},
		{`started_at > 'yesterday'`, ErrInvalidValue, "Invalid value for attribute started_at: 'yesterday': expected an ISO 8601 timestamp"},
		{`started_at > '1960-01-01'`, ErrInvalidValue, "Invalid value for attribute started_at: '1960-01-01': timestamp must be after Epoch"},
		{`started_at > -5`, ErrInvalidValue, "timestamp must be after Epoch"},
		{`started_at > true`, ErrInvalidValue, "Invalid value for attribute started_at: true: expected a timestamp"},
		{`size = 'big'`, ErrInvalidValue, "Invalid value for attribute size: 'big': expected a number"},
		{`vcpus = 2.5`, ErrInvalidValue, "Invalid value for attribute vcpus: 2.5: expected an integer"},
		{`enabled = 'maybe'`, ErrInvalidValue, "Invalid value for attribute enabled: 'maybe': expected a boolean"},
		{`display_name = true`, ErrInvalidValue, "Invalid value for attribute display_name: true: expected a string"},
		{`metric_id = 'nope'`, ErrInvalidValue, "Invalid value for attribute metric_id: 'nope': not a UUID"},
		{`id = 'a/b'`, ErrInvalidValue, "Invalid value for attribute id: 'a/b': invalid resource id"},
		{`id in ['ok', 'a/b']`, ErrInvalidValue, "Invalid value for attribute id: 'a/b'"},
		{`lifespan > 'forever'`, ErrInvalidValue, "Invalid value for attribute lifespan: 'forever': expected a timespan"},
		{`lifespan > -1`, ErrInvalidValue, "timespan must not be negative"},
		{`size like '1%'`, ErrInvalidValue, "Invalid value for attribute size: like applies only to string attributes, not number"},
		{`display_name like 'a\'`, ErrInvalidValue, "like pattern must not end with the escape character"},
		{`created_by_user_id > 'u'`, ErrInvalidValue, "only =, != and like apply, not >"},
		{`created_by_user_id in ['u']`, ErrInvalidValue, "not in"},
		{`created_by_user_id = null`, ErrInvalidValue, "Invalid value for attribute created_by_user_id: null"},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			e, err := ParseString(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []Dialect{SQLite, PostgreSQL} {
				_, _, err := Compile(e, d, resourceColumns, 0)
				if err == nil {
					t.Fatalf("dialect %d: compiled, want an error", d)
				}
				if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("dialect %d: error %q, want %v containing %q", d, err, tc.is, tc.msg)
				}
			}
		})
	}
	var ae *AttributeError
	_, _, err := Compile(Cmp{OpEq, "flavor", "x"}, SQLite, resourceColumns, 0)
	if !errors.As(err, &ae) || ae.Attr != "flavor" {
		t.Errorf("unknown attribute error = %#v", err)
	}
	if _, _, err := Compile(Cmp{OpEq, "a b", "x"}, SQLite, resourceColumns, 0); !errors.Is(err, ErrSyntax) {
		t.Errorf("hand-built bad attribute: %v", err)
	}
}

func TestTimeFormats(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Time{
		"2024-01-02":                      time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		"2024-01":                         time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"2024-01-02T03:04":                time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC),
		"2024-01-02T03:04:05Z":            time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"2024-01-02 03:04:05.123456":      time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		"2024-01-02T03:04:05.5-02:00":     time.Date(2024, 1, 2, 5, 4, 5, 500000000, time.UTC),
		"2024-01-02T03:04:05+0100":        time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC),
		"1704067200.25":                   time.Date(2024, 1, 1, 0, 0, 0, 250000000, time.UTC),
		"-1 hour":                         now.Add(-time.Hour),
		"2 days, 3 hours":                 now.Add(51 * time.Hour),
		"-1h30m":                          now.Add(-90 * time.Minute),
		"-01:00:30":                       now.Add(-time.Hour - 30*time.Second),
		"-1.5 minutes":                    now.Add(-90 * time.Second),
		" 2024-01-02T03:04:05.999999999Z": time.Date(2024, 1, 2, 3, 4, 5, 999999999, time.UTC),
	}
	for in, want := range cases {
		got, err := toTime(in, now)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("toTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "2024-13-01", "1 fortnight", "1:2:3:4", "10000-01-01", "1e20"} {
		if got, err := toTime(bad, now); err == nil {
			t.Errorf("toTime(%q) = %v, want an error", bad, got)
		}
	}
}
