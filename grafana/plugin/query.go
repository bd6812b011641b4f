package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// Query types.
const (
	QueryMetric      = "metric"
	QueryResources   = "resources"
	QueryAggregates  = "aggregates"
	QueryAnnotations = "annotations"
	QueryAlarms      = "alarms"
)

// Query is the JSON model of a panel query, as the query editor writes it.
// Template variables are already interpolated by the frontend; Grafana's
// global $__ variables are expanded here too, for alerting's server-side
// queries.
type Query struct {
	QueryType string `json:"queryType"`

	// MetricID is the metric of a metric query.
	MetricID string `json:"metricId,omitempty"`

	// ResourceType and Filter (Gnocchi's string filter syntax) select
	// the resources of resources and aggregates queries.
	ResourceType string `json:"resourceType,omitempty"`
	Filter       string `json:"filter,omitempty"`
	// MetricName is the metric of each resource in a resources query.
	MetricName string `json:"metricName,omitempty"`

	// Aggregation is the archive policy's method to read (mean when
	// empty).
	Aggregation string `json:"aggregation,omitempty"`
	// Granularity forces a granularity (seconds or a duration like 5m);
	// empty or auto chooses it from the panel's interval.
	Granularity string `json:"granularity,omitempty"`

	// Operations is an aggregates query's operation,
	// e.g. (aggregate mean (metric cpu_util mean)).
	Operations string `json:"operations,omitempty"`
	// GroupBy are the resource attributes to group an aggregates query
	// by; each group is a series.
	GroupBy []string `json:"groupBy,omitempty"`

	// Legend names each series: {{attribute}} is replaced by the
	// resource's or group's attribute, {{metric}} and {{aggregation}}
	// by the query's.
	Legend string `json:"legend,omitempty"`
	// Unit overrides the metric's unit (a Grafana unit id).
	Unit string `json:"unit,omitempty"`
	// PerSecond divides each value by its granularity in seconds: a
	// rate:mean of a cumulative counter (the CPU time or bytes of one
	// granularity) becomes a rate per second.
	PerSecond bool `json:"perSecond,omitempty"`
	// Scale multiplies each value (after PerSecond), e.g. 1e-7 turns
	// nanoseconds of CPU per second into percent of one CPU; 0 is 1.
	Scale float64 `json:"scale,omitempty"`

	// AlarmID restricts annotations to one alarm; AlarmState restricts
	// the alarms query to one state.
	AlarmID    string `json:"alarmId,omitempty"`
	AlarmState string `json:"alarmState,omitempty"`
	// HistoryType is the alarm change type to show as annotations
	// ("state transition" when empty, "all" for every change).
	HistoryType string `json:"historyType,omitempty"`

	// Limit bounds the series (resources) or annotations; the data
	// source's maximum when 0.
	Limit int `json:"limit,omitempty"`
}

// maxAnnotations bounds the alarm history entries of one query.
const maxAnnotations = 5000

// ParseQuery decodes and checks a query's JSON.
func ParseQuery(raw json.RawMessage) (Query, error) {
	var q Query
	if err := json.Unmarshal(raw, &q); err != nil {
		return Query{}, badQuery("cannot decode the query: %v", err)
	}
	if q.QueryType == "" {
		switch {
		case q.Operations != "":
			q.QueryType = QueryAggregates
		case q.MetricName != "":
			q.QueryType = QueryResources
		default:
			q.QueryType = QueryMetric
		}
	}
	if q.Aggregation == "" {
		q.Aggregation = "mean"
	}
	// The method goes into operations strings: a name, nothing that
	// could close or open an expression.
	if !isIdent(q.Aggregation) {
		return Query{}, badQuery("aggregation %q is not a method name such as mean, max or rate:mean", q.Aggregation)
	}
	if q.Limit < 0 {
		return Query{}, badQuery("limit %d is negative", q.Limit)
	}
	if q.Scale != q.Scale || q.Scale > 1e18 || q.Scale < -1e18 {
		return Query{}, badQuery("scale %v is out of range", q.Scale)
	}
	return q, nil
}

