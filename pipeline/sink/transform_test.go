package sink

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// want is an expected output sample; zero fields are not checked except v.
type want struct {
	name string
	unit string
	typ  pipeline.Type
	v    float64
	at   time.Duration
	res  string
	user string
	proj string
	meta map[string]any
}

func check(t *testing.T, got []pipeline.Sample, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d samples, want %d:\n%s", len(got), len(wants), dump(got))
	}
	for i, w := range wants {
		g := got[i]
		if math.Abs(g.Volume-w.v) > 1e-9*math.Max(1, math.Abs(w.v)) {
			t.Errorf("sample %d: volume %v, want %v", i, g.Volume, w.v)
		}
		if w.name != "" && g.Name != w.name {
			t.Errorf("sample %d: name %q, want %q", i, g.Name, w.name)
		}
		if w.unit != "" && g.Unit != w.unit {
			t.Errorf("sample %d: unit %q, want %q", i, g.Unit, w.unit)
		}
		if w.typ != 0 && g.Type != w.typ {
			t.Errorf("sample %d: type %v, want %v", i, g.Type, w.typ)
		}
		if w.at != 0 && !g.Timestamp.Equal(t0.Add(w.at)) {
			t.Errorf("sample %d: timestamp %v, want %v", i, g.Timestamp, t0.Add(w.at))
		}
		if w.res != "" && g.ResourceID != w.res {
			t.Errorf("sample %d: resource %q, want %q", i, g.ResourceID, w.res)
		}
		if w.user != "" && g.UserID != w.user {
			t.Errorf("sample %d: user %q, want %q", i, g.UserID, w.user)
		}
		if w.proj != "" && g.ProjectID != w.proj {
			t.Errorf("sample %d: project %q, want %q", i, g.ProjectID, w.proj)
		}
		if w.meta != nil && fmt.Sprint(g.Metadata) != fmt.Sprint(w.meta) {
			t.Errorf("sample %d: metadata %v, want %v", i, g.Metadata, w.meta)
		}
	}
}

func dump(ss []pipeline.Sample) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "  %s %s %v %s %v\n", s.ResourceID, s.Name, s.Volume, s.Unit, s.Timestamp.Sub(t0))
	}
	return b.String()
}

const cpuUtil = `
target:
  name: cpu_util
  unit: "%"
  type: gauge
  max: 100
  scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"
`

