package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestRootsAndErrors(t *testing.T) {
	forDialects(t, envOptions{origins: []string{"https://grafana.example"}}, func(t *testing.T, e *env) {
		r := e.must(200, nobody, "GET", "/", nil)
		v := r.obj(t)["versions"].([]any)[0].(map[string]any)
		if v["id"] != "v1.0" || v["status"] != "CURRENT" {
			t.Errorf("versions: %s", r.body)
		}
		for _, path := range []string{"/v1", "/v1/"} {
			r = e.must(200, nobody, "GET", path, nil)
			var rels []string
			for _, l := range r.obj(t)["links"].([]any) {
				rels = append(rels, l.(map[string]any)["rel"].(string))
			}
			for _, want := range []string{"self", "aggregates", "archive_policy", "batch", "metric", "resource", "search", "status"} {
				if !slices.Contains(rels, want) {
					t.Errorf("GET %s: no %q link in %s", path, want, r.body)
				}
			}
		}
		r = e.must(200, nobody, "GET", "/v1/capabilities", nil)
		methods := r.obj(t)["aggregation_methods"].([]any)
		for _, want := range []string{"mean", "rate:max", "95pct", "rate:5pct", "median", "first"} {
			if !slices.Contains(methods, any(want)) {
				t.Errorf("capabilities lack %s", want)
			}
		}

		// Unknown paths and methods answer in Gnocchi's error shape.
		r = e.must(404, admin, "GET", "/v1/nope", nil)
		if d := r.description(t); d != "The resource could not be found." {
			t.Errorf("404 description %v", d)
		}
		r = e.must(405, admin, "PUT", "/v1/metric", nil)
		r.description(t)
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("405 Allow header %q", r.header.Get("Allow"))
		}

		// noauth needs its headers.
		r = e.must(401, nobody, "GET", "/v1/metric", nil)
		r.description(t)

		// Status is for admins.
		e.must(403, alice, "GET", "/v1/status", nil).description(t)
		st := e.must(200, admin, "GET", "/v1/status", nil).obj(t)["storage"].(map[string]any)
		if _, ok := st["measures_to_process"]; !ok {
			t.Errorf("status without measures_to_process: %v", st)
		}
		st = e.must(200, admin, "GET", "/v1/status?details=false", nil).obj(t)["storage"].(map[string]any)
		if _, ok := st["measures_to_process"]; ok {
			t.Errorf("status details=false has measures_to_process: %v", st)
		}
		if d := e.must(400, admin, "GET", "/v1/status?details=maybe", nil).description(t); d != "Unable to parse `details': invalid truth value 'maybe'" {
			t.Errorf("bad details: %v", d)
		}

		// Health, as oslo's healthcheck and as /healthz.
		r = e.must(200, nobody, "GET", "/healthcheck", nil)
		if r.header.Get("Content-Type") != "text/plain; charset=UTF-8" {
			t.Errorf("healthcheck content type %q", r.header.Get("Content-Type"))
		}
		r = e.must(200, nobody, "GET", "/healthcheck", nil, "Accept", "application/json")
		if fmt.Sprint(r.obj(t)["detailed"]) != "false" {
			t.Errorf("healthcheck JSON: %s", r.body)
		}
		e.must(204, nobody, "HEAD", "/healthcheck", nil)
		r = e.must(200, nobody, "GET", "/healthz", nil)
		if r.obj(t)["status"] != "ok" {
			t.Errorf("healthz: %s", r.body)
		}
		e.must(200, nobody, "GET", "/metrics", nil)
	})
}

func TestCORS(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{origins: []string{"https://grafana.example"}})
	// A preflight from an allowed origin gets the method and headers back.
	r := e.must(200, nobody, "OPTIONS", "/v1/metric", nil,
		"Origin", "https://grafana.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "X-Auth-Token, Content-Type")
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      "https://grafana.example",
		"Access-Control-Allow-Methods":     "POST",
		"Access-Control-Allow-Headers":     "X-Auth-Token,Content-Type",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "3600",
		"Vary":                             "Origin",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("preflight %s = %q, want %q", k, got, want)
		}
	}
	// An unknown origin, method or header gets none of it.
	for _, h := range [][]string{
		{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"},
		{"Origin", "https://grafana.example", "Access-Control-Request-Method", "FROB"},
		{"Origin", "https://grafana.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "X-Evil"},
	} {
		r = e.must(200, nobody, "OPTIONS", "/v1/metric", nil, h...)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight %v allowed origin %q", h, got)
		}
	}
	// A real request from an allowed origin may read the headers Gnocchi's
	// answers carry meaning in.
	r = e.must(200, admin, "GET", "/v1/archive_policy", nil, "Origin", "https://grafana.example")
	if r.header.Get("Access-Control-Allow-Origin") != "https://grafana.example" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("CORS headers of a request: %v", r.header)
	}
	r = e.must(200, admin, "GET", "/v1/archive_policy", nil, "Origin", "https://evil.example")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unknown origin allowed: %v", r.header)
	}
	// "*" allows any origin.
	e2 := newEnv(t, "sqlite", envOptions{origins: []string{"*"}})
	r = e2.must(200, admin, "GET", "/v1/archive_policy", nil, "Origin", "https://any.example")
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("wildcard origin: %v", r.header)
	}
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{maxBody: 2048})
	e.policy("p")
	id := e.metric(admin, "p")
	big := "[" + strings.Repeat(`{"timestamp": "2024-01-01T00:00:00", "value": 1},`, 100) + `{"timestamp": "2024-01-01T00:00:00", "value": 1}]`
	for _, path := range []string{"/v1/metric/" + id + "/measures", "/v1/batch/metrics/measures", "/v1/archive_policy", "/v1/resource/generic"} {
		r := e.must(http.StatusRequestEntityTooLarge, admin, "POST", path, big)
		if d := r.description(t); d != "Request body exceeds the limit of 2048 bytes" {
			t.Errorf("POST %s: %v", path, d)
		}
	}
	// The wrong media type is a 415, as in Gnocchi.
	r := e.must(415, admin, "POST", "/v1/metric/"+id+"/measures", "[]", "Content-Type", "text/plain")
	r.description(t)
	// Malformed JSON is Gnocchi's "Unable to decode body".
	for _, path := range []string{"/v1/metric/" + id + "/measures", "/v1/batch/metrics/measures", "/v1/archive_policy", "/v1/resource/generic"} {
		r = e.must(400, admin, "POST", path, `[{"timestamp": "2024-01-01", "value": 1}`)
		d, ok := r.description(t).(map[string]any)
		if !ok || d["cause"] != "Unable to decode body" {
			t.Errorf("POST %s malformed: %s", path, r.body)
		}
	}
}