// query answers one query.
func (d *Datasource) query(ctx context.Context, dq backend.DataQuery) backend.DataResponse {
	q, err := ParseQuery(dq.JSON)
	if err != nil {
		return errorResponse(err)
	}
	m := macros{from: dq.TimeRange.From, to: dq.TimeRange.To, interval: dq.Interval}
	q.Filter = m.expand(q.Filter)
	q.Operations = m.expand(q.Operations)
	q.Granularity = m.expand(q.Granularity)
	var frames data.Frames
	switch q.QueryType {
	case QueryMetric:
		frames, err = d.queryMetric(ctx, q, dq)
	case QueryResources:
		frames, err = d.queryResources(ctx, q, dq)
	case QueryAggregates:
		frames, err = d.queryAggregates(ctx, q, dq)
	case QueryAnnotations:
		frames, err = d.queryAnnotations(ctx, q, dq)
	case QueryAlarms:
		frames, err = d.queryAlarms(ctx, q)
	default:
		err = badQuery("unknown query type %q: want metric, resources, aggregates, annotations or alarms", q.QueryType)
	}
	if err != nil {
		return errorResponse(err)
	}
	return backend.DataResponse{Frames: frames}
}

// granularity decides the granularity to read a policy at.
func (d *Datasource) granularity(q Query, dq backend.DataQuery, p ArchivePolicy) (time.Duration, error) {
	g, err := parseGranularity(q.Granularity)
	if err != nil {
		return 0, badQuery("%v", err)
	}
	if g > 0 {
		for _, def := range p.Definitions {
			if def.Granularity == g {
				return g, nil
			}
		}
		return 0, badQuery("archive policy %s has no granularity %v; it has %s", p.Name, g, granularities(p))
	}
	return ChooseGranularity(p.Definitions, dq.TimeRange.From, dq.TimeRange.To, d.now(), dq.Interval, dq.MaxDataPoints)
}

func granularities(p ArchivePolicy) string {
	parts := make([]string, len(p.Definitions))
	for i, def := range p.Definitions {
		parts[i] = def.Granularity.String()
	}
	return strings.Join(parts, ", ")
}

func checkMethod(p ArchivePolicy, method string) error {
	if len(p.AggregationMethods) > 0 && !p.HasMethod(method) {
		return badQuery("archive policy %s has no aggregation method %s; it has %s", p.Name, method, strings.Join(p.AggregationMethods, ", "))
	}
	return nil
}

func (d *Datasource) unit(q Query, metricUnit string) string {
	if q.Unit != "" {
		return q.Unit
	}
	return grafanaUnit(metricUnit)
}

// transform applies PerSecond and Scale to a series in place.
func (q *Query) transform(s *Series) {
	f := 1.0
	if q.PerSecond && s.Granularity > 0 {
		f /= s.Granularity.Seconds()
	}
	if q.Scale != 0 {
		f *= q.Scale
	}
	if f == 1 {
		return
	}
	for i := range s.Values {
		s.Values[i] *= f
	}
}

// seriesFrame makes the typed frame of one series.
func seriesFrame(name string, labels data.Labels, s Series, unit, executed string) *data.Frame {
	vf := data.NewField("value", labels, s.Values)
	vf.Config = &data.FieldConfig{DisplayNameFromDS: name, Unit: unit}
	if s.Granularity > 0 {
		vf.Config.Interval = float64(s.Granularity.Milliseconds())
	}
	f := data.NewFrame(name, data.NewField("time", nil, s.Times), vf)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}, ExecutedQueryString: executed}
	return f
}

// noData is the answer to a query that found nothing: one empty, typed
// frame, so that panels show "no data" and alerts see an empty series.
func noData(executed string) data.Frames {
	f := data.NewFrame("", data.NewField("time", nil, []time.Time{}), data.NewField("value", nil, []float64{}))
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}, ExecutedQueryString: executed}
	return data.Frames{f}
}

