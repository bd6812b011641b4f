package ops

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ref(m, a string) Ref { return Ref{Metric: m, Aggregation: a} }

func metric(refs ...Ref) *Metric { return &Metric{Refs: refs} }

func TestParseStringAndJSONAgree(t *testing.T) {
	ab := metric(ref("a", "mean"), ref("b", "mean"))
	tests := []struct {
		str  string
		json string
		want Node
	}{
		{"(metric a mean)", `["metric","a","mean"]`, metric(ref("a", "mean"))},
		{"(metric (a mean) (b mean))", `["metric",["a","mean"],["b","mean"]]`, ab},
		{"(metric ((a mean) (b mean)))", `["metric",[["a","mean"],["b","mean"]]]`, ab},
		{"(aggregate mean (metric (a mean) (b mean)))", `["aggregate","mean",["metric",["a","mean"],["b","mean"]]]`,
			&Aggregate{Method: Method{Name: "mean"}, Operand: ab}},
		{"(aggregate 95pct (metric a max))", `["aggregate","95pct",["metric","a","max"]]`,
			&Aggregate{Method: Method{Name: "95pct", Q: 95}, Operand: metric(ref("a", "max"))}},
		{"(aggregate p95 (metric a max))", `["aggregate","p95",["metric","a","max"]]`,
			&Aggregate{Method: Method{Name: "95pct", Q: 95}, Operand: metric(ref("a", "max"))}},
		{"(resample max 1d (metric a max))", `["resample","max",86400,["metric","a","max"]]`,
			&Resample{Method: Method{Name: "max"}, Granularity: 86400e9, Operand: metric(ref("a", "max"))}},
		{"(resample first 1h30m (metric a max))", `["resample","first","5400",["metric","a","max"]]`,
			&Resample{Method: Method{Name: "first"}, Granularity: 5400e9, Operand: metric(ref("a", "max"))}},
		{"(rolling sum 3 (metric a mean))", `["rolling","sum",3,["metric","a","mean"]]`,
			&Rolling{Method: Method{Name: "sum"}, Window: 3, Operand: metric(ref("a", "mean"))}},
		{"(rolling sum 3 (metric a mean))", `["rolling","sum",3.7,["metric","a","mean"]]`,
			&Rolling{Method: Method{Name: "sum"}, Window: 3, Operand: metric(ref("a", "mean"))}},
		{"(+ (metric a mean) 2.5)", `["+",["metric","a","mean"],2.5]`,
			&Binary{Op: "add", Left: metric(ref("a", "mean")), Right: &Number{Value: 2.5}}},
		{"(add 2.5 (metric a mean))", `["add","2.5",["metric","a","mean"]]`,
			&Binary{Op: "add", Left: &Number{Value: 2.5}, Right: metric(ref("a", "mean"))}},
		{"(≥ (metric a mean) 1e3)", `["ge",["metric","a","mean"],1000]`,
			&Binary{Op: "ge", Left: metric(ref("a", "mean")), Right: &Number{Value: 1000}}},
		{"(** (metric a mean) 2)", `["^",["metric","a","mean"],2]`,
			&Binary{Op: "pow", Left: metric(ref("a", "mean")), Right: &Number{Value: 2}}},
		{"(- (metric a mean))", `["neg",["metric","a","mean"]]`,
			&Unary{Op: "neg", Operand: metric(ref("a", "mean"))}},
		{"(absolute (metric a mean))", `["abs",["metric","a","mean"]]`,
			&Unary{Op: "abs", Operand: metric(ref("a", "mean"))}},
		{"(rateofchange (metric a mean))", `["rateofchange",["metric","a","mean"]]`,
			&Unary{Op: "rateofchange", Operand: metric(ref("a", "mean"))}},
		{"(round (metric a mean))", `["round",["metric","a","mean"],0]`,
			&Round{Operand: metric(ref("a", "mean"))}},
		{"(round (metric a mean) -2)", `["round",["metric","a","mean"],-2]`,
			&Round{Operand: metric(ref("a", "mean")), Decimals: -2}},
		{"(clip (metric a mean) 0 100)", `["clip",["metric","a","mean"],0,100]`,
			&Clip{Operand: metric(ref("a", "mean")), Min: &Number{Value: 0}, Max: &Number{Value: 100}}},
		{"(clip_max (metric a mean) 100)", `["clip_max",["metric","a","mean"],100]`,
			&Binary{Op: "clip_max", Left: metric(ref("a", "mean")), Right: &Number{Value: 100}}},
		{`(metric "disk usage" "rate:mean")`, `["metric","disk usage","rate:mean"]`,
			metric(ref("disk usage", "rate:mean"))},
		{"  (metric\n\ta\tmean )  ", `"(metric a mean)"`, metric(ref("a", "mean"))},
	}
	for _, tt := range tests {
		fromStr, err := ParseString(tt.str)
		if err != nil {
			t.Fatalf("ParseString(%q): %v", tt.str, err)
		}
		fromJSON, err := ParseJSON([]byte(tt.json))
		if err != nil {
			t.Fatalf("ParseJSON(%s): %v", tt.json, err)
		}
		if !reflect.DeepEqual(fromStr, tt.want) {
			t.Errorf("ParseString(%q) = %s, want %s", tt.str, fromStr, tt.want)
		}
		if !reflect.DeepEqual(fromJSON, tt.want) {
			t.Errorf("ParseJSON(%s) = %s, want %s", tt.json, fromJSON, tt.want)
		}
		again, err := ParseString(fromStr.String())
		if err != nil || !reflect.DeepEqual(again, fromStr) {
			t.Errorf("String() of %q = %q does not parse back: %v", tt.str, fromStr.String(), err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("(abs ", 40) + "(metric a mean)" + strings.Repeat(")", 40)
	many := "(metric" + strings.Repeat(" (a mean)", 0)
	for i := range MaxReferences + 1 {
		many += " (m" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + itoa(i) + " mean)"
	}
	many += ")"
	tests := []struct {
		in     string // string form, or JSON when it starts with '['
		cause  string
		reason string
	}{
		{"", CauseInvalidOperations, "Fail to parse the operations string"},
		{"metric a mean", CauseInvalidOperations, "Fail to parse the operations string"},
		{"(metric a mean", CauseInvalidOperations, "Fail to parse the operations string"},
		{"(metric a mean))", CauseInvalidOperations, "Fail to parse the operations string"},
		{`(metric "a mean)`, CauseInvalidOperations, "Fail to parse the operations string"},
		{"()", CauseInvalidInput, "Operation must not be empty"},
		{"(metric)", CauseInvalidInput, "Operation need at least one argument"},
		{"(foo (metric a mean))", CauseInvalidInput, "'foo' operation invalid"},
		{"((metric a mean))", CauseInvalidInput, "operation invalid"},
		{"(metric a)", CauseInvalidInput, "'metric' operation takes a metric and an aggregation"},
		{"(metric (a mean b))", CauseInvalidInput, "pairs"},
		{"(aggregate avg (metric a mean))", CauseInvalidInput, "'avg' is not a valid aggregation method for 'aggregate'"},
		{"(aggregate first (metric a mean))", CauseInvalidInput, "not a valid aggregation method"},
		{"(aggregate 100pct (metric a mean))", CauseInvalidInput, "not a valid aggregation method"},
		{"(aggregate mean)", CauseInvalidInput, "takes 2 arguments, got 1"},
		{"(rolling mean 0 (metric a mean))", CauseInvalidInput, "at least 1"},
		{"(rolling mean 2.5 (metric a mean))", CauseInvalidInput, "must be an integer"},
		{"(rolling mean 1000000 (metric a mean))", CauseInvalidInput, "at most"},
		{"(resample mean 0 (metric a mean))", CauseInvalidInput, "Timespan must be positive"},
		{"(resample mean fortnight (metric a mean))", CauseInvalidInput, "Unable to parse timespan"},
		{"(+ (metric a mean) foo)", CauseInvalidInput, "'foo' is neither an operation nor a number"},
		{"(+ (metric a mean))", CauseInvalidInput, "takes 2 arguments, got 1"},
		{"(abs (metric a mean) 2)", CauseInvalidInput, "takes 1 arguments, got 2"},
		{"(round (metric a mean) 1.5)", CauseInvalidInput, "must be an integer"},
		{"(clip (metric a mean) 1)", CauseInvalidInput, "takes 3 arguments"},
		{"(+ 1 2)", CauseNoMetric, "at least one 'metric' is required"},
		{deep, CauseInvalidOperations, "nested deeper than 32"},
		{many, CauseInvalidInput, "more than 1000 metrics"},
		{`["metric"]`, CauseInvalidInput, "Operation need at least one argument"},
		{`[]`, CauseInvalidInput, "Operation must not be empty"},
		{`[1, 2]`, CauseInvalidInput, "operation invalid"},
		{`["metric", 1, "mean"]`, CauseInvalidInput, "pairs"},
		{`["+", ["metric", "a", "mean"], true]`, CauseInvalidInput, "neither an operation nor a number"},
		{`["+", ["metric", "a", "mean"], 1`, CauseInvalidOperations, "Fail to parse the operations JSON"},
		{`{"metric": 1}`, CauseInvalidInput, "operations must be a list"},
		{strings.Repeat(`["abs",`, 40) + `["metric","a","mean"]` + strings.Repeat("]", 40), CauseInvalidInput, "nested deeper"},
	}
	for _, tt := range tests {
		var err error
		if strings.HasPrefix(tt.in, "[") || strings.HasPrefix(tt.in, "{") {
			_, err = ParseJSON([]byte(tt.in))
		} else {
			_, err = ParseString(tt.in)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("parse %.60q: error %v, want *Error", tt.in, err)
			continue
		}
		if e.Cause != tt.cause || !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("parse %.60q: %q / %q, want %q / ...%q...", tt.in, e.Cause, e.Reason, tt.cause, tt.reason)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestParseStringErrorPosition(t *testing.T) {
	_, err := ParseString("(metric a\n mean")
	var e *Error
	if !errors.As(err, &e) || e.Detail != `Expected ")" (at char 15), (line:2, col:6)` {
		t.Fatalf("got %#v", err)
	}
}

func TestReferences(t *testing.T) {
	n, err := ParseString("(/ (aggregate sum (metric (a mean) (b mean))) (aggregate count (metric (b mean) (c max) (a mean))))")
	if err != nil {
		t.Fatal(err)
	}
	got := References(n)
	want := []Ref{ref("a", "mean"), ref("b", "mean"), ref("c", "max")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("References = %v, want %v", got, want)
	}
}

func TestParseValueDecoded(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(`["aggregate","max",["metric",["a","mean"]]]`), &v); err != nil {
		t.Fatal(err)
	}
	n, err := ParseValue(v)
	if err != nil {
		t.Fatal(err)
	}
	if n.String() != "(aggregate max (metric a mean))" {
		t.Fatalf("got %s", n)
	}
}

func TestParseTimespan(t *testing.T) {
	for in, want := range map[any]int64{
		60.0: 60e9, "60": 60e9, "0.5": 5e8, "60s": 60e9, "5min": 300e9, "5 minutes": 300e9,
		"1h": 3600e9, "1h30m": 5400e9, "2d": 172800e9, "1w": 604800e9, "250ms": 25e7,
	} {
		got, err := parseTimespan(in)
		if err != nil || got != want {
			t.Errorf("parseTimespan(%v) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"", "-1", -5.0, "1x", "1e300", "abc", nil} {
		if _, err := parseTimespan(in); err == nil {
			t.Errorf("parseTimespan(%v) accepted", in)
		}
	}
}
