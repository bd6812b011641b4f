package alarms

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rule is the condition of an alarm, one kind per alarm type. Rules are
// immutable once parsed and safe for concurrent use. Their JSON form is
// Aodh's "<type>_rule" object, which is also the storage form.
type Rule interface {
	// Kind is the alarm type the rule belongs to.
	Kind() string
	// Step is the finest granularity the rule reads, which bounds how
	// often data can change its verdict; 0 for event rules.
	Step() time.Duration
	json.Marshaler
}

// Comparison operators.
var comparisonOperators = []string{"lt", "le", "eq", "ne", "ge", "gt"}

// Compare applies a comparison operator: value <op> threshold. An unknown
// operator never matches (parsing rejects them).
func Compare(op string, value, threshold float64) bool {
	switch op {
	case "lt":
		return value < threshold
	case "le":
		return value <= threshold
	case "eq":
		return value == threshold
	case "ne":
		return value != threshold
	case "ge":
		return value >= threshold
	case "gt":
		return value > threshold
	}
	return false
}

// Series is the data part of a Gnocchi threshold rule: what to fetch and
// how. Which fields apply depends on Type.
type Series struct {
	Type              string   // one of the three gnocchi_* types
	Metric            string   // metric name (resources, by-resources)
	Metrics           []string // metric ids (by-metrics)
	ResourceID        string   // resources
	ResourceType      string   // resources, by-resources
	Query             string   // by-resources: Gnocchi search filter, JSON text
	AggregationMethod string
	Granularity       int // seconds, >= 1
	EvaluationPeriods int // >= 1
}

// ThresholdRule is a Gnocchi threshold rule: the series, compared with a
// threshold.
type ThresholdRule struct {
	Series
	ComparisonOperator string
	Threshold          float64
}

// Kind implements Rule.
func (r *ThresholdRule) Kind() string { return r.Type }

// Step implements Rule.
func (r *ThresholdRule) Step() time.Duration { return time.Duration(r.Granularity) * time.Second }

// MarshalJSON renders the fields of the rule's type, as Aodh's as_dict.
func (r *ThresholdRule) MarshalJSON() ([]byte, error) {
	return json.Marshal(r.fields(false))
}

func (r *ThresholdRule) fields(withType bool) map[string]any {
	m := r.Series.fields()
	m["comparison_operator"] = r.ComparisonOperator
	m["threshold"] = r.Threshold
	if withType {
		m["type"] = r.Type
	}
	return m
}

func (s *Series) fields() map[string]any {
	m := map[string]any{
		"granularity":        s.Granularity,
		"aggregation_method": s.AggregationMethod,
		"evaluation_periods": s.EvaluationPeriods,
	}
	switch s.Type {
	case TypeResourcesThreshold:
		m["metric"] = s.Metric
		m["resource_id"] = s.ResourceID
		m["resource_type"] = s.ResourceType
	case TypeAggregationByMetrics:
		m["metrics"] = nonNil(s.Metrics)
	case TypeAggregationByResources:
		m["metric"] = s.Metric
		m["query"] = s.Query
		m["resource_type"] = s.ResourceType
	}
	return m
}

// ParseOptions tunes rule validation.
type ParseOptions struct {
	// AggregationMethods are the methods the store offers; nil means
	// DefaultAggregationMethods.
	AggregationMethods []string
	// AnyMethod skips the aggregation method check, for rules loaded from
	// storage that were checked when stored.
	AnyMethod bool
}

func (o *ParseOptions) methodOK(m string) bool {
	return (o != nil && o.AnyMethod) || slices.Contains(o.methods(), m)
}

// DefaultAggregationMethods are Gnocchi's aggregation methods, as its
// capabilities list them.
var DefaultAggregationMethods = func() []string {
	base := []string{"mean", "median", "std", "min", "max", "sum", "count", "first", "last"}
	out := slices.Clone(base)
	for i := 1; i < 100; i++ {
		out = append(out, strconv.Itoa(i)+"pct")
	}
	n := len(out)
	for _, m := range out[:n] {
		out = append(out, "rate:"+m)
	}
	return out
}()

func (o *ParseOptions) methods() []string {
	if o == nil || o.AggregationMethods == nil {
		return DefaultAggregationMethods
	}
	return o.AggregationMethods
}

