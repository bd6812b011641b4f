package api

import (
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		e.must(201, alice, "POST", "/v1/resource/generic", map[string]any{"id": "host-1", "project_id": alice.project})
		r := e.must(201, alice, "POST", "/v1/metric/", map[string]any{"archive_policy_name": "p", "name": "load", "unit": "%", "resource_id": "host-1"})
		m := r.obj(t)
		id := m["id"].(string)
		if r.header.Get("Location") != e.url+"/v1/metric/"+id || m["archive_policy_name"] != "p" || m["name"] != "load" ||
			m["unit"] != "%" || m["creator"] != "alice:project-a" || m["resource_id"] == nil {
			t.Errorf("created metric %s (Location %q)", r.body, r.header.Get("Location"))
		}
		plain := e.must(201, alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p"}).obj(t)
		if plain["name"] != nil || plain["unit"] != nil || plain["resource_id"] != nil {
			t.Errorf("unnamed metric %v", plain)
		}
		got := e.must(200, alice, "GET", "/v1/metric/"+id, nil).obj(t)
		if got["archive_policy"].(map[string]any)["name"] != "p" || got["resource"].(map[string]any)["original_resource_id"] != "host-1" {
			t.Errorf("read metric %v", got)
		}
		if _, ok := got["resource"].(map[string]any)["metrics"]; ok {
			t.Errorf("a metric's resource carries its metrics: %v", got)
		}
		if e.must(200, alice, "GET", "/v1/metric/"+plain["id"].(string), nil).obj(t)["resource"] != nil {
			t.Errorf("stand-alone metric has a resource")
		}

		// Listing filters.
		for _, tc := range []struct {
			query string
			n     int
		}{{"", 2}, {"?name=load", 1}, {"?unit=%25", 1}, {"?archive_policy_name=p", 2}, {"?creator=alice:project-a", 2},
			{"?user_id=alice&project_id=project-a", 2}, {"?user_id=bob", 0}, {"?status=delete", 0}, {"?id=" + id, 1}} {
			if n := len(e.must(200, alice, "GET", "/v1/metric"+tc.query, nil).list(t)); n != tc.n {
				t.Errorf("GET /v1/metric%s: %d metrics, want %d", tc.query, n, tc.n)
			}
		}
		// The field search extension of /v1/search/metric.
		if n := len(e.must(200, alice, "POST", "/v1/search/metric", map[string]any{"like": map[string]any{"name": "lo%"}}).list(t)); n != 1 {
			t.Errorf("metric field search: %d", n)
		}

		errorCases(t, e, []errorCase{
			{"unknown policy", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "nope"}, 400, "Archive policy nope does not exist"},
			{"unknown field", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "color": 1}, 400, invalid("extra keys not allowed @ data['color']", "color")},
			{"name type", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "name": 5}, 400, invalid("expected str for dictionary value @ data['name']", "name")},
			{"long unit", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "unit": "0123456789012345678901234567890123"}, 400, invalid("length of value must be at most 31 for dictionary value @ data['unit']", "unit")},
			{"slash", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "name": "a/b"}, 400, "'/' is not supported in metric name"},
			{"resource without name", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "resource_id": "host-1"}, 400, map[string]any{"cause": "Attribute value error", "detail": "name", "reason": "Name cannot be null if resource_id is not null"}},
			{"unknown resource", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "name": "x", "resource_id": "nope"}, 404, prefix("Resource ")},
			{"duplicate name", alice, "POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "name": "load", "resource_id": "host-1"}, 400, map[string]any{"cause": "Named metric already exists", "detail": "load"}},
			{"get unknown", alice, "GET", "/v1/metric/6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11", nil, 404, "Metric 6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11 does not exist"},
			{"get malformed", alice, "GET", "/v1/metric/abc", nil, 404, "Metric abc does not exist"},
			{"bad status", alice, "GET", "/v1/metric?status=gone", nil, 400, "Invalid input: not a valid value for dictionary value @ data['status']"},
		})
		// Without a policy and without a matching rule (the default rule
		// matches everything, so drop it first).
		e.must(204, admin, "DELETE", "/v1/archive_policy_rule/default", nil)
		errorCases(t, e, []errorCase{
			{"no rule", alice, "POST", "/v1/metric", map[string]any{"name": "x"}, 400, "No archive policy name specified and no archive policy rule found matching the metric name x"},
		})

		e.must(204, alice, "DELETE", "/v1/metric/"+id, nil)
		e.must(404, alice, "GET", "/v1/metric/"+id, nil)
		e.must(404, alice, "DELETE", "/v1/metric/"+id, nil)
	})
}

