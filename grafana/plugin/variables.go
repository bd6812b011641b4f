package plugin

import (
	"context"
	"sort"
	"strings"
	"unicode"
)

// VariableValue is one value of a template variable.
type VariableValue struct {
	Text  string `json:"text"`
	Value string `json:"value"`
}

// VariableQuery is a parsed template variable query: a function and its
// arguments, the last of which is a Gnocchi filter and may hold commas.
type VariableQuery struct {
	Func string
	Args []string
}

// variableFuncs are the functions of template variable queries, with the
// number of leading arguments before the optional filter.
var variableFuncs = map[string]struct{ min, fixed int }{
	// resource_types()
	"resource_types": {0, 0},
	// resources(TYPE[, FILTER]): text is the display name, value the id
	"resources": {1, 1},
	// metrics(TYPE[, FILTER]): the metric names of the type's resources
	"metrics": {1, 1},
	// attribute_values(TYPE, ATTRIBUTE[, FILTER]): the distinct values
	"attribute_values": {2, 2},
	// alarms([STATE]): text is the name, value the id
	"alarms": {0, 0},
	// archive_policies()
	"archive_policies": {0, 0},
}

// ParseVariableQuery reads `func(arg, ..., filter)`.
func ParseVariableQuery(s string) (VariableQuery, error) {
	s = strings.TrimSpace(s)
	open := strings.IndexByte(s, '(')
	if open < 0 || !strings.HasSuffix(s, ")") {
		return VariableQuery{}, badQuery("variable query %q: want a function such as resources(instance, project_id='x') or metrics(instance)", s)
	}
	name := strings.TrimSpace(s[:open])
	spec, ok := variableFuncs[name]
	if !ok {
		return VariableQuery{}, badQuery("variable query %q: unknown function %q: want resource_types, resources, metrics, attribute_values, alarms or archive_policies", s, name)
	}
	inner := strings.TrimSpace(s[open+1 : len(s)-1])
	var args []string
	for len(args) < spec.fixed && inner != "" {
		i := topLevelComma(inner)
		if i < 0 {
			args = append(args, strings.TrimSpace(inner))
			inner = ""
			break
		}
		args = append(args, strings.TrimSpace(inner[:i]))
		inner = strings.TrimSpace(inner[i+1:])
	}
	if inner != "" {
		args = append(args, inner)
	}
	if len(args) < spec.min {
		return VariableQuery{}, badQuery("variable query %q: %s needs at least %d arguments", s, name, spec.min)
	}
	for i := 0; i < spec.fixed && i < len(args); i++ {
		if !isIdent(args[i]) {
			return VariableQuery{}, badQuery("variable query %q: argument %d %q is not a name", s, i+1, args[i])
		}
	}
	return VariableQuery{Func: name, Args: args}, nil
}

// topLevelComma returns the index of the first comma outside quotes,
// brackets and parentheses, or -1.
func topLevelComma(s string) int {
	depth := 0
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			return i
		}
	}
	return -1
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '_' && c != '-' && c != '.' && c != ':' {
			return false
		}
	}
	return true
}

func (q VariableQuery) arg(i int) string {
	if i < len(q.Args) {
		return q.Args[i]
	}
	return ""
}

// Variable answers a template variable query (metricFindQuery).
func (d *Datasource) Variable(ctx context.Context, query string) ([]VariableValue, error) {
	q, err := ParseVariableQuery(query)
	if err != nil {
		return nil, err
	}
	var out []VariableValue
	switch q.Func {
	case "resource_types":
		ts, err := d.resourceTypes(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			out = append(out, VariableValue{Text: t.Name, Value: t.Name})
		}
	case "resources":
		rs, err := d.client.SearchResources(ctx, q.arg(0), q.arg(1), maxEditorResources)
		if err != nil {
			return nil, err
		}
		for i := range rs {
			out = append(out, VariableValue{Text: rs[i].DisplayName(), Value: rs[i].ID})
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Text < out[j].Text })
	case "metrics":
		names, err := d.metricNames(ctx, q.arg(0), q.arg(1))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out = append(out, VariableValue{Text: n, Value: n})
		}
	case "attribute_values":
		rs, err := d.client.SearchResources(ctx, q.arg(0), q.arg(2), maxEditorResources)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for i := range rs {
			if v := rs[i].Attr(q.arg(1)); v != "" && !seen[v] {
				seen[v] = true
				out = append(out, VariableValue{Text: v, Value: v})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Text < out[j].Text })
	case "alarms":
		as, err := d.client.Alarms(ctx, strings.Trim(q.arg(0), `'"`))
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			out = append(out, VariableValue{Text: a.Name, Value: a.ID})
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Text < out[j].Text })
	case "archive_policies":
		ps, err := d.archivePolicies(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out = append(out, VariableValue{Text: p.Name, Value: p.Name})
		}
	}
	if out == nil {
		out = []VariableValue{}
	}
	return out, nil
}
