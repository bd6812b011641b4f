package plugin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newTestDS(t testing.TB, url string, mutate func(*Settings)) *Datasource {
	t.Helper()
	s := Settings{URL: url, AuthMode: AuthNoAuth, UserID: "tester", ProjectID: "ops", Roles: "admin"}
	if mutate != nil {
		mutate(&s)
	}
	d, err := New(s, nil)
	if err != nil {
		t.Fatalf("new data source: %v", err)
	}
	d.now = func() time.Time { return testNow }
	t.Cleanup(d.Dispose)
	return d
}

// vmFixture is a fake with six instances over two projects and flavors.
func vmFixture(t testing.TB) *fakeAPI {
	f := newFakeAPI(t, testNow)
	for i := 0; i < 6; i++ {
		project := []string{"p-alpha", "p-beta"}[i%2]
		flavor := []string{"m1.small", "m1.large", "m1.large"}[i%3]
		f.addResource(fmt.Sprintf("vm-%02d", i), "instance", map[string]any{
			"display_name": fmt.Sprintf("web-%d", i), "project_id": project, "flavor_name": flavor, "host": "cmp1",
		}, "cpu", "memory.usage", "disk.device.read.bytes")
	}
	return f
}

type rangeQuery struct {
	from, to time.Time
	interval time.Duration
	maxDP    int64
}

func dayRange() rangeQuery {
	return rangeQuery{from: testNow.Add(-24 * time.Hour), to: testNow, interval: time.Minute, maxDP: 1500}
}

func runQuery(t testing.TB, d *Datasource, q Query, r rangeQuery) backend.DataResponse {
	t.Helper()
	raw, _ := json.Marshal(q)
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", JSON: raw, TimeRange: backend.TimeRange{From: r.from, To: r.to}, Interval: r.interval, MaxDataPoints: r.maxDP,
	}}})
	if err != nil {
		t.Fatalf("QueryData: %v", err)
	}
	return resp.Responses["A"]
}

func mustFrames(t testing.TB, r backend.DataResponse) data.Frames {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("query error: %v", r.Error)
	}
	return r.Frames
}

// checkSeries checks a frame is a typed time series whose points lie in
// the range at step g and have the fake's values.
func checkSeries(t *testing.T, f *data.Frame, metricID, method string, r rangeQuery, g time.Duration) {
	t.Helper()
	if len(f.Fields) != 2 || f.Fields[0].Type() != data.FieldTypeTime || f.Fields[1].Type() != data.FieldTypeFloat64 {
		t.Fatalf("frame %s: fields %v, want time and float64", f.Name, f.Fields)
	}
	n := f.Rows()
	if n == 0 {
		t.Fatalf("frame %s is empty", f.Name)
	}
	for i := 0; i < n; i++ {
		ts := f.Fields[0].At(i).(time.Time)
		if ts.Before(r.from) || ts.After(r.to) {
			t.Fatalf("frame %s: point %v outside [%v, %v]", f.Name, ts, r.from, r.to)
		}
		if i > 0 {
			if step := ts.Sub(f.Fields[0].At(i - 1).(time.Time)); step != g {
				t.Fatalf("frame %s: step %v at %d, want %v", f.Name, step, i, g)
			}
		}
		if v, want := f.Fields[1].At(i).(float64), fakeValue(metricID, ts, method); v != want {
			t.Fatalf("frame %s: value %v at %v, want %v", f.Name, v, ts, want)
		}
	}
	if want := int(r.to.Sub(r.from.Truncate(g).Add(g)) / g); n < want {
		t.Fatalf("frame %s: %d points, want at least %d", f.Name, n, want)
	}
}

