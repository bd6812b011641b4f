// Package metering is the alarm evaluator's view of vigil's own store: it
// answers the evaluator's queries from the SQL index and the aggregated
// splits, in process, as Aodh's Gnocchi client answers them over HTTP.
package metering

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ops"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// MaxResources bounds the resources one by-resources rule aggregates.
const MaxResources = 10000

// Fetcher implements alarms.Fetcher over the index and the series
// storage. It is safe for concurrent use.
type Fetcher struct {
	idx *index.Index
	rd  *query.Reader

	mu       sync.Mutex // guards policies
	policies map[string]policyEntry
}

type policyEntry struct {
	p    archive.Policy
	read time.Time
}

// policyTTL is how long a policy read from the index is reused: policies
// change rarely and alarms read them on every evaluation.
const policyTTL = 30 * time.Second

// New returns a Fetcher over idx and rd.
func New(idx *index.Index, rd *query.Reader) *Fetcher {
	return &Fetcher{idx: idx, rd: rd, policies: make(map[string]policyEntry)}
}

var _ alarms.Fetcher = (*Fetcher)(nil)

// Measures answers q; see alarms.Fetcher.
func (f *Fetcher) Measures(ctx context.Context, q *alarms.Query, dst []alarms.Point) ([]alarms.Point, error) {
	switch q.Kind {
	case alarms.QueryResourceMetric:
		res, err := f.resource(ctx, q.ResourceType, q.ResourceID)
		if err != nil {
			return dst, err
		}
		id, ok := res.Metrics[q.Metric]
		if !ok {
			return dst, fmt.Errorf("%w: resource %s has no metric %q", alarms.ErrMetricNotFound, q.ResourceID, q.Metric)
		}
		return f.metricMeasures(ctx, id, q, dst)
	case alarms.QueryMetrics:
		ids := make([]uuid.UUID, 0, len(q.MetricIDs))
		for _, s := range q.MetricIDs {
			id, err := uuid.Parse(s)
			if err != nil {
				return dst, fmt.Errorf("%w: %q is not a metric id", alarms.ErrMetricNotFound, s)
			}
			ids = append(ids, id)
		}
		return f.aggregate(ctx, ids, q, dst)
	case alarms.QueryResources:
		ids, err := f.searchMetrics(ctx, q)
		if err != nil {
			return dst, err
		}
		return f.aggregate(ctx, ids, q, dst)
	}
	return dst, fmt.Errorf("cannot fetch measures: unknown query kind %d", q.Kind)
}

// resource finds a resource by UUID or by the original id an agent gave it.
func (f *Fetcher) resource(ctx context.Context, typ, raw string) (index.Resource, error) {
	if typ == "" {
		typ = "generic"
	}
	if id, err := uuid.Parse(raw); err == nil {
		res, err := f.idx.Resource(ctx, typ, id)
		if errors.Is(err, index.ErrNotFound) {
			return res, fmt.Errorf("%w: %s", alarms.ErrResourceNotFound, raw)
		}
		return res, err
	}
	filter, err := search.ParseValue(map[string]any{"=": map[string]any{"original_resource_id": raw}})
	if err != nil {
		return index.Resource{}, fmt.Errorf("BUG: cannot build a resource filter: %w", err)
	}
	rs, err := f.idx.ListResources(ctx, index.ListOptions{Type: typ, Filter: filter, Limit: 1})
	if err != nil {
		return index.Resource{}, fmt.Errorf("cannot look up resource %q: %w", raw, err)
	}
	if len(rs) == 0 {
		return index.Resource{}, fmt.Errorf("%w: %s", alarms.ErrResourceNotFound, raw)
	}
	// Listings of a type carry the metrics, which the rule needs.
	return f.idx.Resource(ctx, typ, rs[0].ID)
}

func (f *Fetcher) policy(ctx context.Context, name string) (*archive.Policy, error) {
	f.mu.Lock()
	e, ok := f.policies[name]
	f.mu.Unlock()
	if ok && time.Since(e.read) < policyTTL {
		return &e.p, nil
	}
	p, err := f.idx.ArchivePolicy(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cannot read archive policy %q: %w", name, err)
	}
	f.mu.Lock()
	f.policies[name] = policyEntry{p: p, read: time.Now()}
	f.mu.Unlock()
	return &p, nil
}

