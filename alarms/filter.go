package alarms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Filter is a node of Aodh's complex query language, validated: an
// operator over a field and value, "in" over a list, or and/or/not over
// sub-filters. Field names are storage columns (aliases resolved).
type Filter struct {
	Op     string    // "=", "!=", "<", "<=", ">", ">=", "=~", "in", "and", "or", "not"
	Field  string    // comparison operators and "in"
	Value  any       // string, float64, bool, or time.Time for timestamp fields
	Values []any     // "in": strings and numbers
	Args   []*Filter // "and"/"or": at least 2; "not": exactly 1
}

// Order is one sort key.
type Order struct {
	Field string
	Desc  bool
}

// ComplexQuery is the body of /v2/query/alarms and
// /v2/query/alarms/history, validated.
type ComplexQuery struct {
	Filter  *Filter // nil: everything
	OrderBy []Order // nil: timestamp descending
	Limit   int     // 0: no limit
}

// QueryFields describes the fields a complex query may name.
type QueryFields struct {
	Fields     []string // storage columns
	Timestamps []string // fields whose values are ISO datetimes
}

// AlarmQueryFields are the fields of /v2/query/alarms.
var AlarmQueryFields = QueryFields{
	Fields: []string{"alarm_id", "enabled", "type", "name", "description", "timestamp", "user_id", "project_id",
		"state", "state_timestamp", "state_reason", "ok_actions", "alarm_actions", "insufficient_data_actions",
		"repeat_actions", "rule", "time_constraints", "severity", "evaluate_timestamp"},
	Timestamps: []string{"timestamp", "state_timestamp"},
}

// HistoryQueryFields are the fields of /v2/query/alarms/history.
var HistoryQueryFields = QueryFields{
	Fields:     []string{"event_id", "alarm_id", "type", "detail", "user_id", "project_id", "on_behalf_of", "timestamp", "severity"},
	Timestamps: []string{"timestamp"},
}

var fieldAliases = map[string]string{"user": "user_id", "project": "project_id"}

// Limits of a complex query.
const (
	MaxFilterBytes = 64 << 10
	maxFilterDepth = 32
	maxFilterNodes = 1000
	maxInValues    = 1000
)

var simpleOps = []string{"=", "!=", "<", ">", "<=", "=<", ">=", "=>", "=~"}

// ParseComplexQuery validates a complex query as Aodh does: filter and
// orderby are JSON documents in strings (empty means absent), limit nil
// means absent. Errors are *InvalidError with Aodh's message prefixes.
func ParseComplexQuery(filter, orderby string, limit *int, fields QueryFields) (*ComplexQuery, error) {
	q := &ComplexQuery{}
	if filter != "" {
		if len(filter) > MaxFilterBytes {
			return nil, invalidf("Filter expression not valid: %d bytes: at most %d", len(filter), MaxFilterBytes)
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(filter)))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, invalidf("Filter expression not valid: %v", err)
		}
		if dec.More() {
			return nil, invalidf("Filter expression not valid: trailing data after the JSON document")
		}
		nodes := 0
		f, err := parseFilter(raw, fields, 0, &nodes)
		if err != nil {
			return nil, err
		}
		q.Filter = f
	}
	if orderby != "" {
		if len(orderby) > MaxFilterBytes {
			return nil, invalidf("Order-by expression not valid: %d bytes: at most %d", len(orderby), MaxFilterBytes)
		}
		var raw []map[string]any
		if err := json.Unmarshal([]byte(orderby), &raw); err != nil {
			return nil, invalidf("Order-by expression not valid: %v", err)
		}
		for _, o := range raw {
			if len(o) != 1 {
				return nil, invalidf("Order-by expression not valid: %s: each item must have exactly one field", jsonText(o))
			}
			for k, v := range o {
				if !slices.Contains(fields.Fields, k) && fieldAliases[k] == "" {
					return nil, invalidf("Order-by expression not valid: %s: unknown field %s", jsonText(o), k)
				}
				dir, ok := v.(string)
				if !ok || (!strings.EqualFold(dir, "asc") && !strings.EqualFold(dir, "desc")) {
					return nil, invalidf("Order-by expression not valid: %s does not match '(?i)^asc$|(?i)^desc$'", jsonText(v))
				}
				if a := fieldAliases[k]; a != "" {
					k = a
				}
				q.OrderBy = append(q.OrderBy, Order{Field: k, Desc: strings.EqualFold(dir, "desc")})
			}
		}
	}
	if limit != nil {
		if *limit <= 0 {
			return nil, invalidf("Limit should be positive")
		}
		q.Limit = *limit
	}
	return q, nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func badFilter(format string, args ...any) error {
	return invalidf("Filter expression not valid: "+format, args...)
}