func TestQueryMetricByID(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), nil)
	tests := []struct {
		name   string
		q      Query
		r      rangeQuery
		wantG  time.Duration
		method string
	}{
		{"day at a minute", Query{MetricID: "vm-00-m00"}, dayRange(), time.Minute, "mean"},
		{"day in 100 points keeps the minute: the hour is too coarse", Query{MetricID: "vm-00-m00"}, rangeQuery{testNow.Add(-24 * time.Hour), testNow, time.Minute, 100}, time.Minute, "mean"},
		{"week in 100 points takes the hour", Query{MetricID: "vm-00-m00"}, rangeQuery{testNow.Add(-6 * 24 * time.Hour), testNow, time.Minute, 100}, time.Hour, "mean"},
		{"two weeks falls back to the hour", Query{MetricID: "vm-01-m00", Aggregation: "max"}, rangeQuery{testNow.Add(-14 * 24 * time.Hour), testNow, time.Minute, 100000}, time.Hour, "max"},
		{"forced granularity", Query{MetricID: "vm-02-m00", Granularity: "3600"}, dayRange(), time.Hour, "mean"},
		{"legend from the resource's attributes", Query{MetricID: "vm-03-m00", Legend: "{{metric}} of {{display_name}}"}, dayRange(), time.Minute, "mean"},
		{"odd bounds honoured", Query{MetricID: "vm-02-m00"}, rangeQuery{testNow.Add(-90*time.Minute - 17*time.Second), testNow.Add(-7 * time.Second), time.Minute, 1000}, time.Minute, "mean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.QueryType = QueryMetric
			fs := mustFrames(t, runQuery(t, d, tc.q, tc.r))
			if len(fs) != 1 {
				t.Fatalf("%d frames, want 1", len(fs))
			}
			checkSeries(t, fs[0], tc.q.MetricID, tc.method, tc.r, tc.wantG)
			cfg := fs[0].Fields[1].Config
			want := "cpu"
			if tc.q.Legend != "" {
				want = "cpu of web-3"
			}
			if cfg == nil || cfg.Unit != "percent" || cfg.DisplayNameFromDS != want {
				t.Fatalf("field config %+v, want unit percent and name %s", cfg, want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), nil)
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"no metric id", Query{QueryType: QueryMetric}, "needs a metric id"},
		{"unknown metric", Query{QueryType: QueryMetric, MetricID: "nope"}, "Metric nope does not exist"},
		{"unknown method", Query{QueryType: QueryMetric, MetricID: "vm-00-m00", Aggregation: "p99"}, "has no aggregation method p99"},
		{"method that is not a name", Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Aggregation: "mean)) (metric x mean"}, "is not a method name"},
		{"scale out of range", Query{QueryType: QueryMetric, MetricID: "vm-00-m00", Scale: 1e300}, "scale 1e+300 is out of range"},
		{"missing granularity", Query{QueryType: QueryMetric, MetricID: "vm-00-m00", Granularity: "5m"}, "has no granularity 5m0s"},
		{"bad granularity", Query{QueryType: QueryMetric, MetricID: "vm-00-m00", Granularity: "soon"}, "neither seconds nor a duration"},
		{"unknown type", Query{QueryType: "graphite"}, "unknown query type"},
		{"resources without metric", Query{QueryType: QueryResources, ResourceType: "instance"}, "needs a resource type and a metric name"},
		{"bad filter", Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Filter: "project_id ~ 1"}, "Invalid filter"},
		{"too many resources", Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Limit: 3}, "more than 3 resources"},
		{"empty operations", Query{QueryType: QueryAggregates, ResourceType: "instance"}, "needs operations"},
		{"operations read nothing", Query{QueryType: QueryAggregates, ResourceType: "instance", Operations: "(+ 1 2)"}, "read no metric"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runQuery(t, d, tc.q, dayRange())
			if r.Error == nil || !strings.Contains(r.Error.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", r.Error, tc.want)
			}
			if r.Status < 400 || r.Status >= 500 {
				t.Fatalf("status %d, want a 4xx", r.Status)
			}
		})
	}
}

func TestQueryResourcesBySearch(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), nil)
	r := dayRange()
	q := Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Filter: "project_id='p-alpha'", Legend: "{{display_name}} ({{flavor_name}}) {{nope}}"}
	fs := mustFrames(t, runQuery(t, d, q, r))
	if len(fs) != 3 {
		t.Fatalf("%d frames, want the 3 instances of p-alpha", len(fs))
	}
	want := []string{"web-0 (m1.small) {{nope}}", "web-2 (m1.large) {{nope}}", "web-4 (m1.large) {{nope}}"}
	for i, f := range fs {
		if f.Name != want[i] || f.Fields[1].Config.DisplayNameFromDS != want[i] {
			t.Fatalf("frame %d named %q, want %q", i, f.Name, want[i])
		}
		id := fmt.Sprintf("vm-%02d", 2*i)
		if got := f.Fields[1].Labels["resource_id"]; got != id {
			t.Fatalf("frame %d resource_id %q, want %q", i, got, id)
		}
		checkSeries(t, f, id+"-m00", "mean", r, time.Minute)
	}
	// A search that matches nothing answers one empty frame, not an error.
	q.Filter = "project_id='p-none'"
	fs = mustFrames(t, runQuery(t, d, q, r))
	if len(fs) != 1 || fs[0].Rows() != 0 {
		t.Fatalf("no match: %d frames, want one empty frame", len(fs))
	}
}

