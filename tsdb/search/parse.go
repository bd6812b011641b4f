package search

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ParseString parses a search filter in Gnocchi's query-string form, such as
//
//	project_id='p' and (started_at>'2024-01-01' or not display_name like 'web%')
//	id in ['a', 'b']
//
// Operators: = == eq, != ≠ ne, < lt, <= ≤ le, > gt, >= ≥ ge, like, in;
// logic: not (tightest), and or ∧, or or ∨ (loosest), parentheses. Values:
// 'single' or "double" quoted strings (a doubled quote escapes itself),
// numbers, null (also None, none), true/false (also True/False), lists
// [v, …] after in, and unquoted identifiers or UUIDs, taken as strings. The
// attribute goes on the left and may be quoted.
//
// Chains of one logical operator are flattened: `a and b and c` gives one
// And of three, as the JSON {"and": [a, b, c]} does.
func ParseString(s string) (Expr, error) {
	if len(s) > MaxStringFilter {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrTooComplex, MaxStringFilter)
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty", ErrSyntax)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := stringParser{toks: toks}
	e, err := p.or(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t, "and, or or the end of the filter")
	}
	// The parser bounds its own recursion loosely (parentheses nest without
	// nesting the tree); Check applies the limits to the tree as the JSON
	// parser does, so both syntaxes accept the same trees.
	if err := Check(e); err != nil {
		return nil, err
	}
	return e, nil
}

type stringParser struct {
	toks []token
	i    int
	limits
}

func (p *stringParser) peek() token { return p.toks[p.i] }

func (p *stringParser) take() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *stringParser) unexpected(t token, want string) error {
	if t.kind == tEOF {
		return fmt.Errorf("%w: expected %s at the end of the filter", ErrSyntax, want)
	}
	return fmt.Errorf("%w: expected %s, found %q at char %d", ErrSyntax, want, t.text, t.pos)
}

// node counts one expression against MaxNodes.
func (p *stringParser) node() error {
	p.nodes++
	if p.nodes > MaxNodes {
		return fmt.Errorf("%w: more than %d expressions", ErrTooComplex, MaxNodes)
	}
	return nil
}

func (p *stringParser) or(depth int) (Expr, error) {
	first, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tOr {
		return first, nil
	}
	if err := p.node(); err != nil {
		return nil, err
	}
	es := Or{first}
	for p.peek().kind == tOr {
		p.take()
		e, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

func (p *stringParser) and(depth int) (Expr, error) {
	first, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tAnd {
		return first, nil
	}
	if err := p.node(); err != nil {
		return nil, err
	}
	es := And{first}
	for p.peek().kind == tAnd {
		p.take()
		e, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

// unary parses not, parentheses and conditions; depth counts the nots and
// parentheses around it.
func (p *stringParser) unary(depth int) (Expr, error) {
	if depth > 2*MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrTooComplex, MaxDepth)
	}
	switch t := p.peek(); t.kind {
	case tNot:
		p.take()
		if err := p.node(); err != nil {
			return nil, err
		}
		e, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not{Expr: e}, nil
	case tLParen:
		p.take()
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if t := p.take(); t.kind != tRParen {
			return nil, p.unexpected(t, "')'")
		}
		return e, nil
	default:
		if err := p.node(); err != nil {
			return nil, err
		}
		return p.condition()
	}
}

func (p *stringParser) condition() (Expr, error) {
	t := p.take()
	if t.kind != tWord && t.kind != tString {
		return nil, p.unexpected(t, "an attribute name, 'not' or '('")
	}
	attr := t.text
	if !isIdent(attr) {
		return nil, fmt.Errorf("%w: invalid attribute name %q at char %d", ErrSyntax, attr, t.pos)
	}
	opTok := p.take()
	switch opTok.kind {
	case tIn:
		if t := p.peek(); t.kind != tLBrack {
			if _, isScalar := p.scalar(); isScalar {
				return nil, fmt.Errorf("%w for attribute %s: in takes a list, not a single value at char %d", ErrInvalidValue, attr, t.pos)
			}
			return nil, p.unexpected(t, "'[' after in")
		}
		vals, err := p.list(attr)
		if err != nil {
			return nil, err
		}
		return In{Attr: attr, Values: vals}, nil
	case tOp:
		if t := p.peek(); t.kind == tLBrack {
			return nil, fmt.Errorf("%w for attribute %s: %s takes a single value, not a list, at char %d", ErrInvalidValue, attr, opTok.text, t.pos)
		}
		vt := p.peek()
		v, ok := p.scalar()
		if !ok {
			return nil, p.unexpected(vt, "a value after "+opTok.text)
		}
		return Cmp{Op: opTok.op, Attr: attr, Value: v}, nil
	default:
		return nil, p.unexpected(opTok, "an operator after attribute "+attr)
	}
}

// scalar consumes a value token if the next token is one.
func (p *stringParser) scalar() (any, bool) {
	t := p.peek()
	var v any
	switch t.kind {
	case tNull:
		v = nil
	case tBool:
		v = t.b
	case tString, tWord:
		v = t.text
	case tNumber:
		v = json.Number(t.text)
	default:
		return nil, false
	}
	p.take()
	return v, true
}

func (p *stringParser) list(attr string) ([]any, error) {
	p.take() // [
	vals := []any{}
	if p.peek().kind == tRBrack {
		p.take()
		return vals, nil
	}
	for {
		p.values++
		if p.values > MaxValues {
			return nil, fmt.Errorf("%w: more than %d values in lists", ErrTooComplex, MaxValues)
		}
		if t := p.peek(); t.kind == tLBrack {
			return nil, fmt.Errorf("%w for attribute %s: a list inside a list at char %d", ErrInvalidValue, attr, t.pos)
		}
		vt := p.peek()
		v, ok := p.scalar()
		if !ok {
			return nil, p.unexpected(vt, "a value in the list")
		}
		vals = append(vals, v)
		switch t := p.take(); t.kind {
		case tComma:
		case tRBrack:
			return vals, nil
		default:
			return nil, p.unexpected(t, "',' or ']'")
		}
	}
}