func (d *Datasource) queryMetric(ctx context.Context, q Query, dq backend.DataQuery) (data.Frames, error) {
	if q.MetricID == "" {
		return nil, badQuery("a metric query needs a metric id")
	}
	m, err := d.client.Metric(ctx, q.MetricID)
	if err != nil {
		return nil, err
	}
	if err := checkMethod(m.Policy, q.Aggregation); err != nil {
		return nil, err
	}
	g, err := d.granularity(q, dq, m.Policy)
	if err != nil {
		return nil, err
	}
	opts := MeasuresOptions{Start: dq.TimeRange.From, Stop: dq.TimeRange.To, Granularity: g, Aggregation: q.Aggregation}
	s, err := d.client.Measures(ctx, m.ID, opts)
	if err != nil {
		return nil, err
	}
	q.transform(&s)
	name := m.Name
	if name == "" {
		name = m.ID
	}
	if q.Legend != "" {
		res := m.Resource
		// The metric document holds the resource's common fields only;
		// a legend may name the type's own attributes.
		if res != nil && res.Type != "" && res.Type != "generic" {
			if full, err := d.client.Resource(ctx, res.Type, res.ID); err == nil {
				res = &full
			}
		}
		name = renderLegend(q.Legend, resourceLookup(res, m.Name, q.Aggregation))
	}
	labels := data.Labels{"metric_id": m.ID}
	if m.ResourceID != "" {
		labels["resource_id"] = m.ResourceID
	}
	executed := fmt.Sprintf("GET /v1/metric/%s/measures?%s", m.ID, opts.query().Encode())
	return data.Frames{seriesFrame(name, labels, s, d.unit(q, m.Unit), executed)}, nil
}

func (d *Datasource) limit(q Query) int {
	if q.Limit > 0 && q.Limit < d.settings.MaxSeries {
		return q.Limit
	}
	return d.settings.MaxSeries
}

func (d *Datasource) queryResources(ctx context.Context, q Query, dq backend.DataQuery) (data.Frames, error) {
	if q.ResourceType == "" || q.MetricName == "" {
		return nil, badQuery("a resources query needs a resource type and a metric name")
	}
	limit := d.limit(q)
	rs, err := d.client.SearchResources(ctx, q.ResourceType, q.Filter, limit+1)
	if err != nil {
		return nil, err
	}
	if len(rs) > limit {
		return nil, badQuery("the search finds more than %d resources of type %s; narrow the filter or raise the limit", limit, q.ResourceType)
	}
	byMetric := make(map[string]*Resource, len(rs))
	var ids []string
	for i := range rs {
		if id, ok := rs[i].Metrics[q.MetricName]; ok {
			byMetric[id] = &rs[i]
			ids = append(ids, id)
		}
	}
	executed := fmt.Sprintf("POST /v1/search/resource/%s filter=%q: %d resources, %d with %s", q.ResourceType, q.Filter, len(rs), len(byMetric), q.MetricName)
	if len(byMetric) == 0 {
		return noData(executed), nil
	}
	// The metrics of one name share a policy in practice (the archive
	// policy rules match names); the first one's decides.
	p, metricUnit, err := d.metricPolicy(ctx, ids[0])
	if err != nil {
		return nil, err
	}
	if err := checkMethod(p, q.Aggregation); err != nil {
		return nil, err
	}
	g, err := d.granularity(q, dq, p)
	if err != nil {
		return nil, err
	}
	opts := MeasuresOptions{Start: dq.TimeRange.From, Stop: dq.TimeRange.To, Granularity: g}
	groups, err := d.readMetrics(ctx, ids, q.Aggregation, opts)
	if err != nil {
		return nil, err
	}
	executed += fmt.Sprintf("; POST /v1/aggregates?%s (metric (ID %s) ...) of the %d", AggregatesRequest{MeasuresOptions: opts}.values().Encode(), q.Aggregation, len(ids))
	unit := d.unit(q, metricUnit)
	frames := make(data.Frames, 0, len(byMetric))
	for _, grp := range groups {
		for _, as := range grp.Series {
			if len(as.Key) != 2 {
				return nil, fmt.Errorf("the aggregates answer has a series under %v, want metric id and method", as.Key)
			}
			r := byMetric[as.Key[0]]
			if r == nil {
				continue
			}
			name := r.DisplayName()
			if q.Legend != "" {
				name = renderLegend(q.Legend, resourceLookup(r, q.MetricName, q.Aggregation))
			}
			labels := data.Labels{"resource_id": r.ID, "name": r.DisplayName()}
			q.transform(&as.Series)
			frames = append(frames, seriesFrame(name, labels, as.Series, unit, executed))
		}
	}
	sortFrames(frames)
	if len(frames) == 0 {
		return noData(executed), nil
	}
	return frames, nil
}

