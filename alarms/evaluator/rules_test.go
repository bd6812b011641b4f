package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

var now = time.Date(2026, 6, 1, 12, 0, 30, 0, time.UTC)

func rule(t testing.TB, kind, raw string) alarms.Rule {
	t.Helper()
	r, err := alarms.ParseRule(kind, json.RawMessage(raw), nil)
	if err != nil {
		t.Fatalf("ParseRule(%s): %v", raw, err)
	}
	return r
}

const cpuRule = `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean",
	"threshold": 80, "comparison_operator": "gt", "evaluation_periods": 3, "granularity": 60}`

// TestThresholdSemantics is Aodh's state table for a threshold rule.
func TestThresholdSemantics(t *testing.T) {
	g := time.Minute
	cases := []struct {
		name    string
		values  []float64 // nil: no series at all
		err     error
		current alarms.State
		repeat  bool
		want    decision
	}{
		{name: "all outside from unknown: alarm", values: []float64{81, 90, 94}, current: alarms.StateInsufficient,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Transition to alarm due to 3 samples outside threshold, most recent: 94.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 94.0}}},
		{name: "all inside from alarm: ok", values: []float64{1, 2, 5}, current: alarms.StateAlarm,
			want: decision{refresh: true, state: alarms.StateOK, reason: "Transition to ok due to 3 samples inside threshold, most recent: 5.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "inside", "count": 3, "most_recent": 5.0}}},
		{name: "all outside, already alarm: nothing", values: []float64{81, 90, 94}, current: alarms.StateAlarm},
		{name: "all outside, already alarm, repeat: remaining", values: []float64{81, 90, 94}, current: alarms.StateAlarm, repeat: true,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Remaining as alarm due to 3 samples outside threshold, most recent: 94.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 94.0}}},
		{name: "mixed from ok: unchanged", values: []float64{81, 5, 94}, current: alarms.StateOK},
		{name: "mixed from alarm: unchanged", values: []float64{81, 5, 4}, current: alarms.StateAlarm},
		{name: "mixed from unknown: trending alarm", values: []float64{5, 6, 94}, current: alarms.StateInsufficient,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Transition to alarm due to 1 samples outside threshold, most recent: 94.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "outside", "count": 1, "most_recent": 94.0}}},
		{name: "mixed from unknown: trending ok", values: []float64{94, 95, 6}, current: alarms.StateInsufficient,
			want: decision{refresh: true, state: alarms.StateOK, reason: "Transition to ok due to 1 samples inside threshold, most recent: 6.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "inside", "count": 1, "most_recent": 6.0}}},
		{name: "mixed with repeat: remaining in the current state", values: []float64{94, 95, 6}, current: alarms.StateAlarm, repeat: true,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Remaining as alarm due to 2 samples outside threshold, most recent: 6.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "outside", "count": 2, "most_recent": 6.0}}},
		{name: "too few points: insufficient", values: []float64{94, 95}, current: alarms.StateAlarm,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "3 datapoints are unknown",
				reasonData: map[string]any{"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": 95.0}}},
		{name: "no point: insufficient", values: []float64{}, current: alarms.StateOK,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "No datapoint for granularity 60",
				reasonData: map[string]any{"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": nil}}},
		{name: "metric missing: insufficient", current: alarms.StateOK,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "metric cpu for resource r1 does not exists",
				reasonData: map[string]any{"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": nil}}},
		{name: "resource missing", err: alarms.ErrResourceNotFound, current: alarms.StateOK,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "resource r1 does not exists",
				reasonData: map[string]any{"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": nil}}},
		{name: "store failing", err: errors.New("disk on fire"), current: alarms.StateAlarm,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "alarm statistics retrieval failed: disk on fire",
				reasonData: map[string]any{"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": nil}}},
		{name: "insufficient again: nothing", values: []float64{1}, current: alarms.StateInsufficient},
		{name: "insufficient again with repeat: remaining (Aodh's code path)", values: []float64{1}, current: alarms.StateInsufficient, repeat: true,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "Remaining as insufficient data due to 0 samples outside threshold, most recent: 1.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "outside", "count": 0, "most_recent": 1.0}}},
		{name: "only the last evaluation_periods count", values: []float64{1, 2, 3, 81, 82, 83}, current: alarms.StateOK,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Transition to alarm due to 3 samples outside threshold, most recent: 83.0",
				reasonData: map[string]any{"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 83.0}}},
	}
	r := rule(t, alarms.TypeResourcesThreshold, cpuRule)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newMemFetcher()
			if c.values != nil {
				f.set(resKey("r1", "cpu"), g, now, c.values...)
			}
			if c.err != nil {
				f.fail(resKey("r1", "cpu"), c.err)
			}
			a := &alarms.Alarm{Rule: r, RepeatActions: c.repeat}
			got := evaluate(context.Background(), f, a, c.current, now, 0, &scratch{})
			checkDecision(t, got, c.want)
		})
	}
}

