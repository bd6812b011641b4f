package ops

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

const (
	t0     = int64(1388577600e9) // 2014-01-01T12:00:00Z, a multiple of 120 s
	minute = int64(60e9)
)

func f64(p float64) *float64 { return &p }
func i64(p int64) *int64     { return &p }

// ser builds a series at granularity g from the first timestamp and values.
func ser(g, first int64, vals ...float64) Series {
	s := Series{Granularity: g, Values: vals}
	for i := range vals {
		s.Timestamps = append(s.Timestamps, first+int64(i)*g)
	}
	return s
}

func in(m string, series ...Series) Input {
	return Input{Ref: ref(m, "mean"), Series: series}
}

func eval(t *testing.T, expr string, inputs []Input, o Options) (Result, error) {
	t.Helper()
	n, err := ParseString(expr)
	if err != nil {
		t.Fatalf("ParseString(%q): %v", expr, err)
	}
	return Eval(context.Background(), n, inputs, o)
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// checkPoints compares points with the expected values at first, first+g, ...
func checkPoints(t *testing.T, what string, got []Point, first, g int64, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d points %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for i, p := range got {
		if p.Timestamp != first+int64(i)*g || p.Granularity != g || !sameFloat(p.Value, want[i]) {
			t.Errorf("%s: point %d = %+v, want {%d %d %v}", what, i, p, first+int64(i)*g, g, want[i])
		}
	}
}

func TestEvalOperators(t *testing.T) {
	inputs := []Input{in("a", ser(minute, t0, 1, 2, 3, 4)), in("b", ser(minute, t0, 10, 20, 30, 40))}
	inf := math.Inf(1)
	tests := []struct {
		expr  string
		agg   bool
		first int64 // timestamp of the first point
		g     int64
		want  [][]float64 // one row per output series
	}{
		{"(metric a mean)", false, t0, minute, [][]float64{{1, 2, 3, 4}}},
		{"(metric (b mean) (a mean))", false, t0, minute, [][]float64{{1, 2, 3, 4}, {10, 20, 30, 40}}},
		{"(aggregate mean (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{5.5, 11, 16.5, 22}}},
		{"(aggregate sum (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{11, 22, 33, 44}}},
		{"(aggregate min (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{1, 2, 3, 4}}},
		{"(aggregate max (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{10, 20, 30, 40}}},
		{"(aggregate count (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{2, 2, 2, 2}}},
		{"(aggregate median (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{5.5, 11, 16.5, 22}}},
		{"(aggregate std (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{4.5, 9, 13.5, 18}}},
		{"(aggregate var (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{20.25, 81, 182.25, 324}}},
		{"(aggregate 25pct (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{3.25, 6.5, 9.75, 13}}},
		{"(+ (metric a mean) 2)", false, t0, minute, [][]float64{{3, 4, 5, 6}}},
		{"(- 10 (metric a mean))", false, t0, minute, [][]float64{{9, 8, 7, 6}}},
		{"(* (metric a mean) (metric b mean))", true, t0, minute, [][]float64{{10, 40, 90, 160}}},
		{"(/ (metric b mean) (metric a mean))", true, t0, minute, [][]float64{{10, 10, 10, 10}}},
		{"(/ (metric a mean) 0)", false, t0, minute, [][]float64{{inf, inf, inf, inf}}},
		{"(/ (- (metric a mean) 1) 0)", false, t0, minute, [][]float64{{math.NaN(), inf, inf, inf}}},
		{"(% (metric b mean) 3)", false, t0, minute, [][]float64{{1, 2, 0, 1}}},
		{"(mod (neg (metric a mean)) 3)", false, t0, minute, [][]float64{{2, 1, 0, 2}}},
		{"(% (metric a mean) 0)", false, t0, minute, [][]float64{{math.NaN(), math.NaN(), math.NaN(), math.NaN()}}},
		{"(** (metric a mean) 2)", false, t0, minute, [][]float64{{1, 4, 9, 16}}},
		{"(^ 2 (metric a mean))", false, t0, minute, [][]float64{{2, 4, 8, 16}}},
		{"(= (metric a mean) 2)", false, t0, minute, [][]float64{{0, 1, 0, 0}}},
		{"(ne (metric a mean) 2)", false, t0, minute, [][]float64{{1, 0, 1, 1}}},
		{"(< (metric a mean) 3)", false, t0, minute, [][]float64{{1, 1, 0, 0}}},
		{"(le (metric a mean) 3)", false, t0, minute, [][]float64{{1, 1, 1, 0}}},
		{"(gt (metric a mean) 3)", false, t0, minute, [][]float64{{0, 0, 0, 1}}},
		{"(>= (metric a mean) 3)", false, t0, minute, [][]float64{{0, 0, 1, 1}}},
		{"(abs (- (metric a mean) 3))", false, t0, minute, [][]float64{{2, 1, 0, 1}}},
		{"(neg (metric a mean))", false, t0, minute, [][]float64{{-1, -2, -3, -4}}},
		{"(- (metric a mean))", false, t0, minute, [][]float64{{-1, -2, -3, -4}}},
		{"(cos (* (metric a mean) 0))", false, t0, minute, [][]float64{{1, 1, 1, 1}}},
		{"(sin (* (metric a mean) 0))", false, t0, minute, [][]float64{{0, 0, 0, 0}}},
		{"(tan (* (metric a mean) 0))", false, t0, minute, [][]float64{{0, 0, 0, 0}}},
		{"(floor (/ (metric a mean) 2))", false, t0, minute, [][]float64{{0, 1, 1, 2}}},
		{"(ceil (/ (metric a mean) 2))", false, t0, minute, [][]float64{{1, 1, 2, 2}}},
		{"(clip (metric b mean) 15 35)", false, t0, minute, [][]float64{{15, 20, 30, 35}}},
		{"(clip_min (metric a mean) 3)", false, t0, minute, [][]float64{{3, 3, 3, 4}}},
		{"(clip_max (metric a mean) 2)", false, t0, minute, [][]float64{{1, 2, 2, 2}}},
		{"(round (/ (metric a mean) 2))", false, t0, minute, [][]float64{{0, 1, 2, 2}}},
		{"(round (/ (metric a mean) 3) 2)", false, t0, minute, [][]float64{{0.33, 0.67, 1, 1.33}}},
		{"(round (* (metric b mean) 1.5) -1)", false, t0, minute, [][]float64{{20, 30, 40, 60}}},
		{"(rateofchange (metric a mean))", false, t0 + minute, minute, [][]float64{{1, 1, 1}}},
		{"(rolling sum 2 (metric a mean))", false, t0 + minute, minute, [][]float64{{3, 5, 7}}},
		{"(rolling mean 3 (metric b mean))", false, t0 + 2*minute, minute, [][]float64{{20, 30}}},
		{"(rolling max 4 (metric (a mean) (b mean)))", false, t0 + 3*minute, minute, [][]float64{{4}, {40}}},
		{"(resample mean 120 (metric a mean))", false, t0, 2 * minute, [][]float64{{1.5, 3.5}}},
		{"(resample sum 2min (metric a mean))", false, t0, 2 * minute, [][]float64{{3, 7}}},
		{"(resample last 240 (metric a mean))", false, t0, 4 * minute, [][]float64{{4}}},
		{"(aggregate mean (rateofchange (metric (a mean) (b mean))))", true, t0 + minute, minute, [][]float64{{5.5, 5.5, 5.5}}},
		{"(- (aggregate max (metric (a mean) (b mean))) (aggregate min (metric (a mean) (b mean))))", true, t0, minute, [][]float64{{9, 18, 27, 36}}},
		// Gnocchi keeps the first column when two multi-series sets combine.
		{"(+ (metric (a mean) (b mean)) (metric (a mean) (b mean)))", true, t0, minute, [][]float64{{2, 4, 6, 8}}},
		{"(+ (metric a mean) (+ 1 (* 2 3)))", false, t0, minute, [][]float64{{8, 9, 10, 11}}},
	}
	for _, tt := range tests {
		n, err := ParseString(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Eval(context.Background(), n, referenced(n, inputs), Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if r.Aggregated != tt.agg {
			t.Errorf("%s: aggregated = %v, want %v", tt.expr, r.Aggregated, tt.agg)
			continue
		}
		if tt.agg {
			checkPoints(t, tt.expr, r.Points, tt.first, tt.g, tt.want[0])
			continue
		}
		if len(r.Series) != len(tt.want) {
			t.Errorf("%s: %d series, want %d", tt.expr, len(r.Series), len(tt.want))
			continue
		}
		for i, m := range r.Series {
			checkPoints(t, tt.expr+" "+m.Label, m.Points, tt.first, tt.g, tt.want[i])
		}
	}
}

// referenced keeps the inputs that n references, as a caller fetches them.
func referenced(n Node, inputs []Input) []Input {
	var out []Input
	for _, in := range inputs {
		for _, r := range References(n) {
			if in.Ref == r {
				out = append(out, in)
				break
			}
		}
	}
	return out
}

func wantErr(t *testing.T, err error, cause, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *Error %q", err, reason)
	}
	if e.Cause != cause || !strings.Contains(e.Reason, reason) {
		t.Fatalf("error = %q / %q, want %q / ...%q...", e.Cause, e.Reason, cause, reason)
	}
}

func TestEvalOverlap(t *testing.T) {
	a := in("a", ser(minute, t0, 1, 2, 3, 4))
	c := in("c", ser(minute, t0+2*minute, 100, 200, 300, 400))
	mean := "(aggregate mean (metric (a mean) (c mean)))"

	// Without bounds only the overlapping span is kept.
	r, err := eval(t, mean, []Input{a, c}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "no bounds", r.Points, t0+2*minute, minute, []float64{51.5, 102})

	// With a start, the span from it counts, and only half overlaps.
	_, err = eval(t, mean, []Input{a, c}, Options{Start: i64(t0)})
	wantErr(t, err, CauseUnaggregable, "Less than 100.000000% of datapoints overlap in this timespan (50.00%)")
	r, err = eval(t, mean, []Input{a, c}, Options{Start: i64(t0), NeededOverlap: f64(50)})
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "start, 50%", r.Points, t0, minute, []float64{1, 2, 51.5, 102})

	r, err = eval(t, mean, []Input{a, c}, Options{Stop: i64(t0 + 10*minute), NeededOverlap: f64(0)})
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "stop, 0%", r.Points, t0+2*minute, minute, []float64{51.5, 102, 300, 400})

	// Disjoint series.
	d := in("c", ser(minute, t0+10*minute, 7, 8))
	_, err = eval(t, mean, []Input{a, d}, Options{})
	wantErr(t, err, CauseUnaggregable, "No overlap")
	var e *Error
	errors.As(err, &e)
	if got := e.Detail.([][2]string); len(got) != 2 || got[0] != [2]string{"a", "mean"} {
		t.Fatalf("detail = %v", e.Detail)
	}
	r, err = eval(t, mean, []Input{a, d}, Options{NeededOverlap: f64(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Points) != 6 {
		t.Fatalf("0%% overlap of disjoint series: %v", r.Points)
	}

	_, err = eval(t, mean, []Input{a, c}, Options{NeededOverlap: f64(101)})
	wantErr(t, err, CauseArgument, "between 0 and 100")
}

func TestEvalFill(t *testing.T) {
	a := in("a", ser(minute, t0, 1, 2, 3, 4))
	c := in("c", ser(minute, t0+2*minute, 100, 200, 300, 400))
	nan := math.NaN()
	tests := []struct {
		fill  Fill
		expr  string
		first int64
		want  []float64
	}{
		{Fill{Kind: FillNumber, Value: 0}, "(aggregate sum (metric (a mean) (c mean)))", t0, []float64{1, 2, 103, 204, 300, 400}},
		{Fill{Kind: FillNumber, Value: -1}, "(aggregate min (metric (a mean) (c mean)))", t0, []float64{-1, -1, 3, 4, -1, -1}},
		{Fill{Kind: FillNull}, "(aggregate mean (metric (a mean) (c mean)))", t0, []float64{1, 2, 51.5, 102, 300, 400}},
		{Fill{Kind: FillNull}, "(+ (metric a mean) (metric c mean))", t0, []float64{nan, nan, 103, 204, nan, nan}},
		{Fill{Kind: FillDropNA}, "(aggregate sum (metric (a mean) (c mean)))", t0 + 2*minute, []float64{103, 204}},
		{Fill{Kind: FillFFill}, "(aggregate sum (metric (a mean) (c mean)))", t0, []float64{1, 2, 103, 204, 304, 404}},
		{Fill{Kind: FillFFill}, "(+ (metric a mean) (metric c mean))", t0, []float64{nan, nan, 103, 204, 304, 404}},
	}
	for _, tt := range tests {
		fill := tt.fill
		r, err := eval(t, tt.expr, []Input{a, c}, Options{Fill: &fill})
		if err != nil {
			t.Errorf("%v %s: %v", tt.fill, tt.expr, err)
			continue
		}
		checkPoints(t, tt.expr, r.Points, tt.first, minute, tt.want)
	}
	for s, want := range map[string]Fill{"null": {Kind: FillNull}, "dropna": {Kind: FillDropNA}, "ffill": {Kind: FillFFill}, "2.5": {Value: 2.5}} {
		if got, err := ParseFill(s); err != nil || *got != want {
			t.Errorf("ParseFill(%q) = %v, %v", s, got, err)
		}
	}
	_, err := ParseFill("zero")
	wantErr(t, err, CauseArgument, "Must be a float, 'dropna', 'null' or 'ffill'")
}

func TestEvalStartStop(t *testing.T) {
	inputs := []Input{in("a", ser(minute, t0, 1, 2, 3, 4)), in("b", ser(minute, t0, 10, 20, 30, 40))}
	r, err := eval(t, "(aggregate sum (metric (a mean) (b mean)))", inputs, Options{Start: i64(t0 + minute + 30e9), Stop: i64(t0 + 3*minute)})
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "start/stop", r.Points, t0+minute, minute, []float64{22, 33})
}

func TestEvalGranularities(t *testing.T) {
	h := 60 * minute
	a := in("a", ser(minute, t0, 1, 2), ser(h, t0, 5))
	b := in("b", ser(h, t0, 7), ser(minute, t0, 3, 4), ser(5*minute, t0, 9))
	r, err := eval(t, "(aggregate sum (metric (a mean) (b mean)))", []Input{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{t0, h, 12}, {t0, minute, 4}, {t0 + minute, minute, 6}}
	if len(r.Points) != len(want) {
		t.Fatalf("points %v, want %v", r.Points, want)
	}
	for i := range want {
		if r.Points[i] != want[i] {
			t.Fatalf("points %v, want %v", r.Points, want)
		}
	}
	r, err = eval(t, "(metric (a mean) (b mean))", []Input{a, b}, Options{Granularity: minute})
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "a at 60", r.Series[0].Points, t0, minute, []float64{1, 2})

	_, err = eval(t, "(metric (a mean) (b mean))", []Input{a, b}, Options{Granularity: 5 * minute})
	wantErr(t, err, CauseUnaggregable, "granularity '300' is missing")
	var e *Error
	errors.As(err, &e)
	if d := e.Detail.([][2]string); len(d) != 1 || d[0] != [2]string{"a", "mean"} {
		t.Fatalf("detail = %v", e.Detail)
	}
	c := in("a", ser(5*minute, t0, 1))
	_, err = eval(t, "(metric (a mean) (b mean))", []Input{c, in("b", ser(minute, t0, 1))}, Options{})
	wantErr(t, err, CauseUnaggregable, "No granularity match")
}

func TestEvalErrors(t *testing.T) {
	inputs := []Input{in("a", ser(minute, t0, 1, 2, 3, 4)), in("b", ser(minute, t0, 10, 20, 30, 40))}
	_, err := eval(t, "(rolling mean 10 (metric a mean))", inputs[:1], Options{})
	wantErr(t, err, CauseUnaggregable, "Rolling window '10' is greater than serie length '4'")
	_, err = eval(t, "(+ (resample mean 120 (metric a mean)) (metric b mean))", inputs, Options{})
	wantErr(t, err, CauseUnaggregable, "Can't compute timeseries with different granularity (resample mean 120 (metric a mean)) <> (metric b mean)")
	_, err = eval(t, "(+ (metric a mean) (aggregate mean (rateofchange 1)))", inputs[:1], Options{})
	wantErr(t, err, CauseInvalidInput, "'rateofchange' needs series")
	_, err = eval(t, "(+ (metric a mean) (aggregate mean 1))", inputs[:1], Options{})
	wantErr(t, err, CauseInvalidInput, "'aggregate' needs series")
	_, err = eval(t, "(metric a mean)", nil, Options{})
	wantErr(t, err, CauseMetricsNotFound, "")

	// Caller mistakes are plain errors, not user errors.
	var e *Error
	_, err = eval(t, "(metric a mean)", inputs, Options{})
	if err == nil || errors.As(err, &e) {
		t.Fatalf("unreferenced input: %v", err)
	}
	bad := Input{Ref: ref("a", "mean"), Series: []Series{{Granularity: minute, Timestamps: []int64{2, 1}, Values: []float64{1, 2}}}}
	if _, err = eval(t, "(metric a mean)", []Input{bad}, Options{}); err == nil || errors.As(err, &e) {
		t.Fatalf("unsorted series: %v", err)
	}
	if _, err = Eval(context.Background(), &Rolling{Window: 0, Method: Method{Name: "mean"}, Operand: metric(ref("a", "mean"))}, inputs[:1], Options{}); err == nil {
		t.Fatal("hand-built rolling of 0 accepted")
	}
	if _, err = Eval(context.Background(), &Binary{Op: "xor", Left: metric(ref("a", "mean")), Right: &Number{}}, inputs[:1], Options{}); err == nil {
		t.Fatal("hand-built unknown operator accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, _ := ParseString("(metric a mean)")
	if _, err = Eval(ctx, n, inputs[:1], Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestEvalResourceSearch(t *testing.T) {
	inputs := []Input{
		{Ref: ref("cpu_util", "mean"), ResourceID: "r1", Label: "cpu_util", Series: []Series{ser(minute, t0, 1, 2)}},
		{Ref: ref("cpu_util", "mean"), ResourceID: "r2", Label: "cpu_util", Series: []Series{ser(minute, t0, 3, 4)}},
	}
	r, err := eval(t, "(metric cpu_util mean)", inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.MarshalJSON()
	want := `{"r1":{"cpu_util":{"mean":[["2014-01-01T12:00:00+00:00",60.0,1.0],["2014-01-01T12:01:00+00:00",60.0,2.0]]}},` +
		`"r2":{"cpu_util":{"mean":[["2014-01-01T12:00:00+00:00",60.0,3.0],["2014-01-01T12:01:00+00:00",60.0,4.0]]}}}`
	if string(got) != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
	r, err = eval(t, "(aggregate max (metric cpu_util mean))", inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = r.MarshalJSON()
	if want := `{"aggregated":[["2014-01-01T12:00:00+00:00",60.0,3.0],["2014-01-01T12:01:00+00:00",60.0,4.0]]}`; string(got) != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Series: []Measures{
		{Label: "m1", Aggregation: "mean", Points: []Point{{t0, 300e9, math.NaN()}, {t0 + 500e6, 5e8, 0.1}}},
		{Label: "m1", Aggregation: "max", Points: []Point{{t0, 1e9, math.Inf(1)}}},
		{Label: "m2", Aggregation: "mean"},
	}}
	got, _ := r.MarshalJSON()
	want := `{"m1":{"mean":[["2014-01-01T12:00:00+00:00",300.0,null],["2014-01-01T12:00:00.500000000+00:00",0.5,0.1]],` +
		`"max":[["2014-01-01T12:00:00+00:00",1.0,null]]},"m2":{"mean":[]}}`
	if string(got) != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
	if got, _ := (Result{Aggregated: true}).MarshalJSON(); string(got) != `{"aggregated":[]}` {
		t.Fatalf("empty aggregated: %s", got)
	}
}

func TestAppendPyFloat(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0.0", 1: "1.0", -2.5: "-2.5", 60: "60.0", 0.1: "0.1", 1e-4: "0.0001", 1e-5: "1e-05",
		1.5e-7: "1.5e-07", 1e15: "1000000000000000.0", 1e16: "1e+16", 1.2345678901234567e16: "1.2345678901234568e+16",
		123456789.125: "123456789.125", math.NaN(): "null", math.Inf(-1): "null", math.Copysign(0, -1): "-0.0",
	} {
		if got := string(AppendPyFloat(nil, f)); got != want {
			t.Errorf("AppendPyFloat(%v) = %s, want %s", f, got, want)
		}
	}
}