// Reading many metrics is split into parallel aggregates calls of at least
// minChunk metrics, at most maxChunks at once: the API encodes and the
// plugin decodes the answers on several cores instead of one.
const (
	minChunk  = 25
	maxChunks = 4
)

// readMetrics reads the measures of metrics by id with aggregates calls
// of (metric (ID METHOD) ...).
func (d *Datasource) readMetrics(ctx context.Context, ids []string, method string, opts MeasuresOptions) ([]AggGroup, error) {
	chunks := min(maxChunks, (len(ids)+minChunk-1)/minChunk)
	size := (len(ids) + chunks - 1) / chunks
	out := make([][]AggGroup, chunks)
	errs := make([]error, chunks)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < chunks; c++ {
		part := ids[c*size : min(len(ids), (c+1)*size)]
		var ops strings.Builder
		ops.WriteString("(metric")
		for _, id := range part {
			ops.WriteString(" (")
			ops.WriteString(id)
			ops.WriteString(" ")
			ops.WriteString(method)
			ops.WriteString(")")
		}
		ops.WriteString(")")
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[c], errs[c] = d.client.Aggregates(ctx, AggregatesRequest{Operations: ops.String(), MeasuresOptions: opts})
			if errs[c] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var all []AggGroup
	for c := range out {
		if errs[c] != nil {
			return nil, errs[c]
		}
		all = append(all, out[c]...)
	}
	return all, nil
}

func sortFrames(fs data.Frames) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
}

// operationMetrics returns the metric names or ids an operations string
// reads, in order of appearance: the pairs of (metric NAME METHOD) and
// (metric (NAME METHOD) ...). A string that does not parse reads none.
func operationMetrics(ops string) []string {
	node, err := parseSexp(ops)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(n sexp)
	walk = func(n sexp) {
		if len(n.list) == 0 {
			return
		}
		if n.list[0].atom == "metric" && len(n.list) >= 2 {
			if n.list[1].list == nil {
				out = append(out, n.list[1].atom)
				return
			}
			for _, pair := range n.list[1:] {
				if len(pair.list) >= 1 && pair.list[0].list == nil {
					out = append(out, pair.list[0].atom)
				}
			}
			return
		}
		for _, c := range n.list[1:] {
			walk(c)
		}
	}
	walk(node)
	return out
}

// sexp is a node of an operations string: an atom or a list.
type sexp struct {
	atom string
	list []sexp
}

// maxSexpDepth bounds the nesting of operations the plugin reads.
const maxSexpDepth = 64

func parseSexp(s string) (sexp, error) {
	toks := strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s))
	pos := 0
	var parse func(depth int) (sexp, error)
	parse = func(depth int) (sexp, error) {
		if depth > maxSexpDepth {
			return sexp{}, fmt.Errorf("operations nested deeper than %d", maxSexpDepth)
		}
		if pos >= len(toks) {
			return sexp{}, fmt.Errorf("operations end early")
		}
		t := toks[pos]
		pos++
		switch t {
		case ")":
			return sexp{}, fmt.Errorf("unbalanced parenthesis in operations")
		case "(":
			n := sexp{list: []sexp{}}
			for {
				if pos >= len(toks) {
					return sexp{}, fmt.Errorf("unbalanced parenthesis in operations")
				}
				if toks[pos] == ")" {
					pos++
					return n, nil
				}
				c, err := parse(depth + 1)
				if err != nil {
					return sexp{}, err
				}
				n.list = append(n.list, c)
			}
		}
		return sexp{atom: t}, nil
	}
	n, err := parse(0)
	if err == nil && pos != len(toks) {
		err = fmt.Errorf("operations have text after the expression")
	}
	return n, err
}

