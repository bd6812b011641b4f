package aodh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/alarms/notifier"
	"github.com/vigil-telemetry/vigil/alarms/store"
)

// noauth reads the identity headers as the main API's noauth mode does.
func noauth(r *http.Request) (Identity, error) {
	id := Identity{UserID: r.Header.Get("X-User-Id"), ProjectID: r.Header.Get("X-Project-Id"), Token: r.Header.Get("X-Auth-Token")}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		role = strings.TrimSpace(role)
		if role != "" {
			id.Roles = append(id.Roles, role)
		}
		if role == "admin" {
			id.Admin = true
		}
	}
	return id, nil
}

type changes struct {
	mu  sync.Mutex
	ids []string
}

func (c *changes) AlarmChanged(_ context.Context, id string) {
	c.mu.Lock()
	c.ids = append(c.ids, id)
	c.mu.Unlock()
}

type env struct {
	t       *testing.T
	srv     *httptest.Server
	store   *store.Store
	changes *changes
}

func newEnv(t *testing.T, mod func(d *Deps)) *env {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "alarms.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := &env{t: t, store: s, changes: &changes{}}
	d := Deps{Store: s, Auth: noauth, Evaluator: e.changes}
	if mod != nil {
		mod(&d)
	}
	mux := http.NewServeMux()
	Register(mux, d)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// who is a caller's headers.
type who struct{ user, project, roles string }

var (
	alice = who{"alice", "p1", "member"}
	bob   = who{"bob", "p2", "member"}
	admin = who{"root", "admin-project", "admin"}
)

type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("cannot decode %s: %v", r.body, err)
	}
}

func (r resp) object(t *testing.T) map[string]any {
	var m map[string]any
	r.json(t, &m)
	return m
}

func (r resp) list(t *testing.T) []map[string]any {
	var l []map[string]any
	r.json(t, &l)
	return l
}

// fault returns the faultstring of an Aodh error body, checking its shape.
func (r resp) fault(t *testing.T) string {
	t.Helper()
	var m struct {
		E map[string]any `json:"error_message"`
	}
	r.json(t, &m)
	if m.E == nil {
		t.Fatalf("no error_message in %s", r.body)
	}
	want := "Client"
	if r.code >= 500 {
		want = "Server"
	}
	if m.E["faultcode"] != want || m.E["debuginfo"] != nil {
		t.Errorf("error shape %s", r.body)
	}
	s, _ := m.E["faultstring"].(string)
	return s
}

var reqID = regexp.MustCompile(`^req-[0-9a-f-]{36}$`)

func (e *env) do(w who, method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if w.user != "" {
		req.Header.Set("X-User-Id", w.user)
		req.Header.Set("X-Project-Id", w.project)
		req.Header.Set("X-Roles", w.roles)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if !reqID.MatchString(res.Header.Get("X-Openstack-Request-Id")) {
		e.t.Errorf("%s %s: request id %q", method, path, res.Header.Get("X-Openstack-Request-Id"))
	}
	return resp{code: res.StatusCode, header: res.Header, body: b}
}

func (e *env) expect(w who, method, path string, body any, code int) resp {
	e.t.Helper()
	r := e.do(w, method, path, body)
	if r.code != code {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.code, r.body, code)
	}
	return r
}

func thresholdAlarm(name string) map[string]any {
	return map[string]any{
		"name": name, "type": "gnocchi_resources_threshold",
		"alarm_actions": []string{"http://heat:8000/v1/signal/x", "http://heat:8000/v1/signal/x"},
		"gnocchi_resources_threshold_rule": map[string]any{
			"metric": "cpu", "resource_id": "r1", "resource_type": "instance",
			"threshold": 80, "aggregation_method": "mean", "comparison_operator": "gt", "granularity": "300",
		},
	}
}

var aodhTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$`)

func TestCreate(t *testing.T) {
	e := newEnv(t, nil)
	r := e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("cpu-high"), http.StatusCreated)
	a := r.object(t)
	if loc := r.header.Get("Location"); loc != e.srv.URL+"/v2/alarms/"+a["alarm_id"].(string) {
		t.Errorf("Location %q", loc)
	}
	for k, want := range map[string]any{
		"name": "cpu-high", "description": "gnocchi_resources_threshold alarm rule", "enabled": true, "state": "insufficient data",
		"state_reason": "Not evaluated yet", "severity": "low", "repeat_actions": false, "user_id": "alice", "project_id": "p1",
		"type": "gnocchi_resources_threshold",
	} {
		if a[k] != want {
			t.Errorf("%s = %v, want %v", k, a[k], want)
		}
	}
	for _, k := range []string{"timestamp", "state_timestamp", "evaluate_timestamp"} {
		if s, _ := a[k].(string); !aodhTime.MatchString(s) {
			t.Errorf("%s = %v, not Aodh's datetime form", k, a[k])
		}
	}
	if acts := a["alarm_actions"].([]any); len(acts) != 1 {
		t.Errorf("duplicate actions kept: %v", acts)
	}
	if l := a["ok_actions"].([]any); len(l) != 0 {
		t.Errorf("ok_actions %v", l)
	}
	rule := a["gnocchi_resources_threshold_rule"].(map[string]any)
	if rule["granularity"] != 300.0 || rule["evaluation_periods"] != 1.0 || rule["threshold"] != 80.0 {
		t.Errorf("rule %v", rule)
	}
	if _, ok := a["rule"]; ok {
		t.Errorf("REST form has a storage rule key")
	}
	if len(e.changes.ids) != 1 || e.changes.ids[0] != a["alarm_id"] {
		t.Errorf("evaluator told of %v", e.changes.ids)
	}
	h := e.expect(alice, "GET", "/v2/alarms/"+a["alarm_id"].(string)+"/history", nil, http.StatusOK).list(t)
	if len(h) != 1 || h[0]["type"] != "creation" || h[0]["on_behalf_of"] != "p1" || h[0]["user_id"] != "alice" {
		t.Fatalf("creation history %v", h)
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(h[0]["detail"].(string)), &detail); err != nil || detail["rule"] == nil || detail["name"] != "cpu-high" {
		t.Errorf("creation detail %v (%v)", h[0]["detail"], err)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.Quotas = store.Quotas{Project: 2, User: -1}
		d.MaxActions = 2
	})
	e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("taken"), http.StatusCreated)
	with := func(mod func(m map[string]any)) map[string]any {
		m := thresholdAlarm("x")
		mod(m)
		return m
	}
	rule := func(m map[string]any) map[string]any { return m["gnocchi_resources_threshold_rule"].(map[string]any) }
	cases := []struct {
		name string
		w    who
		body any
		code int
		want string
	}{
		{"invalid JSON", alice, "{nope", 400, "Request is not in valid JSON format"},
		{"no name", alice, with(func(m map[string]any) { delete(m, "name") }), 400, "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."},
		{"unknown attribute", alice, with(func(m map[string]any) { m["colour"] = "red" }), 400, "Unknown attribute for argument data: colour"},
		{"bad type", alice, with(func(m map[string]any) { m["type"] = "threshold" }), 400, "Invalid input for field/attribute type. Value: 'threshold'. Value should be one of: "},
		{"bad severity", alice, with(func(m map[string]any) { m["severity"] = "huge" }), 400, "Invalid input for field/attribute severity. Value: 'huge'. Value should be one of: low, moderate, critical"},
		{"bad state", alice, with(func(m map[string]any) { m["state"] = "on" }), 400, "Invalid input for field/attribute state. Value: 'on'."},
		{"no rule", alice, with(func(m map[string]any) { delete(m, "gnocchi_resources_threshold_rule") }), 400, "gnocchi_resources_threshold_rule must be set for gnocchi_resources_threshold type alarm"},
		{"two rules", alice, with(func(m map[string]any) { m["event_rule"] = map[string]any{"event_type": "x"} }), 400, "event_rule and gnocchi_resources_threshold_rule cannot be set at the same time"},
		{"rule field missing", alice, with(func(m map[string]any) { delete(rule(m), "threshold") }), 400, "Invalid input for field/attribute threshold. Value: 'None'. Mandatory field missing."},
		{"bad aggregation", alice, with(func(m map[string]any) { rule(m)["aggregation_method"] = "avg" }), 400, "aggregation_method should be in ["},
		{"unsupported action", alice, with(func(m map[string]any) { m["ok_actions"] = []string{"zaqar://?queue_name=q"} }), 400, "Unsupported action zaqar://?queue_name=q"},
		{"log action by a member", alice, with(func(m map[string]any) { m["ok_actions"] = []string{"log://"} }), 401, "You are not authorized to create action: log://"},
		{"too many actions", alice, with(func(m map[string]any) { m["ok_actions"] = []string{"http://a/", "http://b/", "http://c/"} }), 400, "ok_actions count exceeds maximum value 2"},
		{"other project", alice, with(func(m map[string]any) { m["project_id"] = "p2" }), 401, "Not Authorized to access project p2"},
		{"other user", alice, with(func(m map[string]any) { m["user_id"] = "mallory" }), 401, "Not Authorized to access user mallory"},
		{"taken name", alice, thresholdAlarm("taken"), 409, "Alarm with name='taken' exists"},
		{"duplicate time constraint", alice, with(func(m map[string]any) {
			m["time_constraints"] = []any{map[string]any{"name": "a", "start": "0 1 * * *", "duration": 60}, map[string]any{"name": "a", "start": "0 2 * * *", "duration": 60}}
		}), 400, "Time constraint names must be unique for a given alarm."},
		{"bad timezone", alice, with(func(m map[string]any) {
			m["time_constraints"] = []any{map[string]any{"name": "a", "start": "0 1 * * *", "duration": 60, "timezone": "Moon/Base"}}
		}), 400, "Timezone Moon/Base is not valid"},
		{"trust id given", alice, with(func(m map[string]any) { m["alarm_actions"] = []string{"trust+http://t:delete@heat/signal"} }), 400, "trust URL cannot contain a trust ID."},
		{"trust without Keystone", alice, with(func(m map[string]any) { m["alarm_actions"] = []string{"trust+http://heat/signal"} }), 500, "trust+ actions need Keystone"},
		{"expression error", alice, map[string]any{"name": "e", "type": "expression", "expression_rule": map[string]any{
			"expression": "cpu.mean > 80 && cpu.avg < 3",
			"queries":    map[string]any{"cpu": map[string]any{"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean"}},
		}}, 400, "Invalid expression at line 1, column 22: type alarms.Stats has no field avg"},
	}
	for _, c := range cases {
		r := e.do(c.w, "POST", "/v2/alarms", c.body)
		if r.code != c.code || !strings.Contains(r.fault(t), c.want) {
			t.Errorf("%s: %d %s\nwant %d %q", c.name, r.code, r.body, c.code, c.want)
		}
	}
	e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("second"), http.StatusCreated)
	r := e.do(alice, "POST", "/v2/alarms", thresholdAlarm("third"))
	if r.code != 403 || r.fault(t) != "Alarm quota exceeded for user alice on project p1" {
		t.Errorf("over quota: %d %s", r.code, r.body)
	}
	// Admins may create log:// actions and alarms for other projects.
	m := thresholdAlarm("for-p2")
	m["project_id"], m["ok_actions"] = "p2", []string{"log://"}
	a := e.expect(admin, "POST", "/v2/alarms", m, http.StatusCreated).object(t)
	if a["project_id"] != "p2" || a["user_id"] != "root" {
		t.Errorf("admin on behalf of p2: %v %v", a["project_id"], a["user_id"])
	}
}

func TestGetAndScoping(t *testing.T) {
	e := newEnv(t, nil)
	a := e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("a"), http.StatusCreated).object(t)
	id := a["alarm_id"].(string)
	got := e.expect(alice, "GET", "/v2/alarms/"+id, nil, http.StatusOK).object(t)
	if got["name"] != "a" || got["timestamp"] != a["timestamp"] {
		t.Errorf("GET: %v", got)
	}
	r := e.do(bob, "GET", "/v2/alarms/"+id, nil)
	if r.code != 404 || r.fault(t) != "Alarm "+id+" not found in project p2" {
		t.Errorf("other project: %d %s", r.code, r.body)
	}
	for _, p := range []string{"", "/state", "/history"} {
		if r := e.do(bob, "GET", "/v2/alarms/"+id+p, nil); r.code != 404 {
			t.Errorf("bob GET %s: %d", p, r.code)
		}
	}
	if r := e.do(bob, "DELETE", "/v2/alarms/"+id, nil); r.code != 404 {
		t.Errorf("bob DELETE: %d", r.code)
	}
	e.expect(admin, "GET", "/v2/alarms/"+id, nil, http.StatusOK)
	r = e.do(admin, "GET", "/v2/alarms/nope", nil)
	if r.code != 404 || r.fault(t) != "Alarm nope not found" {
		t.Errorf("unknown alarm: %d %s", r.code, r.body)
	}
}

func TestPut(t *testing.T) {
	e := newEnv(t, nil)
	a := e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("a"), http.StatusCreated).object(t)
	e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("b"), http.StatusCreated)
	id := a["alarm_id"].(string)
	// aodhclient sends back the whole GET body with changes merged.
	a["severity"] = "critical"
	a["gnocchi_resources_threshold_rule"].(map[string]any)["threshold"] = 95
	a["state"] = "alarm"
	time.Sleep(2 * time.Millisecond)
	got := e.expect(alice, "PUT", "/v2/alarms/"+id, a, http.StatusOK).object(t)
	if got["severity"] != "critical" || got["state"] != "alarm" || got["state_reason"] != "Manually set via API" || got["timestamp"] == a["timestamp"] {
		t.Errorf("after PUT: %v", got)
	}
	if got["gnocchi_resources_threshold_rule"].(map[string]any)["threshold"] != 95.0 {
		t.Errorf("rule after PUT: %v", got["gnocchi_resources_threshold_rule"])
	}
	h := e.expect(alice, "GET", "/v2/alarms/"+id+"/history?q.field=type&q.value=rule%20change", nil, http.StatusOK).list(t)
	if len(h) != 1 {
		t.Fatalf("rule change history %v", h)
	}
	var d map[string]any
	_ = json.Unmarshal([]byte(h[0]["detail"].(string)), &d)
	if d["severity"] != "critical" || d["state"] != "alarm" || d["rule"] == nil || d["name"] != nil {
		t.Errorf("rule change detail %v", d)
	}
	// A raw PUT is a full replacement: state falls back to its default.
	raw := thresholdAlarm("a")
	got = e.expect(alice, "PUT", "/v2/alarms/"+id, raw, http.StatusOK).object(t)
	if got["state"] != "insufficient data" || got["severity"] != "low" || got["evaluate_timestamp"] != nil {
		t.Errorf("raw PUT: %v", got)
	}
	r := e.do(alice, "PUT", "/v2/alarms/"+id, thresholdAlarm("b"))
	if r.code != 409 || r.fault(t) != "Alarm with name=b exists" {
		t.Errorf("rename onto a taken name: %d %s", r.code, r.body)
	}
	// A member cannot move an alarm to another project: it stays its own.
	m := thresholdAlarm("a")
	m["project_id"] = "p2"
	got = e.expect(alice, "PUT", "/v2/alarms/"+id, m, http.StatusOK).object(t)
	if got["project_id"] != "p1" {
		t.Errorf("member moved an alarm to %v", got["project_id"])
	}
	r = e.do(alice, "PATCH", "/v2/alarms/"+id, `{}`)
	if r.code != 405 || r.header.Get("Allow") != "GET, PUT, DELETE" {
		t.Errorf("PATCH: %d Allow %q", r.code, r.header.Get("Allow"))
	}
	r = e.do(alice, "PUT", "/v2/alarms/"+id, `{"name": "a", "type": "gnocchi_resources_threshold"}`)
	if r.code != 400 {
		t.Errorf("PUT without a rule: %d", r.code)
	}
}

func TestDeleteAndState(t *testing.T) {
	e := newEnv(t, nil)
	id := e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("a"), http.StatusCreated).object(t)["alarm_id"].(string)
	var st string
	e.expect(alice, "GET", "/v2/alarms/"+id+"/state", nil, http.StatusOK).json(t, &st)
	if st != "insufficient data" {
		t.Errorf("state %q", st)
	}
	e.expect(alice, "PUT", "/v2/alarms/"+id+"/state", `"ok"`, http.StatusOK).json(t, &st)
	if st != "ok" {
		t.Errorf("PUT state answered %q", st)
	}
	e.expect(alice, "PUT", "/v2/alarms/"+id+"/state", `"ok"`, http.StatusOK)
	for _, bad := range []string{`"on"`, `ok`, `5`} {
		if r := e.do(alice, "PUT", "/v2/alarms/"+id+"/state", bad); r.code != 400 || r.fault(t) != "state invalid" {
			t.Errorf("PUT state %s: %d %s", bad, r.code, r.body)
		}
	}
	a := e.expect(alice, "GET", "/v2/alarms/"+id, nil, http.StatusOK).object(t)
	if a["state"] != "ok" || a["state_reason"] != "Manually set via API" {
		t.Errorf("after state PUT: %v %v", a["state"], a["state_reason"])
	}
	h := e.expect(alice, "GET", "/v2/alarms/"+id+"/history?q.field=type&q.op=eq&q.value=state%20transition", nil, http.StatusOK).list(t)
	if len(h) != 2 {
		t.Errorf("%d state transitions, want 2 (recorded even when unchanged)", len(h))
	}
	e.expect(alice, "DELETE", "/v2/alarms/"+id, nil, http.StatusNoContent)
	for _, p := range []string{"", "/state", "/history"} {
		if r := e.do(alice, "GET", "/v2/alarms/"+id+p, nil); r.code != 404 {
			t.Errorf("GET %s after delete: %d", p, r.code)
		}
	}
	if r := e.do(alice, "DELETE", "/v2/alarms/"+id, nil); r.code != 404 {
		t.Errorf("second DELETE: %d", r.code)
	}
	// The deletion is in the history for the complex query.
	q := map[string]any{"filter": `{"and": [{"=": {"alarm_id": "` + id + `"}}, {"=": {"type": "deletion"}}]}`}
	if l := e.expect(alice, "POST", "/v2/query/alarms/history", q, http.StatusOK).list(t); len(l) != 1 {
		t.Errorf("deletion entries: %v", l)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t, nil)
	for i, n := range []string{"c", "a", "b"} {
		m := thresholdAlarm(n)
		m["severity"] = []string{"low", "moderate", "critical"}[i]
		m["enabled"] = i != 2
		e.expect(alice, "POST", "/v2/alarms", m, http.StatusCreated)
		time.Sleep(time.Millisecond)
	}
	e.expect(bob, "POST", "/v2/alarms", thresholdAlarm("bobs"), http.StatusCreated)
	names := func(l []map[string]any) string {
		var s []string
		for _, a := range l {
			s = append(s, a["name"].(string))
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		w     who
		query string
		want  string
	}{
		{alice, "", "b,a,c"},
		{alice, "?sort=name:asc", "a,b,c"},
		{alice, "?sort=severity:desc", "b,a,c"},
		{alice, "?q.field=enabled&q.op=eq&q.value=true&sort=name", "a,c"},
		{alice, "?q.field=name&q.value=a", "a"},
		{alice, "?q.field=severity&q.value=critical&q.field=enabled&q.value=false", "b"},
		{alice, "?sort=name&limit=2", "a,b"},
		{bob, "", "bobs"},
		{admin, "", ""},
		{admin, "?q.field=all_projects&q.value=true&sort=name", "a,b,bobs,c"},
		{admin, "?q.field=project_id&q.value=p2", "bobs"},
	} {
		got := names(e.expect(c.w, "GET", "/v2/alarms"+c.query, nil, http.StatusOK).list(t))
		if got != c.want {
			t.Errorf("%s list%s = %q, want %q", c.w.user, c.query, got, c.want)
		}
	}
	page1 := e.expect(alice, "GET", "/v2/alarms?sort=name&limit=2", nil, http.StatusOK).list(t)
	page2 := e.expect(alice, "GET", "/v2/alarms?sort=name&limit=2&marker="+page1[1]["alarm_id"].(string), nil, http.StatusOK).list(t)
	if names(page2) != "c" {
		t.Errorf("second page %q", names(page2))
	}
	for _, c := range []struct {
		w     who
		query string
		code  int
		want  string
	}{
		{alice, "?q.field=name&q.value=a&q.field=name&q.value=b", 400, "duplicate query fields are not allowed"},
		{alice, "?q.field=colour&q.value=red", 400, `Unknown argument: "colour": unrecognized field in query`},
		{alice, "?q.field=timestamp&q.op=gt&q.value=2026-01-01", 400, `Unknown argument: "timestamp": not valid for this resource`},
		{alice, "?q.field=name&q.op=gt&q.value=a", 400, "Invalid input for field/attribute op. Value: 'gt'. unimplemented operator for name"},
		{alice, "?q.field=name&q.op=like&q.value=a", 400, "Invalid input for field/attribute op. Value: 'like'. Value should be one of: lt, le, eq, ne, ge, gt"},
		{alice, "?q.field=enabled&q.value=maybe", 400, "Unable to convert the value maybe to the expected data type boolean."},
		{alice, "?q.field=project_id&q.value=p2", 401, "Not Authorized to access project p2"},
		{alice, "?q.field=all_projects&q.value=true", 403, "RBAC Authorization Failed"},
		{alice, "?sort=colour", 400, "Invalid input for field/attribute sort. Value: 'colour'."},
		{alice, "?limit=-1", 400, "it should be a positive integer."},
		{alice, "?limit=x", 400, "Invalid input for field/attribute limit. Value: 'x'."},
		{alice, "?marker=nope", 500, "Marker nope not found."},
	} {
		r := e.do(c.w, "GET", "/v2/alarms"+c.query, nil)
		if r.code != c.code || !strings.Contains(r.fault(t), c.want) {
			t.Errorf("list%s: %d %s\nwant %d %q", c.query, r.code, r.body, c.code, c.want)
		}
	}
	r := e.do(alice, "DELETE", "/v2/alarms", nil)
	if r.code != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Errorf("DELETE /v2/alarms: %d Allow %q", r.code, r.header.Get("Allow"))
	}
	if r := e.do(alice, "GET", "/v2/nothing", nil); r.code != 404 || r.fault(t) != "The resource could not be found." {
		t.Errorf("unknown path: %d %s", r.code, r.body)
	}
}

func TestHistoryQueries(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Minute); return now }
	e := newEnv(t, func(d *Deps) { d.Now = clock })
	id := e.expect(alice, "POST", "/v2/alarms", thresholdAlarm("a"), http.StatusCreated).object(t)["alarm_id"].(string) // 12:01
	e.expect(alice, "PUT", "/v2/alarms/"+id+"/state", `"alarm"`, http.StatusOK)                                         // 12:02
	e.expect(alice, "PUT", "/v2/alarms/"+id+"/state", `"ok"`, http.StatusOK)                                            // 12:03
	base := "/v2/alarms/" + id + "/history"
	for _, c := range []struct {
		query string
		want  int
	}{
		{"", 3},
		{"?q.field=timestamp&q.op=gt&q.value=2026-06-01T12:01:00", 2},
		{"?q.field=timestamp&q.op=ge&q.value=2026-06-01T12:01:00&q.field=timestamp&q.op=lt&q.value=2026-06-01T12:03:00", 2},
		{"?q.field=timestamp&q.op=gt&q.value=2026-06-01T12:03:00&q.field=search_offset&q.value=2", 2},
		{"?q.field=user_id&q.value=alice", 3},
		{"?q.field=type&q.value=creation", 1},
		{"?limit=1", 1},
		{"?sort=timestamp:asc&limit=1", 1},
	} {
		if l := e.expect(alice, "GET", base+c.query, nil, http.StatusOK).list(t); len(l) != c.want {
			t.Errorf("history%s: %d entries, want %d", c.query, len(l), c.want)
		}
	}
	l := e.expect(alice, "GET", base+"?sort=timestamp:asc", nil, http.StatusOK).list(t)
	if l[0]["type"] != "creation" || l[0]["timestamp"] != "2026-06-01T12:01:00.000000" {
		t.Errorf("oldest first: %v", l[0])
	}
	for _, c := range []struct {
		query, want string
		code        int
	}{
		{"?q.field=timestamp&q.op=eq&q.value=2026-06-01T12:01:00", "unimplemented operator for timestamp", 400},
		{"?q.field=search_offset&q.value=5", "search_offset cannot be used without timestamp", 400},
		{"?q.field=on_behalf_of&q.value=p2", `Unknown argument: "on_behalf_of"`, 400},
		{"?q.field=project_id&q.value=p2", "Not Authorized to access project p2", 401},
		{"?q.field=timestamp&q.op=gt&q.value=soon", "invalid timestamp format", 400},
	} {
		r := e.do(alice, "GET", base+c.query, nil)
		if r.code != c.code || !strings.Contains(r.fault(t), c.want) {
			t.Errorf("history%s: %d %s, want %d %q", c.query, r.code, r.body, c.code, c.want)
		}
	}
}

func TestComplexQueries(t *testing.T) {
	e := newEnv(t, nil)
	for _, n := range []string{"cpu-1", "cpu-2", "mem"} {
		e.expect(alice, "POST", "/v2/alarms", thresholdAlarm(n), http.StatusCreated)
	}
	e.expect(bob, "POST", "/v2/alarms", thresholdAlarm("cpu-bob"), http.StatusCreated)
	names := func(l []map[string]any) string {
		var s []string
		for _, a := range l {
			s = append(s, a["name"].(string))
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		w    who
		body map[string]any
		want string
	}{
		{alice, map[string]any{"filter": `{"=~": {"name": "^cpu"}}`, "orderby": `[{"name": "asc"}]`}, "cpu-1,cpu-2"},
		{admin, map[string]any{"filter": `{"=~": {"name": "^cpu"}}`, "orderby": `[{"name": "desc"}]`, "limit": 2}, "cpu-bob,cpu-2"},
		{bob, map[string]any{}, "cpu-bob"},
		{alice, map[string]any{"filter": `{"or": [{"=": {"name": "mem"}}, {"=": {"name": "cpu-bob"}}]}`}, "mem"},
	} {
		if got := names(e.expect(c.w, "POST", "/v2/query/alarms", c.body, http.StatusOK).list(t)); got != c.want {
			t.Errorf("%s query %v = %q, want %q", c.w.user, c.body, got, c.want)
		}
	}
	for _, c := range []struct {
		body any
		code int
		want string
	}{
		{map[string]any{"filter": `{"=": {"project_id": "p2"}}`}, 401, "Not Authorized to access project p2"},
		{map[string]any{"limit": 0}, 400, "Limit should be positive"},
		{map[string]any{"filter": `{"===": {"name": "a"}}`}, 400, "Filter expression not valid"},
		{map[string]any{"orderby": `[{"name": "sideways"}]`}, 400, "Order-by expression not valid"},
		{map[string]any{"filter": `{"=": {"name": "a"}}`, "extra": 1}, 400, "Unknown attribute for argument data: extra"},
		{"not json", 400, "Request is not in valid JSON format"},
	} {
		r := e.do(alice, "POST", "/v2/query/alarms", c.body)
		if r.code != c.code || !strings.Contains(r.fault(t), c.want) {
			t.Errorf("query %v: %d %s, want %d %q", c.body, r.code, r.body, c.code, c.want)
		}
	}
	h := e.expect(bob, "POST", "/v2/query/alarms/history", map[string]any{"filter": `{"=": {"type": "creation"}}`}, http.StatusOK).list(t)
	if len(h) != 1 {
		t.Errorf("bob sees %d creations, want 1", len(h))
	}
	if r := e.do(bob, "POST", "/v2/query/alarms/history", map[string]any{"filter": `{"=": {"on_behalf_of": "p1"}}`}); r.code != 401 {
		t.Errorf("bob querying p1's history: %d", r.code)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, nil)
	c := e.expect(who{}, "GET", "/v2/capabilities", nil, http.StatusOK).object(t)
	want := `{"alarm_storage":{"storage:production_ready":true},"api":{"alarms:history:query:complex":true,"alarms:history:query:simple":true,"alarms:query:complex":true,"alarms:query:simple":true}}`
	if b, _ := json.Marshal(c); string(b) != want {
		t.Errorf("capabilities %s", b)
	}
}

func TestAuthError(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.Auth = func(*http.Request) (Identity, error) { return Identity{}, fmt.Errorf("Authentication required") }
	})
	r := e.do(alice, "GET", "/v2/alarms", nil)
	if r.code != 401 || r.fault(t) != "Authentication required" {
		t.Errorf("auth failure: %d %s", r.code, r.body)
	}
}

// keystone serves what trust+ actions need of Keystone.
func keystone(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v3/auth/tokens":
			w.Header().Set("X-Subject-Token", "service-token")
			w.WriteHeader(201)
			_, _ = io.WriteString(w, `{"token": {"expires_at": "2099-01-01T00:00:00Z", "user": {"id": "aodh-id"}}}`)
		case r.Method == "POST" && r.URL.Path == "/v3/OS-TRUST/trusts":
			if r.Header.Get("X-Auth-Token") != "alice-token" {
				w.WriteHeader(401)
				return
			}
			mu.Lock()
			n++
			id := fmt.Sprintf("trust%d", n)
			mu.Unlock()
			w.WriteHeader(201)
			_, _ = io.WriteString(w, `{"trust": {"id": "`+id+`"}}`)
		case r.Method == "DELETE":
			w.WriteHeader(204)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTrustActions(t *testing.T) {
	ks := keystone(t)
	e := newEnv(t, func(d *Deps) {
		d.Trusts = notifier.NewKeystone(notifier.KeystoneConfig{URL: ks.URL, Username: "aodh", Password: "x"}, nil)
	})
	m := thresholdAlarm("heat")
	m["alarm_actions"] = []string{"trust+http://heat:8004/v1/t/stacks/s/id/resources/up/signal"}
	m["ok_actions"] = []string{"trust+http://heat:8004/v1/t/stacks/s/id/resources/down/signal"}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v2/alarms", bytes.NewReader(mustJSON(m)))
	req.Header.Set("X-User-Id", "alice")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-Roles", "member")
	req.Header.Set("X-Auth-Token", "alice-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	_ = json.NewDecoder(res.Body).Decode(&a)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("create with trust actions: %d %v", res.StatusCode, a)
	}
	if a["alarm_actions"].([]any)[0] != "trust+http://heat:8004/v1/t/stacks/s/id/resources/up/signal" {
		t.Errorf("GET form not scrubbed: %v", a["alarm_actions"])
	}
	stored, _ := e.store.Get(context.Background(), a["alarm_id"].(string), "")
	all := append(append([]string{}, stored.OKActions...), stored.AlarmActions...)
	var owned, shared int
	for _, act := range all {
		switch {
		case strings.HasPrefix(act, "trust+http://trust1:delete@heat:8004/"):
			owned++
		case strings.HasPrefix(act, "trust+http://trust1@heat:8004/"):
			shared++
		}
	}
	if owned != 1 || shared != 1 {
		t.Errorf("stored actions %v: want one owning and one sharing trust1", all)
	}
	raw := e.expect(alice, "POST", "/v2/query/alarms", map[string]any{"filter": `{"=": {"name": "heat"}}`}, http.StatusOK).list(t)
	if !strings.Contains(fmt.Sprint(raw[0]["alarm_actions"], raw[0]["ok_actions"]), "trust1") {
		t.Errorf("/v2/query/alarms scrubbed the trust id: %v", raw[0])
	}
}

func withType(r any) map[string]any {
	m := r.(map[string]any)
	m["type"] = "gnocchi_resources_threshold"
	return m
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestEventAndCompositeBodies(t *testing.T) {
	e := newEnv(t, nil)
	ev := e.expect(alice, "POST", "/v2/alarms", map[string]any{"name": "ev", "type": "event", "event_rule": map[string]any{
		"event_type": "compute.instance.update", "query": []any{map[string]any{"field": "traits.state", "op": "eq", "value": "error", "type": "string"}}}},
		http.StatusCreated).object(t)
	if ev["description"] != "Alarm when compute.instance.update event occurred." {
		t.Errorf("event description %v", ev["description"])
	}
	comp := e.expect(alice, "POST", "/v2/alarms", map[string]any{"name": "comp", "type": "composite", "composite_rule": map[string]any{
		"or": []any{withType(thresholdAlarm("")["gnocchi_resources_threshold_rule"]), map[string]any{"type": "gnocchi_aggregation_by_metrics_threshold",
			"metrics": []string{"m1"}, "threshold": 1, "aggregation_method": "max"}}}}, http.StatusCreated).object(t)
	leaves := comp["composite_rule"].(map[string]any)["or"].([]any)
	if len(leaves) != 2 {
		t.Fatalf("composite rule %v", comp["composite_rule"])
	}
	r := e.do(alice, "POST", "/v2/alarms", map[string]any{"name": "comp2", "type": "composite", "composite_rule": map[string]any{
		"or": []any{map[string]any{"metric": "x", "threshold": 1}}}})
	if r.code != 400 || r.fault(t) != "type must be set in every rule" {
		t.Errorf("composite leaf without type: %d %s", r.code, r.body)
	}
	byRes := e.expect(alice, "POST", "/v2/alarms", map[string]any{"name": "byres", "type": "gnocchi_aggregation_by_resources_threshold",
		"gnocchi_aggregation_by_resources_threshold_rule": map[string]any{"metric": "cpu", "resource_type": "instance",
			"query": `{"=": {"server_group": "g"}}`, "threshold": 80, "aggregation_method": "mean"}}, http.StatusCreated).object(t)
	q := byRes["gnocchi_aggregation_by_resources_threshold_rule"].(map[string]any)["query"]
	if q != `{"and":[{"=":{"created_by_project_id":"p1"}},{"=":{"server_group":"g"}}]}` {
		t.Errorf("member's by-resources query not scoped: %v", q)
	}
	x := e.expect(alice, "POST", "/v2/alarms", map[string]any{"name": "x", "type": "expression", "expression_rule": map[string]any{
		"expression": "a.last > 1 || b.mean < 0",
		"queries": map[string]any{
			"a": map[string]any{"metrics": []string{"m1"}, "aggregation_method": "last", "granularity": 10},
			"b": map[string]any{"metric": "cpu", "resource_id": "r", "resource_type": "instance", "aggregation_method": "mean"}}}},
		http.StatusCreated).object(t)
	if _, ok := x["expression_rule"].(map[string]any)["queries"].(map[string]any)["a"]; !ok {
		t.Errorf("expression rule %v", x["expression_rule"])
	}

}
