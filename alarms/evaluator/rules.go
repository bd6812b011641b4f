package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigil-telemetry/vigil/alarms"
)

// decision is what one evaluation concluded: Aodh's call to _refresh, or
// nothing.
type decision struct {
	refresh    bool // false: leave the alarm alone
	state      alarms.State
	reason     string
	reasonData any
	// always records and notifies even when the state does not change
	// (event alarms with repeat_actions).
	always bool
}

// scratch is one worker's reusable memory; evaluations on one worker reuse
// it, so nothing here may outlive an evaluation.
type scratch struct {
	q      alarms.Query
	points []alarms.Point
	vals   []float64
	vm     vm.VM
	env    alarms.Env
}

// verdict is the outcome of one threshold rule (Aodh's evaluate_rule).
type verdict struct {
	state    alarms.State // ok, alarm or insufficient data; "" when mixed
	trending alarms.State // the newest point's side when mixed
	values   []float64    // the last evaluation_periods values, oldest first
	outside  int          // values beyond the threshold
	unknown  string       // reason when state is insufficient data
}

// fetchSeries returns the last evaluation_periods values of a series, or
// the reason they are insufficient, as Aodh's Gnocchi evaluators word it.
func fetchSeries(ctx context.Context, f alarms.Fetcher, s *alarms.Series, now time.Time, lag time.Duration, sc *scratch) ([]float64, string) {
	s.WindowQuery(&sc.q, now, lag)
	pts, err := f.Measures(ctx, &sc.q, sc.points[:0])
	if cap(pts) > cap(sc.points) {
		sc.points = pts[:0]
	}
	if err != nil {
		return nil, fetchReason(s, err)
	}
	if len(pts) == 0 {
		return nil, fmt.Sprintf("No datapoint for granularity %d", s.Granularity)
	}
	if len(pts) > s.EvaluationPeriods {
		pts = pts[len(pts)-s.EvaluationPeriods:]
	}
	start := len(sc.vals)
	for _, p := range pts {
		sc.vals = append(sc.vals, p.Value)
	}
	vals := sc.vals[start:len(sc.vals):len(sc.vals)]
	if len(vals) < s.EvaluationPeriods {
		return vals, fmt.Sprintf("%d datapoints are unknown", s.EvaluationPeriods)
	}
	return vals, ""
}

func fetchReason(s *alarms.Series, err error) string {
	switch s.Type {
	case alarms.TypeResourcesThreshold:
		switch {
		case errors.Is(err, alarms.ErrMetricNotFound):
			return fmt.Sprintf("metric %s for resource %s does not exists", s.Metric, s.ResourceID)
		case errors.Is(err, alarms.ErrResourceNotFound):
			return fmt.Sprintf("resource %s does not exists", s.ResourceID)
		case errors.Is(err, alarms.ErrAggregationNotFound):
			return fmt.Sprintf("aggregation %s does not exist for metric %s of resource %s", s.AggregationMethod, s.Metric, s.ResourceID)
		}
	case alarms.TypeAggregationByMetrics:
		switch {
		case errors.Is(err, alarms.ErrMetricNotFound):
			return fmt.Sprintf("At least of metrics in %s does not exist", pyList(s.Metrics))
		case errors.Is(err, alarms.ErrAggregationNotFound), errors.Is(err, alarms.ErrResourceNotFound):
			return fmt.Sprintf("aggregation %s does not exist for at least one metrics in %s", s.AggregationMethod, pyList(s.Metrics))
		}
	case alarms.TypeAggregationByResources:
		switch {
		case errors.Is(err, alarms.ErrMetricNotFound):
			return fmt.Sprintf("metric %s does not exists", s.Metric)
		case errors.Is(err, alarms.ErrAggregationNotFound), errors.Is(err, alarms.ErrResourceNotFound):
			return fmt.Sprintf("aggregation %s does not exist for at least one metric of the query", s.AggregationMethod)
		}
	}
	return "alarm statistics retrieval failed: " + err.Error()
}

