package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Limits on what a client may send; each keeps parsing and evaluation of
// one request bounded in time and memory.
const (
	// MaxSize is the longest operations text, string or JSON, in bytes.
	MaxSize = 1 << 20
	// MaxDepth is the deepest nesting of lists.
	MaxDepth = 32
	// MaxNodes is the most operations and operands in one tree.
	MaxNodes = 4096
	// MaxReferences is the most distinct metric references in one tree.
	MaxReferences = 1000
	// MaxRollingWindow is the widest rolling window, in points.
	MaxRollingWindow = 100000
)

// Canonical names of the operators, by every spelling Gnocchi accepts.
var binaryOps = map[string]string{
	"=": "eq", "==": "eq", "eq": "eq",
	"<": "lt", "lt": "lt",
	">": "gt", "gt": "gt",
	"<=": "le", "≤": "le", "le": "le",
	">=": "ge", "≥": "ge", "ge": "ge",
	"!=": "ne", "≠": "ne", "ne": "ne",
	"%": "mod", "mod": "mod",
	"+": "add", "add": "add",
	"-": "sub", "sub": "sub",
	"*": "mul", "×": "mul", "mul": "mul",
	"/": "div", "÷": "div", "div": "div",
	"**": "pow", "^": "pow", "pow": "pow",
	"clip_min": "clip_min", "clip_max": "clip_max",
}

var unaryOps = map[string]string{
	"abs": "abs", "absolute": "abs",
	"neg": "neg", "negative": "neg",
	"cos": "cos", "sin": "sin", "tan": "tan",
	"floor": "floor", "ceil": "ceil",
	"rateofchange": "rateofchange",
}

// crossMethods are those of numpy's nan-functions that Gnocchi's aggregate
// and rolling accept.
var crossMethods = map[string]bool{
	"mean": true, "median": true, "std": true, "var": true,
	"min": true, "max": true, "sum": true, "count": true,
}

var pctRE = regexp.MustCompile(`^(?:([1-9][0-9]?)pct|p([1-9][0-9]?))$`)

func parseMethod(op string, v any, resample bool) (Method, error) {
	s, ok := v.(string)
	if !ok {
		return Method{}, invalidInput("'%s' aggregation method must be a string, got %s", op, describe(v))
	}
	if crossMethods[s] || (resample && (s == "first" || s == "last")) {
		return Method{Name: s}, nil
	}
	if m := pctRE.FindStringSubmatch(s); m != nil {
		q := m[1] + m[2]
		f, _ := strconv.ParseFloat(q, 64)
		return Method{Name: q + "pct", Q: f}, nil
	}
	return Method{}, invalidInput("'%s' is not a valid aggregation method for '%s'", s, op)
}

// ParseString parses the string form of operations, for example
// "(aggregate mean (metric (ID1 mean) (ID2 mean)))". Tokens are separated
// by blanks and parentheses; a token in double quotes may hold either.
func ParseString(s string) (Node, error) {
	v, err := readSexpr(s)
	if err != nil {
		return nil, err
	}
	return ParseValue(v)
}

// ParseJSON parses the JSON form of operations: an array such as
// ["aggregate", "mean", ["metric", ["ID1", "mean"], ["ID2", "mean"]]], or
// a JSON string holding the string form.
func ParseJSON(data []byte) (Node, error) {
	if len(data) > MaxSize {
		return nil, invalidInput("operations are longer than %d bytes", MaxSize)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, &Error{Cause: CauseInvalidOperations, Reason: "Fail to parse the operations JSON", Detail: err.Error()}
	}
	return ParseValue(v)
}

// ParseValue parses operations already decoded from JSON: a []any tree of
// strings, float64 and []any, or a string in the string form. It returns a
// *Error for any invalid input.
func ParseValue(v any) (Node, error) {
	if s, ok := v.(string); ok {
		return ParseString(s)
	}
	if _, ok := v.([]any); !ok {
		return nil, invalidInput("operations must be a list, got %s", describe(v))
	}
	p := converter{}
	n, err := p.node(v, 1)
	if err != nil {
		return nil, err
	}
	refs := References(n)
	if len(refs) == 0 {
		return nil, &Error{Cause: CauseNoMetric, Reason: "at least one 'metric' is required", Detail: v}
	}
	if len(refs) > MaxReferences {
		return nil, invalidInput("operations reference more than %d metrics", MaxReferences)
	}
	return n, nil
}

