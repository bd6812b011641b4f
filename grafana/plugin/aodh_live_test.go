package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/vigil-telemetry/vigil/alarms/store"
	"github.com/vigil-telemetry/vigil/api/aodh"
)

// startAodh serves vigil's Aodh v2 API over a real alarm store (SQLite in
// a temporary directory) with noauth identities, as `vigil all` mounts it
// beside the Gnocchi API.
func startAodh(t *testing.T) string {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "alarms.db"), nil)
	if err != nil {
		t.Fatalf("open the alarm store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	aodh.Register(mux, aodh.Deps{Store: st, Auth: func(r *http.Request) (aodh.Identity, error) {
		id := aodh.Identity{UserID: r.Header.Get("X-User-Id"), ProjectID: r.Header.Get("X-Project-Id")}
		for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
			if strings.TrimSpace(role) == "admin" {
				id.Admin = true
			}
		}
		return id, nil
	}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func aodhCall(t *testing.T, base, method, path string, body, out any, want int) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", "u1")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-Roles", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// TestAlarmsAgainstAodh reads alarms and their history from vigil's Aodh
// API: the alarms table, annotations of all alarms and of one, and the
// alarms() variable.
func TestAlarmsAgainstAodh(t *testing.T) {
	base := startAodh(t)
	mk := func(name, severity string) string {
		var a struct {
			ID string `json:"alarm_id"`
		}
		aodhCall(t, base, "POST", "/v2/alarms", map[string]any{
			"name": name, "type": "gnocchi_resources_threshold", "severity": severity,
			"gnocchi_resources_threshold_rule": map[string]any{
				"metric": "cpu", "resource_id": "r1", "resource_type": "instance",
				"comparison_operator": "gt", "threshold": 80.0, "aggregation_method": "mean", "granularity": 60,
			},
		}, &a, http.StatusCreated)
		return a.ID
	}
	cpu, mem := mk("cpu-high", "critical"), mk("mem-high", "low")
	aodhCall(t, base, "PUT", "/v2/alarms/"+cpu+"/state", "alarm", nil, http.StatusOK)
	aodhCall(t, base, "PUT", "/v2/alarms/"+mem+"/state", "ok", nil, http.StatusOK)
	aodhCall(t, base, "PUT", "/v2/alarms/"+cpu+"/state", "ok", nil, http.StatusOK)

	d := newTestDS(t, base, nil)
	d.now = time.Now
	now := time.Now().UTC()
	r := rangeQuery{from: now.Add(-time.Hour), to: now.Add(time.Minute), interval: time.Minute, maxDP: 100}
	col := func(f *data.Frame, name string) []any {
		fld, _ := f.FieldByName(name)
		if fld == nil {
			t.Fatalf("frame %s has no field %s", f.Name, name)
		}
		out := make([]any, fld.Len())
		for i := range out {
			out[i] = fld.At(i)
		}
		return out
	}

	fs := mustFrames(t, runQuery(t, d, Query{QueryType: QueryAlarms}, r))
	if got := col(fs[0], "name"); len(got) != 2 || got[0] != "cpu-high" || got[1] != "mem-high" {
		t.Fatalf("alarms %v", got)
	}
	if got := col(fs[0], "state"); got[0] != "ok" || got[1] != "ok" {
		t.Fatalf("states %v", got)
	}
	if since := col(fs[0], "since")[0].(*time.Time); since == nil || since.Before(r.from) || since.After(r.to) {
		t.Fatalf("state timestamp %v", since)
	}

	fs = mustFrames(t, runQuery(t, d, Query{QueryType: QueryAnnotations}, r))
	titles := col(fs[0], "title")
	want := []any{"cpu-high → alarm", "mem-high → ok", "cpu-high → ok"}
	if len(titles) != 3 || titles[0] != want[0] || titles[1] != want[1] || titles[2] != want[2] {
		t.Fatalf("annotations %v, want %v", titles, want)
	}
	if tags := col(fs[0], "tags"); tags[0] != "vigil,alarm,alarm,critical" {
		t.Fatalf("tags %v", tags)
	}

	fs = mustFrames(t, runQuery(t, d, Query{QueryType: QueryAnnotations, AlarmID: cpu, HistoryType: "all"}, r))
	if types := col(fs[0], "type"); len(types) != 3 || types[0] != "creation" || types[1] != "state transition" {
		t.Fatalf("history of %s: %v", cpu, types)
	}

	// A range before the changes has none.
	old := rangeQuery{from: now.Add(-48 * time.Hour), to: now.Add(-24 * time.Hour), interval: time.Minute, maxDP: 100}
	fs = mustFrames(t, runQuery(t, d, Query{QueryType: QueryAnnotations}, old))
	if fs[0].Rows() != 0 {
		t.Fatalf("%d annotations a day before, want none", fs[0].Rows())
	}

	vs, err := d.Variable(context.Background(), "alarms()")
	if err != nil || len(vs) != 2 || vs[0].Text != "cpu-high" || vs[0].Value != cpu {
		t.Fatalf("alarms(): %v %v", vs, err)
	}
	code, body := callResource(t, d, "GET", "alarms", "")
	if code != 200 || !strings.Contains(body, `"name":"mem-high","state":"ok","severity":"low"`) {
		t.Fatalf("alarms resource: %d %s", code, body)
	}
}
