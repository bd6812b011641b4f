package ops

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Series is one aggregated series of a metric at one granularity.
// Timestamps are Unix ns, strictly ascending, on the granularity grid;
// Values has the same length. Eval never modifies a Series.
type Series struct {
	Granularity int64 // ns
	Timestamps  []int64
	Values      []float64
}

// Input is what the caller fetched for one reference of the operations.
type Input struct {
	// Ref is the reference as written in the operations (see References).
	Ref Ref
	// ResourceID is the resource of the metric in the resource-search
	// form, where one reference by metric name stands for one input per
	// resource; it is empty for references by metric id.
	ResourceID string
	// Label names the series in the result: the metric id, or the metric
	// name in the resource-search form. Empty means Ref.Metric.
	Label string
	// Series holds one series per granularity the metric has.
	Series []Series
}

// FillKind is how Eval fills the timestamps some series lack.
type FillKind int

// Fill kinds, after Gnocchi's fill query parameter.
const (
	// FillNumber puts Fill.Value where a series has no point.
	FillNumber FillKind = iota
	// FillNull leaves NaN (null in JSON) where a series has no point.
	FillNull
	// FillDropNA drops the timestamps where any series has no point.
	FillDropNA
	// FillFFill carries each series' last value forward; points before
	// its first value stay NaN.
	FillFFill
)

// Fill is Gnocchi's fill parameter: without it, Eval keeps only the
// timestamps where all series overlap and enforces NeededOverlap.
type Fill struct {
	Kind  FillKind
	Value float64
}

// ParseFill reads the fill query parameter: "null", "dropna", "ffill" or
// a number.
func ParseFill(s string) (*Fill, error) {
	switch s {
	case "null":
		return &Fill{Kind: FillNull}, nil
	case "dropna":
		return &Fill{Kind: FillDropNA}, nil
	case "ffill":
		return &Fill{Kind: FillFFill}, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, &Error{Cause: CauseArgument, Reason: "Must be a float, 'dropna', 'null' or 'ffill'", Detail: "fill"}
	}
	return &Fill{Kind: FillNumber, Value: f}, nil
}

// Options are the query parameters of the aggregates API.
type Options struct {
	// Granularity (ns) restricts the evaluation to one granularity, which
	// every input must have; 0 evaluates every granularity common to all
	// inputs, the coarsest first.
	Granularity int64
	// Start (inclusive, rounded down to each granularity) and Stop
	// (exclusive) bound the points, Unix ns; nil is unbounded.
	Start, Stop *int64
	// NeededOverlap is the percentage (0..100) of timestamps where all
	// series must have a point when Fill is nil; nil means 100.
	NeededOverlap *float64
	// Fill fills missing points instead of requiring overlap.
	Fill *Fill
}

// val is the value of a node: a number, or a set of series sharing
// timestamps. Columns may alias the inputs and are never written to.
type val struct {
	isNum      bool
	num        float64
	gran       int64
	times      []int64
	cols       [][]float64
	aggregated bool
}

