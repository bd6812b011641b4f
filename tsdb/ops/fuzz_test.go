package ops

import (
	"context"
	"errors"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	"(aggregate mean (metric (a mean) (b mean)))",
	"(metric ((a mean) (b max)))",
	"(rolling median 3 (resample 95pct 120 (metric a mean)))",
	"(round (clip (rateofchange (metric a mean)) -1 1e3) 2)",
	"(/ (- (metric a mean) (metric b mean)) (abs (metric b mean)))",
	`(metric "x y" "rate:mean")`,
	"(** (metric a mean) (% 7 0))",
	"((((",
	"(metric a mean))",
}

// fuzzEval evaluates a parsed tree over small series of every reference,
// so that the evaluator meets whatever the parser accepts.
func fuzzEval(t *testing.T, n Node) {
	var inputs []Input
	for i, r := range References(n) {
		inputs = append(inputs, Input{Ref: r, Series: []Series{
			ser(60e9, t0+int64(i%3)*60e9, 1, -2, 0, 3.5, 1e300, -1e-300, 7, 8),
			ser(300e9, t0, 5, 0, -5),
		}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, o := range []Options{{}, {NeededOverlap: f64(0)}, {Fill: &Fill{Kind: FillNull}}, {Fill: &Fill{Kind: FillFFill}}} {
		r, err := Eval(ctx, n, inputs, o)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("Eval(%s): non-user error %v", n, err)
		}
		if err == nil {
			if _, err := r.MarshalJSON(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func checkParsed(t *testing.T, n Node, err error) {
	var e *Error
	if err != nil {
		if !errors.As(err, &e) {
			t.Fatalf("parse error is not *Error: %v", err)
		}
		return
	}
	s := n.String()
	again, err := ParseString(s)
	if err != nil {
		t.Fatalf("String() %q does not parse: %v", s, err)
	}
	if again.String() != s {
		t.Fatalf("String() not stable: %q then %q", s, again.String())
	}
	fuzzEval(t, n)
}

func FuzzParseString(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseString(s)
		checkParsed(t, n, err)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`["aggregate","mean",["metric",["a","mean"],["b","mean"]]]`,
		`["metric","a","mean"]`,
		`["rolling","sum","2",["resample","max","1h",["metric",[["a","mean"]]]]]`,
		`["clip_min",["metric","a","mean"],"-1e9"]`,
		`"(metric a mean)"`,
		`[[[[[]]]]]`,
		`{"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseJSON(data)
		checkParsed(t, n, err)
	})
}
