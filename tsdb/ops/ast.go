package ops

import (
	"strconv"
	"strings"
)

// Node is one operation of a parsed tree. The concrete types are *Metric,
// *Number, *Aggregate, *Resample, *Rolling, *Binary, *Unary, *Round and
// *Clip; a tree is immutable once parsed and may be evaluated concurrently.
type Node interface {
	// String prints the node in the string form, which parses back to an
	// equal node.
	String() string
	node()
}

// Ref is a reference to a metric and one of its aggregation methods. Metric
// is a metric id, or a metric name in the resource-search form of the
// aggregates API, where the caller expands it to one input per resource.
type Ref struct {
	Metric      string
	Aggregation string
}

// Metric selects the input series whose reference is one of Refs, in the
// order of the inputs.
type Metric struct {
	Refs []Ref
}

// Number is a constant operand.
type Number struct {
	Value float64
}

// Method is a reducing method: mean, median, std, var, min, max, sum,
// count, first, last (resample only) or a percentile "NNpct" (Q in 1..99).
type Method struct {
	Name string
	Q    float64
}

// Aggregate reduces the series of its operand into one, timestamp by
// timestamp, ignoring NaN as numpy's nan-functions do.
type Aggregate struct {
	Method  Method
	Operand Node
}

// Resample regroups each series of its operand into buckets of
// Granularity (ns) with Method, as Gnocchi's carbonara does.
type Resample struct {
	Method      Method
	Granularity int64
	Operand     Node
}

// Rolling reduces each series of its operand over a sliding window of
// Window points; the first Window-1 points have no value and are dropped.
type Rolling struct {
	Method  Method
	Window  int
	Operand Node
}

// Binary applies Op element-wise. Op is the canonical name: add, sub, mul,
// div, mod, pow, eq, ne, lt, le, gt, ge, clip_min or clip_max.
type Binary struct {
	Op          string
	Left, Right Node
}

// Unary applies Op element-wise, or for rateofchange along time. Op is the
// canonical name: abs, neg, cos, sin, tan, floor, ceil or rateofchange.
type Unary struct {
	Op      string
	Operand Node
}

// Round rounds half to even at Decimals decimal places, as numpy.around.
type Round struct {
	Operand  Node
	Decimals int
}

// Clip bounds its operand to [Min, Max], as numpy.clip.
type Clip struct {
	Operand, Min, Max Node
}

func (*Metric) node()    {}
func (*Number) node()    {}
func (*Aggregate) node() {}
func (*Resample) node()  {}
func (*Rolling) node()   {}
func (*Binary) node()    {}
func (*Unary) node()     {}
func (*Round) node()     {}
func (*Clip) node()      {}

// References returns the distinct metric references of n, in the order of
// their first appearance. The caller fetches one input per reference (or,
// in the resource-search form, one per reference and resource).
func References(n Node) []Ref {
	var refs []Ref
	seen := map[Ref]bool{}
	walk(n, func(m *Metric) {
		for _, r := range m.Refs {
			if !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
	})
	return refs
}

func walk(n Node, f func(*Metric)) {
	switch n := n.(type) {
	case *Metric:
		f(n)
	case *Aggregate:
		walk(n.Operand, f)
	case *Resample:
		walk(n.Operand, f)
	case *Rolling:
		walk(n.Operand, f)
	case *Binary:
		walk(n.Left, f)
		walk(n.Right, f)
	case *Unary:
		walk(n.Operand, f)
	case *Round:
		walk(n.Operand, f)
	case *Clip:
		walk(n.Operand, f)
		walk(n.Min, f)
		walk(n.Max, f)
	}
}

// quote leaves a token bare when it reads back as itself.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, "()\" \t\r\n\f\v") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// String returns the method as written in the operations.
func (m Method) String() string { return m.Name }

func (n *Metric) String() string {
	if len(n.Refs) == 1 {
		return "(metric " + quote(n.Refs[0].Metric) + " " + quote(n.Refs[0].Aggregation) + ")"
	}
	var b strings.Builder
	b.WriteString("(metric")
	for _, r := range n.Refs {
		b.WriteString(" (" + quote(r.Metric) + " " + quote(r.Aggregation) + ")")
	}
	b.WriteString(")")
	return b.String()
}

func (n *Number) String() string { return formatNumber(n.Value) }

func (n *Aggregate) String() string {
	return "(aggregate " + n.Method.Name + " " + n.Operand.String() + ")"
}

func (n *Resample) String() string {
	return "(resample " + n.Method.Name + " " + formatNumber(float64(n.Granularity)/1e9) + " " + n.Operand.String() + ")"
}

func (n *Rolling) String() string {
	return "(rolling " + n.Method.Name + " " + strconv.Itoa(n.Window) + " " + n.Operand.String() + ")"
}

func (n *Binary) String() string {
	return "(" + n.Op + " " + n.Left.String() + " " + n.Right.String() + ")"
}

func (n *Unary) String() string { return "(" + n.Op + " " + n.Operand.String() + ")" }

func (n *Round) String() string {
	return "(round " + n.Operand.String() + " " + strconv.Itoa(n.Decimals) + ")"
}

func (n *Clip) String() string {
	return "(clip " + n.Operand.String() + " " + n.Min.String() + " " + n.Max.String() + ")"
}