type converter struct {
	nodes int
}

// node converts an operation (a list).
func (c *converter) node(v any, depth int) (Node, error) {
	if depth > MaxDepth {
		return nil, invalidInput("operations are nested deeper than %d levels", MaxDepth)
	}
	c.nodes++
	if c.nodes > MaxNodes {
		return nil, invalidInput("operations have more than %d nodes", MaxNodes)
	}
	l := v.([]any)
	if len(l) == 0 {
		return nil, invalidInput("Operation must not be empty")
	}
	op, ok := l[0].(string)
	if !ok {
		return nil, invalidInput("'%s' operation invalid", describe(l[0]))
	}
	if len(l) < 2 {
		return nil, invalidInput("Operation need at least one argument")
	}
	args := l[1:]
	want := func(n int) error {
		if len(args) != n {
			return invalidInput("'%s' operation takes %d arguments, got %d", op, n, len(args))
		}
		return nil
	}
	switch {
	case op == "metric":
		return c.metric(args, depth)
	case op == "aggregate":
		if err := want(2); err != nil {
			return nil, err
		}
		m, err := parseMethod(op, args[0], false)
		if err != nil {
			return nil, err
		}
		x, err := c.operand(args[1], depth)
		if err != nil {
			return nil, err
		}
		return &Aggregate{Method: m, Operand: x}, nil
	case op == "resample":
		if err := want(3); err != nil {
			return nil, err
		}
		m, err := parseMethod(op, args[0], true)
		if err != nil {
			return nil, err
		}
		g, err := parseTimespan(args[1])
		if err != nil {
			return nil, err
		}
		x, err := c.operand(args[2], depth)
		if err != nil {
			return nil, err
		}
		return &Resample{Method: m, Granularity: g, Operand: x}, nil
	case op == "rolling":
		if err := want(3); err != nil {
			return nil, err
		}
		m, err := parseMethod(op, args[0], false)
		if err != nil {
			return nil, err
		}
		w, err := parseWindow(args[1])
		if err != nil {
			return nil, err
		}
		x, err := c.operand(args[2], depth)
		if err != nil {
			return nil, err
		}
		return &Rolling{Method: m, Window: w, Operand: x}, nil
	case op == "round":
		if len(args) != 1 && len(args) != 2 {
			return nil, invalidInput("'round' operation takes 1 or 2 arguments, got %d", len(args))
		}
		x, err := c.operand(args[0], depth)
		if err != nil {
			return nil, err
		}
		d := 0
		if len(args) == 2 {
			if d, err = parseDecimals(args[1]); err != nil {
				return nil, err
			}
		}
		return &Round{Operand: x, Decimals: d}, nil
	case op == "clip":
		if err := want(3); err != nil {
			return nil, err
		}
		ns, err := c.operands(args, depth)
		if err != nil {
			return nil, err
		}
		return &Clip{Operand: ns[0], Min: ns[1], Max: ns[2]}, nil
	case op == "-" && len(args) == 1:
		x, err := c.operand(args[0], depth)
		if err != nil {
			return nil, err
		}
		return &Unary{Op: "neg", Operand: x}, nil
	case binaryOps[op] != "":
		if err := want(2); err != nil {
			return nil, err
		}
		ns, err := c.operands(args, depth)
		if err != nil {
			return nil, err
		}
		return &Binary{Op: binaryOps[op], Left: ns[0], Right: ns[1]}, nil
	case unaryOps[op] != "":
		if err := want(1); err != nil {
			return nil, err
		}
		x, err := c.operand(args[0], depth)
		if err != nil {
			return nil, err
		}
		return &Unary{Op: unaryOps[op], Operand: x}, nil
	}
	return nil, invalidInput("'%s' operation invalid", op)
}

func (c *converter) operands(args []any, depth int) ([]Node, error) {
	ns := make([]Node, len(args))
	for i, a := range args {
		n, err := c.operand(a, depth)
		if err != nil {
			return nil, err
		}
		ns[i] = n
	}
	return ns, nil
}