func pyList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "'" + v + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ParseRule decodes and validates the rule of an alarm of type kind from
// its JSON object, filling Aodh's defaults. Errors are *InvalidError with
// Aodh's messages.
func ParseRule(kind string, raw json.RawMessage, opts *ParseOptions) (Rule, error) {
	switch kind {
	case TypeResourcesThreshold, TypeAggregationByMetrics, TypeAggregationByResources:
		o, err := DecodeObject(raw, kind+"_rule")
		if err != nil {
			return nil, err
		}
		r, err := parseThreshold(kind, o)
		if err != nil {
			return nil, err
		}
		if err := o.Unknown(); err != nil {
			return nil, err
		}
		if !opts.methodOK(r.AggregationMethod) {
			return nil, invalidf("aggregation_method should be in %s not %s", pyList(opts.methods()), r.AggregationMethod)
		}
		return r, nil
	case TypeComposite:
		return parseComposite(raw, opts)
	case TypeEvent:
		return parseEvent(raw)
	case TypeExpression:
		return parseExpression(raw, opts)
	}
	return nil, invalidInput("type", kind, "Value should be one of: "+strings.Join(Types, ", "))
}

func parseSeries(kind string, o *Object, withMethod bool) (Series, error) {
	s := Series{Type: kind}
	var err error
	if withMethod {
		if s.AggregationMethod, err = o.String("aggregation_method", "", true); err != nil {
			return s, err
		}
	}
	if s.EvaluationPeriods, err = o.Int("evaluation_periods", 1, 1, false); err != nil {
		return s, err
	}
	if s.Granularity, err = o.Int("granularity", 60, 1, false); err != nil {
		return s, err
	}
	switch kind {
	case TypeResourcesThreshold:
		if s.Metric, err = o.String("metric", "", true); err != nil {
			return s, err
		}
		if s.ResourceID, err = o.String("resource_id", "", true); err != nil {
			return s, err
		}
		if s.ResourceType, err = o.String("resource_type", "", true); err != nil {
			return s, err
		}
	case TypeAggregationByMetrics:
		if s.Metrics, err = o.Strings("metrics", true); err != nil {
			return s, err
		}
		if len(s.Metrics) > maxMetrics {
			return s, invalidInput("metrics", len(s.Metrics), fmt.Sprintf("At most %d metrics", maxMetrics))
		}
	case TypeAggregationByResources:
		if s.Metric, err = o.String("metric", "", true); err != nil {
			return s, err
		}
		if s.Query, err = o.String("query", "", true); err != nil {
			return s, err
		}
		if s.ResourceType, err = o.String("resource_type", "", true); err != nil {
			return s, err
		}
		var q any
		if err := json.Unmarshal([]byte(s.Query), &q); err != nil {
			return s, invalidInput("rule/query", s.Query, "")
		}
	}
	return s, nil
}

// maxMetrics bounds the metrics of one by-metrics rule.
const maxMetrics = 1024

func parseThreshold(kind string, o *Object) (*ThresholdRule, error) {
	s, err := parseSeries(kind, o, true)
	if err != nil {
		return nil, err
	}
	r := &ThresholdRule{Series: s}
	if r.ComparisonOperator, err = o.Enum("comparison_operator", "eq", comparisonOperators...); err != nil {
		return nil, err
	}
	if r.Threshold, err = o.Float("threshold", true); err != nil {
		return nil, err
	}
	return r, nil
}

// ScopeResourceQuery restricts a by-resources search filter to the
// resources a project created, as Aodh does for non-admins and for admins
// creating alarms on behalf of another project.
func ScopeResourceQuery(query, project string) string {
	var q any
	if err := json.Unmarshal([]byte(query), &q); err != nil {
		return query
	}
	b, _ := json.Marshal(map[string]any{"and": []any{
		map[string]any{"=": map[string]any{"created_by_project_id": project}}, q,
	}})
	return string(b)
}

// CompositeRule is an and/or tree of threshold rules. A node is either an
// operator with children or a leaf.
type CompositeRule struct {
	Op       string // "and" or "or"; "" for a leaf
	Children []*CompositeRule
	Leaf     *ThresholdRule
}

// Kind implements Rule.
func (r *CompositeRule) Kind() string { return TypeComposite }

