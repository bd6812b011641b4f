package alarms

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestPyFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{94, "94.0"}, {5.5, "5.5"}, {0.1, "0.1"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {0.0001, "0.0001"},
		{0.00001, "1e-05"}, {-3, "-3.0"}, {0, "0.0"}, {1.5e-7, "1.5e-07"}, {123456789.125, "123456789.125"},
		{math.Inf(1), "inf"}, {math.NaN(), "nan"}, {9999999999999998, "9999999999999998.0"},
	} {
		if got := PyFloat(c.f); got != c.want {
			t.Errorf("PyFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestPyJSON(t *testing.T) {
	got := PyJSON([]map[string]any{{"field": "traits.x", "op": "eq", "value": "é", "type": "", "n": 5.0, "i": 3}})
	want := `[{"field": "traits.x", "i": 3, "n": 5, "op": "eq", "type": "", "value": "\u00e9"}]`
	if got != want {
		t.Errorf("PyJSON = %s\nwant   %s", got, want)
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, n string
		want bool
	}{
		{"*", "compute.instance.create.end", true},
		{"compute.instance.*", "compute.instance.create.end", true},
		{"compute.instance.*", "compute.volume.x", false},
		{"compute.*.end", "compute.instance.delete.end", true},
		{"a?c", "abc", true}, {"a?c", "ac", false},
		{"[ab]x", "bx", true}, {"[!ab]x", "bx", false}, {"[a-c]x", "cx", true},
		{"[x", "[x", true}, {"", "", true}, {"", "a", false},
		{"*a*a*a*a*a*b", strings.Repeat("a", 200), false},
	} {
		if got := Glob(c.p, c.n); got != c.want {
			t.Errorf("Glob(%q, %q) = %v", c.p, c.n, got)
		}
	}
}

func TestComplexQueryParse(t *testing.T) {
	limit0 := 0
	cases := []struct {
		filter, orderby string
		limit           *int
		want            string
	}{
		{`{"=": {"nope": 1}}`, "", nil, "Filter expression not valid"},
		{`{"and": [{"=": {"name": "a"}}]}`, "", nil, "Filter expression not valid"},
		{`{"=": {"name": [1]}}`, "", nil, "Filter expression not valid"},
		{`{"like": {"name": "a"}}`, "", nil, "Filter expression not valid"},
		{`{"=": {"timestamp": "yesterday"}}`, "", nil, "Failed to parse the timestamp value yesterday"},
		{`{"=": {"name": "a"}} x`, "", nil, "Filter expression not valid"},
		{"", `[{"name": "up"}]`, nil, "Order-by expression not valid"},
		{"", `[{"nope": "asc"}]`, nil, "Order-by expression not valid"},
		{"", "", &limit0, "Limit should be positive"},
	}
	for _, c := range cases {
		_, err := ParseComplexQuery(c.filter, c.orderby, c.limit, AlarmQueryFields)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, c.want) {
			t.Errorf("%s %s: got %v, want %q", c.filter, c.orderby, err, c.want)
		}
	}
	q, err := ParseComplexQuery(`{"AND": [{"=": {"project": "p1"}}, {"In": {"state": ["ok", "alarm"]}}, {"NOT": {"=<": {"timestamp": "2026-01-01T00:00:00"}}}]}`, `[{"user": "DESC"}]`, nil, AlarmQueryFields)
	if err != nil {
		t.Fatal(err)
	}
	if q.Filter.Op != "and" || q.Filter.Args[0].Field != "project_id" || q.Filter.Args[1].Op != "in" || q.Filter.Args[2].Args[0].Op != "<=" || q.OrderBy[0].Field != "user_id" || !q.OrderBy[0].Desc {
		t.Errorf("parsed %+v", q)
	}
	if err := q.Restrict("project_id", "p2"); err == nil || err.Error() != "Not Authorized to access project p1" {
		t.Errorf("Restrict to another project: %v", err)
	}
	q, _ = ParseComplexQuery(`{"=": {"name": "a"}}`, "", nil, AlarmQueryFields)
	if err := q.Restrict("project_id", "p2"); err != nil || q.Filter.Op != "and" || q.Filter.Args[0].Value != "p2" {
		t.Errorf("Restrict: %v %+v", err, q.Filter)
	}
}

func TestDecodeEvent(t *testing.T) {
	ev, err := DecodeEvent([]byte(`{"message_id": "m1", "event_type": "compute.instance.create.end", "generated": "2026-01-01T00:00:00.5",
		"traits": [{"name": "tenant_id", "type": "string", "value": "p1"}, ["memory_mb", 2, 512], {"name": "ratio", "type": 3, "value": "0.5"},
		["launched_at", 4, "2012-05-08T20:23:47.985999"]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ProjectID != "p1" || ev.Traits["memory_mb"] != 512.0 || ev.Traits["ratio"] != 0.5 || ev.Generated.IsZero() {
		t.Errorf("event %+v", ev)
	}
	for _, bad := range []string{`[]`, `{"event_type": "x"}`, `{"message_id": "m"}`, `{"message_id": "m", "event_type": "x", "traits": [["a", 2, "nope"]]}`, `{"message_id": "m", "event_type": "x", "traits": [[1]]}`} {
		if _, err := DecodeEvent([]byte(bad)); err == nil {
			t.Errorf("DecodeEvent(%s) accepted", bad)
		}
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	u := &Update{Version: UpdateVersion, Series: []UpdatedSeries{{MetricID: "m", ResourceID: "r", ResourceType: "instance", Name: "cpu"}}}
	got, err := DecodeUpdate(AppendUpdate(nil, u))
	if err != nil || len(got.Series) != 1 || got.Series[0] != u.Series[0] {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	if _, err := DecodeUpdate([]byte(`{"v": 2, "series": []}`)); err == nil {
		t.Errorf("version 2 accepted")
	}
}

func TestNotificationBody(t *testing.T) {
	n := &Notification{AlarmName: "h", AlarmID: "id", Severity: "low", Previous: StateInsufficient, Current: StateAlarm, Reason: "r", ReasonData: json.RawMessage(`{"type":"threshold"}`)}
	var m map[string]any
	if err := json.Unmarshal(n.Body(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"alarm_name", "alarm_id", "severity", "previous", "current", "reason", "reason_data"} {
		if _, ok := m[k]; !ok {
			t.Errorf("body lacks %s", k)
		}
	}
	if len(m) != 7 {
		t.Errorf("body has %d keys", len(m))
	}
}

func TestParseAction(t *testing.T) {
	for _, ok := range []string{"http://h/p?x=1", "https://h:8443/", "log://", "nats://alarm.hook", "trust+https://h/signal"} {
		if _, err := ParseAction(ok); err != nil {
			t.Errorf("ParseAction(%q): %v", ok, err)
		}
	}
	for _, c := range []struct{ a, want string }{
		{"zaqar://?queue_name=q", "Unsupported action zaqar://?queue_name=q"},
		{"ftp://h/", "Unsupported action ftp://h/"},
		{"nats://alarm.*", "Unable to parse action nats://alarm.*"},
		{"http://", "Unable to parse action http://"},
	} {
		if _, err := ParseAction(c.a); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("ParseAction(%q) = %v, want %q", c.a, err, c.want)
		}
	}
	if got := ScrubAction("trust+http://tid:delete@h/p"); got != "trust+http://h/p" {
		t.Errorf("ScrubAction = %q", got)
	}
}