// Eval evaluates n over inputs as Gnocchi's aggregates API does. Inputs
// must each reference a metric of n (References); the resource-search form
// passes one input per reference and resource. User errors are *Error;
// other errors mean the caller passed malformed series.
//
// Eval is safe for concurrent use with the same Node and inputs. Where
// Gnocchi fails with an internal error (a reference selecting no series,
// aggregate over a number), Eval returns an empty result or a *Error.
func Eval(ctx context.Context, n Node, inputs []Input, o Options) (Result, error) {
	if err := validate(n, 1); err != nil {
		return Result{}, fmt.Errorf("cannot evaluate operations: %w", err)
	}
	if len(inputs) == 0 {
		var names []string
		for _, r := range References(n) {
			if !slices.Contains(names, r.Metric) {
				names = append(names, r.Metric)
			}
		}
		return Result{}, &Error{Cause: CauseMetricsNotFound, Detail: names}
	}
	needed := 100.0
	if o.NeededOverlap != nil {
		needed = *o.NeededOverlap
		if !(needed >= 0 && needed <= 100) {
			return Result{}, &Error{Cause: CauseArgument, Reason: "Must be a number between 0 and 100", Detail: "needed_overlap"}
		}
	}
	known := map[Ref]bool{}
	for _, r := range References(n) {
		known[r] = true
	}
	refs := make([][2]string, len(inputs))
	for i, in := range inputs {
		if !known[in.Ref] {
			return Result{}, fmt.Errorf("cannot evaluate operations: input %d references %s %s, which the operations do not", i, in.Ref.Metric, in.Ref.Aggregation)
		}
		for j, s := range in.Series {
			if err := checkSeries(s); err != nil {
				return Result{}, fmt.Errorf("cannot evaluate operations: input %d series %d: %w", i, j, err)
			}
		}
		refs[i] = [2]string{label(in), in.Ref.Aggregation}
	}
	grans, err := granularities(inputs, refs, o.Granularity)
	if err != nil {
		return Result{}, err
	}

	res := Result{Series: make([]Measures, len(inputs))}
	for i, in := range inputs {
		res.Series[i] = Measures{ResourceID: in.ResourceID, Label: label(in), Aggregation: in.Ref.Aggregation}
	}
	for _, g := range grans {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		times, cols, err := grid(inputs, g, o, needed, refs)
		if err != nil {
			return Result{}, err
		}
		e := evaluator{ctx: ctx, inputs: inputs, refs: refs}
		v, err := e.eval(n, val{gran: g, times: times, cols: cols})
		if err != nil {
			return Result{}, err
		}
		if v.isNum {
			return Result{}, fmt.Errorf("BUG: operations with metrics evaluated to a number")
		}
		if v.aggregated {
			res.Aggregated = true
			if len(v.cols) > 0 {
				res.Points = appendPoints(res.Points, v.times, v.gran, v.cols[0])
			}
			continue
		}
		if len(v.cols) != len(inputs) {
			return Result{}, fmt.Errorf("BUG: %d series evaluated for %d inputs", len(v.cols), len(inputs))
		}
		for i := range inputs {
			res.Series[i].Points = appendPoints(res.Series[i].Points, v.times, v.gran, v.cols[i])
		}
	}
	if res.Aggregated {
		res.Series = nil
	}
	return res, nil
}

func label(in Input) string {
	if in.Label != "" {
		return in.Label
	}
	return in.Ref.Metric
}

func appendPoints(dst []Point, times []int64, g int64, vals []float64) []Point {
	dst = slices.Grow(dst, len(times))
	for i, t := range times {
		dst = append(dst, Point{Timestamp: t, Granularity: g, Value: vals[i]})
	}
	return dst
}

type evaluator struct {
	ctx    context.Context
	inputs []Input
	refs   [][2]string
}

// eval evaluates n; base carries the grid that metric nodes select from.
func (e *evaluator) eval(n Node, base val) (val, error) {
	if err := e.ctx.Err(); err != nil {
		return val{}, err
	}
	switch n := n.(type) {
	case *Number:
		return val{isNum: true, num: n.Value}, nil
	case *Metric:
		v := val{gran: base.gran, times: base.times}
		for i, in := range e.inputs {
			if slices.Contains(n.Refs, in.Ref) {
				v.cols = append(v.cols, base.cols[i])
			}
		}
		return v, nil
	case *Aggregate:
		x, err := e.series(n.Operand, base, "aggregate")
		if err != nil {
			return val{}, err
		}
		return val{gran: x.gran, times: x.times, cols: [][]float64{aggregateCols(n.Method, x.cols, len(x.times))}, aggregated: true}, nil
	case *Rolling:
		x, err := e.series(n.Operand, base, "rolling")
		if err != nil {
			return val{}, err
		}
		if n.Window > len(x.times) {
			return val{}, unaggregable(e.refs, "Rolling window '%d' is greater than serie length '%d'", n.Window, len(x.times))
		}
		out := val{gran: x.gran, times: x.times[n.Window-1:], aggregated: x.aggregated, cols: make([][]float64, len(x.cols))}
		for i, c := range x.cols {
			out.cols[i] = rolling(n.Method, n.Window, c)
		}
		return out, nil
	case *Resample:
		x, err := e.series(n.Operand, base, "resample")
		if err != nil {
			return val{}, err
		}
		return resample(n.Method, n.Granularity, x), nil
	case *Unary:
		x, err := e.eval(n.Operand, base)
		if err != nil {
			return val{}, err
		}
		if n.Op == "rateofchange" {
			if x.isNum {
				return val{}, invalidInput("'rateofchange' needs series, not a number")
			}
			return rateOfChange(x), nil
		}
		return mapVal(x, unaryFunc(n.Op)), nil
	case *Round:
		x, err := e.eval(n.Operand, base)
		if err != nil {
			return val{}, err
		}
		return mapVal(x, roundFunc(n.Decimals)), nil
	case *Binary:
		l, err := e.eval(n.Left, base)
		if err != nil {
			return val{}, err
		}
		r, err := e.eval(n.Right, base)
		if err != nil {
			return val{}, err
		}
		return e.binary(n.Left, n.Right, l, r, binaryFunc(n.Op))
	case *Clip:
		x, err := e.eval(n.Operand, base)
		if err != nil {
			return val{}, err
		}
		lo, err := e.eval(n.Min, base)
		if err != nil {
			return val{}, err
		}
		hi, err := e.eval(n.Max, base)
		if err != nil {
			return val{}, err
		}
		y, err := e.binary(n.Operand, n.Min, x, lo, clipMin)
		if err != nil {
			return val{}, err
		}
		return e.binary(n, n.Max, y, hi, clipMax)
	}
	return val{}, fmt.Errorf("BUG: unknown node %T", n)
}