func TestRateOfChange(t *testing.T) {
	two := map[string]any{"cpu_number": 2}
	s := time.Second
	for _, tc := range []struct {
		name    string
		params  string
		batches [][]smp
		want    []want
		drops   map[string]float64
	}{
		{
			name:   "cpu_util from cpu time, two vcpus",
			params: cpuUtil,
			batches: [][]smp{{
				{name: "cpu", v: 0, at: 0, meta: two},
				{name: "cpu", v: 1e9, at: 10 * s, meta: two},
				{name: "cpu", v: 3e9, at: 20 * s, meta: two},
			}},
			want:  []want{{name: "cpu_util", unit: "%", typ: pipeline.Gauge, v: 5, at: 10 * s}, {v: 10, at: 20 * s}},
			drops: map[string]float64{"no_predecessor": 1},
		},
		{
			name:    "missing cpu_number counts one vcpu, capped at max",
			params:  cpuUtil,
			batches: [][]smp{{{name: "cpu", v: 0}, {name: "cpu", v: 20e9, at: 10 * s}}},
			want:    []want{{name: "cpu_util", v: 100}},
		},
		{
			name:   "counter reset: the new volume is the growth",
			params: `target: {name: r, unit: "B/s", type: gauge}`,
			batches: [][]smp{{
				{name: "b", v: 1000, at: 0}, {name: "b", v: 2000, at: 10 * s},
				{name: "b", v: 300, at: 20 * s}, // reset
				{name: "b", v: 800, at: 30 * s},
			}},
			want: []want{{v: 100}, {v: 30}, {v: 50}},
		},
		{
			name:    "gauges may decrease",
			params:  `target: {name: r}`,
			batches: [][]smp{{{name: "g", typ: pipeline.Gauge, v: 100}, {name: "g", typ: pipeline.Gauge, v: 50, at: 10 * s}}},
			want:    []want{{name: "r", typ: pipeline.Gauge, v: -5}},
		},
		{
			name:   "out of order dropped, newer kept",
			params: `target: {name: r}`,
			batches: [][]smp{
				{{name: "b", v: 0, at: 0}, {name: "b", v: 100, at: 10 * s}},
				{{name: "b", v: 50, at: 5 * s}}, // late
				{{name: "b", v: 200, at: 20 * s}},
			},
			want:  []want{{v: 10, at: 10 * s}, {v: 10, at: 20 * s}},
			drops: map[string]float64{"out_of_order": 1, "no_predecessor": 1},
		},
		{
			name:    "same timestamp twice (a redelivery) dropped",
			params:  `target: {name: r}`,
			batches: [][]smp{{{name: "b", v: 0}, {name: "b", v: 100, at: 10 * s}}, {{name: "b", v: 100, at: 10 * s}}},
			want:    []want{{v: 10}},
			drops:   map[string]float64{"duplicate_timestamp": 1},
		},
		{
			name:   "per resource and per meter",
			params: `target: {unit: "B/s"}`,
			batches: [][]smp{{
				{name: "rx", res: "a", v: 0}, {name: "rx", res: "b", v: 0}, {name: "tx", res: "a", v: 0},
				{name: "rx", res: "a", v: 10, at: 10 * s}, {name: "rx", res: "b", v: 100, at: 10 * s}, {name: "tx", res: "a", v: 1000, at: 10 * s},
			}},
			want: []want{{name: "rx", res: "a", v: 1}, {name: "rx", res: "b", v: 10}, {name: "tx", res: "a", v: 100}},
		},
		{
			name: "map_from and map_to with groups",
			params: `
source: {map_from: {name: 'disk\.(read|write)\.bytes', unit: '(B)'}}
target: {map_to: {name: 'disk.\1.bytes.rate', unit: '\1/s'}, type: gauge}`,
			batches: [][]smp{{{name: "disk.read.bytes", unit: "B", v: 0}, {name: "disk.read.bytes", unit: "B", v: 50, at: 10 * s}}},
			want:    []want{{name: "disk.read.bytes.rate", unit: "B/s", typ: pipeline.Gauge, v: 5}},
		},
		{
			name:    "a numeric scale is a factor of the rate",
			params:  `target: {name: bits, scale: 8}`,
			batches: [][]smp{{{name: "b", v: 0}, {name: "b", v: 100, at: 10 * s}}},
			want:    []want{{name: "bits", v: 80}},
		},
		{
			name:    "sub-second timestamps",
			params:  `target: {name: r}`,
			batches: [][]smp{{{name: "b", v: 0}, {name: "b", v: 1, at: 250 * time.Millisecond}}},
			want:    []want{{v: 4}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, set := newTransformer(t, "rate_of_change", tc.params, nil)
			var got []pipeline.Sample
			for _, b := range tc.batches {
				got = append(got, process(t, st, samples(b...))...)
			}
			check(t, got, tc.want)
			for reason, n := range tc.drops {
				if d := dropped(set, "rate_of_change", reason); d != n {
					t.Errorf("dropped %s = %v, want %v", reason, d, n)
				}
			}
		})
	}
}

func TestUnitConversion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params string
		in     []smp
		want   []want
		errs   float64
	}{
		{
			name:   "bytes to kilobytes with an expression",
			params: `{source: {unit: B}, target: {name: disk.kilobytes, unit: KB, scale: "volume * 1.0 / 1024.0"}}`,
			in:     []smp{{name: "disk.bytes", unit: "B", v: 2048}},
			want:   []want{{name: "disk.kilobytes", unit: "KB", v: 2}},
		},
		{
			name:   "other units pass unchanged",
			params: `{source: {unit: B}, target: {unit: KB, scale: "volume / 1024"}}`,
			in:     []smp{{name: "x", unit: "MB", v: 3}, {name: "x", unit: "B", v: 1024}},
			want:   []want{{unit: "MB", v: 3}, {unit: "KB", v: 1}},
		},
		{
			name:   "a number multiplies",
			params: `{target: {unit: bit, scale: 8}}`,
			in:     []smp{{name: "x", unit: "B", v: 3}},
			want:   []want{{name: "x", unit: "bit", v: 24}},
		},
		{
			name:   "no scale keeps the volume, type changes",
			params: `{target: {type: gauge}}`,
			in:     []smp{{name: "x", v: 3}},
			want:   []want{{typ: pipeline.Gauge, v: 3}},
		},
		{
			name:   "metadata, Python truthiness and None",
			params: `{target: {scale: "volume * (resource_metadata.ratio or 2) * (not resource_metadata.missing and 10 or 100) * (None or 1)"}}`,
			in:     []smp{{name: "x", v: 3, meta: map[string]any{"ratio": 0}}},
			want:   []want{{v: 60}},
		},
		{
			name:   "an expression failing on a sample drops it",
			params: `{target: {scale: "volume / resource_metadata.flavor.vcpus"}}`,
			in:     []smp{{name: "x", v: 3}, {name: "x", v: 4, meta: map[string]any{"flavor": map[string]any{"vcpus": 2}}}},
			want:   []want{{v: 2}},
			errs:   1,
		},
		{
			name:   "division by zero drops",
			params: `{target: {scale: "volume / resource_metadata.n"}}`,
			in:     []smp{{name: "x", v: 3, meta: map[string]any{"n": 0}}},
			errs:   1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, set, err := tryTransformer("unit_conversion", tc.params, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, process(t, st, samples(tc.in...)), tc.want)
			if d := dropped(set, "unit_conversion", "evaluation_error"); d != tc.errs {
				t.Errorf("evaluation errors %v, want %v", d, tc.errs)
			}
		})
	}
}