func checkDecision(t *testing.T, got, want decision) {
	t.Helper()
	if got.refresh != want.refresh || got.state != want.state || got.reason != want.reason || got.always != want.always {
		t.Errorf("decision = %+v\n     want %+v", got, want)
		return
	}
	if want.reasonData != nil {
		gb, _ := json.Marshal(got.reasonData)
		wb, _ := json.Marshal(want.reasonData)
		if string(gb) != string(wb) {
			t.Errorf("reason_data = %s\n         want %s", gb, wb)
		}
	}
}

// TestWindow checks Aodh's window: granularity × (periods + 1) back from
// now, and only points at the rule's granularity.
func TestWindow(t *testing.T) {
	r := rule(t, alarms.TypeResourcesThreshold, `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt", "evaluation_periods": 2, "granularity": 60}`)
	f := newMemFetcher()
	// Four points ending 5 minutes ago: all older than 3 minutes.
	f.set(resKey("r1", "cpu"), time.Minute, now.Add(-5*time.Minute), 90, 90, 90, 90)
	got := evaluate(context.Background(), f, &alarms.Alarm{Rule: r}, alarms.StateOK, now, 0, &scratch{})
	if got.state != alarms.StateInsufficient || got.reason != "No datapoint for granularity 60" {
		t.Errorf("stale points: %+v", got)
	}
	// The additional ingestion lag reaches them.
	got = evaluate(context.Background(), f, &alarms.Alarm{Rule: r}, alarms.StateOK, now, 5*time.Minute, &scratch{})
	if got.state != alarms.StateAlarm {
		t.Errorf("with lag: %+v", got)
	}
	// Points at another granularity do not count.
	f.set(resKey("r1", "cpu"), 5*time.Minute, now, 90, 90)
	got = evaluate(context.Background(), f, &alarms.Alarm{Rule: r}, alarms.StateOK, now, 0, &scratch{})
	if got.state != alarms.StateInsufficient {
		t.Errorf("other granularity: %+v", got)
	}
}

func TestComparisonOperators(t *testing.T) {
	for _, c := range []struct {
		op   string
		v    float64
		want alarms.State
	}{
		{"lt", 79, alarms.StateAlarm}, {"lt", 80, alarms.StateOK}, {"le", 80, alarms.StateAlarm}, {"le", 81, alarms.StateOK},
		{"eq", 80, alarms.StateAlarm}, {"eq", 80.5, alarms.StateOK}, {"ne", 80.5, alarms.StateAlarm}, {"ne", 80, alarms.StateOK},
		{"ge", 80, alarms.StateAlarm}, {"ge", 79, alarms.StateOK}, {"gt", 81, alarms.StateAlarm}, {"gt", 80, alarms.StateOK},
	} {
		raw := `{"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean", "threshold": 80, "comparison_operator": "` + c.op + `"}`
		f := newMemFetcher()
		f.set(resKey("r1", "cpu"), time.Minute, now, c.v)
		got := evaluate(context.Background(), f, &alarms.Alarm{Rule: rule(t, alarms.TypeResourcesThreshold, raw)}, alarms.StateInsufficient, now, 0, &scratch{})
		if got.state != c.want {
			t.Errorf("%v %s 80: %v, want %v", c.v, c.op, got.state, c.want)
		}
	}
}