func parseFilter(raw any, fields QueryFields, depth int, nodes *int) (*Filter, error) {
	*nodes++
	if depth > maxFilterDepth {
		return nil, badFilter("nests deeper than %d levels", maxFilterDepth)
	}
	if *nodes > maxFilterNodes {
		return nil, badFilter("more than %d nodes", maxFilterNodes)
	}
	m, ok := raw.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, badFilter("%s is not an object with exactly one operator", jsonText(raw))
	}
	var op string
	var arg any
	for k, v := range m {
		op, arg = k, v
	}
	lop := strings.ToLower(op)
	switch lop {
	case "and", "or":
		list, ok := arg.([]any)
		if !ok || len(list) < 2 {
			return nil, badFilter("%s needs a list of at least 2 filters", op)
		}
		f := &Filter{Op: lop}
		for _, a := range list {
			c, err := parseFilter(a, fields, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			f.Args = append(f.Args, c)
		}
		return f, nil
	case "not":
		c, err := parseFilter(arg, fields, depth+1, nodes)
		if err != nil {
			return nil, err
		}
		return &Filter{Op: "not", Args: []*Filter{c}}, nil
	case "in":
		field, val, err := leaf(op, arg, fields)
		if err != nil {
			return nil, err
		}
		list, ok := val.([]any)
		if !ok || len(list) == 0 || len(list) > maxInValues {
			return nil, badFilter("in on %s needs a list of 1 to %d strings or numbers", field, maxInValues)
		}
		f := &Filter{Op: "in", Field: field}
		for _, v := range list {
			switch x := v.(type) {
			case string:
				f.Values = append(f.Values, x)
			case json.Number:
				n, _ := x.Float64()
				f.Values = append(f.Values, n)
			default:
				return nil, badFilter("in on %s: %s is not a string or number", field, jsonText(v))
			}
		}
		return f, nil
	}
	if !slices.Contains(simpleOps, lop) {
		return nil, badFilter("unknown operator %s", op)
	}
	switch lop {
	case "=<":
		lop = "<="
	case "=>":
		lop = ">="
	}
	field, val, err := leaf(op, arg, fields)
	if err != nil {
		return nil, err
	}
	f := &Filter{Op: lop, Field: field}
	switch x := val.(type) {
	case string:
		f.Value = x
	case json.Number:
		n, _ := x.Float64()
		f.Value = n
	case bool:
		f.Value = x
	default:
		return nil, badFilter("%s on %s: %s is not a string, number or boolean", op, field, jsonText(val))
	}
	if slices.Contains(fields.Timestamps, field) {
		s, ok := f.Value.(string)
		if !ok {
			return nil, invalidf("Failed to parse the timestamp value %v", jsonText(val))
		}
		t, err := ParseTime(s)
		if err != nil {
			return nil, invalidf("Failed to parse the timestamp value %s", s)
		}
		f.Value = t
	}
	if lop == "=~" {
		if _, ok := f.Value.(string); !ok {
			return nil, badFilter("=~ on %s needs a string pattern", field)
		}
	}
	return f, nil
}

// leaf decodes {field: value}.
func leaf(op string, arg any, fields QueryFields) (string, any, error) {
	m, ok := arg.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, badFilter("%s needs an object with exactly one field", op)
	}
	for k, v := range m {
		if a := fieldAliases[k]; a != "" {
			return a, v, nil
		}
		if !slices.Contains(fields.Fields, k) {
			return "", nil, badFilter("unknown field %s: want one of %s", k, strings.Join(fields.Fields, ", "))
		}
		return k, v, nil
	}
	panic("BUG: unreachable")
}

// ProjectNotAuthorizedError is Aodh's 401 for a query or body naming
// another project than the caller's.
type ProjectNotAuthorizedError struct {
	Aspect, ID string
}

func (e *ProjectNotAuthorizedError) Error() string {
	return fmt.Sprintf("Not Authorized to access %s %s", e.Aspect, e.ID)
}

// Restrict applies Aodh's visibility rule for a non-admin: the filter is
// and-ed with field = project, and any comparison of field with another
// value is refused.
func (q *ComplexQuery) Restrict(field, project string) error {
	var check func(f *Filter) error
	check = func(f *Filter) error {
		for _, a := range f.Args {
			if err := check(a); err != nil {
				return err
			}
		}
		if f.Field != field {
			return nil
		}
		if f.Op == "in" {
			return &ProjectNotAuthorizedError{"project", jsonText(f.Values)}
		}
		if s, ok := f.Value.(string); !ok || s != project {
			return &ProjectNotAuthorizedError{"project", fmt.Sprint(f.Value)}
		}
		return nil
	}
	if q.Filter != nil {
		if err := check(q.Filter); err != nil {
			return err
		}
	}
	own := &Filter{Op: "=", Field: field, Value: project}
	if q.Filter == nil {
		q.Filter = own
	} else {
		q.Filter = &Filter{Op: "and", Args: []*Filter{own, q.Filter}}
	}
	return nil
}
