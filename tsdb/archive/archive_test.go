package archive

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseMethod(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Method
		err  bool
	}{
		{in: "mean", want: Method{Kind: Mean}},
		{in: "rate:max", want: Method{Kind: Max, Rate: true}},
		{in: "p95", want: Method{Kind: Percentile, Percentile: 95}},
		{in: "p99.9", want: Method{Kind: Percentile, Percentile: 99.9}},
		{in: "rate:p50", want: Method{Kind: Percentile, Percentile: 50, Rate: true}},
		{in: "median", want: Method{Kind: Median}},
		{in: "p0", err: true},
		{in: "p100", err: true},
		{in: "p1e1", err: true},
		{in: "p-5", err: true},
		{in: "rate:", err: true},
		{in: "avg", err: true},
		{in: "", err: true},
	} {
		got, err := ParseMethod(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("ParseMethod(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMethod(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestExpandMethods(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{in: nil, want: []string{"mean", "min", "max", "sum", "std", "count"}},
		{in: []string{"mean", "max"}, want: []string{"mean", "max"}},
		{in: []string{"-std", "+p95"}, want: []string{"mean", "min", "max", "sum", "count", "p95"}},
		{in: []string{"*", "-rate:median"}, want: []string{"mean", "min", "max", "sum", "count", "last", "first", "std", "median", "rate:mean", "rate:min", "rate:max", "rate:sum", "rate:count", "rate:last", "rate:first", "rate:std"}},
		{in: []string{"mean", "mean"}, want: []string{"mean"}},
	} {
		got, err := ExpandMethods(tc.in, DefaultMethods())
		if err != nil {
			t.Fatalf("ExpandMethods(%v): %v", tc.in, err)
		}
		if names := MethodNames(got); !slices.Equal(names, tc.want) {
			t.Errorf("ExpandMethods(%v) = %v, want %v", tc.in, names, tc.want)
		}
	}
	if _, err := ExpandMethods([]string{"mean", "bogus"}, nil); err == nil {
		t.Error("an unknown method was accepted")
	}
}

func TestNormaliseDefinition(t *testing.T) {
	for _, tc := range []struct {
		in   Definition
		want Definition
		err  bool
	}{
		{in: Definition{Granularity: time.Minute, Points: 60}, want: Definition{Granularity: time.Minute, Points: 60, Timespan: time.Hour}},
		{in: Definition{Granularity: time.Minute, Timespan: time.Hour}, want: Definition{Granularity: time.Minute, Points: 60, Timespan: time.Hour}},
		{in: Definition{Granularity: time.Minute, Points: 60, Timespan: time.Hour}, want: Definition{Granularity: time.Minute, Points: 60, Timespan: time.Hour}},
		{in: Definition{Granularity: time.Minute, Points: 61, Timespan: time.Hour}, err: true},
		{in: Definition{Granularity: 7 * time.Second, Timespan: time.Minute}, err: true},
		{in: Definition{Granularity: 0, Points: 5}, err: true},
		{in: Definition{Granularity: time.Second}, err: true},
		{in: Definition{Granularity: time.Second, Points: -1}, err: true},
	} {
		got, err := NormaliseDefinition(tc.in)
		if tc.err {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("NormaliseDefinition(%+v) = %+v, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormaliseDefinition(%+v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestBuiltinsValid(t *testing.T) {
	names := map[string]bool{}
	for _, p := range Builtins() {
		if err := p.Validate(); err != nil {
			t.Errorf("built-in %s: %v", p.Name, err)
		}
		names[p.Name] = true
	}
	for _, n := range []string{"bool", "low", "medium", "high", "ceilometer-low", "ceilometer-low-rate", "ceilometer-high", "ceilometer-high-rate"} {
		if !names[n] {
			t.Errorf("built-in policy %s is missing", n)
		}
	}
	if _, ok := MatchRule([]Rule{DefaultRule()}, "cpu"); !ok {
		t.Error("the default rule does not match")
	}
}

func TestPolicyValidate(t *testing.T) {
	p := Policy{Name: "x", Methods: DefaultMethods(), Definitions: []Definition{{Granularity: time.Second, Points: 10}, {Granularity: time.Second, Points: 20}}}
	if err := p.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate granularities: %v", err)
	}
	p = Policy{Name: "x", Methods: DefaultMethods(), BackWindow: -1, Definitions: []Definition{{Granularity: time.Second, Points: 10}}}
	if err := p.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative back window: %v", err)
	}
	if err := CheckUpdate(Builtins()[3].Definitions, Builtins()[3].Definitions[:2]); err == nil {
		t.Error("dropping a granularity was allowed")
	}
}

func TestMatchRule(t *testing.T) {
	rules := []Rule{
		{Name: "default", MetricPattern: "*", PolicyName: "low"},
		{Name: "disk", MetricPattern: "disk.*", PolicyName: "medium"},
		{Name: "diskread", MetricPattern: "disk.read.*", PolicyName: "high"},
	}
	for name, want := range map[string]string{"cpu": "low", "disk.write.bytes": "medium", "disk.read.bytes": "high"} {
		r, ok := MatchRule(rules, name)
		if !ok || r.PolicyName != want {
			t.Errorf("MatchRule(%q) = %v, %v; want %s", name, r, ok, want)
		}
	}
	if _, ok := MatchRule(rules[1:], "cpu"); ok {
		t.Error("a name matched no pattern but a rule was returned")
	}
}
