package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func TestBatchMetrics(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		a, b := e.metric(alice, "p"), e.metric(alice, "p")
		e.must(202, alice, "POST", "/v1/batch/metrics/measures", map[string]any{
			a: []any{map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 1}, map[string]any{"timestamp": "2024-01-01T00:00:01", "value": 2}},
			b: []any{map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 10}},
		})
		e.must(202, alice, "POST", "/v1/batch/metrics/measures", map[string]any{})
		e.waitMeasures(alice, "/v1/metric/"+a+"/measures?granularity=1", 2)
		e.waitMeasures(alice, "/v1/metric/"+b+"/measures?granularity=1", 1)

		unknown := "6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11"
		errorCases(t, e, []errorCase{
			{"unknown metrics", alice, "POST", "/v1/batch/metrics/measures", map[string]any{
				a: []any{map[string]any{"timestamp": "2024-01-01T00:00:09", "value": 1}}, unknown: []any{}, "6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d12": []any{}},
				400, "Unknown metrics: 6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11, 6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d12"},
			{"not a uuid", alice, "POST", "/v1/batch/metrics/measures", map[string]any{"nope": []any{}}, 400, invalid("extra keys not allowed @ data['nope']", "nope")},
			{"not measures", alice, "POST", "/v1/batch/metrics/measures", map[string]any{a: 5}, 400, invalid("unexpected measures format for dictionary value @ data['"+a+"']", a)},
			{"bad timestamp", alice, "POST", "/v1/batch/metrics/measures", map[string]any{a: []any{map[string]any{"timestamp": "x", "value": 1}}}, 400, invalid("unexpected timestamp 'Unable to convert timestamps' for dictionary value @ data['"+a+"']", a)},
			{"not an object", alice, "POST", "/v1/batch/metrics/measures", []any{}, 400, invalid("expected a dictionary")},
			{"other project", bob, "POST", "/v1/batch/metrics/measures", map[string]any{a: []any{}}, 403, "Access was denied to this resource."},
		})
		// A batch with one bad measure stores nothing, even of the good
		// metrics before it.
		e.must(400, alice, "POST", "/v1/batch/metrics/measures", fmt.Sprintf(`{%q: [{"timestamp": "2024-01-01T00:00:05", "value": 5}], %q: [{"timestamp": "2024-01-01T00:00:05", "value": "NaN"}]}`, a, b))
		e.must(400, alice, "POST", "/v1/batch/metrics/measures", map[string]any{a: []any{map[string]any{"timestamp": "2024-01-01T00:00:05", "value": 5}}, unknown: []any{}})
		e.must(202, alice, "POST", "/v1/batch/metrics/measures", map[string]any{b: []any{map[string]any{"timestamp": "2024-01-01T00:00:06", "value": 6}}})
		e.waitMeasures(alice, "/v1/metric/"+b+"/measures?granularity=1", 2)
		e.must(200, alice, "GET", "/v1/metric/"+a+"/measures?granularity=1&refresh=true", nil)
		if n := len(e.must(200, alice, "GET", "/v1/metric/"+a+"/measures?granularity=1", nil).list(t)); n != 2 {
			t.Errorf("a refused batch stored points: metric a has %d", n)
		}
	})
}

