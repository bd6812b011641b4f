package alarms

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

func runProgram(p *vm.Program, env Env) (any, error) { return expr.Run(p, env) }

func FuzzCompileExpression(f *testing.F) {
	for _, s := range []string{"cpu.mean > 80 && mem.last / mem_total.last > 0.9", "cpu.values[0] > 1", "len(cpu.values) == 3 or cpu.max < 0",
		"all(cpu.values, # > 1)", `cpu.count > 0 ? cpu.min < 5 : false`, "((((", "cpu.mean > 1e309"} {
		f.Add(s)
	}
	names := []string{"cpu", "mem", "mem_total"}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := CompileExpression(src, names)
		if err != nil {
			return
		}
		env := Env{"cpu": StatsOf([]float64{1, 2, 3}), "mem": StatsOf(nil), "mem_total": StatsOf([]float64{4})}
		// Must not panic; errors at run time are insufficient data.
		_, _ = runProgram(p, env)
	})
}

func FuzzParseRule(f *testing.F) {
	f.Add(TypeComposite, `{"or": [{"type": "gnocchi_resources_threshold", "metric": "cpu", "resource_id": "r", "resource_type": "i", "threshold": 1, "aggregation_method": "mean"}]}`)
	f.Add(TypeEvent, `{"event_type": "a.*", "query": [{"field": "traits.x", "op": "eq", "value": "1", "type": "integer"}]}`)
	f.Add(TypeExpression, `{"expression": "a.last > 1", "queries": {"a": {"metrics": ["m"], "aggregation_method": "mean"}}}`)
	f.Add(TypeAggregationByResources, `{"metric": "cpu", "query": "{}", "resource_type": "i", "threshold": "1", "aggregation_method": "mean", "granularity": "60"}`)
	f.Fuzz(func(t *testing.T, kind, raw string) {
		r, err := ParseRule(kind, json.RawMessage(raw), nil)
		if err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("cannot render a parsed rule: %v", err)
		}
		if _, err := ParseRule(kind, b, nil); err != nil {
			t.Fatalf("rendered rule %s does not parse again: %v", b, err)
		}
	})
}

func FuzzComplexQuery(f *testing.F) {
	f.Add(`{"and": [{"=": {"name": "a"}}, {"in": {"state": ["ok"]}}, {"not": {">=": {"timestamp": "2026-01-01"}}}]}`, `[{"name": "asc"}]`)
	f.Add(`{"=~": {"rule": ".*cpu.*"}}`, ``)
	f.Fuzz(func(t *testing.T, filter, orderby string) {
		q, err := ParseComplexQuery(filter, orderby, nil, AlarmQueryFields)
		if err != nil {
			return
		}
		_ = q.Restrict("project_id", "p")
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"message_id": "m", "event_type": "x", "traits": [["a", 2, 5], {"name": "b", "type": "datetime", "value": "2026-01-01T00:00:00"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeEvent(b)
		_, _ = DecodeUpdate(b)
	})
}

func FuzzTimeConstraints(f *testing.F) {
	f.Add(`[{"name": "n", "start": "0 23 * * *", "duration": 10800, "timezone": "Europe/Paris"}]`)
	now := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		tcs, err := ParseTimeConstraints(json.RawMessage(raw))
		if err != nil {
			return
		}
		_ = WithinTimeConstraints(tcs, now)
	})
}