func TestMeasures(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		id := e.metric(alice, "p")
		base := "/v1/metric/" + id + "/measures"
		// Every timestamp form Gnocchi takes.
		e.must(202, alice, "POST", base, []any{
			map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 1},
			map[string]any{"timestamp": "2024-01-01 00:00:01.5", "value": "2.5"},
			map[string]any{"timestamp": 1704067202, "value": 3},
			map[string]any{"timestamp": "1704067203.0", "value": true},
			map[string]any{"timestamp": "2024-01-01T01:00:04+01:00", "value": 5, "ignored": "x"},
		})
		e.must(202, alice, "POST", base, []any{})
		want := []any{
			[]any{"2024-01-01T00:00:00+00:00", jsonNum("60.0"), jsonNum("2.5")},
			[]any{"2024-01-01T00:00:00+00:00", jsonNum("1.0"), jsonNum("1.0")},
			[]any{"2024-01-01T00:00:01+00:00", jsonNum("1.0"), jsonNum("2.5")},
			[]any{"2024-01-01T00:00:02+00:00", jsonNum("1.0"), jsonNum("3.0")},
			[]any{"2024-01-01T00:00:03+00:00", jsonNum("1.0"), jsonNum("1.0")},
			[]any{"2024-01-01T00:00:04+00:00", jsonNum("1.0"), jsonNum("5.0")},
		}
		got := e.must(200, alice, "GET", base+"?refresh=true", nil).list(t)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("measures\n got %v\nwant %v", got, want)
		}
		// Options.
		for _, tc := range []struct {
			query string
			want  []any
		}{
			{"?granularity=60", want[:1]},
			{"?granularity=1&start=2024-01-01T00:00:02&stop=1704067204", want[3:5]},
			{"?aggregation=max&granularity=60", []any{[]any{"2024-01-01T00:00:00+00:00", jsonNum("60.0"), jsonNum("5.0")}}},
			{"?aggregation=count&granularity=1m", []any{[]any{"2024-01-01T00:00:00+00:00", jsonNum("60.0"), jsonNum("5.0")}}},
			{"?granularity=1&resample=2&aggregation=sum", []any{
				[]any{"2024-01-01T00:00:00+00:00", jsonNum("2.0"), jsonNum("3.5")},
				[]any{"2024-01-01T00:00:02+00:00", jsonNum("2.0"), jsonNum("4.0")},
				[]any{"2024-01-01T00:00:04+00:00", jsonNum("2.0"), jsonNum("5.0")},
			}},
			{"?granularity=1&resample=2&aggregation=mean&resample_method=max", []any{
				[]any{"2024-01-01T00:00:00+00:00", jsonNum("2.0"), jsonNum("2.5")},
				[]any{"2024-01-01T00:00:02+00:00", jsonNum("2.0"), jsonNum("3.0")},
				[]any{"2024-01-01T00:00:04+00:00", jsonNum("2.0"), jsonNum("5.0")},
			}},
			{"?start=2030-01-01", []any{}},
			{"?granularity=1&fill=0&start=-5000days", want[1:]},
		} {
			if got := e.must(200, alice, "GET", base+tc.query, nil).list(t); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("GET measures%s\n got %v\nwant %v", tc.query, got, tc.want)
			}
		}
		// The same through the resource.
		e.must(201, alice, "POST", "/v1/resource/generic", map[string]any{"id": "r1", "metrics": map[string]any{"m": id}})
		if got := e.must(200, alice, "GET", "/v1/resource/generic/r1/metric/m/measures?granularity=60", nil).list(t); !reflect.DeepEqual(got, want[:1]) {
			t.Errorf("resource measures %v", got)
		}
		e.must(202, alice, "POST", "/v1/resource/generic/r1/metric/m/measures", []any{map[string]any{"timestamp": "2024-01-01T00:00:05", "value": 6}})
		e.waitMeasures(alice, base+"?granularity=1", 6)

		// Relative timestamps count from now.
		rel := e.metric(alice, "p")
		e.must(202, alice, "POST", "/v1/metric/"+rel+"/measures", []any{map[string]any{"timestamp": "-5 minutes", "value": 1}, map[string]any{"timestamp": "now", "value": 2}})
		pts := e.must(200, alice, "GET", "/v1/metric/"+rel+"/measures?refresh=true&granularity=1&start="+url.QueryEscape("-10 minutes"), nil).list(t)
		if len(pts) != 2 {
			t.Fatalf("relative measures %v", pts)
		}
		first, err := time.Parse(time.RFC3339, pts[0].([]any)[0].(string))
		if err != nil || time.Since(first) < 4*time.Minute || time.Since(first) > 6*time.Minute {
			t.Errorf("-5 minutes stored at %v (%v)", first, err)
		}

		bad := func(name, body string, want any) errorCase {
			return errorCase{name, alice, "POST", base, body, 400, want}
		}
		errorCases(t, e, []errorCase{
			bad("garbage timestamp", `[{"timestamp": "garbage", "value": 1}]`, invalid("unexpected timestamp 'Unable to convert timestamps'")),
			bad("bad date", `[{"timestamp": "2024-13-45T00:00:00", "value": 1}]`, invalid("unexpected timestamp 'Unable to convert timestamps'")),
			bad("before the Epoch", `[{"timestamp": "1960-01-01T00:00:00", "value": 1}]`, invalid("unexpected timestamp 'Timestamp must be after Epoch'")),
			bad("negative epoch", `[{"timestamp": -5, "value": 1}]`, invalid("unexpected timestamp 'Timestamp must be after Epoch'")),
			bad("timestamp type", `[{"timestamp": [1], "value": 1}]`, invalid("unexpected timestamp 'Unable to convert timestamps'")),
			bad("no timestamp", `[{"value": 1}]`, invalid("unexpected measures format")),
			bad("no value", `[{"timestamp": "2024-01-01"}]`, invalid("unexpected measures value")),
			bad("null value", `[{"timestamp": "2024-01-01", "value": null}]`, invalid("unexpected measures value")),
			bad("text value", `[{"timestamp": "2024-01-01", "value": "abc"}]`, invalid("unexpected measures value")),
			bad("NaN", `[{"timestamp": "2024-01-01", "value": "NaN"}]`, invalid("unexpected measures value: NaN and infinite values are not accepted")),
			bad("Infinity", `[{"timestamp": "2024-01-01", "value": "-inf"}]`, invalid("unexpected measures value: NaN and infinite values are not accepted")),
			bad("overflow", `[{"timestamp": "2024-01-01", "value": 1e999}]`, invalid("unexpected measures value: NaN and infinite values are not accepted")),
			bad("JSON NaN", `[{"timestamp": "2024-01-01", "value": NaN}]`, func(d any) bool { return d.(map[string]any)["cause"] == "Unable to decode body" }),
			bad("not a list", `{"a": 1}`, invalid("unexpected measures format")),
			bad("list of numbers", `[1, 2]`, invalid("unexpected measures format")),
			bad("trailing data", `[] []`, func(d any) bool { return d.(map[string]any)["cause"] == "Unable to decode body" }),
			{"unknown metric", alice, "POST", "/v1/metric/6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11/measures", `[]`, 404, "Metric 6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11 does not exist"},
			{"aggregation", alice, "GET", base + "?aggregation=std", nil, 404, map[string]any{"cause": "Aggregation method does not exist for this metric", "detail": map[string]any{"metric": id, "aggregation_method": "std"}}},
			{"bad aggregation", alice, "GET", base + "?aggregation=avg", nil, 404, map[string]any{"cause": "Aggregation method does not exist for this metric", "detail": map[string]any{"metric": id, "aggregation_method": "avg"}}},
			{"granularity", alice, "GET", base + "?granularity=300", nil, 404, fmt.Sprintf("Aggregation method 'mean' at granularity '300.0' for metric %s does not exist", id)},
			{"bad granularity", alice, "GET", base + "?granularity=often", nil, 400, map[string]any{"cause": "Argument value error", "detail": "granularity", "reason": "Unable to parse timespan"}},
			{"bad start", alice, "GET", base + "?start=whenever", nil, 400, map[string]any{"cause": "Argument value error", "detail": "start", "reason": "Must be a datetime or a timestamp"}},
			{"bad stop", alice, "GET", base + "?stop=whenever", nil, 400, map[string]any{"cause": "Argument value error", "detail": "stop", "reason": "Must be a datetime or a timestamp"}},
			{"resample without granularity", alice, "GET", base + "?resample=60", nil, 400, "A granularity must be specified to resample"},
			{"calendar resample", alice, "GET", base + "?granularity=60&resample=M", nil, 400, "Calendar resampling (M) is not supported; resample to a timespan"},
			{"bad resample_method", alice, "GET", base + "?granularity=1&resample=2&resample_method=avg", nil, 400, func(d any) bool { _, ok := d.(map[string]any); return ok }},
			{"bad refresh", alice, "GET", base + "?refresh=perhaps", nil, 400, "Unable to parse `refresh': invalid truth value 'perhaps'"},
			{"bad fill", alice, "GET", base + "?fill=lots", nil, 400, map[string]any{"cause": "Argument value error", "detail": "fill", "reason": "Must be a float, 'dropna', 'null' or 'ffill'"}},
		})

		// The backlog shows measures not yet processed and empties.
		e2 := newEnv(t, "sqlite", envOptions{noProcessor: true})
		e2.policy("p")
		m2 := e2.metric(admin, "p")
		e2.must(202, admin, "POST", "/v1/metric/"+m2+"/measures", []any{map[string]any{"timestamp": "2024-01-01", "value": 1}, map[string]any{"timestamp": "2024-01-02", "value": 1}})
		st := e2.must(200, admin, "GET", "/v1/status", nil).obj(t)["storage"].(map[string]any)
		if s := st["summary"].(map[string]any); s["measures"] != jsonNum(2) || s["metrics"] != jsonNum(1) || st["measures_to_process"].(map[string]any)[m2] != jsonNum(2) {
			t.Errorf("status with a backlog %v", st)
		}
	})
}