// operand converts an argument that is an operation or a number; like
// Gnocchi's Coerce(float), a string that reads as a number is one.
func (c *converter) operand(v any, depth int) (Node, error) {
	switch v := v.(type) {
	case []any:
		return c.node(v, depth+1)
	case float64:
		c.nodes++
		return &Number{Value: v}, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, invalidInput("'%s' is neither an operation nor a number", v)
		}
		c.nodes++
		return &Number{Value: f}, nil
	}
	return nil, invalidInput("%s is neither an operation nor a number", describe(v))
}

// metric accepts (metric ID AGG), (metric (ID AGG) (ID AGG)...) and
// (metric ((ID AGG) (ID AGG)...)).
func (c *converter) metric(args []any, depth int) (Node, error) {
	if _, ok := args[0].(string); ok {
		if len(args) != 2 {
			return nil, invalidInput("'metric' operation takes a metric and an aggregation, got %d arguments", len(args))
		}
		r, err := parseRef(args, depth)
		if err != nil {
			return nil, err
		}
		return &Metric{Refs: []Ref{r}}, nil
	}
	if len(args) == 1 {
		if l, ok := args[0].([]any); ok && len(l) > 0 {
			if _, ok := l[0].([]any); ok {
				depth++
				args = l
			}
		}
	}
	m := &Metric{Refs: make([]Ref, 0, len(args))}
	for _, a := range args {
		l, ok := a.([]any)
		if !ok {
			return nil, invalidInput("'metric' references must be [metric, aggregation] pairs, got %s", describe(a))
		}
		r, err := parseRef(l, depth+1)
		if err != nil {
			return nil, err
		}
		m.Refs = append(m.Refs, r)
	}
	if len(m.Refs) > MaxReferences {
		return nil, invalidInput("operations reference more than %d metrics", MaxReferences)
	}
	return m, nil
}

func parseRef(l []any, depth int) (Ref, error) {
	if depth > MaxDepth {
		return Ref{}, invalidInput("operations are nested deeper than %d levels", MaxDepth)
	}
	if len(l) != 2 {
		return Ref{}, invalidInput("'metric' references must be [metric, aggregation] pairs, got %d items", len(l))
	}
	id, ok1 := l[0].(string)
	agg, ok2 := l[1].(string)
	if !ok1 || !ok2 || id == "" || agg == "" {
		return Ref{}, invalidInput("'metric' references must be pairs of non-empty strings, got [%s, %s]", describe(l[0]), describe(l[1]))
	}
	return Ref{Metric: id, Aggregation: agg}, nil
}

// parseWindow follows Gnocchi's Coerce(int) then Range(min=1): a JSON
// number is truncated, a string must be an integer.
func parseWindow(v any) (int, error) {
	var w float64
	switch v := v.(type) {
	case float64:
		w = math.Trunc(v)
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, invalidInput("rolling window must be an integer, got '%s'", v)
		}
		w = float64(i)
	default:
		return 0, invalidInput("rolling window must be an integer, got %s", describe(v))
	}
	if !(w >= 1) {
		return 0, invalidInput("rolling window must be at least 1, got %s", describe(v))
	}
	if w > MaxRollingWindow {
		return 0, invalidInput("rolling window must be at most %d, got %s", MaxRollingWindow, describe(v))
	}
	return int(w), nil
}

func parseDecimals(v any) (int, error) {
	var d float64
	switch v := v.(type) {
	case float64:
		d = v
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, invalidInput("round decimals must be an integer, got '%s'", v)
		}
		d = f
	default:
		return 0, invalidInput("round decimals must be an integer, got %s", describe(v))
	}
	if d != math.Trunc(d) || math.Abs(d) > 400 {
		return 0, invalidInput("round decimals must be an integer between -400 and 400, got %s", describe(v))
	}
	return int(d), nil
}

var timespanUnits = map[string]float64{
	"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
	"w": 604800, "wk": 604800, "week": 604800, "weeks": 604800,
}

var timespanRE = regexp.MustCompile(`^\s*(?:([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zµ]+)\s*)+$`)
var timespanPartRE = regexp.MustCompile(`([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zµ]+)`)

