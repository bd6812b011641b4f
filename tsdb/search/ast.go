//lint:file-ignore ST1005 the sentinel errors begin Gnocchi's messages, which are capitalised

package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits on a filter, so that a hostile filter cannot make the parser, the
// compiler or the database do unbounded work.
const (
	// MaxDepth is the deepest nesting of and/or/not a filter may have.
	MaxDepth = 32
	// MaxNodes is the most expressions (comparisons, in, and, or, not) a
	// filter may hold.
	MaxNodes = 1000
	// MaxValues is the most values all the `in` lists of a filter may hold
	// together; it keeps the bound parameters well under PostgreSQL's 65535.
	MaxValues = 10000
	// MaxStringFilter is the longest `filter=` query string accepted, in bytes.
	MaxStringFilter = 256 << 10
	// maxAttrLen bounds an attribute name.
	maxAttrLen = 255
)

// Errors callers branch on to pick a status code; every error returned by
// this package wraps exactly one of them. They are capitalised because they
// begin the messages clients see, which are Gnocchi's.
var (
	// ErrSyntax marks a filter that is not well formed.
	ErrSyntax = errors.New("Invalid filter")
	// ErrInvalidValue marks a value that does not fit its attribute.
	ErrInvalidValue = errors.New("Invalid value")
	// ErrUnknownAttribute marks an attribute the Columns callback does not know.
	ErrUnknownAttribute = errors.New("Unknown attribute")
	// ErrTooComplex marks a filter over MaxDepth, MaxNodes or MaxValues.
	ErrTooComplex = errors.New("Filter too complex")
)

// AttributeError reports an attribute the Columns callback does not know, so
// that the API can name it in Gnocchi's words ("Resource type X has no Y
// attribute").
type AttributeError struct {
	Attr string
}

// Error returns "Unknown attribute: <attr>".
func (e *AttributeError) Error() string { return "Unknown attribute: " + e.Attr }

// Unwrap makes errors.Is(err, ErrUnknownAttribute) hold.
func (e *AttributeError) Unwrap() error { return ErrUnknownAttribute }

// Op is a comparison operator in its canonical spelling; the parsers map
// Gnocchi's synonyms (==, eq, ≠, ne, ≤, le, …) onto these.
type Op string

// Comparison operators.
const (
	OpEq   Op = "="
	OpNe   Op = "!="
	OpLt   Op = "<"
	OpLe   Op = "<="
	OpGt   Op = ">"
	OpGe   Op = ">="
	OpLike Op = "like"
)

// opSpellings maps every spelling Gnocchi accepts to the canonical operator.
var opSpellings = map[string]Op{
	"=": OpEq, "==": OpEq, "eq": OpEq,
	"!=": OpNe, "≠": OpNe, "ne": OpNe,
	"<": OpLt, "lt": OpLt,
	"<=": OpLe, "≤": OpLe, "le": OpLe,
	">": OpGt, "gt": OpGt,
	">=": OpGe, "≥": OpGe, "ge": OpGe,
	"like": OpLike,
}

// Expr is a node of a parsed filter: Cmp, In, And, Or or Not. A nil Expr is
// the empty filter `{}`, which matches everything.
//
// Values inside Cmp and In are nil (JSON null), bool, string or json.Number;
// numbers keep their literal text so that a string attribute compared with
// 42 compares with "42", and so that both parsers give identical trees.
type Expr interface {
	// String renders the node in the query-string syntax; ParseString of
	// the result gives the node back.
	String() string
	isExpr()
}

// Cmp compares one attribute with one value.
type Cmp struct {
	Op    Op
	Attr  string
	Value any
}

// In holds when the attribute equals one of Values; an empty list never
// holds, and a null in the list matches a null attribute.
type In struct {
	Attr   string
	Values []any
}

// And holds when every operand holds; an empty And always holds.
type And []Expr

// Or holds when any operand holds; an empty Or never holds.
type Or []Expr

// Not negates its operand with SQL's three-valued logic: the negation of a
// comparison against a null attribute still does not hold.
type Not struct {
	Expr Expr
}

func (Cmp) isExpr() {}
func (In) isExpr()  {}
func (And) isExpr() {}
func (Or) isExpr()  {}
func (Not) isExpr() {}

// String renders the comparison as `attr op value`.
func (c Cmp) String() string {
	return formatAttr(c.Attr) + " " + string(c.Op) + " " + formatValue(c.Value)
}

// String renders the in-list as `attr in [v, …]`.
func (in In) String() string {
	var b strings.Builder
	b.WriteString(formatAttr(in.Attr))
	b.WriteString(" in [")
	for i, v := range in.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatValue(v))
	}
	b.WriteString("]")
	return b.String()
}

// String renders the operands in parentheses joined by and. The string
// syntax cannot spell an empty And (rendered "()", which does not parse) nor
// a one-operand And (rendered as its operand).
func (a And) String() string { return joinExprs([]Expr(a), " and ") }

// String renders the operands in parentheses joined by or, with the same
// limits as And.String.
func (o Or) String() string { return joinExprs([]Expr(o), " or ") }

