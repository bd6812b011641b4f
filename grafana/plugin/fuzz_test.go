package plugin

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// naiveAggregates decodes an ungrouped aggregates answer with
// encoding/json: the reference the scanner is checked against.
func naiveAggregates(b []byte) (map[string][][3]any, error) {
	var top struct {
		Measures map[string]json.RawMessage `json:"measures"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	out := map[string][][3]any{}
	var walk func(prefix string, raw json.RawMessage) error
	walk = func(prefix string, raw json.RawMessage) error {
		var list [][3]any
		if json.Unmarshal(raw, &list) == nil {
			out[prefix] = list
			return nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		for k, v := range m {
			if err := walk(prefix+"/"+k, v); err != nil {
				return err
			}
		}
		return nil
	}
	for k, v := range top.Measures {
		if err := walk(k, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TestParseAggregatesMatchesNaive checks the scanner against encoding/json
// on random answers of all three shapes.
func TestParseAggregatesMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		shape := rng.IntN(3)
		var sb strings.Builder
		sb.WriteString(`{"references": [{"id": "x", "metrics": {}}], "measures": {`)
		nSeries := rng.IntN(4)
		for s := 0; s < nSeries; s++ {
			if s > 0 {
				sb.WriteString(", ")
			}
			switch shape {
			case 0:
				sb.WriteString(`"aggregated": `)
			case 1:
				sb.WriteString(`"m` + strconv.Itoa(s) + `": {"mean": `)
			case 2:
				sb.WriteString(`"r` + strconv.Itoa(s) + `": {"cpu": {"max": `)
			}
			sb.WriteString("[")
			n := rng.IntN(20)
			base := time.Unix(1.7e9+int64(rng.IntN(1e6))*60, 0).UTC()
			for i := 0; i < n; i++ {
				if i > 0 {
					sb.WriteString(",\n ")
				}
				ts := base.Add(time.Duration(i) * time.Minute)
				layout := "2006-01-02T15:04:05+00:00"
				if rng.IntN(4) == 0 {
					layout = "2006-01-02T15:04:05.000000Z07:00"
				}
				v := strconv.FormatFloat((rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(30)-10)), 'g', -1, 64)
				if rng.IntN(10) == 0 {
					v = "null"
				}
				sb.WriteString(`["` + ts.Format(layout) + `", 60.0, ` + v + `]`)
			}
			sb.WriteString("]")
			sb.WriteString(strings.Repeat("}", shape))
			if shape == 0 {
				break
			}
		}
		sb.WriteString("}}")
		b := []byte(sb.String())
		want, err := naiveAggregates(b)
		if err != nil {
			t.Fatalf("reference cannot read %s: %v", b, err)
		}
		gs, err := parseAggregates(b, window{})
		if err != nil {
			t.Fatalf("parse %s: %v", b, err)
		}
		if len(gs) != 1 || len(gs[0].Series) != len(want) {
			t.Fatalf("%s: %d series, want %d", b, len(gs[0].Series), len(want))
		}
		for _, s := range gs[0].Series {
			ref, ok := want[strings.Join(s.Key, "/")]
			if !ok {
				t.Fatalf("series %v not in the reference", s.Key)
			}
			var kept [][3]any
			for _, p := range ref {
				if p[2] != nil {
					kept = append(kept, p)
				}
			}
			if len(kept) != s.Len() {
				t.Fatalf("series %v: %d points, want %d", s.Key, s.Len(), len(kept))
			}
			for i, p := range kept {
				ts, _ := time.Parse(time.RFC3339Nano, p[0].(string))
				if !ts.Equal(s.Times[i]) || p[2].(float64) != s.Values[i] {
					t.Fatalf("series %v point %d: %v %v, want %v %v", s.Key, i, s.Times[i], s.Values[i], ts, p[2])
				}
			}
		}
	}
}

// TestFastFloatMatchesParseFloat checks the fast path against strconv on
// random decimals, and that it declines what it cannot do exactly.
func TestFastFloatMatchesParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(s string) {
		f, ok := fastFloat([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if ok && (err != nil || f != want) {
			t.Fatalf("fastFloat(%q) = %v, ParseFloat %v %v", s, f, want, err)
		}
	}
	for i := 0; i < 200000; i++ {
		digits := rng.IntN(18) + 1
		n := rng.Uint64N(uint64(math.Pow10(min(digits, 19))))
		s := strconv.FormatUint(n, 10)
		if dot := rng.IntN(len(s) + 1); dot > 0 && dot < len(s) {
			s = s[:dot] + "." + s[dot:]
		}
		if rng.IntN(2) == 0 {
			s = "-" + s
		}
		check(s)
	}
	for _, s := range []string{"0", "-0", "60.0", "0.1", "1e5", ".5", "5.", "1.2.3", "--1", "", "-", "123456789012345.6", "9007199254740993"} {
		check(s)
	}
}

// TestFastTimestampMatchesTimeParse checks the timestamp parsers against
// time.Parse.
func TestFastTimestampMatchesTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	layouts := []string{"2006-01-02T15:04:05+00:00", "2006-01-02T15:04:05.000000+00:00", "2006-01-02T15:04:05Z", "2006-01-02T15:04:05.999999999-07:00"}
	var c dayCache
	for i := 0; i < 50000; i++ {
		tm := time.Unix(rng.Int64N(4e9)-1e9, rng.Int64N(1e9)).In(time.FixedZone("", (rng.IntN(48)-24)*1800))
		if rng.IntN(3) == 0 {
			tm = tm.UTC()
		}
		s := tm.Format(layouts[rng.IntN(len(layouts))])
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", s, err)
		}
		for _, parse := range []func([]byte) (time.Time, error){parseTimestamp, c.parse} {
			got, err := parse([]byte(s))
			if err != nil || !got.Equal(want) {
				t.Fatalf("parse(%q) = %v, %v; want %v", s, got, err, want)
			}
		}
	}
	for _, bad := range []string{"", "2024-13-01T00:00:00+00:00", "2024-01-01 00:00:00", "2024-01-01T25:00:00Z", "yesterday", "2024-01-01T00:00:00+0000"} {
		if _, err := parseTimestamp([]byte(bad)); err == nil {
			t.Errorf("parseTimestamp(%q): want an error", bad)
		}
	}
}

func FuzzParseAggregates(f *testing.F) {
	f.Add([]byte(`{"measures": {"aggregated": [["2024-05-01T00:00:00+00:00", 60.0, 1.5]]}}`))
	f.Add([]byte(`{"measures": {"m1": {"mean": [["2024-05-01T00:00:00.5+02:00", 60, null]]}}, "references": []}`))
	f.Add([]byte(`[{"group": {"project_id": "p"}, "measures": {"measures": {"r": {"cpu": {"max": []}}}, "references": [{}]}}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"measures": {"a": {"b": {"c": {"d": []}}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		gs, err := parseAggregates(b, window{hint: 4})
		if err != nil {
			return
		}
		for _, g := range gs {
			for _, s := range g.Series {
				if len(s.Times) != len(s.Values) || len(s.Key) == 0 || len(s.Key) > 3 {
					t.Fatalf("series %v: %d times, %d values", s.Key, len(s.Times), len(s.Values))
				}
			}
		}
	})
}

func FuzzParseMeasures(f *testing.F) {
	f.Add([]byte(`[["2024-05-01T00:00:00+00:00", 60.0, 1.5], ["2024-05-01T00:01:00+00:00", 60.0, -2e-3]]`))
	f.Add([]byte(`[["2024-05-01T00:00:00Z", 1, NaN]]`))
	f.Add([]byte(`[[]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseMeasures(b, window{})
		if err == nil && len(s.Times) != len(s.Values) {
			t.Fatalf("%d times, %d values", len(s.Times), len(s.Values))
		}
	})
}

func FuzzParseVariableQuery(f *testing.F) {
	for _, s := range []string{"resources(instance, project_id='x')", "metrics(instance)", "attribute_values(a, b, c in ['x,y'])", "alarms()", "resources(", ")(", "resources(a,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseVariableQuery(s)
		if err != nil {
			return
		}
		spec := variableFuncs[q.Func]
		if len(q.Args) < spec.min || len(q.Args) > spec.fixed+1 {
			t.Fatalf("%q: %s with %d arguments", s, q.Func, len(q.Args))
		}
	})
}

func FuzzOperationMetrics(f *testing.F) {
	for _, s := range []string{"(aggregate mean (metric cpu mean))", "(metric (a mean) (b max))", "(((", "(metric)", "(metric ())"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range operationMetrics(s) {
			if m == "" || strings.ContainsAny(m, "() \t\n") {
				t.Fatalf("%q: metric %q", s, m)
			}
		}
	})
}

func FuzzArchivePolicy(f *testing.F) {
	f.Add([]byte(`{"name": "low", "aggregation_methods": ["mean"], "definition": [{"granularity": "0:05:00", "points": 8640, "timespan": "30 days, 0:00:00"}]}`))
	f.Add([]byte(`{"name": "x", "definition": [{"granularity": 60, "points": null, "timespan": null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p ArchivePolicy
		if json.Unmarshal(b, &p) != nil {
			return
		}
		for _, d := range p.Definitions {
			if d.Granularity <= 0 || d.Timespan < 0 {
				t.Fatalf("definition %+v", d)
			}
		}
		_, _ = ChooseGranularity(p.Definitions, testNow.Add(-time.Hour), testNow, testNow, time.Minute, 100)
	})
}

func FuzzErrorMessage(f *testing.F) {
	f.Add([]byte(`{"description": {"cause": "c", "detail": [1]}}`))
	f.Add([]byte(`{"error_message": {"faultstring": "x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if errorMessage(b) == "" {
			t.Fatal("empty message")
		}
	})
}