// TestSearchPages reads searches larger than the API's page size.
func TestSearchPages(t *testing.T) {
	f := newFakeAPI(t, testNow)
	for i := 0; i < 2*fakeMaxLimit+20; i++ {
		f.addResource(fmt.Sprintf("r-%03d", i), "instance", map[string]any{"display_name": fmt.Sprintf("vm-%03d", i)}, "cpu")
	}
	d := newTestDS(t, f.url(), nil)
	r := rangeQuery{from: testNow.Add(-time.Hour), to: testNow, interval: time.Minute, maxDP: 100}
	fs := mustFrames(t, runQuery(t, d, Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu"}, r))
	if len(fs) != 2*fakeMaxLimit+20 || fs[len(fs)-1].Name != fmt.Sprintf("vm-%03d", 2*fakeMaxLimit+19) {
		t.Fatalf("%d frames, want one per resource over three pages", len(fs))
	}
	resp := runQuery(t, d, Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Limit: fakeMaxLimit + 5}, r)
	if resp.Error == nil || !strings.Contains(resp.Error.Error(), "more than 55 resources") {
		t.Fatalf("error %v, want the limit's", resp.Error)
	}
	vs, err := d.Variable(context.Background(), "resources(instance)")
	if err != nil || len(vs) != 2*fakeMaxLimit+20 {
		t.Fatalf("variable: %d values, %v", len(vs), err)
	}
}

func TestQueryAggregatesGroupBy(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), nil)
	r := dayRange()
	q := Query{QueryType: QueryAggregates, ResourceType: "instance", Operations: "(aggregate mean (metric cpu mean))", GroupBy: []string{"project_id"}}
	fs := mustFrames(t, runQuery(t, d, q, r))
	if len(fs) != 2 {
		t.Fatalf("%d frames, want one per project", len(fs))
	}
	if fs[0].Name != "project_id=p-alpha" || fs[1].Name != "project_id=p-beta" {
		t.Fatalf("frames named %q, %q", fs[0].Name, fs[1].Name)
	}
	if fs[0].Fields[1].Labels["project_id"] != "p-alpha" {
		t.Fatalf("labels %v", fs[0].Fields[1].Labels)
	}
	// The mean of the group's means, at each point.
	for i := 0; i < fs[0].Rows(); i++ {
		ts := fs[0].Fields[0].At(i).(time.Time)
		want := (fakeValue("vm-00-m00", ts, "mean") + fakeValue("vm-02-m00", ts, "mean") + fakeValue("vm-04-m00", ts, "mean")) / 3
		if got := fs[0].Fields[1].At(i).(float64); got != want {
			t.Fatalf("point %v: %v, want %v", ts, got, want)
		}
	}
	// Legend templates see the group's attributes.
	q.GroupBy = []string{"project_id", "flavor_name"}
	q.Legend = "{{project_id}}/{{flavor_name}}"
	fs = mustFrames(t, runQuery(t, d, q, r))
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "p-alpha/m1.large p-alpha/m1.small p-beta/m1.large p-beta/m1.small" {
		t.Fatalf("groups %s", got)
	}
	// Without aggregate, one series per resource, named from references.
	q = Query{QueryType: QueryAggregates, ResourceType: "instance", Operations: "(metric memory.usage mean)", Filter: "flavor_name='m1.small'"}
	fs = mustFrames(t, runQuery(t, d, q, r))
	if len(fs) != 2 || fs[0].Name != "web-0 memory.usage" || fs[1].Name != "web-3 memory.usage" {
		t.Fatalf("per-resource frames %v", fs)
	}
	checkSeries(t, fs[0], "vm-00-m01", "mean", r, time.Minute)
	if u := fs[0].Fields[1].Config.Unit; u != "mbytes" {
		t.Fatalf("unit %q, want mbytes", u)
	}
}

