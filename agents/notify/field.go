package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Field expressions are the JSONPath dialect of Ceilometer's definition
// files (jsonpath-rw with jsonpath-rw-ext's extensions), evaluated over a
// notification decoded from JSON. Supported, with jsonpath-rw's
// precedence (`|` binds tighter than `.`, so `a.b|c` is `a.(b|c)`):
//
//	$  @          the message, the current value
//	a.b  a..b     child, descendant at any depth
//	*  'a b'      every field of an object (sorted by key), a quoted field
//	[0] [-1] [*] [1:3]   index, every element, slice
//	[?f] [?f=v] [?(@.f='v')] [?f>1 & g!='x']   filter a list (=, ==, !=, <, <=, >, >=, =~)
//	a|b  a,b      union: a's matches then b's
//	+ - * /       arithmetic and concatenation; a quoted string or number
//	              operand is a literal: $.a + "_" + $.b
//	`this` `len` `str()` `sorted` `sub(/re/, repl)` `split(c, segment, max_split)`
//
// A FieldExpr is compiled once and is safe for concurrent use.
type FieldExpr struct {
	src  string
	root fnode
	// path is set when the expression is a plain chain of field names
	// from the root, which Eval walks without the general machinery.
	path []string
}

// Limits on a field expression.
const (
	maxFieldExprLen   = 4096
	maxFieldExprDepth = 64
)

// ParseField compiles a field expression.
func ParseField(src string) (*FieldExpr, error) {
	if len(src) > maxFieldExprLen {
		return nil, fmt.Errorf("field expression is %d bytes, the limit is %d", len(src), maxFieldExprLen)
	}
	p := &fparser{lex: flexer{src: src}}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, errors.New("empty field expression")
	}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	n = literalOperands(n)
	e := &FieldExpr{src: src, root: n}
	e.path = plainPath(n)
	return e, nil
}

// String returns the source.
func (e *FieldExpr) String() string { return e.src }

// Eval appends the values the expression matches in msg to dst, skipping
// nulls, and returns dst.
func (e *FieldExpr) Eval(dst []any, msg any) []any { return e.eval(dst, msg, false) }

// EvalAll is Eval keeping nulls, so that the matches of several
// expressions over one list stay aligned.
func (e *FieldExpr) EvalAll(dst []any, msg any) []any { return e.eval(dst, msg, true) }

func (e *FieldExpr) eval(dst []any, msg any, keepNull bool) []any {
	if e.path != nil {
		v, ok := lookupPath(msg, e.path)
		if ok && (v != nil || keepNull) {
			dst = append(dst, v)
		}
		return dst
	}
	var c fctx
	c.root = msg
	start := len(dst)
	if e.root == nil {
		return dst
	}
	dst = e.root.find(&c, msg, dst)
	if keepNull {
		return dst
	}
	// Drop nulls in place.
	w := start
	for _, v := range dst[start:] {
		if v != nil {
			dst[w] = v
			w++
		}
	}
	clear(dst[w:])
	return dst[:w]
}

// First returns the first non-null value the expression matches.
func (e *FieldExpr) First(msg any) (any, bool) {
	if e.path != nil {
		v, ok := lookupPath(msg, e.path)
		return v, ok && v != nil
	}
	var buf [4]any
	vs := e.Eval(buf[:0], msg)
	if len(vs) == 0 {
		return nil, false
	}
	return vs[0], true
}

func lookupPath(v any, path []string) (any, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// plainPath returns the field names of a chain $.a.b.c (or a.b.c), or nil.
func plainPath(n fnode) []string {
	var names []string
	var walk func(n fnode) bool
	walk = func(n fnode) bool {
		switch x := n.(type) {
		case *fchild:
			return walk(x.left) && walk(x.right)
		case fieldNode:
			if x.name == "*" && !x.quoted {
				return false
			}
			names = append(names, x.name)
			return true
		case rootNode:
			return len(names) == 0
		}
		return false
	}
	if !walk(n) || len(names) == 0 {
		return nil
	}
	return names
}

// fctx is the state of one evaluation.
type fctx struct {
	root  any
	depth int
	// steps counts the values visited; past maxEvalSteps the evaluation
	// stops adding matches, so that `$..*..*..*` over a large payload
	// cannot run for minutes.
	steps int
}

// maxEvalSteps bounds one evaluation.
const maxEvalSteps = 1 << 20

// spent counts n steps and reports whether the budget is gone.
func (c *fctx) spent(n int) bool {
	c.steps += n
	return c.steps > maxEvalSteps
}

// fnode is a compiled expression node: find appends the values it matches
// on d.
type fnode interface {
	find(c *fctx, d any, out []any) []any
}

type rootNode struct{}

func (rootNode) find(c *fctx, _ any, out []any) []any { return append(out, c.root) }

type thisNode struct{}

func (thisNode) find(_ *fctx, d any, out []any) []any { return append(out, d) }

type fieldNode struct {
	name   string
	quoted bool
}

func (n fieldNode) find(c *fctx, d any, out []any) []any {
	m, ok := d.(map[string]any)
	if !ok {
		return out
	}
	if n.name == "*" && !n.quoted {
		if c.spent(len(m)) {
			return out
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, m[k])
		}
		return out
	}
	if v, ok := m[n.name]; ok {
		out = append(out, v)
	}
	return out
}