func pyList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "'" + v + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// evalThreshold is Aodh's evaluate_rule for one threshold rule.
func evalThreshold(ctx context.Context, f alarms.Fetcher, r *alarms.ThresholdRule, now time.Time, lag time.Duration, sc *scratch) verdict {
	vals, unknown := fetchSeries(ctx, f, &r.Series, now, lag, sc)
	if unknown != "" {
		return verdict{state: alarms.StateInsufficient, values: vals, unknown: unknown}
	}
	v := verdict{values: vals}
	for _, x := range vals {
		if alarms.Compare(r.ComparisonOperator, x, r.Threshold) {
			v.outside++
		}
	}
	switch v.outside {
	case len(vals):
		v.state = alarms.StateAlarm
	case 0:
		v.state = alarms.StateOK
	default:
		v.trending = alarms.StateOK
		if alarms.Compare(r.ComparisonOperator, vals[len(vals)-1], r.Threshold) {
			v.trending = alarms.StateAlarm
		}
	}
	return v
}

func thresholdReasonData(disposition string, count int, values []float64) map[string]any {
	var last any
	if len(values) > 0 {
		last = values[len(values)-1]
	}
	return map[string]any{"type": "threshold", "disposition": disposition, "count": count, "most_recent": last}
}

// thresholdReason is Aodh's _reason.
func thresholdReason(current, state alarms.State, values []float64, outside int) (string, map[string]any) {
	disposition, count := "outside", outside
	if state == alarms.StateOK {
		disposition, count = "inside", len(values)-outside
	}
	last := "None"
	if len(values) > 0 {
		last = alarms.PyFloat(values[len(values)-1])
	}
	verb := "Remaining as"
	if current != state {
		verb = "Transition to"
	}
	return fmt.Sprintf("%s %s due to %d samples %s threshold, most recent: %s", verb, state, count, disposition, last),
		thresholdReasonData(disposition, count, values)
}

// thresholdDecision is Aodh's _transition_alarm.
func thresholdDecision(current alarms.State, repeat bool, periods int, v verdict) decision {
	unknown := current == alarms.StateInsufficient
	if v.trending != "" {
		if unknown || repeat {
			state := current
			if unknown {
				state = v.trending
			}
			reason, data := thresholdReason(current, state, v.values, v.outside)
			return decision{refresh: true, state: state, reason: reason, reasonData: data}
		}
		return decision{}
	}
	if v.state == alarms.StateInsufficient && !unknown {
		return decision{refresh: true, state: v.state, reason: v.unknown, reasonData: thresholdReasonData("unknown", periods, v.values)}
	}
	if v.state != "" && (current != v.state || repeat) {
		reason, data := thresholdReason(current, v.state, v.values, v.outside)
		return decision{refresh: true, state: v.state, reason: reason, reasonData: data}
	}
	return decision{}
}

// composite evaluation, as Aodh's CompositeEvaluator: leaves are
// evaluated lazily the first time an operator needs them.
type leafTarget struct {
	rule      *alarms.ThresholdRule
	name      string
	state     alarms.State
	trending  alarms.State
	evaluated bool
}

type compositeRun struct {
	ctx    context.Context
	f      alarms.Fetcher
	now    time.Time
	lag    time.Duration
	sc     *scratch
	leaves []*leafTarget
	byNode map[*alarms.CompositeRule]*leafTarget
}

func (c *compositeRun) leaf(n *alarms.CompositeRule) *leafTarget {
	t := c.byNode[n]
	if !t.evaluated {
		v := evalThreshold(c.ctx, c.f, t.rule, c.now, c.lag, c.sc)
		t.state, t.trending, t.evaluated = v.state, v.trending, true
	}
	return t
}

// isAlarm is the tree's alarm expression: and → all, or → any.
func (c *compositeRun) isAlarm(n *alarms.CompositeRule) bool {
	if n.Leaf != nil {
		return c.leaf(n).state == alarms.StateAlarm
	}
	for _, k := range n.Children {
		if c.isAlarm(k) != (n.Op == "and") {
			return n.Op != "and"
		}
	}
	return n.Op == "and"
}