// series reads one metric's points of method m at q's granularity and
// window.
func (f *Fetcher) series(ctx context.Context, id uuid.UUID, m archive.Method, q *alarms.Query) ([]query.Measure, error) {
	met, err := f.idx.Metric(ctx, id)
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", alarms.ErrMetricNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot look up metric %s: %w", id, err)
	}
	p, err := f.policy(ctx, met.ArchivePolicyName)
	if err != nil {
		return nil, err
	}
	o := query.MeasuresOptions{Method: m, Granularity: q.Granularity, Start: q.Start.UnixNano()}
	if !q.Stop.IsZero() {
		// The window's stop is inclusive, the reader's exclusive.
		o.Stop = q.Stop.UnixNano() + 1
	}
	ms, err := f.rd.Measures(ctx, id, p, o)
	if errors.Is(err, query.ErrNoAggregation) {
		return nil, fmt.Errorf("%w: %s at %v for metric %s", alarms.ErrAggregationNotFound, m, q.Granularity, id)
	}
	return ms, err
}

func parseMethod(agg string) (archive.Method, error) {
	m, err := archive.ParseMethod(agg)
	if err != nil {
		return m, fmt.Errorf("%w: %v", alarms.ErrAggregationNotFound, err)
	}
	return m, nil
}

func (f *Fetcher) metricMeasures(ctx context.Context, id uuid.UUID, q *alarms.Query, dst []alarms.Point) ([]alarms.Point, error) {
	m, err := parseMethod(q.Aggregation)
	if err != nil {
		return dst, err
	}
	ms, err := f.series(ctx, id, m, q)
	if err != nil {
		return dst, err
	}
	for _, x := range ms {
		dst = append(dst, alarms.Point{Time: time.Unix(0, x.Timestamp).UTC(), Value: x.Value})
	}
	return dst, nil
}

// aggregate reads each metric's series of the rule's method and reduces
// them point by point with that method, as Gnocchi's aggregates do for
// Aodh (needed_overlap 0).
func (f *Fetcher) aggregate(ctx context.Context, ids []uuid.UUID, q *alarms.Query, dst []alarms.Point) ([]alarms.Point, error) {
	agg := strings.TrimPrefix(q.Aggregation, "rate:")
	m, err := parseMethod(agg)
	if err != nil {
		return dst, err
	}
	if len(ids) == 0 {
		return dst, nil
	}
	inputs := make([]ops.Input, 0, len(ids))
	refs := make([]ops.Ref, 0, len(ids))
	for _, id := range ids {
		ms, err := f.series(ctx, id, m, q)
		if err != nil {
			return dst, err
		}
		s := ops.Series{Granularity: int64(q.Granularity)}
		for _, x := range ms {
			s.Timestamps = append(s.Timestamps, x.Timestamp)
			s.Values = append(s.Values, x.Value)
		}
		ref := ops.Ref{Metric: id.String(), Aggregation: agg}
		refs = append(refs, ref)
		inputs = append(inputs, ops.Input{Ref: ref, Series: []ops.Series{s}})
	}
	var b strings.Builder
	b.WriteString("(aggregate " + agg + " (metric")
	for _, r := range refs {
		b.WriteString(" (" + r.Metric + " " + r.Aggregation + ")")
	}
	b.WriteString("))")
	node, err := ops.ParseString(b.String())
	if err != nil {
		return dst, fmt.Errorf("%w: %v", alarms.ErrAggregationNotFound, err)
	}
	zero := 0.0
	res, err := ops.Eval(ctx, node, inputs, ops.Options{Granularity: int64(q.Granularity), NeededOverlap: &zero})
	if err != nil {
		return dst, fmt.Errorf("cannot aggregate %d metrics with %s: %w", len(ids), agg, err)
	}
	for _, p := range res.Points {
		dst = append(dst, alarms.Point{Time: time.Unix(0, p.Timestamp).UTC(), Value: p.Value})
	}
	return dst, nil
}

// searchMetrics finds the metrics named q.Metric of the resources of
// q.ResourceType that q.Search selects.
func (f *Fetcher) searchMetrics(ctx context.Context, q *alarms.Query) ([]uuid.UUID, error) {
	var filter search.Expr
	if strings.TrimSpace(q.Search) != "" {
		var err error
		if filter, err = search.ParseJSON([]byte(q.Search)); err != nil {
			return nil, fmt.Errorf("invalid resource query %s: %w", q.Search, err)
		}
	}
	typ := q.ResourceType
	if typ == "" {
		typ = "generic"
	}
	rs, err := f.idx.ListResources(ctx, index.ListOptions{Type: typ, Filter: filter, Limit: MaxResources})
	if err != nil {
		return nil, fmt.Errorf("cannot search resources of type %s: %w", typ, err)
	}
	ids := make([]uuid.UUID, 0, len(rs))
	for i := range rs {
		if id, ok := rs[i].Metrics[q.Metric]; ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