func TestPerSecondAndScale(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), nil)
	r := dayRange()
	fs := mustFrames(t, runQuery(t, d, Query{QueryType: QueryResources, ResourceType: "instance", MetricName: "cpu", Aggregation: "rate:mean", Filter: "id='vm-01'", PerSecond: true, Scale: 100}, r))
	if len(fs) != 1 || fs[0].Rows() == 0 {
		t.Fatalf("frames %v", fs)
	}
	for i := 0; i < fs[0].Rows(); i++ {
		ts := fs[0].Fields[0].At(i).(time.Time)
		if got, want := fs[0].Fields[1].At(i).(float64), fakeValue("vm-01-m00", ts, "rate:mean")/60*100; math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Fatalf("point %v: %v, want %v", ts, got, want)
		}
	}
}

func TestQueryMacrosServerSide(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), nil)
	r := dayRange()
	// Alerting sends queries as saved: $__interval reaches the backend.
	q := Query{QueryType: QueryMetric, MetricID: "vm-00-m00", Granularity: "$__interval"}
	r.interval = time.Hour
	fs := mustFrames(t, runQuery(t, d, q, r))
	checkSeries(t, fs[0], "vm-00-m00", "mean", r, time.Hour)
	m := macros{from: testNow.Add(-time.Hour), to: testNow, interval: 90 * time.Second}
	for in, want := range map[string]string{
		"$__interval":                 "90",
		"${__interval_ms}":            "90000",
		"$__range_s":                  "3600",
		"started_at < '$__to'":        "started_at < '2024-05-01T12:00:00Z'",
		"$__from..${__to}":            "2024-05-01T11:00:00Z..2024-05-01T12:00:00Z",
		"no macros, $var stays as is": "no macros, $var stays as is",
	} {
		if got := m.expand(in); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func alarmFixture(f *fakeAPI) {
	f.alarms = []map[string]any{
		{"alarm_id": "a1", "name": "cpu-high", "type": "gnocchi_aggregation_by_resources_threshold", "state": "alarm", "severity": "critical", "enabled": true, "state_timestamp": "2024-05-01T11:30:00.000000", "state_reason": "Transition to alarm due to 3 samples outside threshold"},
		{"alarm_id": "a2", "name": "mem-low", "type": "threshold", "state": "ok", "severity": "low", "enabled": true, "state_timestamp": "2024-05-01T10:00:00.000000", "state_reason": "Transition to ok"},
		{"alarm_id": "a3", "name": "disk", "type": "threshold", "state": "insufficient data", "severity": "moderate", "enabled": false, "state_timestamp": "2024-05-01T09:00:00+00:00"},
	}
	f.history = []map[string]any{
		{"event_id": "e3", "alarm_id": "a1", "type": "state transition", "detail": `{"state": "alarm", "transition_reason": "Transition to alarm due to 3 samples outside threshold"}`, "timestamp": "2024-05-01T11:30:00.000000", "severity": "critical"},
		{"event_id": "e2", "alarm_id": "a1", "type": "rule change", "detail": `{"threshold": 80}`, "timestamp": "2024-05-01T11:00:00.000000"},
		{"event_id": "e1", "alarm_id": "a2", "type": "state transition", "detail": `{"state": "ok", "transition_reason": "Transition to ok"}`, "timestamp": "2024-05-01T10:00:00.000000"},
		{"event_id": "e0", "alarm_id": "a2", "type": "creation", "detail": `{}`, "timestamp": "2024-04-01T10:00:00.000000"},
	}
}

func TestQueryAlarms(t *testing.T) {
	f := vmFixture(t)
	alarmFixture(f)
	d := newTestDS(t, f.url(), nil)
	fs := mustFrames(t, runQuery(t, d, Query{QueryType: QueryAnnotations}, dayRange()))
	ann := fs[0]
	if ann.Rows() != 2 {
		t.Fatalf("%d annotations, want the 2 state transitions of the day", ann.Rows())
	}
	row := func(f *data.Frame, name string, i int) any {
		fld, _ := f.FieldByName(name)
		if fld == nil {
			t.Fatalf("frame %s has no field %s", f.Name, name)
		}
		return fld.At(i)
	}
	if row(ann, "title", 0) != "mem-low → ok" || row(ann, "title", 1) != "cpu-high → alarm" {
		t.Fatalf("titles %v, %v", row(ann, "title", 0), row(ann, "title", 1))
	}
	if row(ann, "tags", 1) != "vigil,alarm,alarm,critical" || row(ann, "state_value", 1) != 1.0 {
		t.Fatalf("tags %v value %v", row(ann, "tags", 1), row(ann, "state_value", 1))
	}
	if !row(ann, "time", 1).(time.Time).Equal(time.Date(2024, 5, 1, 11, 30, 0, 0, time.UTC)) {
		t.Fatalf("time %v", row(ann, "time", 1))
	}
	fs = mustFrames(t, runQuery(t, d, Query{QueryType: QueryAnnotations, AlarmID: "a1", HistoryType: "all"}, dayRange()))
	if fs[0].Rows() != 2 {
		t.Fatalf("%d changes of a1, want 2", fs[0].Rows())
	}
	fs = mustFrames(t, runQuery(t, d, Query{QueryType: QueryAlarms}, dayRange()))
	tab := fs[0]
	if tab.Rows() != 3 || row(tab, "name", 0) != "cpu-high" || row(tab, "state_value", 1) != 2.0 || row(tab, "state", 2) != "ok" {
		t.Fatalf("alarms table %v", tab)
	}
	fs = mustFrames(t, runQuery(t, d, Query{QueryType: QueryAlarms, AlarmState: "alarm"}, dayRange()))
	if fs[0].Rows() != 1 {
		t.Fatalf("%d alarms in state alarm, want 1", fs[0].Rows())
	}
}

type captureSender struct{ resp *backend.CallResourceResponse }

func (c *captureSender) Send(r *backend.CallResourceResponse) error { c.resp = r; return nil }

func callResource(t *testing.T, d *Datasource, method, path string, body string) (int, string) {
	t.Helper()
	var s captureSender
	req := &backend.CallResourceRequest{Method: method, Path: strings.SplitN(path, "?", 2)[0], URL: "/" + path, Body: []byte(body)}
	if err := d.CallResource(context.Background(), req, &s); err != nil {
		t.Fatalf("CallResource %s: %v", path, err)
	}
	return s.resp.Status, string(s.resp.Body)
}

func TestCallResource(t *testing.T) {
	f := vmFixture(t)
	alarmFixture(f)
	f.addResource("host-1", "host", map[string]any{"host_name": "cmp1"}, "hardware.cpu.util")
	d := newTestDS(t, f.url(), nil)
	tests := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "resource-types", "", 200, `[{"name":"generic","attributes":["display_name"]},{"name":"host","attributes":["display_name"]},{"name":"instance","attributes":["display_name"]}]`},
		{"GET", "resources?type=instance&filter=flavor_name%3D%27m1.small%27", "", 200, `[{"id":"vm-00","name":"web-0","type":"instance","project_id":"p-alpha","metrics":["cpu","disk.device.read.bytes","memory.usage"]},{"id":"vm-03","name":"web-3","type":"instance","project_id":"p-beta","metrics":["cpu","disk.device.read.bytes","memory.usage"]}]`},
		{"GET", "resources?type=instance&limit=0", "", 400, `limit \"0\"`},
		{"GET", "metric-names?type=host", "", 200, `["hardware.cpu.util"]`},
		{"GET", "archive-policies", "", 200, `[{"name":"low","aggregation_methods":["count","last","max","mean","min","rate:mean","sum"],"granularities":[300]},{"name":"medium","aggregation_methods":["count","last","max","mean","min","rate:mean","sum"],"granularities":[60,3600]}]`},
		{"GET", "alarms", "", 200, `{"alarm_id":"a1","name":"cpu-high","state":"alarm","severity":"critical"}`},
		{"POST", "variable", `{"query": "resources(instance, project_id='p-beta')"}`, 200, `[{"text":"web-1","value":"vm-01"},{"text":"web-3","value":"vm-03"},{"text":"web-5","value":"vm-05"}]`},
		{"POST", "variable", `{"query": "metrics(instance)"}`, 200, `[{"text":"cpu","value":"cpu"},{"text":"disk.device.read.bytes","value":"disk.device.read.bytes"},{"text":"memory.usage","value":"memory.usage"}]`},
		{"POST", "variable", `{"query": "attribute_values(instance, flavor_name)"}`, 200, `[{"text":"m1.large","value":"m1.large"},{"text":"m1.small","value":"m1.small"}]`},
		{"POST", "variable", `{"query": "attribute_values(instance, display_name, project_id='p-alpha' and flavor_name='m1.large')"}`, 200, `[{"text":"web-2","value":"web-2"},{"text":"web-4","value":"web-4"}]`},
		{"POST", "variable", `{"query": "alarms(alarm)"}`, 200, `[{"text":"cpu-high","value":"a1"}]`},
		{"POST", "variable", `{"query": "resource_types()"}`, 200, `{"text":"host","value":"host"}`},
		{"POST", "variable", `{"query": "nonsense(x)"}`, 400, "unknown function"},
		{"POST", "variable", `{"query": "resources()"}`, 400, "needs at least 1 arguments"},
		{"POST", "variable", `not json`, 400, "cannot decode"},
		{"GET", "variable", "", 400, "takes POST"},
		{"GET", "secrets", "", 400, "unknown resource"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+tc.body, func(t *testing.T) {
			code, body := callResource(t, d, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s, want %d with %s", code, body, tc.code, tc.want)
			}
		})
	}
}