type literalNode struct{ v any }

func (n literalNode) find(_ *fctx, _ any, out []any) []any { return append(out, n.v) }

type fchild struct{ left, right fnode }

func (n *fchild) find(c *fctx, d any, out []any) []any {
	var buf [8]any
	left := n.left.find(c, d, buf[:0])
	for _, l := range left {
		if c.spent(1) {
			return out
		}
		out = n.right.find(c, l, out)
	}
	return out
}

type funion struct{ left, right fnode }

func (n *funion) find(c *fctx, d any, out []any) []any {
	out = n.left.find(c, d, out)
	return n.right.find(c, d, out)
}

// fdescendant is left..right: right matched on every value under each of
// left's matches, the match itself included, depth first.
type fdescendant struct{ left, right fnode }

func (n *fdescendant) find(c *fctx, d any, out []any) []any {
	var buf [8]any
	for _, l := range n.left.find(c, d, buf[:0]) {
		out = n.walk(c, l, out)
	}
	return out
}

func (n *fdescendant) walk(c *fctx, v any, out []any) []any {
	if c.depth > maxJSONDepth || c.spent(1) {
		return out
	}
	c.depth++
	defer func() { c.depth-- }()
	out = n.right.find(c, v, out)
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = n.walk(c, x[k], out)
		}
	case []any:
		for _, e := range x {
			out = n.walk(c, e, out)
		}
	}
	return out
}

type indexNode struct{ i int }

func (n indexNode) find(_ *fctx, d any, out []any) []any {
	l, ok := d.([]any)
	if !ok {
		return out
	}
	i := n.i
	if i < 0 {
		i += len(l)
	}
	if i >= 0 && i < len(l) {
		out = append(out, l[i])
	}
	return out
}

// sliceNode is [start:end] or [*]; as in jsonpath-rw, a value that is not a
// list is taken as a list of itself.
type sliceNode struct {
	start, end       int
	hasStart, hasEnd bool
}