// isOK is the tree's ok expression: and → any ok, or → all ok.
func (c *compositeRun) isOK(n *alarms.CompositeRule) bool {
	if n.Leaf != nil {
		return c.leaf(n).state == alarms.StateOK
	}
	for _, k := range n.Children {
		if c.isOK(k) != (n.Op == "or") {
			return n.Op != "or"
		}
	}
	return n.Op == "or"
}

// form renders the composition as Aodh's str(AndOp/OrOp).
func (c *compositeRun) form(n *alarms.CompositeRule) string {
	if n.Leaf != nil {
		return c.byNode[n].name
	}
	parts := make([]string, len(n.Children))
	for i, k := range n.Children {
		parts[i] = c.form(k)
	}
	return "(" + strings.Join(parts, " "+n.Op+" ") + ")"
}

var compositeDescriptions = map[alarms.State]string{
	alarms.StateAlarm:        "outside their threshold.",
	alarms.StateOK:           "inside their threshold.",
	alarms.StateInsufficient: "state evaluated to unknown.",
}

func (c *compositeRun) reason(root *alarms.CompositeRule, current, state alarms.State) (string, map[string]any) {
	form := c.form(root)
	causes := map[string]any{}
	var names []string
	for _, l := range c.leaves {
		if l.state == state {
			causes[l.name] = leafMap(l.rule)
			names = append(names, l.name)
		}
	}
	sort.Strings(names)
	verb := "remaining as"
	if current != state {
		verb = "transition to"
	}
	return fmt.Sprintf("Composite rule alarm with composition form: %s %s %s, due to rules: %s %s",
			form, verb, state, strings.Join(names, ", "), compositeDescriptions[state]),
		map[string]any{"type": "composite", "composition_form": form, "causative_rules": causes}
}

func leafMap(r *alarms.ThresholdRule) map[string]any {
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["type"] = r.Type
	return m
}

// sufficient is Aodh's _evaluate_sufficient.
func (c *compositeRun) sufficient(root *alarms.CompositeRule, current alarms.State) (decision, bool) {
	for _, l := range c.leaves {
		if l.trending == "" {
			continue
		}
		switch {
		case current == alarms.StateInsufficient:
			l.state = l.trending
		case l.trending == alarms.StateAlarm:
			l.state = alarms.StateOK
		case l.trending == alarms.StateOK:
			l.state = alarms.StateAlarm
		}
	}
	if c.isAlarm(root) {
		reason, data := c.reason(root, current, alarms.StateAlarm)
		return decision{refresh: true, state: alarms.StateAlarm, reason: reason, reasonData: data}, true
	}
	if c.isOK(root) {
		reason, data := c.reason(root, current, alarms.StateOK)
		return decision{refresh: true, state: alarms.StateOK, reason: reason, reasonData: data}, true
	}
	return decision{}, false
}

func evalComposite(ctx context.Context, f alarms.Fetcher, root *alarms.CompositeRule, current alarms.State, now time.Time, lag time.Duration, sc *scratch) decision {
	c := &compositeRun{ctx: ctx, f: f, now: now, lag: lag, sc: sc, byNode: map[*alarms.CompositeRule]*leafTarget{}}
	var walk func(n *alarms.CompositeRule)
	walk = func(n *alarms.CompositeRule) {
		if n.Leaf != nil {
			t := &leafTarget{rule: n.Leaf, name: fmt.Sprintf("rule%d", len(c.leaves)+1)}
			c.leaves = append(c.leaves, t)
			c.byNode[n] = t
			return
		}
		for _, k := range n.Children {
			walk(k)
		}
	}
	walk(root)
	if d, ok := c.sufficient(root, current); ok {
		return d
	}
	for _, l := range c.leaves {
		if !l.evaluated {
			v := evalThreshold(ctx, f, l.rule, now, lag, sc)
			l.state, l.trending, l.evaluated = v.state, v.trending, true
		}
	}
	if d, ok := c.sufficient(root, current); ok {
		return d
	}
	if current != alarms.StateInsufficient {
		reason, data := c.reason(root, current, alarms.StateInsufficient)
		return decision{refresh: true, state: alarms.StateInsufficient, reason: reason, reasonData: data}
	}
	return decision{}
}

