package alarms

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseRuleDefaults(t *testing.T) {
	r, err := ParseRule(TypeResourcesThreshold, json.RawMessage(`{"metric":"cpu","resource_id":"r1","resource_type":"instance","threshold":"5","aggregation_method":"mean","granularity":"300"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := r.(*ThresholdRule)
	if tr.ComparisonOperator != "eq" || tr.EvaluationPeriods != 1 || tr.Granularity != 300 || tr.Threshold != 5 {
		t.Errorf("defaults: %+v", tr)
	}
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"metric", "resource_id", "resource_type", "threshold", "aggregation_method", "granularity", "comparison_operator", "evaluation_periods"} {
		if _, ok := m[k]; !ok {
			t.Errorf("rendered rule lacks %s: %s", k, b)
		}
	}
	if _, ok := m["metrics"]; ok {
		t.Errorf("rendered resources rule has metrics: %s", b)
	}
	if r.Step().Seconds() != 300 {
		t.Errorf("Step = %v", r.Step())
	}
}

func TestParseRuleErrors(t *testing.T) {
	cases := []struct {
		kind, rule, want string
	}{
		{TypeResourcesThreshold, `{"metric":"cpu","resource_id":"r","resource_type":"i","aggregation_method":"mean"}`, "Invalid input for field/attribute threshold. Value: 'None'. Mandatory field missing."},
		{TypeResourcesThreshold, `{"metric":"cpu","resource_id":"r","resource_type":"i","threshold":1,"aggregation_method":"avg"}`, "aggregation_method should be in ['mean', "},
		{TypeResourcesThreshold, `{"metric":"cpu","resource_id":"r","resource_type":"i","threshold":1,"aggregation_method":"mean","comparison_operator":"gte"}`, "Invalid input for field/attribute comparison_operator. Value: 'gte'. Value should be one of: lt, le, eq, ne, ge, gt"},
		{TypeResourcesThreshold, `{"metric":"cpu","resource_id":"r","resource_type":"i","threshold":1,"aggregation_method":"mean","granularity":0}`, "Invalid input for field/attribute granularity. Value: '0'. Value should be greater or equal to 1"},
		{TypeResourcesThreshold, `{"metric":"cpu","resource_id":"r","resource_type":"i","threshold":1,"aggregation_method":"mean","bogus":1}`, "Unknown attribute for argument data.gnocchi_resources_threshold_rule: bogus"},
		{TypeResourcesThreshold, `{"metric":"cpu","resource_id":"r","resource_type":"i","threshold":"x","aggregation_method":"mean"}`, "Invalid input for field/attribute threshold. Value: 'x'. Wrong type."},
		{TypeAggregationByResources, `{"metric":"cpu","query":"{nope","resource_type":"i","threshold":1,"aggregation_method":"mean"}`, "Invalid input for field/attribute rule/query. Value: '{nope'."},
		{TypeAggregationByMetrics, `{"threshold":1,"aggregation_method":"mean"}`, "Invalid input for field/attribute metrics. Value: 'None'. Mandatory field missing."},
		{TypeComposite, `{"xor": []}`, `Threshold rules should be combined with "and" or "or"`},
		{TypeComposite, `{"and": {"type": "x"}}`, "Invalid input composite rule"},
		{TypeComposite, `{"or": [{"threshold": 1, "metric": "m"}]}`, "type must be set in every rule"},
		{TypeComposite, `{"or": [{"type": "event", "event_type": "x"}]}`, "Unsupported sub-rule type :event in composite rule, should be one of: ['gnocchi_aggregation_by_metrics_threshold', 'gnocchi_aggregation_by_resources_threshold', 'gnocchi_resources_threshold']"},
		{TypeComposite, `[1]`, "Invalid input composite rule"},
		{TypeEvent, `{"event_type":"a.*","query":[{"field":"traits.x","op":"eq","value":"1"}]}`, "Query value or traits invalid"},
		{TypeEvent, `{"query":[{"field":"traits.x","op":"eq","value":"hello","type":"integer"}]}`, "Unable to convert the value hello to the expected data type integer."},
		{TypeEvent, `{"query":[{"field":"traits.x","op":"like","value":"1","type":"string"}]}`, "Invalid input for field/attribute op. Value: 'like'."},
		{TypeEvent, `{"query":[{"field":"traits x","op":"eq","value":"1","type":"string"}]}`, "Query value or traits invalid"},
		{"nope", `{}`, "Invalid input for field/attribute type. Value: 'nope'."},
	}
	for _, c := range cases {
		_, err := ParseRule(c.kind, json.RawMessage(c.rule), nil)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, c.want) {
			t.Errorf("%s %s:\n got %v\nwant %q", c.kind, c.rule, err, c.want)
		}
	}
}

func TestCompositeParse(t *testing.T) {
	raw := `{"or": [
		{"type": "gnocchi_resources_threshold", "metric": "cpu", "resource_id": "r1", "resource_type": "instance", "threshold": 80, "aggregation_method": "mean", "comparison_operator": "gt"},
		{"and": [
			{"type": "gnocchi_aggregation_by_metrics_threshold", "metrics": ["m1", "m2"], "threshold": 1, "aggregation_method": "any-method-is-fine"},
			{"type": "gnocchi_resources_threshold", "metric": "mem", "resource_id": "r1", "resource_type": "instance", "threshold": 90, "aggregation_method": "max", "granularity": 10}
		]}
	]}`
	r, err := ParseRule(TypeComposite, json.RawMessage(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := r.(*CompositeRule)
	if len(c.Leaves()) != 3 || c.Step().Seconds() != 10 {
		t.Errorf("leaves %d, step %v", len(c.Leaves()), c.Step())
	}
	b, _ := json.Marshal(c)
	r2, err := ParseRule(TypeComposite, b, nil)
	if err != nil {
		t.Fatalf("re-parse of %s: %v", b, err)
	}
	b2, _ := json.Marshal(r2)
	if string(b) != string(b2) {
		t.Errorf("round trip differs:\n%s\n%s", b, b2)
	}
}

func TestEventRule(t *testing.T) {
	r, err := ParseRule(TypeEvent, json.RawMessage(`{"query":[{"field":"traits.n","op":"ge","value":"3","type":"integer"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := r.(*EventRule)
	if e.EventType != "*" || e.Query[0].Typed() != 3.0 {
		t.Errorf("event rule %+v", e)
	}
	if d := DefaultDescription(TypeEvent, e); d != "Alarm when * event occurred." {
		t.Errorf("description %q", d)
	}
}

func TestExpressionRule(t *testing.T) {
	raw := `{"expression": "cpu.mean > 80 && mem.last / mem_total.last > 0.9",
		"queries": {
			"cpu": {"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean", "granularity": 60, "evaluation_periods": 3},
			"mem": {"metrics": ["0b8c6d4e-7f3a-4a1b-9c2d-1e2f3a4b5c6d"], "aggregation_method": "last", "granularity": 10},
			"mem_total": {"metric": "memory", "query": "{\"=\": {\"id\": \"r1\"}}", "resource_type": "instance", "aggregation_method": "max"}
		}}`
	r, err := ParseRule(TypeExpression, json.RawMessage(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	x := r.(*ExpressionRule)
	if x.Queries["mem"].Type != TypeAggregationByMetrics || x.Queries["mem_total"].Type != TypeAggregationByResources || x.Queries["cpu"].Type != TypeResourcesThreshold {
		t.Errorf("inferred types: %+v", x.Queries)
	}
	if x.Step().Seconds() != 10 {
		t.Errorf("Step = %v", x.Step())
	}
	b, _ := json.Marshal(x)
	if _, err := ParseRule(TypeExpression, b, nil); err != nil {
		t.Errorf("re-parse of %s: %v", b, err)
	}
}

func TestExpressionErrors(t *testing.T) {
	q := `"queries": {"cpu": {"metric": "cpu", "resource_id": "r", "resource_type": "i", "aggregation_method": "mean"}}`
	cases := []struct{ expr, want string }{
		{"cpu.mean >", "Invalid expression at line 1, column"},
		{"cpu.avg > 80", "Invalid expression at line 1, column 5: type alarms.Stats has no field avg"},
		{"mem.mean > 80", "Invalid expression at line 1, column 1: unknown name mem"},
		{"cpu.mean + 1", "Invalid expression: expected bool, but got float64"},
		{"cpu.mean > 1 &&\n  cpu.last < \"x\"", "Invalid expression at line 2, column"},
	}
	for _, c := range cases {
		raw, _ := json.Marshal(c.expr)
		_, err := ParseRule(TypeExpression, json.RawMessage(`{"expression": `+string(raw)+`, `+q+`}`), nil)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.expr, err, c.want)
		}
	}
	for _, bad := range []string{
		`{"expression": "true", "queries": {}}`,
		`{"expression": "true", "queries": {"1x": {"metric": "cpu", "resource_id": "r", "resource_type": "i", "aggregation_method": "mean"}}}`,
		`{"expression": "true", "queries": {"not": {"metric": "cpu", "resource_id": "r", "resource_type": "i", "aggregation_method": "mean"}}}`,
		`{"expression": "true", "queries": {"a": {"metric": "cpu", "resource_id": "r", "resource_type": "i", "aggregation_method": "nope"}}}`,
		`{"expression": "true", "queries": {"a": {"type": "event"}}}`,
		`{"queries": {"a": {"metric": "cpu", "resource_id": "r", "resource_type": "i", "aggregation_method": "mean"}}}`,
	} {
		if _, err := ParseRule(TypeExpression, json.RawMessage(bad), nil); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestStats(t *testing.T) {
	s := StatsOf([]float64{3, 1, 2})
	if s.First != 3 || s.Last != 2 || s.Min != 1 || s.Max != 3 || s.Mean != 2 || s.Sum != 6 || s.Count != 3 {
		t.Errorf("StatsOf = %+v", s)
	}
}
