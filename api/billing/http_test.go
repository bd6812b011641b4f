package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

type statusError int

func (e statusError) Error() string   { return http.StatusText(int(e)) }
func (e statusError) HTTPStatus() int { return int(e) }

// headerIdentity is noauth's rule: the caller says who they are in
// X-User-Id, X-Project-Id and X-Roles.
func headerIdentity(r *http.Request) (string, string, bool, error) {
	p := r.Header.Get("X-Project-Id")
	if p == "" {
		return "", "", false, errors.New("no project")
	}
	if p == "suspended" {
		return "", "", false, statusError(http.StatusForbidden)
	}
	admin := false
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		admin = admin || strings.TrimSpace(role) == "admin"
	}
	return r.Header.Get("X-User-Id"), p, admin, nil
}

func newServer(t *testing.T, e *env, cfg *Config) *httptest.Server {
	mux := http.NewServeMux()
	Register(mux, Deps{Source: e.src, Config: cfg, Now: func() time.Time { return marchNow }, Identity: headerIdentity})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type caller struct {
	project string
	admin   bool
}

func get(t *testing.T, srv *httptest.Server, who caller, path string, q url.Values) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if who.project != "" {
		req.Header.Set("X-Project-Id", who.project)
		req.Header.Set("X-User-Id", "u-"+who.project)
	}
	if who.admin {
		req.Header.Set("X-Roles", "member,admin")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func period(extra ...string) url.Values {
	q := url.Values{"from": {"2024-03-01"}, "to": {"2024-04-01T00:00:00Z"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func TestHTTPExport(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	srv := newServer(t, e, cfg)
	admin := caller{"admin-project", true}
	for _, f := range []Format{FormatCSV, FormatJSON, FormatFOCUS} {
		code, h, body := get(t, srv, admin, "/v1/billing/export", period("format", f.String()))
		if code != 200 {
			t.Fatalf("%s: %d %s", f, code, body)
		}
		if h.Get("Content-Type") != f.ContentType() || !strings.Contains(h.Get("Content-Disposition"), FileName(march, april, "", f)) {
			t.Errorf("%s: headers %v", f, h)
		}
		// The admin's export of everything is the golden file itself.
		if want := readFile(t, "testdata/march"+f.Extension()); !bytes.Equal(body, want) {
			t.Errorf("%s: the export differs from testdata/march%s", f, f.Extension())
		}
	}
	// The default format is CSV.
	if code, h, _ := get(t, srv, admin, "/v1/billing/export", period()); code != 200 || h.Get("Content-Type") != FormatCSV.ContentType() {
		t.Errorf("default format: %d %s", code, h.Get("Content-Type"))
	}
	// A member gets their own project, with or without asking for it.
	for _, q := range []url.Values{period("format", "json"), period("format", "json", "project", "p-beta")} {
		code, _, body := get(t, srv, caller{"p-beta", false}, "/v1/billing/export", q)
		if code != 200 {
			t.Fatalf("member: %d %s", code, body)
		}
		var out jsonExport
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Project == nil || *out.Project != "p-beta" || len(out.Lines) != 13 || out.Total != "8.68" {
			t.Errorf("member export: project %v, %d lines, total %s", out.Project, len(out.Lines), out.Total)
		}
		for _, l := range out.Lines {
			if l.ProjectID != "p-beta" {
				t.Errorf("member export holds a line of %s", l.ProjectID)
			}
		}
	}
	// An admin may ask for one project.
	code, _, body := get(t, srv, admin, "/v1/billing/export", period("format", "json", "project", "p-alpha"))
	var out jsonExport
	if code != 200 || json.Unmarshal(body, &out) != nil || len(out.Lines) != 16 {
		t.Errorf("admin export of p-alpha: %d, %d lines", code, len(out.Lines))
	}
}

func TestHTTPSummary(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	srv := newServer(t, e, cfg)
	code, _, body := get(t, srv, caller{"p-alpha", false}, "/v1/billing/summary", period())
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var s Summary
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Projects) != 1 || s.Projects[0].ProjectID != "p-alpha" {
		t.Fatalf("projects %+v", s.Projects)
	}
	p := s.Projects[0]
	wantServices := map[string][2]string{}
	byResource := map[string]*[2]string{}
	for _, w := range marchWant {
		if w.project != "p-alpha" {
			continue
		}
		ws := wantServices[w.service]
		ws[0] = addDec(t, ws[0], w.quantity)
		ws[1] = addDec(t, ws[1], w.cost)
		wantServices[w.service] = ws
		if byResource[w.resource] == nil {
			byResource[w.resource] = &[2]string{}
		}
		byResource[w.resource][1] = addDec(t, byResource[w.resource][1], w.cost)
	}
	if len(p.Services) != len(wantServices) {
		t.Errorf("%d services, want %d", len(p.Services), len(wantServices))
	}
	total := ""
	for _, st := range p.Services {
		w := wantServices[st.Service]
		if dec(t, st.Quantity).Cmp(dec(t, w[0])) != 0 || dec(t, st.Cost).Cmp(dec(t, w[1])) != 0 {
			t.Errorf("service %s: %s %s for %s, want %s for %s", st.Service, st.Quantity, st.Unit, st.Cost, w[0], w[1])
		}
		total = addDec(t, total, st.Cost)
	}
	if dec(t, p.Total).Cmp(dec(t, total)) != 0 || p.Total != "59.48" {
		t.Errorf("total %s, services sum to %s", p.Total, total)
	}
	if len(p.Resources) != len(byResource) {
		t.Errorf("%d resources, want %d", len(p.Resources), len(byResource))
	}
	for _, r := range p.Resources {
		if w := byResource[r.OriginalResourceID]; w == nil || dec(t, r.Total).Cmp(dec(t, w[1])) != 0 {
			t.Errorf("resource %s: total %s, want %v", r.OriginalResourceID, r.Total, w)
		}
	}
	// A project without resources has a zero summary.
	code, _, body = get(t, srv, caller{"p-empty", false}, "/v1/billing/summary", period())
	if code != 200 || json.Unmarshal(body, &s) != nil || len(s.Projects) != 1 || s.Projects[0].Total != "0.00" || len(s.Projects[0].Services) != 0 {
		t.Errorf("empty project: %d %s", code, body)
	}
	// The admin without a project sees every project.
	code, _, body = get(t, srv, caller{"admin", true}, "/v1/billing/summary", period())
	if code != 200 || json.Unmarshal(body, &s) != nil || len(s.Projects) != 2 || s.Total != "68.16" {
		t.Errorf("admin summary: %d %s", code, body)
	}
}

func addDec(t *testing.T, a, b string) string {
	t.Helper()
	if a == "" {
		a = "0"
	}
	x, y := dec(t, a), dec(t, b)
	if _, err := exact.Add(x, x, y); err != nil {
		t.Fatal(err)
	}
	return decText(x)
}

func TestHTTPErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	srv := newServer(t, e, cfg)
	member := caller{"p-alpha", false}
	for _, tc := range []struct {
		name string
		who  caller
		path string
		q    url.Values
		code int
		msg  string
	}{
		{"other project", member, "/v1/billing/export", period("project", "p-beta"), 403, "Access was denied"},
		{"other project summary", member, "/v1/billing/summary", period("project", "p-beta"), 403, "Access was denied"},
		{"no identity", caller{}, "/v1/billing/export", period(), 401, "Authentication required"},
		{"identity status", caller{"suspended", false}, "/v1/billing/summary", period(), 403, "Authentication required"},
		{"no from", member, "/v1/billing/export", url.Values{"to": {"2024-04-01"}}, 400, "parameter from is required"},
		{"bad to", member, "/v1/billing/export", url.Values{"from": {"2024-03-01"}, "to": {"next month"}}, 400, "parameter to"},
		{"reversed", member, "/v1/billing/export", url.Values{"from": {"2024-04-01"}, "to": {"2024-03-01"}}, 400, "not before"},
		{"too long", member, "/v1/billing/summary", url.Values{"from": {"2020-01-01"}, "to": {"2024-03-01"}}, 400, "longer than"},
		{"bad format", member, "/v1/billing/export", period("format", "xlsx"), 400, "unknown export format"},
		{"format on summary", member, "/v1/billing/summary", period("format", "csv"), 400, "unknown parameter"},
		{"unknown parameter", member, "/v1/billing/export", period("limit", "10"), 400, "unknown parameter"},
		{"repeated parameter", member, "/v1/billing/export", url.Values{"from": {"2024-03-01", "2024-03-02"}, "to": {"2024-04-01"}}, 400, "given 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := get(t, srv, tc.who, tc.path, tc.q)
			checkGnocchiError(t, code, h, body, tc.code, tc.msg)
		})
	}
	// Rating errors are the operator's: 500, with the reason.
	bad := mustConfig(t, `currency: EUR
services:
  - {name: vm, measure: instance_hours}
prices:
  - from: 2024-03-05
    services: {vm: [{price: 1}]}
`)
	code, h, body := get(t, newServer(t, e, bad), caller{"p-alpha", true}, "/v1/billing/export", period())
	checkGnocchiError(t, code, h, body, 500, "before the first price list")
	// Billing off.
	code, h, body = get(t, newServer(t, e, nil), member, "/v1/billing/summary", period())
	checkGnocchiError(t, code, h, body, 501, "not configured")
	// Only GET.
	resp, err := http.Post(srv.URL+"/v1/billing/export?"+period().Encode(), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func checkGnocchiError(t *testing.T, code int, h http.Header, body []byte, wantCode int, msg string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("status %d, want %d: %s", code, wantCode, body)
	}
	if h.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", h.Get("Content-Type"))
	}
	var e struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
		Title       string `json:"title"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if e.Code != wantCode || e.Title != http.StatusText(wantCode) || !strings.Contains(e.Description, msg) {
		t.Errorf("error %+v, want code %d saying %q", e, wantCode, msg)
	}
}

// TestHTTPCancelled checks that a request whose client has gone stops
// rating instead of running on.
func TestHTTPCancelled(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	mux := http.NewServeMux()
	Register(mux, Deps{Source: e.src, Config: loadTestConfig(t, "rating.yaml"), Identity: headerIdentity})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/v1/billing/export?"+period().Encode(), nil).WithContext(ctx)
	req.Header.Set("X-Project-Id", "p-alpha")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		t.Fatalf("a cancelled request was answered 200")
	}
}
