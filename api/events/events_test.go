package events

import (
	"context"
	"encoding/json"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/agents/notify"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

type authError struct{ msg string }

func (e authError) Error() string   { return e.msg }
func (e authError) HTTPStatus() int { return http.StatusUnauthorized }

// serve stores three events in a real events stream and serves them.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := bus.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Partitions = 1
	b, err := bus.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	es, err := notify.OpenEventStream(ctx, b, notify.EventStreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{
		`{"message_id":"m1","event_type":"compute.instance.create.end","generated":"2024-05-01T10:00:00.000000",
		  "traits":[["instance_id",1,"vm-1"],["project_id",1,"p1"],["memory_mb",2,512]],"raw":{}}`,
		`{"message_id":"m2","event_type":"compute.instance.delete.end","generated":"2024-05-01T11:00:00.000000",
		  "traits":[["instance_id",1,"vm-1"],["project_id",1,"p1"],["memory_mb",2,512]],"raw":{}}`,
		`{"message_id":"m3","event_type":"volume.create.end","generated":"2024-05-01T12:00:00.000000",
		  "traits":[["resource_id",1,"vol-1"],["project_id",1,"p2"],["size",2,20]],"raw":{}}`,
	} {
		var e struct {
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal([]byte(ev), &e); err != nil {
			t.Fatal(err)
		}
		if _, err := b.JetStream().Publish(ctx, notify.EventSubject(cfg.Prefix, e.EventType), []byte(strings.Join(strings.Fields(ev), ""))); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	Register(mux, Deps{JetStream: b.JetStream(), Stream: es.Stream(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth: func(r *http.Request) (Identity, error) {
			switch r.Header.Get("X-Project-Id") {
			case "":
				return Identity{}, authError{"Authentication required"}
			case "admin":
				return Identity{UserID: "u", ProjectID: "admin", Admin: true}, nil
			}
			return Identity{UserID: "u", ProjectID: r.Header.Get("X-Project-Id")}, nil
		}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, project, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if project != "" {
		req.Header.Set("X-Project-Id", project)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func ids(evs []map[string]any) string {
	var s []string
	for _, e := range evs {
		s = append(s, e["message_id"].(string))
	}
	return strings.Join(s, ",")
}

func TestEventQueries(t *testing.T) {
	srv := serve(t)
	tests := []struct {
		project, query, want string
	}{
		{"admin", "", "m1,m2,m3"},
		{"admin", "q.field=event_type&q.op=eq&q.value=compute.instance.delete.end", "m2"},
		{"admin", "q.field=instance_id&q.value=vm-1", "m1,m2"},
		{"admin", "q.field=size&q.op=gt&q.value=10&q.type=integer", "m3"},
		{"admin", "q.field=size&q.op=gt&q.value=30&q.type=integer", ""},
		{"admin", "q.field=start_timestamp&q.op=ge&q.value=2024-05-01T10:30:00", "m2,m3"},
		{"admin", "q.field=end_timestamp&q.op=le&q.value=2024-05-01T11:00:00", "m1,m2"},
		{"admin", "limit=2", "m1,m2"},
		{"p1", "", "m1,m2"},
		{"p2", "", "m3"},
		{"p3", "", ""},
	}
	for _, tt := range tests {
		var evs []map[string]any
		if code := get(t, srv, tt.project, "/v2/events?"+tt.query, &evs); code != http.StatusOK {
			t.Fatalf("%s %s: status %d", tt.project, tt.query, code)
		}
		if got := ids(evs); got != tt.want {
			t.Errorf("project %s, %q: events %q, want %q", tt.project, tt.query, got, tt.want)
		}
	}
	var ev map[string]any
	if code := get(t, srv, "p1", "/v2/events/m1", &ev); code != http.StatusOK || ev["event_type"] != "compute.instance.create.end" {
		t.Errorf("GET m1 as p1: %d %v", code, ev)
	}
	traits, _ := ev["traits"].([]any)
	if len(traits) != 3 || traits[1].(map[string]any)["name"] != "memory_mb" || traits[1].(map[string]any)["type"] != "integer" || traits[1].(map[string]any)["value"] != "512" {
		t.Errorf("traits of m1: %v", traits)
	}
	if code := get(t, srv, "p2", "/v2/events/m1", nil); code != http.StatusNotFound {
		t.Errorf("GET m1 as another project: %d, want 404", code)
	}
	var types []string
	get(t, srv, "admin", "/v2/event_types", &types)
	if strings.Join(types, ",") != "compute.instance.create.end,compute.instance.delete.end,volume.create.end" {
		t.Errorf("event types %v", types)
	}
	var tr []map[string]string
	get(t, srv, "admin", "/v2/event_types/volume.create.end/traits", &tr)
	if len(tr) != 3 || tr[0]["name"] != "project_id" || tr[2]["name"] != "size" || tr[2]["type"] != "integer" {
		t.Errorf("traits of volume.create.end: %v", tr)
	}
	for _, bad := range []string{
		"q.field=event_type&q.op=gt&q.value=x",
		"q.field=size&q.op=gt&q.value=big&q.type=integer",
		"q.field=size&q.op=like&q.value=1",
		"q.field=start_timestamp&q.value=yesterday",
		"q.field=event_type",
		"limit=0",
		"q.field=x&q.value=1&q.type=blob",
	} {
		var e map[string]map[string]any
		if code := get(t, srv, "admin", "/v2/events?"+bad, &e); code != http.StatusBadRequest || e["error_message"]["faultstring"] == "" {
			t.Errorf("%q: %d %v, want 400 with a faultstring", bad, code, e)
		}
	}
	if code := get(t, srv, "", "/v2/events", nil); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated: %d, want 401", code)
	}

}