// Step implements Rule: the finest granularity among the leaves.
func (r *CompositeRule) Step() time.Duration {
	var step time.Duration
	for _, l := range r.Leaves() {
		if s := l.Step(); step == 0 || s < step {
			step = s
		}
	}
	return step
}

// Leaves returns the leaves depth first, the order Aodh names them
// rule1..N in.
func (r *CompositeRule) Leaves() []*ThresholdRule {
	var out []*ThresholdRule
	var walk func(n *CompositeRule)
	walk = func(n *CompositeRule) {
		if n.Leaf != nil {
			out = append(out, n.Leaf)
			return
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(r)
	return out
}

// MarshalJSON renders the tree as Aodh stores it.
func (r *CompositeRule) MarshalJSON() ([]byte, error) {
	return json.Marshal(r.tree())
}

func (r *CompositeRule) tree() any {
	if r.Leaf != nil {
		return r.Leaf.fields(true)
	}
	kids := make([]any, len(r.Children))
	for i, c := range r.Children {
		kids[i] = c.tree()
	}
	return map[string]any{r.Op: kids}
}

// Limits of a composite tree.
const (
	maxCompositeDepth  = 16
	maxCompositeLeaves = 64
)

var compositeLeafTypes = []string{TypeAggregationByMetrics, TypeAggregationByResources, TypeResourcesThreshold}

func invalidComposite(raw json.RawMessage) error {
	return invalidf("Invalid input composite rule: %s, it should be a dict with an \"and\" or \"or\" as key, and the value of dict should be a list of basic threshold rules or sub composite rules, can be nested.", string(raw))
}

func parseComposite(raw json.RawMessage, opts *ParseOptions) (*CompositeRule, error) {
	leaves := 0
	var parse func(raw json.RawMessage, depth int) (*CompositeRule, error)
	parse = func(raw json.RawMessage, depth int) (*CompositeRule, error) {
		if depth > maxCompositeDepth {
			return nil, invalidf("Composite rule nests deeper than %d levels", maxCompositeDepth)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, invalidComposite(raw)
		}
		if len(m) == 1 {
			var key string
			for k := range m {
				key = k
			}
			if key != "and" && key != "or" {
				return nil, invalidf("Threshold rules should be combined with \"and\" or \"or\"")
			}
			var kids []json.RawMessage
			if err := json.Unmarshal(m[key], &kids); err != nil || len(kids) == 0 {
				return nil, invalidComposite(raw)
			}
			n := &CompositeRule{Op: key}
			for _, k := range kids {
				c, err := parse(k, depth+1)
				if err != nil {
					return nil, err
				}
				n.Children = append(n.Children, c)
			}
			return n, nil
		}
		o := &Object{path: "composite_rule", fields: m, used: map[string]bool{}}
		typ, err := o.String("type", "", false)
		if err != nil {
			return nil, err
		}
		if typ == "" {
			return nil, invalidf("type must be set in every rule")
		}
		if !slices.Contains(compositeLeafTypes, typ) {
			return nil, invalidf("Unsupported sub-rule type :%s in composite rule, should be one of: %s", typ, pyList(compositeLeafTypes))
		}
		leaves++
		if leaves > maxCompositeLeaves {
			return nil, invalidf("Composite rule has more than %d threshold rules", maxCompositeLeaves)
		}
		leaf, err := parseThreshold(typ, o)
		if err != nil {
			return nil, err
		}
		if err := o.Unknown(); err != nil {
			return nil, err
		}
		// Aodh does not check the leaves' aggregation_method against the
		// store; an unknown one leaves the leaf without data.
		return &CompositeRule{Leaf: leaf}, nil
	}
	return parse(raw, 0)
}

// EventRule matches events by type (a shell glob) and trait query.
type EventRule struct {
	EventType string
	Query     []EventQuery
}

// EventQuery is one condition on an event field or trait
// ("traits.<name>"); all must hold.
type EventQuery struct {
	Field string
	Op    string
	Value string
	Type  string // "", string, integer, float, boolean
	typed any    // Value converted to Type
}

// Kind implements Rule.
func (r *EventRule) Kind() string { return TypeEvent }

// Step implements Rule.
func (r *EventRule) Step() time.Duration { return 0 }

// MarshalJSON renders the rule as Aodh stores it.
func (r *EventRule) MarshalJSON() ([]byte, error) {
	q := make([]map[string]any, len(r.Query))
	for i, e := range r.Query {
		q[i] = map[string]any{"field": e.Field, "op": e.Op, "value": e.Value, "type": e.Type}
	}
	return json.Marshal(map[string]any{"event_type": r.EventType, "query": q})
}

var eventFieldRe = regexp.MustCompile(`^[a-zA-Z.',0-9_-]*$`)

// maxEventQuery bounds the conditions of one event rule.
const maxEventQuery = 64

func parseEvent(raw json.RawMessage) (*EventRule, error) {
	o, err := DecodeObject(raw, "event_rule")
	if err != nil {
		return nil, err
	}
	r := &EventRule{}
	if r.EventType, err = o.String("event_type", "*", false); err != nil {
		return nil, err
	}
	if r.EventType == "" {
		r.EventType = "*"
	}
	if len(r.EventType) > 255 {
		return nil, invalidInput("event_type", r.EventType, "At most 255 characters")
	}
	if q, ok := o.Raw("query"); ok {
		var items []json.RawMessage
		if err := json.Unmarshal(q, &items); err != nil {
			return nil, invalidInput("query", q, "Wrong type. Expected '[Query]'.")
		}
		if len(items) > maxEventQuery {
			return nil, invalidInput("query", len(items), fmt.Sprintf("At most %d conditions", maxEventQuery))
		}
		for _, it := range items {
			qo, err := DecodeObject(it, "event_rule.query")
			if err != nil {
				return nil, err
			}
			var e EventQuery
			if e.Field, err = qo.String("field", "", true); err != nil {
				return nil, err
			}
			if e.Op, err = qo.String("op", "eq", false); err != nil {
				return nil, err
			}
			if e.Op == "" {
				e.Op = "eq"
			}
			if e.Value, err = qo.String("value", "", true); err != nil {
				return nil, err
			}
			typ, hasType := qo.Raw("type")
			if hasType {
				if err := json.Unmarshal(typ, &e.Type); err != nil {
					return nil, invalidf("Query value or traits invalid: expected str for dictionary value @ data['value']")
				}
			}
			if err := qo.Unknown(); err != nil {
				return nil, err
			}
			if !slices.Contains(comparisonOperators, e.Op) {
				return nil, invalidInput("op", e.Op, "Value should be one of: "+strings.Join(comparisonOperators, ", "))
			}
			if e.typed, err = ConvertQueryValue(e.Value, e.Type); err != nil {
				return nil, err
			}
			switch {
			case !eventFieldRe.MatchString(e.Field):
				return nil, invalidf("Query value or traits invalid: does not match regular expression for dictionary value @ data['field']")
			case !hasType || !slices.Contains([]string{"string", "integer", "float", "boolean", ""}, e.Type):
				return nil, invalidf("Query value or traits invalid: value is not allowed for dictionary value @ data['value']")
			}
			r.Query = append(r.Query, e)
		}
	}
	if err := o.Unknown(); err != nil {
		return nil, err
	}
	return r, nil
}

// Typed returns the condition's value converted to its type.
func (q *EventQuery) Typed() any { return q.typed }

// ConvertQueryValue converts a query value as Aodh's Query.get_value does:
// to the named type, or, with no type, to a number or boolean when it reads
// as one (Python literal syntax) and a string otherwise.
func ConvertQueryValue(v, typ string) (any, error) {
	bad := func() error {
		return invalidf("Unable to convert the value %s to the expected data type %s.", v, typ)
	}
	switch typ {
	case "":
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return float64(i), nil
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && strings.ContainsAny(v, ".eE") && !strings.ContainsAny(v, "nN") {
			return f, nil
		}
		switch v {
		case "True":
			return true, nil
		case "False":
			return false, nil
		}
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			return v[1 : len(v)-1], nil
		}
		return v, nil
	case "string":
		return v, nil
	case "integer":
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, bad()
		}
		return float64(i), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, bad()
		}
		return f, nil
	case "boolean":
		b, ok := ParseBool(v)
		if !ok {
			return nil, bad()
		}
		return b, nil
	case "datetime":
		t, err := ParseTime(v)
		if err != nil {
			return nil, bad()
		}
		return t, nil
	}
	return nil, invalidf("The data type %s is not supported. The supported data type list is: ['integer', 'float', 'string', 'boolean', 'datetime']", typ)
}
