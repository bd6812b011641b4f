package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// ParseJSON parses a search filter in Gnocchi's JSON form, such as
// {"and": [{"=": {"project_id": "p"}}, {"like": {"display_name": "web%"}}]}.
// The empty object {} is the empty filter and gives a nil Expr.
func ParseJSON(data []byte) (Expr, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: cannot decode JSON: %w", ErrSyntax, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data after the JSON filter", ErrSyntax)
	}
	return ParseValue(v)
}

// ParseValue parses a filter already decoded from JSON (maps, slices,
// strings, bools, nil, and numbers as json.Number, float64 or int), as found
// inside a larger request body. The empty map gives a nil Expr.
func ParseValue(v any) (Expr, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil, nil
	}
	var p jsonParser
	return p.expr(v, 1)
}

type jsonParser struct {
	limits
}

func (p *jsonParser) expr(v any, depth int) (Expr, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrTooComplex, MaxDepth)
	}
	p.nodes++
	if p.nodes > MaxNodes {
		return nil, fmt.Errorf("%w: more than %d expressions", ErrTooComplex, MaxNodes)
	}
	op, arg, err := single(v, "a filter")
	if err != nil {
		return nil, err
	}
	switch op {
	case "and", "∧", "or", "∨":
		list, ok := arg.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s takes a list of filters, not %s", ErrSyntax, op, describeJSON(arg))
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("%w: %s takes at least one filter", ErrSyntax, op)
		}
		es := make([]Expr, 0, len(list))
		for _, item := range list {
			e, err := p.expr(item, depth+1)
			if err != nil {
				return nil, err
			}
			es = append(es, e)
		}
		if op == "and" || op == "∧" {
			return And(es), nil
		}
		return Or(es), nil
	case "not":
		e, err := p.expr(arg, depth+1)
		if err != nil {
			return nil, err
		}
		return Not{Expr: e}, nil
	case "in":
		attr, val, err := single(arg, "the operand of in")
		if err != nil {
			return nil, err
		}
		if !isIdent(attr) {
			return nil, fmt.Errorf("%w: invalid attribute name %q", ErrSyntax, attr)
		}
		list, ok := val.([]any)
		if !ok {
			return nil, fmt.Errorf("%w for attribute %s: in takes a list, not %s", ErrInvalidValue, attr, describeJSON(val))
		}
		p.values += len(list)
		if p.values > MaxValues {
			return nil, fmt.Errorf("%w: more than %d values in lists", ErrTooComplex, MaxValues)
		}
		vals := make([]any, len(list))
		for i, item := range list {
			if vals[i], err = jsonScalar(attr, item); err != nil {
				return nil, err
			}
		}
		return In{Attr: attr, Values: vals}, nil
	}
	cop, ok := opSpellings[op]
	if !ok {
		return nil, fmt.Errorf("%w: unknown operator %q", ErrSyntax, op)
	}
	attr, val, err := single(arg, "the operand of "+op)
	if err != nil {
		return nil, err
	}
	if !isIdent(attr) {
		return nil, fmt.Errorf("%w: invalid attribute name %q", ErrSyntax, attr)
	}
	sv, err := jsonScalar(attr, val)
	if err != nil {
		return nil, err
	}
	return Cmp{Op: cop, Attr: attr, Value: sv}, nil
}

// single unpacks an object that must have exactly one key.
func single(v any, what string) (string, any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("%w: %s must be an object, not %s", ErrSyntax, what, describeJSON(v))
	}
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, strconv.Quote(k))
		}
		sort.Strings(keys)
		if len(keys) > 5 {
			keys = append(keys[:5], "…")
		}
		return "", nil, fmt.Errorf("%w: %s must have exactly one key, got %d %v", ErrSyntax, what, len(m), keys)
	}
	for k, val := range m {
		return k, val, nil
	}
	panic("BUG: unreachable")
}

// jsonScalar normalises a decoded JSON value to the AST's value types.
func jsonScalar(attr string, v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		if _, err := parseNumber(string(v)); err != nil {
			return nil, fmt.Errorf("%w for attribute %s: %s", ErrInvalidValue, attr, err)
		}
		return v, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w for attribute %s: not a finite number", ErrInvalidValue, attr)
		}
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case int:
		return json.Number(strconv.Itoa(v)), nil
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	default:
		return nil, fmt.Errorf("%w for attribute %s: %s is not a string, number, boolean or null", ErrInvalidValue, attr, describeJSON(v))
	}
}

func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}