// String renders the negation as `not (expr)`.
func (n Not) String() string { return "not (" + exprString(n.Expr) + ")" }

func joinExprs(es []Expr, sep string) string {
	if len(es) == 0 {
		return "()"
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = "(" + exprString(e) + ")"
	}
	return strings.Join(parts, sep)
}

func exprString(e Expr) string {
	if e == nil {
		return ""
	}
	return e.String()
}

// formatAttr quotes an attribute whose name is also a keyword of the string
// grammar, which the grammar accepts in quotes.
func formatAttr(a string) string {
	if _, kw := keywords[a]; kw {
		return "'" + a + "'"
	}
	return a
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return string(v)
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	default:
		return fmt.Sprintf("<%T>", v)
	}
}

// MarshalJSON renders the comparison in Gnocchi's JSON form.
func (c Cmp) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]map[string]any{string(c.Op): {c.Attr: c.Value}})
}

// MarshalJSON renders the in-list in Gnocchi's JSON form.
func (in In) MarshalJSON() ([]byte, error) {
	vals := in.Values
	if vals == nil {
		vals = []any{}
	}
	return json.Marshal(map[string]map[string][]any{"in": {in.Attr: vals}})
}

// MarshalJSON renders the conjunction in Gnocchi's JSON form.
func (a And) MarshalJSON() ([]byte, error) {
	es := []Expr(a)
	if es == nil {
		es = []Expr{}
	}
	return json.Marshal(map[string][]Expr{"and": es})
}

// MarshalJSON renders the disjunction in Gnocchi's JSON form.
func (o Or) MarshalJSON() ([]byte, error) {
	es := []Expr(o)
	if es == nil {
		es = []Expr{}
	}
	return json.Marshal(map[string][]Expr{"or": es})
}

// MarshalJSON renders the negation in Gnocchi's JSON form.
func (n Not) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]Expr{"not": n.Expr})
}

// isIdent reports whether s may name an attribute: a letter or underscore,
// then letters, digits and underscores. Attribute names never reach SQL (the
// Columns callback maps them), but refusing odd names early gives a clear
// error and keeps them out of logs and messages.
func isIdent(s string) bool {
	if s == "" || len(s) > maxAttrLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Check verifies that a tree, typically built by hand, respects MaxDepth,
// MaxNodes and MaxValues and holds only valid attribute names and values.
func Check(e Expr) error {
	var st limits
	return st.check(e, 1)
}

type limits struct {
	nodes, values int
}

func (st *limits) check(e Expr, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrTooComplex, MaxDepth)
	}
	st.nodes++
	if st.nodes > MaxNodes {
		return fmt.Errorf("%w: more than %d expressions", ErrTooComplex, MaxNodes)
	}
	switch e := e.(type) {
	case Cmp:
		if _, ok := opNames[e.Op]; !ok {
			return fmt.Errorf("%w: unknown operator %q", ErrSyntax, string(e.Op))
		}
		if !isIdent(e.Attr) {
			return fmt.Errorf("%w: invalid attribute name %q", ErrSyntax, e.Attr)
		}
		return checkScalar(e.Attr, e.Value)
	case In:
		if !isIdent(e.Attr) {
			return fmt.Errorf("%w: invalid attribute name %q", ErrSyntax, e.Attr)
		}
		st.values += len(e.Values)
		if st.values > MaxValues {
			return fmt.Errorf("%w: more than %d values in lists", ErrTooComplex, MaxValues)
		}
		for _, v := range e.Values {
			if err := checkScalar(e.Attr, v); err != nil {
				return err
			}
		}
		return nil
	case And:
		return st.checkAll(e, depth)
	case Or:
		return st.checkAll(e, depth)
	case Not:
		if e.Expr == nil {
			return fmt.Errorf("%w: not without an operand", ErrSyntax)
		}
		return st.check(e.Expr, depth+1)
	case nil:
		return fmt.Errorf("%w: empty filter inside an expression", ErrSyntax)
	default:
		return fmt.Errorf("%w: unknown expression %T", ErrSyntax, e)
	}
}

func (st *limits) checkAll(es []Expr, depth int) error {
	for _, sub := range es {
		if err := st.check(sub, depth+1); err != nil {
			return err
		}
	}
	return nil
}

var opNames = map[Op]struct{}{OpEq: {}, OpNe: {}, OpLt: {}, OpLe: {}, OpGt: {}, OpGe: {}, OpLike: {}}

func checkScalar(attr string, v any) error {
	switch v := v.(type) {
	case nil, bool, string:
		return nil
	case json.Number:
		if _, err := parseNumber(string(v)); err != nil {
			return fmt.Errorf("%w for attribute %s: %s", ErrInvalidValue, attr, err)
		}
		return nil
	default:
		return fmt.Errorf("%w for attribute %s: %s is not a string, number, boolean or null", ErrInvalidValue, attr, describeJSON(v))
	}
}

// parseNumber checks a number literal is a finite float64.
func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return f, nil
}