func (e *evaluator) series(n Node, base val, op string) (val, error) {
	x, err := e.eval(n, base)
	if err != nil {
		return val{}, err
	}
	if x.isNum {
		return val{}, invalidInput("'%s' needs series, not the number %s", op, formatNumber(x.num))
	}
	return x, nil
}

// binary combines two values element-wise with numpy's broadcasting: two
// series sets must share timestamps and granularity, and the result of
// combining two series sets counts as aggregated, as in Gnocchi.
func (e *evaluator) binary(ln, rn Node, l, r val, f func(a, b float64) float64) (val, error) {
	switch {
	case l.isNum && r.isNum:
		return val{isNum: true, num: f(l.num, r.num)}, nil
	case l.isNum:
		out := val{gran: r.gran, times: r.times, aggregated: r.aggregated, cols: make([][]float64, len(r.cols))}
		for i, c := range r.cols {
			o := make([]float64, len(c))
			for k, b := range c {
				o[k] = f(l.num, b)
			}
			out.cols[i] = o
		}
		return out, nil
	case r.isNum:
		out := val{gran: l.gran, times: l.times, aggregated: l.aggregated, cols: make([][]float64, len(l.cols))}
		for i, c := range l.cols {
			o := make([]float64, len(c))
			for k, a := range c {
				o[k] = f(a, r.num)
			}
			out.cols[i] = o
		}
		return out, nil
	}
	if l.gran != r.gran || !slices.Equal(l.times, r.times) {
		return val{}, unaggregable(e.refs, "Can't compute timeseries with different granularity %s <> %s", ln, rn)
	}
	nl, nr := len(l.cols), len(r.cols)
	n := max(nl, nr)
	if nl != nr && nl != 1 && nr != 1 {
		return val{}, unaggregable(e.refs, "Can't compute timeseries with different number of series (%d <> %d) %s <> %s", nl, nr, ln, rn)
	}
	if nl == 0 || nr == 0 {
		n = 0
	}
	out := val{gran: l.gran, times: l.times, aggregated: true, cols: make([][]float64, n)}
	for i := range n {
		a, b := l.cols[min(i, nl-1)], r.cols[min(i, nr-1)]
		o := make([]float64, len(a))
		for k := range a {
			o[k] = f(a[k], b[k])
		}
		out.cols[i] = o
	}
	return out, nil
}

func mapVal(x val, f func(float64) float64) val {
	if x.isNum {
		return val{isNum: true, num: f(x.num)}
	}
	out := val{gran: x.gran, times: x.times, aggregated: x.aggregated, cols: make([][]float64, len(x.cols))}
	for i, c := range x.cols {
		o := make([]float64, len(c))
		for k, v := range c {
			o[k] = f(v)
		}
		out.cols[i] = o
	}
	return out
}

// rateOfChange is the difference between consecutive points, stamped with
// the later one.
func rateOfChange(x val) val {
	out := val{gran: x.gran, aggregated: x.aggregated, cols: make([][]float64, len(x.cols))}
	if len(x.times) > 0 {
		out.times = x.times[1:]
	}
	for i, c := range x.cols {
		o := make([]float64, max(len(c)-1, 0))
		for k := range o {
			o[k] = c[k+1] - c[k]
		}
		out.cols[i] = o
	}
	return out
}