func (n sliceNode) find(c *fctx, d any, out []any) []any {
	l, ok := d.([]any)
	if !ok {
		if d == nil {
			return out
		}
		l = []any{d}
	}
	start, end := 0, len(l)
	if n.hasStart {
		start = clampIndex(n.start, len(l))
	}
	if n.hasEnd {
		end = clampIndex(n.end, len(l))
	}
	if c.spent(max(0, end-start)) {
		return out
	}
	for i := start; i < end; i++ {
		out = append(out, l[i])
	}
	return out
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// filterNode keeps the elements of a list for which every condition holds.
type filterNode struct{ conds []fcond }

type fcond struct {
	path fnode
	op   string // "" tests existence
	val  any    // float64, string or bool
	re   *regexp.Regexp
}

func (n filterNode) find(c *fctx, d any, out []any) []any {
	l, ok := d.([]any)
	if !ok {
		return out
	}
	for _, e := range l {
		if c.spent(1) {
			return out
		}
		all := true
		for i := range n.conds {
			if !n.conds[i].holds(c, e) {
				all = false
				break
			}
		}
		if all {
			out = append(out, e)
		}
	}
	return out
}

func (fc *fcond) holds(c *fctx, e any) bool {
	var buf [4]any
	vs := fc.path.find(c, e, buf[:0])
	if fc.op == "" {
		for _, v := range vs {
			if v != nil {
				return true
			}
		}
		return false
	}
	for _, v := range vs {
		if fc.compare(v) {
			return true
		}
	}
	return false
}

func (fc *fcond) compare(v any) bool {
	if fc.op == "=~" {
		s, ok := v.(string)
		return ok && fc.re.MatchString(s)
	}
	switch want := fc.val.(type) {
	case float64:
		f, ok := toNumber(v)
		if !ok {
			if s, isStr := v.(string); isStr {
				f, ok = parsePyFloat(s)
			}
		}
		if !ok {
			return false
		}
		return compareOrdered(fc.op, f, want)
	case string:
		s, ok := v.(string)
		if !ok {
			return fc.op == "!="
		}
		return compareOrdered(fc.op, s, want)
	case bool:
		b, ok := v.(bool)
		switch fc.op {
		case "=", "==":
			return ok && b == want
		case "!=":
			return !ok || b != want
		}
	case nil:
		switch fc.op {
		case "=", "==":
			return v == nil
		case "!=":
			return v != nil
		}
	}
	return false
}

func compareOrdered[T float64 | string](op string, a, b T) bool {
	switch op {
	case "=", "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// farith is an arithmetic operation between two operands, element by
// element when both are paths with equally many matches, as
// jsonpath-rw-ext's Operation does. A type error (adding a string to a
// number) yields nothing.
type farith struct {
	op          byte
	left, right fnode
}

func (n *farith) find(c *fctx, d any, out []any) []any {
	var lb, rb [4]any
	left := n.left.find(c, d, lb[:0])
	right := n.right.find(c, d, rb[:0])
	_, lLit := n.left.(literalNode)
	_, rLit := n.right.(literalNode)
	start := len(out)
	switch {
	case !lLit && !rLit:
		if len(left) == 0 || len(left) != len(right) {
			return out
		}
		for i := range left {
			v, ok := arith(n.op, left[i], right[i])
			if !ok {
				return out[:start]
			}
			out = append(out, v)
		}
	case !lLit:
		for _, l := range left {
			v, ok := arith(n.op, l, right[0])
			if !ok {
				return out[:start]
			}
			out = append(out, v)
		}
	case !rLit:
		for _, r := range right {
			v, ok := arith(n.op, left[0], r)
			if !ok {
				return out[:start]
			}
			out = append(out, v)
		}
	default:
		if v, ok := arith(n.op, left[0], right[0]); ok {
			out = append(out, v)
		}
	}
	return out
}

// arith applies op with Python's typing: numbers with numbers (integers
// stay integers but for /), strings concatenated with strings.
func arith(op byte, a, b any) (any, bool) {
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		if !ok || op != '+' {
			return nil, false
		}
		return sa + sb, true
	}
	ai, aInt := toInt(a)
	bi, bInt := toInt(b)
	if aInt && bInt && op != '/' {
		switch op {
		case '+':
			return ai + bi, true
		case '-':
			return ai - bi, true
		case '*':
			return ai * bi, true
		}
	}
	af, ok := toNumber(a)
	if !ok {
		return nil, false
	}
	bf, ok := toNumber(b)
	if !ok {
		return nil, false
	}
	var r float64
	switch op {
	case '+':
		r = af + bf
	case '-':
		r = af - bf
	case '*':
		r = af * bf
	case '/':
		if bf == 0 {
			return nil, false
		}
		r = af / bf
	}
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil, false
	}
	return r, true
}

// toNumber returns the value of a JSON or computed number (and of a bool,
// as Python would).
func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// toInt returns an integer value: a JSON number without fraction or
// exponent, a computed integer, or a bool.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case int64:
		return x, true
	case int:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// namedNode is a jsonpath-rw-ext named operator in backticks, applied to
// the current value.
type namedNode struct {
	name     string
	re       *regexp.Regexp // sub
	repl     string         // sub
	sep      string         // split
	segment  int            // split
	maxSplit int            // split; -1 for no limit
}

func (n *namedNode) find(_ *fctx, d any, out []any) []any {
	switch n.name {
	case "this":
		return append(out, d)
	case "len":
		switch x := d.(type) {
		case string:
			return append(out, int64(len([]rune(x))))
		case []any:
			return append(out, int64(len(x)))
		case map[string]any:
			return append(out, int64(len(x)))
		}
		return out
	case "str":
		if d == nil {
			return out
		}
		return append(out, pyStr(d))
	case "sorted":
		switch x := d.(type) {
		case []any:
			c := append([]any(nil), x...)
			sort.SliceStable(c, func(i, j int) bool { return lessValue(c[i], c[j]) })
			return append(out, c)
		case map[string]any:
			keys := make([]any, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i].(string) < keys[j].(string) })
			return append(out, keys)
		}
		return out
	case "sub":
		s, ok := d.(string)
		if !ok {
			return out
		}
		return append(out, n.re.ReplaceAllString(s, n.repl))
	case "split":
		s, ok := d.(string)
		if !ok {
			return out
		}
		parts := pySplit(s, n.sep, n.maxSplit)
		if n.segment < len(parts) {
			out = append(out, parts[n.segment])
		}
		return out
	}
	return out
}

// pySplit is Python's str.split(sep, maxsplit) for a non-empty sep.
func pySplit(s, sep string, maxSplit int) []string {
	if maxSplit < 0 {
		return strings.Split(s, sep)
	}
	return strings.SplitN(s, sep, maxSplit+1)
}

func lessValue(a, b any) bool {
	if fa, ok := toNumber(a); ok {
		if fb, ok := toNumber(b); ok {
			return fa < fb
		}
	}
	sa, aok := a.(string)
	sb, bok := b.(string)
	if aok && bok {
		return sa < sb
	}
	return false
}

// literalOperands turns quoted field names that are direct operands of an
// arithmetic operator into string literals: `$.a + "_" + $.b` concatenates.
func literalOperands(n fnode) fnode {
	switch x := n.(type) {
	case *farith:
		x.left, x.right = literalOperands(x.left), literalOperands(x.right)
		if f, ok := x.left.(fieldNode); ok && f.quoted {
			x.left = literalNode{f.name}
		}
		if f, ok := x.right.(fieldNode); ok && f.quoted {
			x.right = literalNode{f.name}
		}
	case *fchild:
		x.left, x.right = literalOperands(x.left), literalOperands(x.right)
	case *funion:
		x.left, x.right = literalOperands(x.left), literalOperands(x.right)
	case *fdescendant:
		x.left, x.right = literalOperands(x.left), literalOperands(x.right)
	}
	return n
}
