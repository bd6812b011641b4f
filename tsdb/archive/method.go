// Package archive is Gnocchi's archive policy model: aggregation methods,
// definitions of granularity and retention, policies with a back window, the
// built-in policies and the rules that map metric names to policies.
package archive

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is an aggregation function.
type Kind uint8

// The aggregation functions Gnocchi offers. Percentile carries its rank in
// Method.Percentile.
const (
	Mean Kind = iota + 1
	Min
	Max
	Sum
	Count
	Last
	First
	Std
	Median
	Percentile
)

var kindNames = [...]string{
	Mean: "mean", Min: "min", Max: "max", Sum: "sum", Count: "count",
	Last: "last", First: "first", Std: "std", Median: "median",
}

// Method is an aggregation method: a function, optionally applied to the
// differences between consecutive points (Gnocchi's "rate:" variants).
type Method struct {
	Kind Kind
	// Percentile is the rank for Kind Percentile, in (0, 100).
	Percentile float64
	// Rate applies the function to the differences of consecutive raw
	// points instead of the points themselves.
	Rate bool
}

// String returns Gnocchi's spelling of m: "mean", "p95", "rate:max".
func (m Method) String() string {
	var s string
	if m.Kind == Percentile {
		s = "p" + strconv.FormatFloat(m.Percentile, 'f', -1, 64)
	} else if int(m.Kind) < len(kindNames) {
		s = kindNames[m.Kind]
	} else {
		s = fmt.Sprintf("Kind(%d)", m.Kind)
	}
	if m.Rate {
		return "rate:" + s
	}
	return s
}

// ParseMethod parses one aggregation method name as Gnocchi spells it.
func ParseMethod(s string) (Method, error) {
	var m Method
	name := s
	if rest, ok := strings.CutPrefix(name, "rate:"); ok {
		m.Rate = true
		name = rest
	}
	for k, n := range kindNames {
		if n != "" && n == name {
			m.Kind = Kind(k)
			return m, nil
		}
	}
	if len(name) > 1 && name[0] == 'p' {
		p, err := strconv.ParseFloat(name[1:], 64)
		if err == nil && p > 0 && p < 100 && !strings.ContainsAny(name[1:], "eE+-") {
			m.Kind = Percentile
			m.Percentile = p
			return m, nil
		}
	}
	return Method{}, fmt.Errorf("unknown aggregation method %q", s)
}

// BasicMethods are the non-percentile methods; "*" expands to these and
// their rate variants.
var basicKinds = []Kind{Mean, Min, Max, Sum, Count, Last, First, Std, Median}

// AllMethods returns what "*" means in a policy: every basic method and
// its rate variant, without percentiles (which are unbounded in number).
func AllMethods() []Method {
	out := make([]Method, 0, 2*len(basicKinds))
	for _, r := range []bool{false, true} {
		for _, k := range basicKinds {
			out = append(out, Method{Kind: k, Rate: r})
		}
	}
	return out
}

// ExpandMethods resolves a policy's aggregation_methods list as Gnocchi
// does: plain names and "+name" add, "-name" removes, "*" adds every basic
// method. When every entry is a "+" or "-" modifier, they apply to defaults.
// The result is in a stable order with no duplicates.
func ExpandMethods(list []string, defaults []Method) ([]Method, error) {
	onlyModifiers := len(list) > 0
	for _, e := range list {
		if !strings.HasPrefix(e, "+") && !strings.HasPrefix(e, "-") {
			onlyModifiers = false
		}
	}
	var set []Method
	add := func(m Method) {
		for _, x := range set {
			if x == m {
				return
			}
		}
		set = append(set, m)
	}
	if onlyModifiers || len(list) == 0 {
		for _, m := range defaults {
			add(m)
		}
	}
	for _, e := range list {
		switch {
		case e == "*" || e == "+*":
			for _, m := range AllMethods() {
				add(m)
			}
		case e == "-*":
			set = set[:0]
		case strings.HasPrefix(e, "-"):
			m, err := ParseMethod(e[1:])
			if err != nil {
				return nil, err
			}
			out := set[:0]
			for _, x := range set {
				if x != m {
					out = append(out, x)
				}
			}
			set = out
		default:
			m, err := ParseMethod(strings.TrimPrefix(e, "+"))
			if err != nil {
				return nil, err
			}
			add(m)
		}
	}
	return set, nil
}

// MethodNames returns Gnocchi's spelling of each method.
func MethodNames(ms []Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}
