package api

import (
	"testing"
	"time"
)

// FuzzRequestBodies feeds arbitrary JSON to the body validators: they must
// answer an error or a value, never panic.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"name": "p", "definition": [{"granularity": "1s", "points": 10}], "aggregation_methods": ["-mean", "+95pct"]}`,
		`{"name": "t", "attributes": {"a": {"type": "string", "max_length": 3}, "n": {"type": "number", "min": 1, "max": 0}}}`,
		`{"and": [{">=": 1}, {"=": [{"%": 2}, 0]}]}`,
		`[{"op": "add", "path": "/attributes/x", "value": {"type": "bool", "options": {"fill": true}}}]`,
		`{"definition": [{"timespan": "1 day, 0:00:00", "points": 1e400}]}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSONValue(b)
		if err != nil {
			return
		}
		_, _ = parsePolicy(v)
		_, _ = parseResourceType(v)
		_, _ = parseDefinitions(v)
		_, _ = compilePredicate(v, 0)
		if o, err := asObject(v); err == nil {
			for k, x := range o.m {
				_, _, _ = parseAttribute(k, x, true)
				_, _ = timestampValue(x, now)
			}
		}
		_ = jsonToOps(v)
	})
}