// evalExpression evaluates vigil's expression rule: every query must have
// evaluation_periods points, then the expression decides alarm (true) or
// ok (false). Transitions follow the threshold rules without trending.
func evalExpression(ctx context.Context, f alarms.Fetcher, r *alarms.ExpressionRule, current alarms.State, repeat bool, now time.Time, lag time.Duration, sc *scratch) decision {
	if sc.env == nil {
		sc.env = make(alarms.Env, len(r.Names))
	}
	clear(sc.env)
	for _, name := range r.Names {
		q := r.Queries[name]
		vals, unknown := fetchSeries(ctx, f, q, now, lag, sc)
		if unknown != "" {
			if current == alarms.StateInsufficient && !repeat {
				return decision{}
			}
			return decision{refresh: true, state: alarms.StateInsufficient, reason: "Query " + name + ": " + unknown,
				reasonData: map[string]any{"type": "expression", "expression": r.Expression, "query": name, "disposition": "unknown"}}
		}
		sc.env[name] = alarms.StatsOf(vals)
	}
	out, err := sc.vm.Run(r.Program(), sc.env)
	if err != nil {
		if current == alarms.StateInsufficient && !repeat {
			return decision{}
		}
		return decision{refresh: true, state: alarms.StateInsufficient, reason: "Expression " + r.Expression + " failed: " + err.Error(),
			reasonData: map[string]any{"type": "expression", "expression": r.Expression, "disposition": "unknown", "values": statsValues(sc.env)}}
	}
	result, _ := out.(bool)
	state := alarms.StateOK
	if result {
		state = alarms.StateAlarm
	}
	if current == state && !repeat {
		return decision{}
	}
	verb := "Remaining as"
	if current != state {
		verb = "Transition to"
	}
	return decision{refresh: true, state: state,
		reason:     fmt.Sprintf("%s %s due to expression %s evaluating to %t", verb, state, r.Expression, result),
		reasonData: map[string]any{"type": "expression", "expression": r.Expression, "result": result, "values": statsValues(sc.env)}}
}

// statsValues is what reason_data shows of each query.
func statsValues(env alarms.Env) map[string]any {
	out := make(map[string]any, len(env))
	for name, v := range env {
		st := v.(alarms.Stats)
		out[name] = map[string]any{"last": st.Last, "first": st.First, "min": st.Min, "max": st.Max, "mean": st.Mean, "sum": st.Sum, "count": st.Count}
	}
	return out
}

// evaluate decides one evaluation of an alarm at now. The caller checked
// the time constraints.
func evaluate(ctx context.Context, f alarms.Fetcher, a *alarms.Alarm, current alarms.State, now time.Time, lag time.Duration, sc *scratch) decision {
	sc.vals = sc.vals[:0]
	switch r := a.Rule.(type) {
	case *alarms.ThresholdRule:
		return thresholdDecision(current, a.RepeatActions, r.EvaluationPeriods, evalThreshold(ctx, f, r, now, lag, sc))
	case *alarms.CompositeRule:
		return evalComposite(ctx, f, r, current, now, lag, sc)
	case *alarms.ExpressionRule:
		return evalExpression(ctx, f, r, current, a.RepeatActions, now, lag, sc)
	}
	return decision{}
}

// eventDecision is Aodh's event evaluator for one alarm and one event.
func eventDecision(r *alarms.EventRule, current alarms.State, repeat bool, ev *alarms.Event) decision {
	if current == alarms.StateAlarm && !repeat {
		return decision{}
	}
	if !alarms.Glob(r.EventType, ev.EventType) {
		return decision{}
	}
	for i := range r.Query {
		if !eventCondition(&r.Query[i], ev) {
			return decision{}
		}
	}
	q := make([]map[string]any, len(r.Query))
	for i, c := range r.Query {
		q[i] = map[string]any{"field": c.Field, "op": c.Op, "value": c.Value, "type": c.Type}
	}
	return decision{refresh: true, state: alarms.StateAlarm, always: repeat,
		reason:     fmt.Sprintf("Event <id=%s,event_type=%s> hits the query <query=%s>.", ev.MessageID, ev.EventType, alarms.PyJSON(q)),
		reasonData: map[string]any{"type": "event", "event": ev.Raw}}
}