func (d *Datasource) queryAggregates(ctx context.Context, q Query, dq backend.DataQuery) (data.Frames, error) {
	if strings.TrimSpace(q.Operations) == "" {
		return nil, badQuery("an aggregates query needs operations, e.g. (aggregate mean (metric cpu mean))")
	}
	refs := operationMetrics(q.Operations)
	if len(refs) == 0 {
		return nil, badQuery("the operations %q read no metric: write (metric NAME METHOD)", q.Operations)
	}
	// The granularity comes from the policy of the first metric read.
	var metricID string
	if q.ResourceType == "" {
		metricID = refs[0]
	} else {
		rs, err := d.client.SearchResources(ctx, q.ResourceType, q.Filter, 50)
		if err != nil {
			return nil, err
		}
		for i := range rs {
			if id, ok := rs[i].Metrics[refs[0]]; ok {
				metricID = id
				break
			}
		}
		if metricID == "" {
			return noData(fmt.Sprintf("POST /v1/search/resource/%s filter=%q: no resource has metric %s", q.ResourceType, q.Filter, refs[0])), nil
		}
	}
	p, metricUnit, err := d.metricPolicy(ctx, metricID)
	if err != nil {
		return nil, err
	}
	g, err := d.granularity(q, dq, p)
	if err != nil {
		return nil, err
	}
	groupBy := append([]string(nil), q.GroupBy...)
	sort.Strings(groupBy)
	req := AggregatesRequest{
		Operations:      q.Operations,
		ResourceType:    q.ResourceType,
		Search:          q.Filter,
		GroupBy:         groupBy,
		Details:         q.ResourceType != "",
		MeasuresOptions: MeasuresOptions{Start: dq.TimeRange.From, Stop: dq.TimeRange.To, Granularity: g},
	}
	groups, err := d.client.Aggregates(ctx, req)
	if err != nil {
		return nil, err
	}
	executed := fmt.Sprintf("POST /v1/aggregates?%s %s", req.values().Encode(), q.Operations)
	unit := d.unit(q, metricUnit)
	limit := d.limit(q)
	var frames data.Frames
	for _, grp := range groups {
		resources := map[string]*Resource{}
		if len(grp.References) > 0 {
			var rs []Resource
			if err := json.Unmarshal(grp.References, &rs); err == nil {
				for i := range rs {
					resources[rs[i].ID] = &rs[i]
				}
			}
		}
		for _, as := range grp.Series {
			if len(frames) >= limit {
				return nil, badQuery("the aggregates answer has more than %d series; narrow the filter, group less finely or raise the limit", limit)
			}
			name, labels := aggName(q, groupBy, grp.Group, as.Key, resources)
			q.transform(&as.Series)
			frames = append(frames, seriesFrame(name, labels, as.Series, unit, executed))
		}
	}
	if len(frames) == 0 {
		return noData(executed), nil
	}
	sortFrames(frames)
	return frames, nil
}

// aggName names a series of an aggregates answer and labels it with its
// group and key.
func aggName(q Query, groupBy []string, group map[string]any, key []string, resources map[string]*Resource) (string, data.Labels) {
	labels := data.Labels{}
	for _, k := range groupBy {
		labels[k] = attrText(group[k])
	}
	var res *Resource
	metric, method := "", ""
	switch len(key) {
	case 1: // aggregated
	case 2:
		metric, method = key[0], key[1]
		labels["metric"], labels["aggregation"] = metric, method
	case 3:
		res = resources[key[0]]
		metric, method = key[1], key[2]
		labels["resource_id"], labels["metric"], labels["aggregation"] = key[0], metric, method
	}
	lookup := func(name string) (string, bool) {
		if v, ok := group[name]; ok {
			return attrText(v), true
		}
		if res == nil && len(key) == 3 && name == "id" {
			return key[0], true
		}
		switch name {
		case "metric":
			return metric, true
		case "aggregation":
			return method, true
		}
		return resourceLookup(res, metric, method)(name)
	}
	if q.Legend != "" {
		return renderLegend(q.Legend, lookup), labels
	}
	var parts []string
	if len(groupBy) > 0 {
		parts = append(parts, groupLabel(groupBy, group))
	}
	switch {
	case res != nil:
		parts = append(parts, res.DisplayName(), metric)
	case len(key) == 3:
		parts = append(parts, key[0], metric)
	case len(key) == 2:
		parts = append(parts, metric)
	}
	if len(parts) == 0 {
		return "aggregated", labels
	}
	return strings.Join(parts, " "), labels
}