func TestAggregationKinds(t *testing.T) {
	f := newMemFetcher()
	f.set("metrics:m1,m2", time.Minute, now, 90)
	f.set(`search:instance/cpu?{"=": {"server_group": "g"}}`, time.Minute, now, 10)
	byMetrics := rule(t, alarms.TypeAggregationByMetrics, `{"metrics": ["m1", "m2"], "aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt"}`)
	byResources := rule(t, alarms.TypeAggregationByResources, `{"metric": "cpu", "resource_type": "instance", "query": "{\"=\": {\"server_group\": \"g\"}}", "aggregation_method": "mean", "threshold": 80, "comparison_operator": "gt"}`)
	if got := evaluate(context.Background(), f, &alarms.Alarm{Rule: byMetrics}, alarms.StateOK, now, 0, &scratch{}); got.state != alarms.StateAlarm {
		t.Errorf("by metrics: %+v", got)
	}
	if got := evaluate(context.Background(), f, &alarms.Alarm{Rule: byResources}, alarms.StateAlarm, now, 0, &scratch{}); got.state != alarms.StateOK {
		t.Errorf("by resources: %+v", got)
	}
	f.fail("metrics:m1,m2", alarms.ErrMetricNotFound)
	got := evaluate(context.Background(), f, &alarms.Alarm{Rule: byMetrics}, alarms.StateOK, now, 0, &scratch{})
	if got.reason != "At least of metrics in ['m1', 'm2'] does not exist" {
		t.Errorf("by metrics missing: %q", got.reason)
	}
	f.fail(`search:instance/cpu?{"=": {"server_group": "g"}}`, alarms.ErrAggregationNotFound)
	got = evaluate(context.Background(), f, &alarms.Alarm{Rule: byResources}, alarms.StateOK, now, 0, &scratch{})
	if got.reason != "aggregation mean does not exist for at least one metric of the query" {
		t.Errorf("by resources missing aggregation: %q", got.reason)
	}
}

func leaf(metric string, threshold float64) string {
	return `{"type": "gnocchi_resources_threshold", "metric": "` + metric + `", "resource_id": "r1", "resource_type": "instance",
		"aggregation_method": "mean", "threshold": ` + alarms.PyFloat(threshold) + `, "comparison_operator": "gt", "evaluation_periods": 2}`
}