func TestCheckHealth(t *testing.T) {
	f := vmFixture(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:secret"))
	f.auth = func(r *http.Request) bool {
		return r.Header.Get("X-User-Id") == "tester" || r.Header.Get("Authorization") == basic || r.Header.Get("X-Auth-Token") == "tok-1"
	}
	tests := []struct {
		name   string
		mutate func(*Settings)
		header map[string]string
		ok     bool
		want   string
	}{
		{"noauth", nil, nil, true, "vigil 4.4.2 (API v1.0): connected as tester/ops (admin), 2 archive policies"},
		{"noauth refused", func(s *Settings) { s.UserID = "intruder" }, nil, false, "refuses the credentials of auth mode noauth"},
		{"basic", func(s *Settings) { s.AuthMode, s.BasicUser, s.BasicPassword = AuthBasic, "admin", "secret" }, nil, true, "connected as user admin"},
		{"keystone token", func(s *Settings) { s.AuthMode, s.Token = AuthKeystone, "tok-1" }, nil, true, "connected as a Keystone token"},
		{"keystone forwarded", func(s *Settings) { s.AuthMode, s.ForwardToken = AuthKeystone, true }, map[string]string{"X-Auth-Token": "tok-1"}, true, "Keystone"},
		{"keystone bearer forwarded", func(s *Settings) { s.AuthMode, s.ForwardToken = AuthKeystone, true }, map[string]string{"Authorization": "Bearer tok-1"}, true, "Keystone"},
		{"keystone nothing forwarded", func(s *Settings) { s.AuthMode, s.ForwardToken = AuthKeystone, true }, nil, false, "refuses the credentials"},
		{"keystone bad token", func(s *Settings) { s.AuthMode, s.Token = AuthKeystone, "tok-2" }, nil, false, "refuses the credentials of auth mode keystone: Authentication required"},
		{"unreachable", func(s *Settings) { s.URL = "http://127.0.0.1:1" }, nil, false, "cannot reach the vigil API"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDS(t, f.url(), tc.mutate)
			req := &backend.CheckHealthRequest{}
			for k, v := range tc.header {
				req.SetHTTPHeader(k, v)
			}
			res, err := d.CheckHealth(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if (res.Status == backend.HealthStatusOk) != tc.ok || !strings.Contains(res.Message, tc.want) {
				t.Fatalf("status %v %q, want ok=%v with %q", res.Status, res.Message, tc.ok, tc.want)
			}
		})
	}
}

func TestResponseBound(t *testing.T) {
	f := vmFixture(t)
	d := newTestDS(t, f.url(), func(s *Settings) { s.MaxResponseBytes = 4 << 10 })
	r := runQuery(t, d, Query{QueryType: QueryMetric, MetricID: "vm-00-m00"}, dayRange())
	if r.Error == nil || !strings.Contains(r.Error.Error(), "response too large") {
		t.Fatalf("error %v, want response too large", r.Error)
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name   string
		s      backend.DataSourceInstanceSettings
		want   string
		expect func(Settings) bool
	}{
		{"defaults", backend.DataSourceInstanceSettings{URL: "http://v:8041/", JSONData: []byte(`{"userId": "grafana"}`)}, "", func(s Settings) bool {
			return s.URL == "http://v:8041" && s.AuthMode == AuthNoAuth && s.UserID == "grafana" && s.Roles == "" && s.Timeout == DefaultTimeout && s.MaxSeries == DefaultMaxSeries && s.MaxResponseBytes == DefaultMaxResponseBytes
		}},
		{"noauth without identity", backend.DataSourceInstanceSettings{URL: "http://v"}, "needs a user id, a project id or the admin role", nil},
		{"secrets from secureJsonData", backend.DataSourceInstanceSettings{URL: "https://v", JSONData: []byte(`{"authMode":"keystone"}`), DecryptedSecureJSONData: map[string]string{"token": "t"}}, "", func(s Settings) bool { return s.Token == "t" }},
		{"grafana basic auth", backend.DataSourceInstanceSettings{URL: "http://v", BasicAuthEnabled: true, BasicAuthUser: "u", DecryptedSecureJSONData: map[string]string{"basicAuthPassword": "p"}}, "", func(s Settings) bool {
			return s.AuthMode == AuthBasic && s.BasicUser == "u" && s.BasicPassword == "p"
		}},
		{"no url", backend.DataSourceInstanceSettings{}, "has no URL", nil},
		{"bad scheme", backend.DataSourceInstanceSettings{URL: "ftp://v"}, "not an http(s) URL", nil},
		{"bad mode", backend.DataSourceInstanceSettings{URL: "http://v", JSONData: []byte(`{"authMode":"kerberos"}`)}, "unknown auth mode", nil},
		{"keystone without token", backend.DataSourceInstanceSettings{URL: "http://v", JSONData: []byte(`{"authMode":"keystone"}`)}, "needs a token", nil},
		{"basic without user", backend.DataSourceInstanceSettings{URL: "http://v", JSONData: []byte(`{"authMode":"basic"}`)}, "needs a user name", nil},
		{"bad json", backend.DataSourceInstanceSettings{URL: "http://v", JSONData: []byte(`{`)}, "cannot read", nil},
		{"timeout range", backend.DataSourceInstanceSettings{URL: "http://v", JSONData: []byte(`{"roles": "admin", "timeoutSeconds": 3600}`)}, "timeout 1h0m0s is out of range", nil},
		{"size range", backend.DataSourceInstanceSettings{URL: "http://v", JSONData: []byte(`{"roles": "admin", "maxResponseMB": 4096}`)}, "out of range", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(tc.s)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || !tc.expect(s) {
				t.Fatalf("settings %+v, error %v", s, err)
			}
		})
	}
}