func TestDelta(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		params string
		in     [][]smp
		want   []want
		drops  map[string]float64
	}{
		{
			name:   "changes, negative ones too",
			params: `{target: {name: x.delta}}`,
			in:     [][]smp{{{name: "x", v: 10}, {name: "x", v: 15, at: s}, {name: "x", v: 12, at: 2 * s}}},
			want:   []want{{name: "x.delta", typ: pipeline.Delta, v: 5}, {v: -3}},
			drops:  map[string]float64{"no_predecessor": 1},
		},
		{
			name:   "growth_only drops decreases",
			params: `{growth_only: true}`,
			in:     [][]smp{{{name: "x", v: 10}, {name: "x", v: 15, at: s}, {name: "x", v: 12, at: 2 * s}, {name: "x", v: 20, at: 3 * s}}},
			want:   []want{{name: "x", v: 5}, {v: 8}},
			drops:  map[string]float64{"negative_delta": 1},
		},
		{
			name:   "out of order",
			params: ``,
			in:     [][]smp{{{name: "x", v: 10, at: 2 * s}}, {{name: "x", v: 5, at: s}}, {{name: "x", v: 11, at: 3 * s}}},
			want:   []want{{v: 1, at: 3 * s}},
			drops:  map[string]float64{"out_of_order": 1},
		},
		{
			name:   "a counter reset gives a negative delta, as in Ceilometer",
			params: ``,
			in:     [][]smp{{{name: "x", v: 1000}, {name: "x", v: 10, at: s}}},
			want:   []want{{v: -990}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, set := newTransformer(t, "delta", tc.params, nil)
			var got []pipeline.Sample
			for _, b := range tc.in {
				got = append(got, process(t, st, samples(b...))...)
			}
			check(t, got, tc.want)
			for reason, n := range tc.drops {
				if d := dropped(set, "delta", reason); d != n {
					t.Errorf("dropped %s = %v, want %v", reason, d, n)
				}
			}
		})
	}
}

func TestAccumulator(t *testing.T) {
	for _, tc := range []struct {
		name    string
		params  string
		batches []int // samples per call
		outs    []int // samples out per call
	}{
		{"size 3", "size: 3", []int{1, 1, 1, 5, 2}, []int{0, 0, 3, 3, 3}},
		{"default size 1", "", []int{2, 0, 1}, []int{2, 0, 1}},
		{"size 0 passes through", "size: 0", []int{4}, []int{4}},
		{"one big batch", "size: 2", []int{5}, []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newTransformer(t, "accumulator", tc.params, nil)
			n := 0
			var all []pipeline.Sample
			for i, k := range tc.batches {
				in := make([]smp, k)
				for j := range in {
					in[j] = smp{name: "x", v: float64(n)}
					n++
				}
				out := process(t, st, samples(in...))
				if len(out) != tc.outs[i] {
					t.Errorf("call %d: %d samples out, want %d", i, len(out), tc.outs[i])
				}
				all = append(all, out...)
			}
			for i, s := range all {
				if s.Volume != float64(i) {
					t.Errorf("sample %d has volume %v: order not kept", i, s.Volume)
				}
			}
		})
	}
}