func TestCompositeSemantics(t *testing.T) {
	or2 := `{"or": [` + leaf("cpu", 80) + `, ` + leaf("mem", 90) + `]}`
	and2 := `{"and": [` + leaf("cpu", 80) + `, ` + leaf("mem", 90) + `]}`
	nested := `{"and": [` + leaf("cpu", 80) + `, {"or": [` + leaf("mem", 90) + `, ` + leaf("disk", 70) + `]}]}`
	type series map[string][]float64
	cases := []struct {
		name    string
		rule    string
		data    series
		current alarms.State
		want    decision
		causes  []string
	}{
		{name: "or: one alarm", rule: or2, data: series{"cpu": {1, 2}, "mem": {95, 96}}, current: alarms.StateInsufficient,
			want:   decision{refresh: true, state: alarms.StateAlarm, reason: "Composite rule alarm with composition form: (rule1 or rule2) transition to alarm, due to rules: rule2 outside their threshold."},
			causes: []string{"rule2"}},
		{name: "or: all ok", rule: or2, data: series{"cpu": {1, 2}, "mem": {5, 6}}, current: alarms.StateAlarm,
			want:   decision{refresh: true, state: alarms.StateOK, reason: "Composite rule alarm with composition form: (rule1 or rule2) transition to ok, due to rules: rule1, rule2 inside their threshold."},
			causes: []string{"rule1", "rule2"}},
		{name: "and: one ok", rule: and2, data: series{"cpu": {90, 91}, "mem": {5, 6}}, current: alarms.StateAlarm,
			want:   decision{refresh: true, state: alarms.StateOK, reason: "Composite rule alarm with composition form: (rule1 and rule2) transition to ok, due to rules: rule2 inside their threshold."},
			causes: []string{"rule2"}},
		{name: "and: all alarm, already alarm", rule: and2, data: series{"cpu": {90, 91}, "mem": {95, 96}}, current: alarms.StateAlarm,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Composite rule alarm with composition form: (rule1 and rule2) remaining as alarm, due to rules: rule1, rule2 outside their threshold."}},
		{name: "and: unknown and alarm → insufficient", rule: and2, data: series{"cpu": {90, 91}}, current: alarms.StateOK,
			want:   decision{refresh: true, state: alarms.StateInsufficient, reason: "Composite rule alarm with composition form: (rule1 and rule2) transition to insufficient data, due to rules: rule2 state evaluated to unknown."},
			causes: []string{"rule2"}},
		{name: "and: unknown and alarm, already unknown → nothing", rule: and2, data: series{"cpu": {90, 91}}, current: alarms.StateInsufficient},
		{name: "or: unknown and ok → insufficient", rule: or2, data: series{"cpu": {1, 2}}, current: alarms.StateAlarm,
			want: decision{refresh: true, state: alarms.StateInsufficient, reason: "Composite rule alarm with composition form: (rule1 or rule2) transition to insufficient data, due to rules: rule2 state evaluated to unknown."}},
		{name: "nested", rule: nested, data: series{"cpu": {90, 91}, "mem": {1, 2}, "disk": {80, 85}}, current: alarms.StateOK,
			want:   decision{refresh: true, state: alarms.StateAlarm, reason: "Composite rule alarm with composition form: (rule1 and (rule2 or rule3)) transition to alarm, due to rules: rule1, rule3 outside their threshold."},
			causes: []string{"rule1", "rule3"}},
		// Second pass: a mixed leaf with the alarm unknown takes its trend.
		{name: "trending leaf from unknown", rule: and2, data: series{"cpu": {90, 91}, "mem": {5, 95}}, current: alarms.StateInsufficient,
			want: decision{refresh: true, state: alarms.StateAlarm, reason: "Composite rule alarm with composition form: (rule1 and rule2) transition to alarm, due to rules: rule1, rule2 outside their threshold."}},
		// ...and with the alarm known, the trend is inverted so that a mixed
		// leaf never flips the composite by itself.
		{name: "trending leaf from ok", rule: and2, data: series{"cpu": {90, 91}, "mem": {5, 95}}, current: alarms.StateOK,
			want: decision{refresh: true, state: alarms.StateOK, reason: "Composite rule alarm with composition form: (rule1 and rule2) remaining as ok, due to rules: rule2 inside their threshold."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newMemFetcher()
			for m, v := range c.data {
				f.set(resKey("r1", m), time.Minute, now, v...)
			}
			a := &alarms.Alarm{Rule: rule(t, alarms.TypeComposite, c.rule)}
			got := evaluate(context.Background(), f, a, c.current, now, 0, &scratch{})
			checkDecision(t, got, c.want)
			if c.causes != nil {
				rd := got.reasonData.(map[string]any)
				causes := rd["causative_rules"].(map[string]any)
				var names []string
				for n, r := range causes {
					names = append(names, n)
					if r.(map[string]any)["type"] != alarms.TypeResourcesThreshold {
						t.Errorf("causative rule %s lacks its type: %v", n, r)
					}
				}
				if len(names) != len(c.causes) {
					t.Errorf("causative rules %v, want %v", names, c.causes)
				}
				if rd["type"] != "composite" {
					t.Errorf("reason_data type %v", rd["type"])
				}
			}
		})
	}
}

func TestCompositeLazy(t *testing.T) {
	// "or" with an alarming first leaf never fetches the second.
	f := newMemFetcher()
	f.set(resKey("r1", "cpu"), time.Minute, now, 90, 91)
	a := &alarms.Alarm{Rule: rule(t, alarms.TypeComposite, `{"or": [`+leaf("cpu", 80)+`, `+leaf("mem", 90)+`]}`)}
	got := evaluate(context.Background(), f, a, alarms.StateOK, now, 0, &scratch{})
	if got.state != alarms.StateAlarm || f.calls.Load() != 1 {
		t.Errorf("state %v after %d fetches, want alarm after 1", got.state, f.calls.Load())
	}
}

const exprRule = `{"expression": "cpu.mean > 80 && mem.last / mem_total.last > 0.9",
	"queries": {
		"cpu": {"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean", "evaluation_periods": 3},
		"mem": {"metric": "memory.usage", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "last"},
		"mem_total": {"metric": "memory", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "last"}
	}}`

func TestExpressionSemantics(t *testing.T) {
	type series map[string][]float64
	cases := []struct {
		name    string
		data    series
		current alarms.State
		repeat  bool
		state   alarms.State // "" for no refresh
		reason  string
	}{
		{"true: alarm", series{"cpu": {85, 85, 85}, "memory.usage": {950}, "memory": {1000}}, alarms.StateInsufficient, false, alarms.StateAlarm,
			"Transition to alarm due to expression cpu.mean > 80 && mem.last / mem_total.last > 0.9 evaluating to true"},
		{"false: ok", series{"cpu": {85, 85, 85}, "memory.usage": {500}, "memory": {1000}}, alarms.StateAlarm, false, alarms.StateOK,
			"Transition to ok due to expression cpu.mean > 80 && mem.last / mem_total.last > 0.9 evaluating to false"},
		{"false, already ok", series{"cpu": {1, 1, 1}, "memory.usage": {500}, "memory": {1000}}, alarms.StateOK, false, "", ""},
		{"false, already ok, repeat", series{"cpu": {1, 1, 1}, "memory.usage": {500}, "memory": {1000}}, alarms.StateOK, true, alarms.StateOK,
			"Remaining as ok due to expression cpu.mean > 80 && mem.last / mem_total.last > 0.9 evaluating to false"},
		{"too few points", series{"cpu": {85, 85}, "memory.usage": {950}, "memory": {1000}}, alarms.StateOK, false, alarms.StateInsufficient,
			"Query cpu: 3 datapoints are unknown"},
		{"missing series", series{"cpu": {85, 85, 85}, "memory": {1000}}, alarms.StateOK, false, alarms.StateInsufficient,
			"Query mem: metric memory.usage for resource r1 does not exists"},
		{"missing series, already unknown", series{"cpu": {85, 85, 85}}, alarms.StateInsufficient, false, "", ""},
	}
	r := rule(t, alarms.TypeExpression, exprRule)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newMemFetcher()
			for m, v := range c.data {
				f.set(resKey("r1", m), time.Minute, now, v...)
			}
			got := evaluate(context.Background(), f, &alarms.Alarm{Rule: r, RepeatActions: c.repeat}, c.current, now, 0, &scratch{})
			if got.refresh != (c.state != "") || got.state != c.state || got.reason != c.reason {
				t.Errorf("got %+v\nwant state %q reason %q", got, c.state, c.reason)
			}
		})
	}
	// A runtime error (here, indexing past the values) is insufficient data.
	bad := rule(t, alarms.TypeExpression, `{"expression": "cpu.values[5] > 1", "queries": {"cpu": {"metric": "cpu", "resource_id": "r1", "resource_type": "instance", "aggregation_method": "mean"}}}`)
	f := newMemFetcher()
	f.set(resKey("r1", "cpu"), time.Minute, now, 1)
	got := evaluate(context.Background(), f, &alarms.Alarm{Rule: bad}, alarms.StateOK, now, 0, &scratch{})
	if got.state != alarms.StateInsufficient {
		t.Errorf("runtime error: %+v", got)
	}
}

