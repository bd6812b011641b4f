package api

import (
	"fmt"
	"reflect"
	"testing"
)

func TestArchivePolicies(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		r := e.must(201, admin, "POST", "/v1/archive_policy", map[string]any{
			"name": "five", "back_window": 2, "aggregation_methods": []string{"-mean", "+95pct"},
			"definition": []any{map[string]any{"granularity": "5 minutes", "timespan": "1 day"}, map[string]any{"points": 24, "granularity": 3600}},
		})
		if got := r.header.Get("Location"); got != e.url+"/v1/archive_policy/five" {
			t.Errorf("Location %q", got)
		}
		want := map[string]any{
			"name": "five", "back_window": jsonNum(2),
			"definition": []any{
				map[string]any{"granularity": "0:05:00", "points": jsonNum(288), "timespan": "1 day, 0:00:00"},
				map[string]any{"granularity": "1:00:00", "points": jsonNum(24), "timespan": "1 day, 0:00:00"},
			},
		}
		got := r.obj(t)
		methods := got["aggregation_methods"]
		delete(got, "aggregation_methods")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("created policy\n got %v\nwant %v", got, want)
		}
		if !sameSet(methods, []string{"min", "max", "sum", "std", "count", "95pct"}) {
			t.Errorf("aggregation methods %v", methods)
		}
		got = e.must(200, alice, "GET", "/v1/archive_policy/five", nil).obj(t)
		delete(got, "aggregation_methods")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("read policy %v", got)
		}
		found := false
		for _, p := range e.must(200, alice, "GET", "/v1/archive_policy", nil).list(t) {
			if p.(map[string]any)["name"] == "five" {
				found = true
			}
		}
		if !found {
			t.Errorf("listing lacks the policy")
		}

		// Only the retention may change.
		r = e.must(200, admin, "PATCH", "/v1/archive_policy/five", map[string]any{"definition": []any{
			map[string]any{"granularity": "5 minutes", "timespan": "2 days"}, map[string]any{"points": 48, "granularity": 3600}}})
		if p := r.obj(t)["definition"].([]any)[0].(map[string]any); p["points"] != jsonNum(576) {
			t.Errorf("patched definition %v", p)
		}
		errorCases(t, e, []errorCase{
			{"patch granularity count", admin, "PATCH", "/v1/archive_policy/five", map[string]any{"definition": []any{map[string]any{"granularity": 10, "points": 5}}}, 400, "Archive policy five does not support change: Cannot add or drop granularities"},
			{"patch granularity", admin, "PATCH", "/v1/archive_policy/five", map[string]any{"definition": []any{map[string]any{"granularity": 10, "points": 5}, map[string]any{"granularity": 3600, "points": 5}}}, 400, "Archive policy five does not support change: 300.0 granularity interval was changed"},
			{"patch unknown", admin, "PATCH", "/v1/archive_policy/nope", map[string]any{"definition": []any{}}, 404, "Archive policy nope does not exist"},
			{"patch extra key", admin, "PATCH", "/v1/archive_policy/five", map[string]any{"definition": []any{}, "name": "x"}, 400, invalid("extra keys not allowed @ data['name']", "name")},
			{"patch by member", alice, "PATCH", "/v1/archive_policy/five", map[string]any{"definition": []any{map[string]any{"granularity": 300, "points": 5}}}, 403, "Access was denied to this resource."},
			{"get unknown", alice, "GET", "/v1/archive_policy/nope", nil, 404, "Archive policy nope does not exist"},
			{"duplicate", admin, "POST", "/v1/archive_policy", map[string]any{"name": "five", "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 409, "Archive policy five already exists"},
			{"by member", alice, "POST", "/v1/archive_policy", map[string]any{"name": "mine", "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 403, "Access was denied to this resource."},
			{"no definition", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x"}, 400, invalid("required key not provided @ data['definition']", "definition")},
			{"unknown field", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "bogus": 1, "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 400, invalid("extra keys not allowed @ data['bogus']", "bogus")},
			{"name type", admin, "POST", "/v1/archive_policy", map[string]any{"name": 5, "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 400, invalid("expected str for dictionary value @ data['name']", "name")},
			{"back_window type", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "back_window": "soon", "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 400, invalid("expected int for dictionary value @ data['back_window']", "back_window")},
			{"negative back_window", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "back_window": -1, "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 400, invalid("value must be at least 0 for dictionary value @ data['back_window']", "back_window")},
			{"bad granularity", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "definition": []any{map[string]any{"granularity": "abc", "points": 10}}}, 400, invalid("Unable to parse timespan for dictionary value @ data['definition'][0]['granularity']", "definition", "0", "granularity")},
			{"zero points", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "definition": []any{map[string]any{"granularity": 1, "points": 0}}}, 400, invalid("value must be at least 1 for dictionary value @ data['definition'][0]['points']", "definition", "0", "points")},
			{"one of three", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "definition": []any{map[string]any{"granularity": 1}}}, 400, "At least two of granularity/points/timespan must be provided"},
			{"empty definition", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "definition": []any{}}, 400, invalid("length of value must be at least 1 for dictionary value @ data['definition']", "definition")},
			{"bad method", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "aggregation_methods": []string{"avg"}, "definition": []any{map[string]any{"granularity": 1, "points": 1}}}, 400, invalid("not a valid value @ data['aggregation_methods'][0]", "aggregation_methods", "0")},
			{"not an object", admin, "POST", "/v1/archive_policy", []any{1}, 400, invalid("expected a dictionary")},
			{"negative granularity", admin, "POST", "/v1/archive_policy", map[string]any{"name": "x", "definition": []any{map[string]any{"granularity": -5, "points": 1}}}, 400, invalid("Timespan must be positive for dictionary value @ data['definition'][0]['granularity']", "definition", "0", "granularity")},
		})

		// A policy in use cannot go.
		e.metric(admin, "five")
		errorCases(t, e, []errorCase{
			{"in use", admin, "DELETE", "/v1/archive_policy/five", nil, 400, "Archive policy five is still in use"},
			{"delete unknown", admin, "DELETE", "/v1/archive_policy/nope", nil, 404, "Archive policy nope does not exist"},
			{"delete by member", alice, "DELETE", "/v1/archive_policy/five", nil, 403, "Access was denied to this resource."},
		})
		e.policy("doomed")
		e.must(204, admin, "DELETE", "/v1/archive_policy/doomed", nil)
		e.must(404, admin, "GET", "/v1/archive_policy/doomed", nil)
	})
}

func TestArchivePolicyRules(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		r := e.must(201, admin, "POST", "/v1/archive_policy_rule", map[string]any{"name": "cpu", "metric_pattern": "cpu.*", "archive_policy_name": "p"})
		if r.header.Get("Location") != e.url+"/v1/archive_policy_rule/cpu" {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		want := map[string]any{"name": "cpu", "metric_pattern": "cpu.*", "archive_policy_name": "p"}
		if got := r.obj(t); !reflect.DeepEqual(got, want) {
			t.Errorf("created rule %v", got)
		}
		if got := e.must(200, alice, "GET", "/v1/archive_policy_rule/cpu", nil).obj(t); !reflect.DeepEqual(got, want) {
			t.Errorf("read rule %v", got)
		}
		names := map[string]bool{}
		for _, x := range e.must(200, alice, "GET", "/v1/archive_policy_rule", nil).list(t) {
			names[x.(map[string]any)["name"].(string)] = true
		}
		if !names["cpu"] || !names["default"] {
			t.Errorf("rules %v", names)
		}
		// The rule applies to new metrics.
		m := e.must(201, admin, "POST", "/v1/metric", map[string]any{"name": "cpu.util"}).obj(t)
		if m["archive_policy_name"] != "p" {
			t.Errorf("metric of rule got policy %v", m["archive_policy_name"])
		}
		// Renaming is the one change.
		r = e.must(200, admin, "PATCH", "/v1/archive_policy_rule/cpu", map[string]any{"name": "processor"})
		if r.obj(t)["name"] != "processor" {
			t.Errorf("renamed %s", r.body)
		}
		e.must(404, admin, "GET", "/v1/archive_policy_rule/cpu", nil)
		errorCases(t, e, []errorCase{
			{"unknown policy", admin, "POST", "/v1/archive_policy_rule", map[string]any{"name": "x", "metric_pattern": "x", "archive_policy_name": "nope"}, 400, map[string]any{"cause": "Archive policy does not exist", "detail": "nope"}},
			{"duplicate", admin, "POST", "/v1/archive_policy_rule", map[string]any{"name": "processor", "metric_pattern": "x", "archive_policy_name": "p"}, 409, "Archive policy rule processor already exists"},
			{"missing key", admin, "POST", "/v1/archive_policy_rule", map[string]any{"name": "x", "archive_policy_name": "p"}, 400, invalid("required key not provided @ data['metric_pattern']", "metric_pattern")},
			{"by member", alice, "POST", "/v1/archive_policy_rule", map[string]any{"name": "x", "metric_pattern": "x", "archive_policy_name": "p"}, 403, "Access was denied to this resource."},
			{"patch other field", admin, "PATCH", "/v1/archive_policy_rule/processor", map[string]any{"metric_pattern": "y"}, 400, invalid("extra keys not allowed @ data['metric_pattern']", "metric_pattern")},
			{"patch by member", alice, "PATCH", "/v1/archive_policy_rule/processor", map[string]any{"name": "y"}, 403, "Access was denied to this resource."},
			{"get unknown", admin, "GET", "/v1/archive_policy_rule/nope", nil, 404, "Archive policy rule nope does not exist"},
			{"delete unknown", admin, "DELETE", "/v1/archive_policy_rule/nope", nil, 404, "Archive policy rule nope does not exist"},
			{"delete by member", alice, "DELETE", "/v1/archive_policy_rule/processor", nil, 403, "Access was denied to this resource."},
			{"policy of a rule", admin, "DELETE", "/v1/archive_policy/p", nil, 400, "Archive policy p is still in use"},
		})
		e.must(204, admin, "DELETE", "/v1/archive_policy_rule/processor", nil)
		e.must(404, admin, "GET", "/v1/archive_policy_rule/processor", nil)
	})
}

func jsonNum(n any) any { return jsonNumber(fmt.Sprint(n)) }