func TestAggregator(t *testing.T) {
	s := time.Second
	mA := map[string]any{"a": 1}
	mB := map[string]any{"b": 2}
	for _, tc := range []struct {
		name   string
		params string
		in     []smp
		want   []want
	}{
		{
			name:   "gauge mean, cumulative last, delta sum",
			params: `size: 6`,
			in: []smp{
				{name: "g", typ: pipeline.Gauge, v: 1}, {name: "g", typ: pipeline.Gauge, v: 3, at: s},
				{name: "c", v: 10}, {name: "c", v: 30, at: s},
				{name: "d", typ: pipeline.Delta, v: 5}, {name: "d", typ: pipeline.Delta, v: 7, at: s},
			},
			want: []want{{name: "g", v: 2, at: 0}, {name: "c", v: 30}, {name: "d", v: 12}},
		},
		{
			name:   "timestamp last",
			params: `{size: 2, timestamp: last}`,
			in:     []smp{{name: "g", typ: pipeline.Gauge, v: 1}, {name: "g", typ: pipeline.Gauge, v: 3, at: 5 * s}},
			want:   []want{{v: 2, at: 5 * s}},
		},
		{
			name:   "users without a policy are separate groups",
			params: `size: 2`,
			in:     []smp{{name: "d", typ: pipeline.Delta, v: 1, user: "u1"}, {name: "d", typ: pipeline.Delta, v: 2, user: "u2"}},
			want:   []want{{v: 1, user: "u1"}, {v: 2, user: "u2"}},
		},
		{
			name:   "user last, project first merge them",
			params: `{size: 2, user_id: last, project_id: first}`,
			in: []smp{
				{name: "d", typ: pipeline.Delta, v: 1, user: "u1", proj: "p1"},
				{name: "d", typ: pipeline.Delta, v: 2, user: "u2", proj: "p2"},
			},
			want: []want{{v: 3, user: "u2", proj: "p1"}},
		},
		{
			name:   "metadata first",
			params: `{size: 2, resource_metadata: first}`,
			in:     []smp{{name: "d", typ: pipeline.Delta, meta: mA}, {name: "d", typ: pipeline.Delta, meta: mB}},
			want:   []want{{meta: mA}},
		},
		{
			name:   "metadata last by default",
			params: `{size: 2}`,
			in:     []smp{{name: "d", typ: pipeline.Delta, meta: mA}, {name: "d", typ: pipeline.Delta, meta: mB}},
			want:   []want{{meta: mB}},
		},
		{
			name:   "metadata merge",
			params: `{size: 2, resource_metadata: merge}`,
			in:     []smp{{name: "d", typ: pipeline.Delta, meta: mA}, {name: "d", typ: pipeline.Delta, meta: mB}},
			want:   []want{{meta: map[string]any{"a": 1, "b": 2}}},
		},
		{
			name:   "metadata drop",
			params: `{size: 1, resource_metadata: drop}`,
			in:     []smp{{name: "d", typ: pipeline.Delta, meta: mA}},
			want:   []want{{meta: map[string]any{}}},
		},
		{
			name:   "scaled by the target",
			params: `{size: 2, target: {name: kb, unit: KB, scale: "volume / 1024"}}`,
			in:     []smp{{name: "d", typ: pipeline.Delta, v: 1024}, {name: "d", typ: pipeline.Delta, v: 2048}},
			want:   []want{{name: "kb", unit: "KB", v: 3}},
		},
		{
			name:   "size counts all groups",
			params: `size: 3`,
			in:     []smp{{name: "a", v: 1}, {name: "b", v: 2}, {name: "a", v: 3}, {name: "b", v: 4}},
			want:   []want{{name: "a", v: 3}, {name: "b", v: 2}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newTransformer(t, "aggregator", tc.params, nil)
			got := process(t, st, samples(tc.in...))
			if tc.want != nil && tc.want[0].meta != nil && len(tc.want[0].meta) == 0 {
				if len(got) != 1 || len(got[0].Metadata) != 0 {
					t.Fatalf("metadata not dropped: %v", got)
				}
				return
			}
			check(t, got, tc.want)
		})
	}
}

func TestAggregatorRetention(t *testing.T) {
	clock := &fakeClock{t: t0}
	st, _ := newTransformer(t, "aggregator", `{retention_time: 60}`, clock)
	out := process(t, st, samples(smp{name: "d", typ: pipeline.Delta, v: 1}, smp{name: "d", typ: pipeline.Delta, v: 2}))
	if len(out) != 0 {
		t.Fatalf("flushed before retention: %v", out)
	}
	clock.advance(30 * time.Second)
	if out := process(t, st, nil); len(out) != 0 {
		t.Fatalf("tick flushed early: %v", out)
	}
	clock.advance(30 * time.Second)
	out = process(t, st, nil)
	check(t, out, []want{{name: "d", v: 3}})
	if out := process(t, st, nil); len(out) != 0 {
		t.Fatalf("flushed twice: %v", out)
	}
}

