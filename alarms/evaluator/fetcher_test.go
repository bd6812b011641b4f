package evaluator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// memFetcher stands for the metering store's query side: series by key,
// each point at a granularity. It is the one stand-in of these tests; it
// replaces our own store, not an external service.
type memFetcher struct {
	mu     sync.RWMutex
	series map[string][]memPoint
	consts map[string]memPoint // a value at every step of g, whenever asked
	errs   map[string]error
	calls  atomic.Int64
}

type memPoint struct {
	t time.Time
	g time.Duration
	v float64
}

func newMemFetcher() *memFetcher {
	return &memFetcher{series: map[string][]memPoint{}, consts: map[string]memPoint{}, errs: map[string]error{}}
}

// keyOf names the series a query reads.
func keyOf(q *alarms.Query) string {
	switch q.Kind {
	case alarms.QueryResourceMetric:
		return "res:" + q.ResourceID + "/" + q.Metric
	case alarms.QueryMetrics:
		return "metrics:" + strings.Join(q.MetricIDs, ",")
	case alarms.QueryResources:
		return "search:" + q.ResourceType + "/" + q.Metric + "?" + q.Search
	}
	return fmt.Sprintf("kind%d", q.Kind)
}

func resKey(resource, metric string) string { return "res:" + resource + "/" + metric }

// set replaces a series with values at granularity g, the last at end.
func (f *memFetcher) set(key string, g time.Duration, end time.Time, values ...float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pts := make([]memPoint, len(values))
	for i, v := range values {
		pts[i] = memPoint{t: end.Truncate(g).Add(-time.Duration(len(values)-1-i) * g), g: g, v: v}
	}
	f.series[key] = pts
	delete(f.consts, key)
	delete(f.errs, key)
}

// setConst makes a series hold v at every step of g, up to any now.
func (f *memFetcher) setConst(key string, g time.Duration, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consts[key] = memPoint{g: g, v: v}
	delete(f.series, key)
	delete(f.errs, key)
}

func (f *memFetcher) fail(key string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[key] = err
}

func (f *memFetcher) Measures(_ context.Context, q *alarms.Query, dst []alarms.Point) ([]alarms.Point, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.calls.Add(1)
	k := keyOf(q)
	if err := f.errs[k]; err != nil {
		return dst, err
	}
	if c, ok := f.consts[k]; ok {
		if c.g == q.Granularity {
			for t := q.Start.Truncate(c.g); !t.After(q.Stop); t = t.Add(c.g) {
				if !t.Before(q.Start) {
					dst = append(dst, alarms.Point{Time: t, Value: c.v})
				}
			}
		}
		return dst, nil
	}
	pts, ok := f.series[k]
	if !ok {
		return dst, fmt.Errorf("series %s: %w", k, alarms.ErrMetricNotFound)
	}
	for _, p := range pts {
		if p.g == q.Granularity && !p.t.Before(q.Start) && !p.t.After(q.Stop) {
			dst = append(dst, alarms.Point{Time: p.t, Value: p.v})
		}
	}
	sort.Slice(dst, func(i, j int) bool { return dst[i].Time.Before(dst[j].Time) })
	return dst, nil
}