func TestEventSemantics(t *testing.T) {
	r := rule(t, alarms.TypeEvent, `{"event_type": "compute.instance.*", "query": [
		{"field": "traits.state", "op": "eq", "value": "error", "type": "string"},
		{"field": "traits.memory_mb", "op": "ge", "value": "512", "type": "integer"}]}`).(*alarms.EventRule)
	ev := func(typ, state string, mem int) *alarms.Event {
		raw, _ := json.Marshal(map[string]any{"message_id": "m1", "event_type": typ, "generated": "2026-06-01T12:00:00",
			"traits": []any{[]any{"state", 1, state}, []any{"memory_mb", 2, mem}, []any{"project_id", 1, "p1"}}})
		e, err := alarms.DecodeEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cases := []struct {
		name    string
		ev      *alarms.Event
		current alarms.State
		repeat  bool
		fire    bool
	}{
		{"match", ev("compute.instance.update", "error", 1024), alarms.StateInsufficient, false, true},
		{"other type", ev("volume.create", "error", 1024), alarms.StateOK, false, false},
		{"trait differs", ev("compute.instance.update", "active", 1024), alarms.StateOK, false, false},
		{"below the integer bound", ev("compute.instance.update", "error", 256), alarms.StateOK, false, false},
		{"already fired", ev("compute.instance.update", "error", 1024), alarms.StateAlarm, false, false},
		{"already fired, repeat", ev("compute.instance.update", "error", 1024), alarms.StateAlarm, true, true},
	}
	for _, c := range cases {
		d := eventDecision(r, c.current, c.repeat, c.ev)
		if d.refresh != c.fire {
			t.Errorf("%s: fired %v, want %v", c.name, d.refresh, c.fire)
			continue
		}
		if !d.refresh {
			continue
		}
		want := `Event <id=m1,event_type=compute.instance.update> hits the query <query=[{"field": "traits.state", "op": "eq", "type": "string", "value": "error"}, {"field": "traits.memory_mb", "op": "ge", "type": "integer", "value": "512"}]>.`
		if d.reason != want || d.state != alarms.StateAlarm || d.always != c.repeat {
			t.Errorf("%s: %+v\nwant reason %s", c.name, d, want)
		}
		rd := d.reasonData.(map[string]any)
		if rd["type"] != "event" || !reflect.DeepEqual(rd["event"], c.ev.Raw) {
			t.Errorf("%s: reason_data %v", c.name, rd)
		}
	}
}