func TestBatchResources(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		e.must(201, admin, "POST", "/v1/archive_policy_rule", map[string]any{"name": "all", "metric_pattern": "*", "archive_policy_name": "p"})
		e.must(201, alice, "POST", "/v1/resource/generic", map[string]any{"id": "r1", "project_id": alice.project, "metrics": map[string]any{"cpu": map[string]any{}}})
		e.must(201, alice, "POST", "/v1/resource/generic", map[string]any{"id": "r2", "project_id": alice.project})
		r1, _ := pipeline.ResourceUUID("r1", alice.user+":"+alice.project)
		r9, _ := pipeline.ResourceUUID("r9", alice.user+":"+alice.project)

		// Without create_metrics, every metric must exist.
		errorCases(t, e, []errorCase{
			{"unknown metric", alice, "POST", "/v1/batch/resources/metrics/measures", map[string]any{"r1": map[string]any{"cpu": []any{}, "mem": []any{}}}, 400, "Unknown metrics: " + r1.String() + "/mem"},
			{"unknown resource", alice, "POST", "/v1/batch/resources/metrics/measures?create_metrics=true", map[string]any{"r9": map[string]any{"cpu": []any{}}, "r2": map[string]any{"x": []any{}}}, 400,
				map[string]any{"cause": "Unknown resources", "detail": []any{map[string]any{"resource_id": r9.String(), "original_resource_id": "r9"}}}},
			{"extra key", alice, "POST", "/v1/batch/resources/metrics/measures", map[string]any{"r1": map[string]any{"cpu": map[string]any{"measures": []any{}, "bogus": 1}}}, 400, invalid("extra keys not allowed @ data['r1']['cpu']['bogus']", "r1", "cpu", "bogus")},
			{"no measures", alice, "POST", "/v1/batch/resources/metrics/measures", map[string]any{"r1": map[string]any{"cpu": map[string]any{"unit": "x"}}}, 400, invalid("required key not provided @ data['r1']['cpu']['measures']", "r1", "cpu", "measures")},
			{"bad timestamp", alice, "POST", "/v1/batch/resources/metrics/measures", map[string]any{"r1": map[string]any{"cpu": []any{map[string]any{"timestamp": "x", "value": 1}}}}, 400, invalid("unexpected timestamp 'Unable to convert timestamps' for dictionary value @ data['r1']['cpu']", "r1", "cpu")},
			{"not a dict", alice, "POST", "/v1/batch/resources/metrics/measures", map[string]any{"r1": 5}, 400, invalid("expected a dictionary for dictionary value @ data['r1']", "r1")},
			{"unknown policy", alice, "POST", "/v1/batch/resources/metrics/measures?create_metrics=true", map[string]any{"r1": map[string]any{"new": map[string]any{"archive_policy_name": "nope", "measures": []any{}}}}, 400, "Archive policy nope does not exist"},
			{"bad create_metrics", alice, "POST", "/v1/batch/resources/metrics/measures?create_metrics=perhaps", map[string]any{}, 400, "Unable to parse `create_metrics': invalid truth value 'perhaps'"},
			{"other project", bob, "POST", "/v1/batch/resources/metrics/measures?create_metrics=true", map[string]any{r1.String(): map[string]any{"new": []any{}}}, 403, "Access was denied to this resource."},
		})
		// The refused batches created nothing.
		if ms := e.must(200, alice, "GET", "/v1/resource/generic/r2/metric", nil).list(t); len(ms) != 0 {
			t.Errorf("a refused batch created metrics: %v", ms)
		}

		e.must(202, alice, "POST", "/v1/batch/resources/metrics/measures?create_metrics=true", map[string]any{
			"r1": map[string]any{
				"cpu": []any{map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 1}},
				"mem": map[string]any{"unit": "B", "measures": []any{map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 2}}},
			},
			"r2": map[string]any{"disk": map[string]any{"archive_policy_name": "low", "measures": []any{map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 3}}}},
		})
		mem := e.must(200, alice, "GET", "/v1/resource/generic/r1/metric/mem", nil).obj(t)
		if mem["unit"] != "B" || mem["archive_policy"].(map[string]any)["name"] != "p" {
			t.Errorf("created metric %v", mem)
		}
		disk := e.must(200, alice, "GET", "/v1/resource/generic/r2/metric/disk", nil).obj(t)
		if disk["archive_policy"].(map[string]any)["name"] != "low" {
			t.Errorf("created metric %v", disk)
		}
		e.waitMeasures(alice, "/v1/resource/generic/r1/metric/cpu/measures?granularity=1", 1)
		e.waitMeasures(alice, "/v1/resource/generic/r1/metric/mem/measures?granularity=1", 1)
		e.waitMeasures(alice, "/v1/resource/generic/r2/metric/disk/measures", 1)
	})
}

func TestBatchLarge(t *testing.T) {
	// More points than one bus message holds go out in several, and all
	// arrive.
	e := newEnv(t, "sqlite", envOptions{maxBody: 64 << 20})
	e.policy("p")
	id := e.metric(admin, "p")
	var b strings.Builder
	b.WriteString(`{"` + id + `": [`)
	const n = maxChunkPoints + 1000
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"timestamp": %d, "value": %d}`, 1704067200+i%3600, i%7)
	}
	b.WriteString("]}")
	e.must(202, admin, "POST", "/v1/batch/metrics/measures", b.String())
	e.waitMeasures(admin, "/v1/metric/"+id+"/measures?granularity=1&refresh=true", 3600)
}
