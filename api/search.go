package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ops"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// POST /v1/search/metric is Gnocchi's search of measures by value: the
// points of the metrics named by metric_id (repeatable) whose value a
// predicate such as {"and": [{">=": 10}, {"<": 20}]} accepts, with
// arithmetic ({"=": [{"%": 2}, 0]}). Without metric_id, vigil reads the
// body (or filter=) as a filter over the metrics' fields instead and lists
// the metrics it selects, as GET /v1/metric does with more than equality.

// predicate is a compiled measure-value predicate; it returns a number
// (arithmetic) or a truth (1 or 0).
type predicate func(v float64) float64

var binaryOps = map[string]func(a, b float64) float64{
	"=": eqF, "==": eqF, "eq": eqF,
	"<": ltF, "lt": ltF,
	">": func(a, b float64) float64 { return ltF(b, a) }, "gt": func(a, b float64) float64 { return ltF(b, a) },
	"<=": leF, "≤": leF, "le": leF,
	">=": func(a, b float64) float64 { return leF(b, a) }, "≥": func(a, b float64) float64 { return leF(b, a) }, "ge": func(a, b float64) float64 { return leF(b, a) },
	"!=": neF, "≠": neF, "ne": neF,
	"%": math.Mod, "mod": math.Mod,
	"+": add, "add": add,
	"-": sub, "sub": sub,
	"*": mul, "×": mul, "mul": mul,
	"/": div, "÷": div, "div": div,
	"**": math.Pow, "^": math.Pow, "pow": math.Pow,
}

func truth(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func eqF(a, b float64) float64 { return truth(a == b) }
func neF(a, b float64) float64 { return truth(a != b) }
func ltF(a, b float64) float64 { return truth(a < b) }
func leF(a, b float64) float64 { return truth(a <= b) }
func add(a, b float64) float64 { return a + b }
func sub(a, b float64) float64 { return a - b }
func mul(a, b float64) float64 { return a * b }
func div(a, b float64) float64 { return a / b }

// compilePredicate validates and compiles a predicate, bounding its depth.
func compilePredicate(v any, depth int) (predicate, error) {
	if depth > 32 {
		return nil, invalidInput("query too deep")
	}
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		if err != nil {
			return nil, invalidInput("expected a number")
		}
		return func(float64) float64 { return f }, nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, invalidInput("length of value must be exactly 1 and be a dictionary")
	}
	for op, arg := range m {
		switch op {
		case "and", "or", "∧", "∨", "not":
			list, ok := arg.([]any)
			if !ok {
				return nil, invalidInput("expected a list for dictionary value", op)
			}
			subs := make([]predicate, len(list))
			for i, x := range list {
				p, err := compilePredicate(x, depth+1)
				if err != nil {
					return nil, err
				}
				subs[i] = p
			}
			switch op {
			case "and", "∧":
				return func(v float64) float64 {
					for _, p := range subs {
						if p(v) == 0 {
							return 0
						}
					}
					return 1
				}, nil
			case "not":
				// Gnocchi lists "not" among the multiple operators without a
				// function for it; vigil negates the conjunction.
				return func(v float64) float64 {
					for _, p := range subs {
						if p(v) == 0 {
							return 1
						}
					}
					return 0
				}, nil
			}
			return func(v float64) float64 {
				for _, p := range subs {
					if p(v) != 0 {
						return 1
					}
				}
				return 0
			}, nil
		}
		f, ok := binaryOps[op]
		if !ok {
			return nil, errorf(http.StatusBadRequest, "Unknown operator %s", op)
		}
		if list, isList := arg.([]any); isList {
			if len(list) != 2 {
				return nil, errorf(http.StatusBadRequest, "Binary operator %s needs 2 arguments, %d given", op, len(list))
			}
			a, err := compilePredicate(list[0], depth+1)
			if err != nil {
				return nil, err
			}
			b, err := compilePredicate(list[1], depth+1)
			if err != nil {
				return nil, err
			}
			return func(v float64) float64 { return f(a(v), b(v)) }, nil
		}
		n, isNum := arg.(json.Number)
		x, err := n.Float64()
		if !isNum || err != nil {
			return nil, invalidInput("expected a number or a list for dictionary value", op)
		}
		return func(v float64) float64 { return f(v, x) }, nil
	}
	return nil, invalidInput("empty query")
}

func (s *Server) searchMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	rawIDs := q["metric_id"]
	if len(rawIDs) == 0 {
		s.searchMetricFields(w, r)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeError(w, errorf(http.StatusBadRequest, "No query specified in body"))
		return
	}
	if err := checkContentType(r, "application/json"); err != nil {
		writeError(w, err)
		return
	}
	v, err := parseJSONValue(body)
	if err != nil {
		writeError(w, err)
		return
	}
	pred, err := compilePredicate(v, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	a, err := s.aggArgs(r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	agg := q.Get("aggregation")
	if agg == "" {
		agg = "mean"
	}
	var ids []any
	for _, x := range rawIDs {
		if id, err := uuid.Parse(x); err == nil {
			ids = append(ids, id.String())
		}
	}
	var ms []index.Metric
	if len(ids) > 0 {
		if ms, err = s.d.Index.ListMetrics(ctx, index.ListMetricOptions{Filter: search.In{Attr: "id", Values: ids}}); err != nil {
			writeError(w, err)
			return
		}
	}
	if err := s.checkReadMetrics(ctx, ms); err != nil {
		writeError(w, err)
		return
	}
	ps := policies{s: s}
	buf := []byte{'{'}
	for i := range ms {
		m := &ms[i]
		p, err := ps.get(ctx, m.ArchivePolicyName)
		if err != nil {
			writeError(w, err)
			return
		}
		series, err := s.fetch(ctx, m, p, agg, a)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Code == http.StatusNotFound {
				err = errorf(http.StatusBadRequest, "Aggregation method '%s' for metric %s does not exist", agg, m.ID)
			}
			writeError(w, err)
			return
		}
		var pts []ops.Point
		for _, ser := range series {
			for j, t := range ser.Timestamps {
				if pred(ser.Values[j]) != 0 {
					pts = append(pts, ops.Point{Timestamp: t, Granularity: ser.Granularity, Value: ser.Values[j]})
				}
			}
		}
		if i > 0 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, fmt.Sprintf("%q: ", m.ID.String())...)
		buf = appendPoints(buf, pts)
	}
	writeRaw(w, http.StatusOK, append(buf, '}'))
}

// searchMetricFields lists the metrics a filter over their fields selects.
func (s *Server) searchMetricFields(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	filter, _, err := readFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.parsePage(r, metricDefaultSort, false)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeMetrics(w, r, index.ListMetricOptions{
		ProjectScope: projectScope(ctx), Limit: p.limit, Marker: p.marker, Sort: p.keys,
		Filter: filter, Creator: identityFrom(ctx).Creator(),
	}, p)
}