// parseTimespan reads a resample granularity as Gnocchi's to_timespan: a
// number of seconds, or a duration such as "1d", "90s", "1h30m", "5 minutes".
func parseTimespan(v any) (int64, error) {
	var secs float64
	switch v := v.(type) {
	case float64:
		secs = v
	case string:
		s := strings.ToLower(strings.TrimSpace(v))
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			secs = f
			break
		}
		if len(s) > 64 || !timespanRE.MatchString(s) {
			return 0, invalidInput("Unable to parse timespan '%s'", v)
		}
		for _, m := range timespanPartRE.FindAllStringSubmatch(s, -1) {
			unit, ok := timespanUnits[m[2]]
			if !ok {
				return 0, invalidInput("Unable to parse timespan '%s'", v)
			}
			f, _ := strconv.ParseFloat(m[1], 64)
			secs += f * unit
		}
	default:
		return 0, invalidInput("Unable to parse timespan %s", describe(v))
	}
	if math.IsNaN(secs) || secs*1e9 >= math.MaxInt64 {
		return 0, invalidInput("Timespan %s is out of range", describe(v))
	}
	ns := int64(secs * 1e9)
	if ns <= 0 {
		return 0, invalidInput("Timespan must be positive")
	}
	return ns, nil
}

// describe prints a decoded JSON value for an error message, bounded.
func describe(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "null"
	case string:
		s = strconv.Quote(v)
	case float64:
		s = formatNumber(v)
	case bool:
		s = strconv.FormatBool(v)
	case []any:
		s = fmt.Sprintf("a list of %d items", len(v))
	default:
		s = fmt.Sprintf("a %T", v)
	}
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return s
}

// readSexpr reads the string form into the same tree as the JSON form,
// with every atom a string, as pyparsing's nestedExpr does.
func readSexpr(s string) (any, error) {
	if len(s) > MaxSize {
		return nil, invalidInput("operations are longer than %d bytes", MaxSize)
	}
	r := sexprReader{s: s}
	r.skipSpace()
	if r.pos >= len(s) || s[r.pos] != '(' {
		return nil, r.errorf(`Expected "("`)
	}
	v, err := r.list(1)
	if err != nil {
		return nil, err
	}
	r.skipSpace()
	if r.pos < len(s) {
		return nil, r.errorf("Expected end of text")
	}
	return v, nil
}

type sexprReader struct {
	s   string
	pos int
}

func (r *sexprReader) errorf(msg string) *Error {
	line := 1 + strings.Count(r.s[:r.pos], "\n")
	col := r.pos - strings.LastIndexByte(r.s[:r.pos], '\n')
	return &Error{
		Cause:  CauseInvalidOperations,
		Reason: "Fail to parse the operations string",
		Detail: fmt.Sprintf("%s (at char %d), (line:%d, col:%d)", msg, r.pos, line, col),
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (r *sexprReader) skipSpace() {
	for r.pos < len(r.s) && isSpace(r.s[r.pos]) {
		r.pos++
	}
}

// list reads from an opening parenthesis to its closing one.
func (r *sexprReader) list(depth int) ([]any, error) {
	if depth > MaxDepth {
		return nil, &Error{Cause: CauseInvalidOperations, Reason: fmt.Sprintf("operations are nested deeper than %d levels", MaxDepth)}
	}
	r.pos++ // '('
	l := []any{}
	for {
		r.skipSpace()
		if r.pos >= len(r.s) {
			return nil, r.errorf(`Expected ")"`)
		}
		switch c := r.s[r.pos]; c {
		case ')':
			r.pos++
			return l, nil
		case '(':
			sub, err := r.list(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, sub)
		case '"':
			tok, err := r.quoted()
			if err != nil {
				return nil, err
			}
			l = append(l, tok)
		default:
			start := r.pos
			for r.pos < len(r.s) {
				c := r.s[r.pos]
				if isSpace(c) || c == '(' || c == ')' || c == '"' {
					break
				}
				r.pos++
			}
			l = append(l, r.s[start:r.pos])
		}
	}
}

func (r *sexprReader) quoted() (string, error) {
	start := r.pos
	r.pos++
	var b strings.Builder
	for r.pos < len(r.s) {
		c := r.s[r.pos]
		switch {
		case c == '"':
			r.pos++
			return b.String(), nil
		case c == '\\' && r.pos+1 < len(r.s):
			b.WriteByte(r.s[r.pos+1])
			r.pos += 2
		default:
			b.WriteByte(c)
			r.pos++
		}
	}
	r.pos = start
	return "", r.errorf(`Expected closing '"'`)
}
