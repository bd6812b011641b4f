package api

import (
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func pt(ts string, g, v any) []any { return []any{ts, jsonNum(g), jsonNum(v)} }

const t0, t1, t2 = "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:01+00:00", "2024-01-01T00:00:02+00:00"

func TestAggregates(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		e.must(201, admin, "POST", "/v1/resource_type", map[string]any{"name": "server", "attributes": map[string]any{"host": map[string]any{"type": "string"}}})
		mk := func(id, host string, values ...float64) string {
			t.Helper()
			r := e.must(201, alice, "POST", "/v1/resource/server", map[string]any{"id": id, "host": host, "project_id": alice.project,
				"metrics": map[string]any{"cpu": map[string]any{"archive_policy_name": "p"}}})
			m := r.obj(t)["metrics"].(map[string]any)["cpu"].(string)
			var ms []any
			for i, v := range values {
				ms = append(ms, map[string]any{"timestamp": 1704067200 + i, "value": v})
			}
			e.must(202, alice, "POST", "/v1/metric/"+m+"/measures", ms)
			e.waitMeasures(alice, "/v1/metric/"+m+"/measures?granularity=1", len(values))
			return m
		}
		m1 := mk("r1", "h1", 1, 2, 3)
		m2 := mk("r2", "h1", 3, 4)
		m3 := mk("r3", "h2", 10)
		// m4 has a gap at t1, inside the span of the others.
		m4 := e.metric(alice, "p")
		e.must(202, alice, "POST", "/v1/metric/"+m4+"/measures", []any{map[string]any{"timestamp": t0, "value": 1}, map[string]any{"timestamp": t2, "value": 1}})
		e.waitMeasures(alice, "/v1/metric/"+m4+"/measures?granularity=1", 2)

		agg := func(query string, body any) resp {
			t.Helper()
			return e.must(200, alice, "POST", "/v1/aggregates"+query, body)
		}
		check := func(name string, got, want any) {
			t.Helper()
			if !reflect.DeepEqual(normalise(t, got), normalise(t, want)) {
				t.Errorf("%s\n got %s\nwant %s", name, fmtJSON(got), fmtJSON(want))
			}
		}
		// By metric ids, string and JSON forms; fill=dropna is the default.
		want := map[string]any{"measures": map[string]any{"aggregated": []any{pt(t0, "60.0", "2.75"), pt(t0, "1.0", "2.0"), pt(t1, "1.0", "3.0")}}}
		check("string form", agg("", map[string]any{"operations": fmt.Sprintf("(aggregate mean (metric (%s mean) (%s mean)))", m1, m2)}).obj(t), want)
		check("JSON form", agg("", map[string]any{"operations": []any{"aggregate", "mean", []any{"metric", []any{m1, "mean"}, []any{m2, "mean"}}}}).obj(t), want)
		check("granularity", agg("?granularity=60", map[string]any{"operations": fmt.Sprintf("(aggregate max (metric (%s mean) (%s mean)))", m1, m2)}).obj(t),
			map[string]any{"measures": map[string]any{"aggregated": []any{pt(t0, "60.0", "3.5")}}})
		check("fill", agg("?granularity=1&fill=0", map[string]any{"operations": fmt.Sprintf("(aggregate sum (metric (%s mean) (%s mean)))", m1, m2)}).obj(t),
			map[string]any{"measures": map[string]any{"aggregated": []any{pt(t0, "1.0", "4.0"), pt(t1, "1.0", "6.0"), pt(t2, "1.0", "3.0")}}})
		check("arithmetic", agg("?granularity=1&start="+url.QueryEscape("2024-01-01T00:00:01"), map[string]any{"operations": fmt.Sprintf("(* (metric %s mean) 2)", m1)}).obj(t),
			map[string]any{"measures": map[string]any{m1: map[string]any{"mean": []any{pt(t1, "1.0", "4.0"), pt(t2, "1.0", "6.0")}}}})
		r := agg("?details=true&granularity=60", map[string]any{"operations": fmt.Sprintf("(metric %s mean)", m1)}).obj(t)
		if refs := r["references"].([]any); len(refs) != 1 || refs[0].(map[string]any)["id"] != m1 {
			t.Errorf("references %v", r["references"])
		}

		// By a resource search, grouped or not.
		check("search", agg("?granularity=60", map[string]any{"operations": "(aggregate mean (metric cpu mean))", "resource_type": "server", "search": "host = 'h1'"}).obj(t),
			map[string]any{"measures": map[string]any{"aggregated": []any{pt(t0, "60.0", "2.75")}}})
		r3, _ := pipeline.ResourceUUID("r3", alice.user+":"+alice.project)
		check("search JSON", agg("?granularity=60", map[string]any{"operations": "(metric cp? mean)", "resource_type": "server", "search": map[string]any{"=": map[string]any{"host": "h2"}}}).obj(t),
			map[string]any{"measures": map[string]any{r3.String(): map[string]any{"cpu": map[string]any{"mean": []any{pt(t0, "60.0", "10.0")}}}}})
		check("groupby", agg("?granularity=60&groupby=host", map[string]any{"operations": "(aggregate sum (metric cpu mean))", "resource_type": "server", "search": map[string]any{}}).json(t),
			[]any{
				map[string]any{"group": map[string]any{"host": "h1"}, "measures": map[string]any{"measures": map[string]any{"aggregated": []any{pt(t0, "60.0", "5.5")}}}},
				map[string]any{"group": map[string]any{"host": "h2"}, "measures": map[string]any{"measures": map[string]any{"aggregated": []any{pt(t0, "60.0", "10.0")}}}},
			})

		unknown := "6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11"
		errorCases(t, e, []errorCase{
			{"no metric", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(+ 1 2)"}, 400, func(d any) bool { m, ok := d.(map[string]any); return ok && m["cause"] != nil }},
			{"unknown metric", alice, "POST", "/v1/aggregates", map[string]any{"operations": fmt.Sprintf("(metric %s mean)", unknown)}, 404, map[string]any{"cause": "Unknown metrics", "reason": "Provided metrics don't exists", "detail": []string{unknown}}},
			{"not a uuid", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric cpu mean)"}, 400, map[string]any{"cause": "Invalid metric references", "reason": "badly formed hexadecimal UUID string", "detail": [][]string{{"cpu", "mean"}}}},
			{"unknown aggregation", alice, "POST", "/v1/aggregates", map[string]any{"operations": fmt.Sprintf("(metric %s std)", m1)}, 404, map[string]any{"cause": "Metrics with unknown aggregation", "detail": [][]string{{m1, "std"}}}},
			{"syntax", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric"}, 400, func(d any) bool { m, ok := d.(map[string]any); return ok && m["cause"] == "Invalid operations" }},
			{"no operations", alice, "POST", "/v1/aggregates", map[string]any{}, 400, invalid("required key not provided @ data['operations']", "operations")},
			{"extra key", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric cpu mean)", "bogus": 1}, 400, invalid("extra keys not allowed @ data['bogus']", "bogus")},
			{"type without search", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric cpu mean)", "resource_type": "server"}, 400, invalid("required key not provided @ data['search']", "search")},
			{"unknown type", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric cpu mean)", "resource_type": "nope", "search": map[string]any{}}, 400, map[string]any{"cause": "Resource type does not exist", "detail": "nope"}},
			{"no metric by name", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric nope mean)", "resource_type": "server", "search": map[string]any{}}, 400, map[string]any{"cause": "Metrics not found", "detail": []string{"nope"}}},
			{"bad search", alice, "POST", "/v1/aggregates", map[string]any{"operations": "(metric cpu mean)", "resource_type": "server", "search": "host = = 1"}, 400, prefix("Invalid filter")},
			{"bad groupby", alice, "POST", "/v1/aggregates?groupby=color", map[string]any{"operations": "(metric cpu mean)", "resource_type": "server", "search": map[string]any{}}, 400, "Invalid pagination: `Sort key supplied is invalid: color'"},
			{"bad fill", alice, "POST", "/v1/aggregates?fill=lots", map[string]any{"operations": fmt.Sprintf("(metric %s mean)", m1)}, 400, map[string]any{"cause": "Argument value error", "detail": "fill", "reason": "Must be a float, 'dropna', 'null' or 'ffill'"}},
			{"bad needed_overlap", alice, "POST", "/v1/aggregates?needed_overlap=most", map[string]any{"operations": fmt.Sprintf("(metric %s mean)", m1)}, 400, map[string]any{"cause": "Argument value error", "detail": "needed_overlap", "reason": "Must be a number"}},
			{"overlap", alice, "POST", "/v1/aggregates?needed_overlap=100&granularity=1", map[string]any{"operations": fmt.Sprintf("(aggregate mean (metric (%s mean) (%s mean)))", m1, m4)}, 400, func(d any) bool {
				m, ok := d.(map[string]any)
				return ok && m["cause"] == "Metrics can't being aggregated"
			}},
			{"other project", bob, "POST", "/v1/aggregates", map[string]any{"operations": fmt.Sprintf("(metric %s mean)", m1)}, 403, "Access was denied to this resource."},
		})

		// The older forms.
		old := func(method, path string, body any) any {
			t.Helper()
			return e.must(200, alice, method, path, body).json(t)
		}
		pair := []any{pt(t0, "60.0", "2.75"), pt(t0, "1.0", "2.0"), pt(t1, "1.0", "3.0")}
		check("aggregation/metric GET", old("GET", "/v1/aggregation/metric?needed_overlap=50&metric="+m1+"&metric="+m2, nil), pair)
		check("aggregation/metric POST", old("POST", "/v1/aggregation/metric?needed_overlap=50", []string{m1, m2}), pair)
		check("aggregation/metric one", old("GET", "/v1/aggregation/metric?granularity=1&metric="+m3, nil), []any{pt(t0, "1.0", "10.0")})
		check("aggregation/metric reaggregation", old("GET", "/v1/aggregation/metric?granularity=60&aggregation=max&reaggregation=min&metric="+m1+"&metric="+m3, nil), []any{pt(t0, "60.0", "3.0")})
		check("aggregation/metric resample", old("GET", "/v1/aggregation/metric?granularity=1&resample=2&aggregation=sum&metric="+m1, nil), []any{pt(t0, "2.0", "3.0"), pt(t2, "2.0", "3.0")})
		check("aggregation/resource", old("POST", "/v1/aggregation/resource/server/metric/cpu?granularity=60", map[string]any{"=": map[string]any{"host": "h1"}}), []any{pt(t0, "60.0", "2.75")})
		check("aggregation/resource groupby", old("POST", "/v1/aggregation/resource/server/metric/cpu?granularity=60&groupby=host", nil), []any{
			map[string]any{"group": map[string]any{"host": "h1"}, "measures": []any{pt(t0, "60.0", "2.75")}},
			map[string]any{"group": map[string]any{"host": "h2"}, "measures": []any{pt(t0, "60.0", "10.0")}},
		})
		check("aggregation/metric none", old("GET", "/v1/aggregation/metric", nil), []any{})
		errorCases(t, e, []errorCase{
			{"old overlap", alice, "GET", "/v1/aggregation/metric?granularity=1&metric=" + m1 + "&metric=" + m4, nil, 400, func(d any) bool {
				m, ok := d.(map[string]any)
				return ok && m["cause"] == "Metrics can't being aggregated"
			}},
			{"old unknown", alice, "GET", "/v1/aggregation/metric?metric=" + unknown, nil, 404, "Metric " + unknown + " does not exist"},
			{"old bad id", alice, "GET", "/v1/aggregation/metric?metric=abc", nil, 400, "Invalid input: not a valid value @ data[0]"},
			{"old aggregation", alice, "GET", "/v1/aggregation/metric?aggregation=std&metric=" + m1, nil, 404, map[string]any{"cause": "Aggregation method does not exist for this metric", "detail": map[string]any{"metric": m1, "aggregation_method": "std"}}},
			{"old granularity", alice, "GET", "/v1/aggregation/metric?granularity=300&metric=" + m1 + "&metric=" + m2, nil, 404, prefix("Aggregation method 'mean' at granularity '300.0' for metric ")},
			{"old resample", alice, "GET", "/v1/aggregation/metric?resample=60&metric=" + m1, nil, 400, "A granularity must be specified to resample"},
			{"old unknown type", alice, "POST", "/v1/aggregation/resource/nope/metric/cpu", nil, 404, "Resource type nope does not exist"},
			{"old bad groupby", alice, "POST", "/v1/aggregation/resource/server/metric/cpu?groupby=color", nil, 400, "Invalid groupby attribute"},
		})

		// Search of measures by value.
		r2 := e.must(200, alice, "POST", "/v1/search/metric?granularity=1&metric_id="+m1+"&metric_id="+m2, map[string]any{"and": []any{map[string]any{">=": 2}, map[string]any{"!=": 4}}}).obj(t)
		check("search/metric", r2, map[string]any{m1: []any{pt(t1, "1.0", "2.0"), pt(t2, "1.0", "3.0")}, m2: []any{pt(t0, "1.0", "3.0")}})
		r2 = e.must(200, alice, "POST", "/v1/search/metric?granularity=1&metric_id="+m1, map[string]any{"=": []any{map[string]any{"%": 2}, 1}}).obj(t)
		check("search/metric arithmetic", r2, map[string]any{m1: []any{pt(t0, "1.0", "1.0"), pt(t2, "1.0", "3.0")}})
		errorCases(t, e, []errorCase{
			{"search/metric operator", alice, "POST", "/v1/search/metric?metric_id=" + m1, map[string]any{"~": 1}, 400, "Unknown operator ~"},
			{"search/metric arity", alice, "POST", "/v1/search/metric?metric_id=" + m1, map[string]any{"=": []any{1, 2, 3}}, 400, "Binary operator = needs 2 arguments, 3 given"},
			{"search/metric body", alice, "POST", "/v1/search/metric?metric_id=" + m1, "", 400, "No query specified in body"},
		})
	})
}
