package alarms

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// ExpressionRule is vigil's own rule: named series and a boolean expr-lang
// expression over their statistics, e.g.
// "cpu.mean > 80 && mem.last / mem_total.last > 0.9". Each name is bound to
// a Stats of the last evaluation_periods points of its series.
type ExpressionRule struct {
	Expression string
	// Queries by name; Names lists the names sorted.
	Queries map[string]*Series
	Names   []string
	program *vm.Program
}

// Stats is what an expression sees of one named series: statistics of the
// points the evaluation fetched (at most evaluation_periods, oldest first).
type Stats struct {
	Last   float64   `expr:"last"`
	First  float64   `expr:"first"`
	Min    float64   `expr:"min"`
	Max    float64   `expr:"max"`
	Mean   float64   `expr:"mean"`
	Sum    float64   `expr:"sum"`
	Count  int       `expr:"count"`
	Values []float64 `expr:"values"`
}

// StatsOf computes the statistics of values; it keeps values without
// copying.
func StatsOf(values []float64) Stats {
	s := Stats{Count: len(values), Values: values}
	if len(values) == 0 {
		return s
	}
	s.First, s.Last = values[0], values[len(values)-1]
	s.Min, s.Max = math.Inf(1), math.Inf(-1)
	for _, v := range values {
		s.Sum += v
		s.Min = min(s.Min, v)
		s.Max = max(s.Max, v)
	}
	s.Mean = s.Sum / float64(len(values))
	return s
}

// Kind implements Rule.
func (r *ExpressionRule) Kind() string { return TypeExpression }

// Step implements Rule: the finest granularity among the queries.
func (r *ExpressionRule) Step() time.Duration {
	var step time.Duration
	for _, q := range r.Queries {
		if s := time.Duration(q.Granularity) * time.Second; step == 0 || s < step {
			step = s
		}
	}
	return step
}

// MarshalJSON renders the rule as stored.
func (r *ExpressionRule) MarshalJSON() ([]byte, error) {
	qs := make(map[string]any, len(r.Queries))
	for name, q := range r.Queries {
		f := q.fields()
		f["type"] = q.Type
		qs[name] = f
	}
	return json.Marshal(map[string]any{"expression": r.Expression, "queries": qs})
}

// Program is the compiled expression; run it with an env from Env.
func (r *ExpressionRule) Program() *vm.Program { return r.program }

// Env is the environment type the expression is compiled against and run
// with: each name maps to a Stats.
type Env = map[string]any

// Limits of an expression rule.
const (
	MaxExpressionLen = 4096
	maxQueries       = 32
	maxExprNodes     = 1000
)

var queryNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// reservedNames are expr-lang words a query may not be named after.
var reservedNames = []string{"true", "false", "nil", "not", "and", "or", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else", "env", "$env"}

func parseExpression(raw json.RawMessage, opts *ParseOptions) (*ExpressionRule, error) {
	o, err := DecodeObject(raw, "expression_rule")
	if err != nil {
		return nil, err
	}
	r := &ExpressionRule{Queries: map[string]*Series{}}
	if r.Expression, err = o.String("expression", "", true); err != nil {
		return nil, err
	}
	qraw, ok := o.Raw("queries")
	if !ok {
		return nil, missing("queries")
	}
	if err := o.Unknown(); err != nil {
		return nil, err
	}
	var qs map[string]json.RawMessage
	if err := json.Unmarshal(qraw, &qs); err != nil || qs == nil {
		return nil, invalidInput("queries", qraw, "Expected an object of named queries")
	}
	if len(qs) == 0 || len(qs) > maxQueries {
		return nil, invalidInput("queries", len(qs), fmt.Sprintf("Between 1 and %d queries", maxQueries))
	}
	for name, q := range qs {
		if !queryNameRe.MatchString(name) || slices.Contains(reservedNames, name) {
			return nil, invalidf("Query name %q is not valid: want a letter or '_' then letters, digits or '_' (at most 64), not an expression keyword", name)
		}
		qo, err := DecodeObject(q, "expression_rule.queries."+name)
		if err != nil {
			return nil, err
		}
		kind, err := qo.String("type", "", false)
		if err != nil {
			return nil, err
		}
		if kind == "" {
			switch {
			case qo.Has("metrics"):
				kind = TypeAggregationByMetrics
			case qo.Has("query"):
				kind = TypeAggregationByResources
			default:
				kind = TypeResourcesThreshold
			}
		}
		if !slices.Contains(compositeLeafTypes, kind) {
			return nil, invalidf("Unsupported query type %s for query %s, should be one of: %s", kind, name, pyList(compositeLeafTypes))
		}
		s, err := parseSeries(kind, qo, true)
		if err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) {
				return nil, invalidf("Query %s: %s", name, ie.Msg)
			}
			return nil, err
		}
		if err := qo.Unknown(); err != nil {
			return nil, err
		}
		if !opts.methodOK(s.AggregationMethod) {
			return nil, invalidf("Query %s: aggregation_method should be in %s not %s", name, pyList(opts.methods()), s.AggregationMethod)
		}
		r.Queries[name] = &s
		r.Names = append(r.Names, name)
	}
	slices.Sort(r.Names)
	if r.program, err = CompileExpression(r.Expression, r.Names); err != nil {
		return nil, err
	}
	return r, nil
}

// CompileExpression compiles a boolean expression over the named series.
// A rejected expression gets an *InvalidError naming the line and column
// of the mistake.
func CompileExpression(src string, names []string) (*vm.Program, error) {
	if len(src) > MaxExpressionLen {
		return nil, invalidf("Expression is %d bytes long: at most %d", len(src), MaxExpressionLen)
	}
	env := make(Env, len(names))
	for _, n := range names {
		env[n] = Stats{}
	}
	p, err := expr.Compile(src, expr.Env(env), expr.AsBool(), expr.MaxNodes(maxExprNodes))
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, invalidf("Invalid expression at line %d, column %d: %s", fe.Line, fe.Column+1, fe.Message)
		}
		return nil, invalidf("Invalid expression: %v", err)
	}
	return p, nil
}