func TestArithmetic(t *testing.T) {
	s := time.Second
	memPct := `target: {name: memory_util, unit: "%", type: gauge, expr: "$(memory.usage) / $(memory) * 100"}`
	for _, tc := range []struct {
		name    string
		params  string
		batches [][]smp
		want    []want
		errs    float64
	}{
		{
			name:   "memory percent per resource, newest timestamp",
			params: memPct,
			batches: [][]smp{{
				{name: "memory", typ: pipeline.Gauge, unit: "MB", v: 512, res: "a", at: s},
				{name: "memory.usage", typ: pipeline.Gauge, unit: "MB", v: 256, res: "a", at: 2 * s},
				{name: "memory", typ: pipeline.Gauge, unit: "MB", v: 1024, res: "b"},
				{name: "cpu", v: 1, res: "a"}, // not named: ignored
			}},
			want: []want{{name: "memory_util", unit: "%", typ: pipeline.Gauge, v: 50, res: "a", at: 2 * s}},
		},
		{
			name:   "a resource completes across batches",
			params: memPct,
			batches: [][]smp{
				{{name: "memory", typ: pipeline.Gauge, v: 1000, res: "b"}},
				{{name: "memory.usage", typ: pipeline.Gauge, v: 250, res: "b", at: s}},
				{{name: "memory.usage", typ: pipeline.Gauge, v: 500, res: "b", at: 2 * s}}, // waits for memory again
			},
			want: []want{{v: 25, res: "b"}},
		},
		{
			name:   "an older sample does not replace a newer one",
			params: memPct,
			batches: [][]smp{{
				{name: "memory.usage", typ: pipeline.Gauge, v: 100, at: 5 * s},
				{name: "memory.usage", typ: pipeline.Gauge, v: 900, at: 1 * s},
				{name: "memory", typ: pipeline.Gauge, v: 1000, at: 6 * s},
			}},
			want: []want{{v: 10, at: 6 * s}},
		},
		{
			name:   "fields of a sample and Python's or",
			params: `target: {name: cpu.per.vcpu, expr: "$(cpu) / ($(cpu).resource_metadata.cpu_number or 1)"}`,
			batches: [][]smp{{
				{name: "cpu", v: 100, res: "a", meta: map[string]any{"cpu_number": 4}},
				{name: "cpu", v: 100, res: "b"},
			}},
			want: []want{{name: "cpu.per.vcpu", v: 25, res: "a"}, {v: 100, res: "b"}},
		},
		{
			name:    "division by zero dropped",
			params:  memPct,
			batches: [][]smp{{{name: "memory", typ: pipeline.Gauge, v: 0}, {name: "memory.usage", typ: pipeline.Gauge, v: 1}}},
			errs:    1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, set := newTransformer(t, "arithmetic", tc.params, nil)
			var got []pipeline.Sample
			for _, b := range tc.batches {
				got = append(got, process(t, st, samples(b...))...)
			}
			check(t, got, tc.want)
			if d := dropped(set, "arithmetic", "evaluation_error"); d != tc.errs {
				t.Errorf("evaluation errors %v, want %v", d, tc.errs)
			}
		})
	}
}

func TestTransformerParameterErrors(t *testing.T) {
	for _, tc := range []struct {
		name, params, want string
	}{
		{"rate_of_change", `target: {nme: x}`, `unknown parameter "nme"`},
		{"rate_of_change", `target: {type: counter}`, `unknown meter type "counter"`},
		{"rate_of_change", `target: {scale: "volume +* 2"}`, "cannot compile expression"},
		{"rate_of_change", `target: {scale: "[x for x in y]"}`, "cannot compile expression"},
		{"unit_conversion", `{source: {map_from: {name: "(a"}}, target: {map_to: {name: b}}}`, "cannot compile regular expression"},
		{"unit_conversion", `{source: {unit: B}, extra: 1}`, `unknown parameter "extra"`},
		{"delta", `{growth_only: perhaps}`, "want true or false"},
		{"accumulator", `{size: many}`, "want an integer"},
		{"aggregator", `{user_id: merge}`, "want last or first"},
		{"aggregator", `{resource_metadata: newest}`, "want last, first, drop or merge"},
		{"aggregator", `{timestamp: middle}`, "want first or last"},
		{"aggregator", `{retention_time: -5}`, "out of range"},
		{"arithmetic", `target: {name: x, expr: "1 + 2"}`, "names no meter"},
		{"arithmetic", `target: {expr: "$(a) + 1"}`, "target.name: required"},
		{"arithmetic", `target: {name: x}`, "target.expr: required"},
		{"arithmetic", `target: {name: x, expr: "$(a) +"}`, "cannot compile expression"},
		{"arithmetic", `target: {name: x, expr: "$(a) + nothing"}`, "unknown name nothing"},
	} {
		t.Run(tc.name+"/"+tc.want, func(t *testing.T) {
			_, _, err := tryTransformer(tc.name, tc.params, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
