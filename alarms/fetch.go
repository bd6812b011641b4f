package alarms

import (
	"context"
	"errors"
	"time"
)

// Point is one aggregated value of a series at a granularity.
type Point struct {
	Time  time.Time
	Value float64
}

// QueryKind says what a Query reads.
type QueryKind uint8

// Query kinds, one per Gnocchi threshold rule type.
const (
	// QueryResourceMetric reads the metric named Metric of resource
	// ResourceID (gnocchi_resources_threshold).
	QueryResourceMetric QueryKind = iota + 1
	// QueryMetrics aggregates across the metrics MetricIDs: each metric's
	// series of Aggregation (without a "rate:" prefix), then Aggregation
	// across them point by point (gnocchi_aggregation_by_metrics_threshold,
	// Gnocchi's aggregates with needed_overlap=0).
	QueryMetrics
	// QueryResources aggregates the metric named Metric across the
	// resources of ResourceType matching the search filter Search
	// (gnocchi_aggregation_by_resources_threshold).
	QueryResources
)

// Query asks the metering store for the aggregated points of one series
// over [Start, Stop].
type Query struct {
	Kind         QueryKind
	ResourceID   string
	ResourceType string
	Metric       string
	MetricIDs    []string
	Search       string // Gnocchi JSON search filter
	Aggregation  string
	Granularity  time.Duration
	Start, Stop  time.Time
}

// Fetcher reads aggregated points from the metering store. Implementations
// must be safe for concurrent use.
type Fetcher interface {
	// Measures appends to dst the points of q's series at q.Granularity
	// with timestamps in [q.Start, q.Stop], oldest first, and returns the
	// extended slice. A missing metric, resource or aggregation is an
	// error wrapping ErrMetricNotFound, ErrResourceNotFound or
	// ErrAggregationNotFound.
	Measures(ctx context.Context, q *Query, dst []Point) ([]Point, error)
}

// Outcomes of a fetch that the evaluator turns into Aodh's reasons.
var (
	ErrMetricNotFound      = errors.New("metric not found")
	ErrResourceNotFound    = errors.New("resource not found")
	ErrAggregationNotFound = errors.New("aggregation not found")
)

// WindowQuery fills q with what a series needs evaluated at now: Aodh's
// window, granularity × (evaluation_periods + 1) + lag back from now. q's
// MetricIDs aliases s.Metrics.
func (s *Series) WindowQuery(q *Query, now time.Time, lag time.Duration) {
	g := time.Duration(s.Granularity) * time.Second
	*q = Query{
		ResourceID:   s.ResourceID,
		ResourceType: s.ResourceType,
		Metric:       s.Metric,
		MetricIDs:    s.Metrics,
		Search:       s.Query,
		Aggregation:  s.AggregationMethod,
		Granularity:  g,
		Start:        now.Add(-(g*time.Duration(s.EvaluationPeriods+1) + lag)),
		Stop:         now,
	}
	switch s.Type {
	case TypeResourcesThreshold:
		q.Kind = QueryResourceMetric
	case TypeAggregationByMetrics:
		q.Kind = QueryMetrics
	case TypeAggregationByResources:
		q.Kind = QueryResources
	}
}