func TestChooseGranularity(t *testing.T) {
	defs := []Definition{
		{Granularity: time.Minute, Timespan: 7 * 24 * time.Hour},
		{Granularity: time.Hour, Timespan: 365 * 24 * time.Hour},
		{Granularity: 5 * time.Minute, Timespan: 30 * 24 * time.Hour},
	}
	day := 24 * time.Hour
	tests := []struct {
		name     string
		age      time.Duration
		span     time.Duration
		interval time.Duration
		maxDP    int64
		want     time.Duration
	}{
		{"day at one minute", day, day, time.Minute, 1440, time.Minute},
		{"day in 300 points: 5 minutes", day, day, 0, 288, 5 * time.Minute},
		{"day in 200 points: coarsest finer than 7.2m", day, day, 0, 200, 5 * time.Minute},
		{"interval 2m: 1m is the coarsest at least as fine", day, day, 2 * time.Minute, 100000, time.Minute},
		{"finer than any: the finest", day, day, time.Second, 100000, time.Minute},
		{"hour step", day, day, time.Hour, 0, time.Hour},
		{"8 days back drops 1m", 8 * day, day, time.Minute, 1500, 5 * time.Minute},
		{"60 days back: only the hour keeps it", 60 * day, day, time.Minute, 1500, time.Hour},
		{"two years back: the longest retention", 730 * day, day, time.Minute, 1500, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := testNow.Add(-tc.age)
			got, err := ChooseGranularity(defs, from, from.Add(tc.span), testNow, tc.interval, tc.maxDP)
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := ChooseGranularity(nil, testNow, testNow, testNow, 0, 0); err == nil {
		t.Fatal("no definitions: want an error")
	}
	unbounded := []Definition{{Granularity: time.Hour}, {Granularity: time.Minute, Timespan: day}}
	if got, _ := ChooseGranularity(unbounded, testNow.Add(-90*day), testNow, testNow, time.Minute, 0); got != time.Hour {
		t.Fatalf("unbounded retention: got %v, want 1h", got)
	}
}

func TestParseTimedelta(t *testing.T) {
	tests := []struct {
		in   any
		want time.Duration
		err  bool
	}{
		{"0:05:00", 5 * time.Minute, false},
		{"1:00:00", time.Hour, false},
		{"1 day, 0:00:00", 24 * time.Hour, false},
		{"365 days, 0:00:00", 365 * 24 * time.Hour, false},
		{"0:00:00.500000", 500 * time.Millisecond, false},
		{"2 days, 3:04:05", 51*time.Hour + 4*time.Minute + 5*time.Second, false},
		{60.0, time.Minute, false},
		{"300", 5 * time.Minute, false},
		{nil, 0, false},
		{"5 minutes", 0, true},
		{"0:61:00", 0, true},
		{"-1 day, 23:00:00", 0, true},
		{true, 0, true},
		{-5.0, 0, true},
	}
	for _, tc := range tests {
		got, err := parseSpan(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSpan(%v) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestOperationMetrics(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"(metric cpu mean)", "cpu"},
		{"(aggregate mean (metric cpu mean))", "cpu"},
		{"(/ (metric disk.read.bytes mean) (metric disk.write.bytes mean))", "disk.read.bytes disk.write.bytes"},
		{"(metric (a1 mean) (b2 max))", "a1 b2"},
		{"(rolling mean 3 (aggregate sum (metric (a mean) (b mean))))", "a b"},
		{"(+ 1 2)", ""},
		{"((((", ""},
		{"(metric cpu mean)) trailing", ""},
	}
	for _, tc := range tests {
		if got := strings.Join(operationMetrics(tc.in), " "); got != tc.want {
			t.Errorf("operationMetrics(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	deep := strings.Repeat("(abs ", 100) + "(metric x mean)" + strings.Repeat(")", 100)
	if got := operationMetrics(deep); got != nil {
		t.Errorf("operations nested 100 deep: %v, want none (bounded depth)", got)
	}
}

func TestLegendAndUnits(t *testing.T) {
	r := &Resource{ID: "r1", Attributes: map[string]any{"display_name": "web", "vcpus": 4.0, "ok": true, "project_id": nil}}
	lookup := resourceLookup(r, "cpu", "max")
	for tmpl, want := range map[string]string{
		"{{display_name}}":                    "web",
		"{{ display_name }} {{vcpus}} {{ok}}": "web 4 true",
		"{{metric}}/{{aggregation}} {{id}}":   "cpu/max r1",
		"{{project_id}}|{{missing}}":          "|{{missing}}",
		"plain":                               "plain",
	} {
		if got := renderLegend(tmpl, lookup); got != want {
			t.Errorf("renderLegend(%q) = %q, want %q", tmpl, got, want)
		}
	}
	for in, want := range map[string]string{"%": "percent", "B/s": "Bps", "ns": "ns", "KB": "kbytes", "": "", "instance": "suffix: instance"} {
		if got := grafanaUnit(in); got != want {
			t.Errorf("grafanaUnit(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseVariableQuery(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  string
	}{
		{"resources(instance, project_id='x')", "resources [instance project_id='x']", ""},
		{" resources( instance ) ", "resources [instance]", ""},
		{"resources(instance, project_id in ['a', 'b'] and flavor_name='m1, large')", "resources [instance project_id in ['a', 'b'] and flavor_name='m1, large']", ""},
		{"metrics(instance)", "metrics [instance]", ""},
		{"attribute_values(instance, flavor_name, project_id='x')", "attribute_values [instance flavor_name project_id='x']", ""},
		{"resource_types()", "resource_types []", ""},
		{"alarms(insufficient data)", "alarms [insufficient data]", ""},
		{"resources", "", "want a function"},
		{"resources(", "", "want a function"},
		{"resources('x', y)", "", "is not a name"},
		{"attribute_values(instance)", "", "at least 2"},
		{"drop(table)", "", "unknown function"},
	}
	for _, tc := range tests {
		q, err := ParseVariableQuery(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseVariableQuery(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if got := fmt.Sprint(q.Func, " ", q.Args); err != nil || got != tc.want {
			t.Errorf("ParseVariableQuery(%q) = %s %v, %v; want %s", tc.in, q.Func, q.Args, err, tc.want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	tests := map[string]string{
		`{"code": 404, "description": "Metric x does not exist", "title": "Not Found"}`:                     "Metric x does not exist",
		`{"code": 400, "description": {"cause": "Invalid filter", "reason": "bad", "detail": ["a"]}}`:       `Invalid filter: bad: ["a"]`,
		`{"error_message": {"faultstring": "Alarm a not found", "faultcode": "Client", "debuginfo": null}}`: "Alarm a not found",
		`{"error_message": "Forbidden"}`: "Forbidden",
		`<html>oops</html>`:              "<html>oops</html>",
		``:                               "no error message",
	}
	for in, want := range tests {
		if got := errorMessage([]byte(in)); got != want {
			t.Errorf("errorMessage(%s) = %q, want %q", in, got, want)
		}
	}
}
