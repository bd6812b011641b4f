package evaluator

import (
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms"
)

// watchKey is one series an alarm reads, the way announcements name it.
type watchKey struct {
	kind uint8
	a, b string
}

const (
	byMetricID     uint8 = iota + 1 // a = metric id
	byResourceName                  // a = resource id, b = metric name
	byTypeName                      // a = resource type, b = metric name
)

// normID writes resource and metric ids the same way on both sides: UUIDs
// in canonical lower case, anything else as it is.
func normID(s string) string {
	if u, err := uuid.Parse(s); err == nil {
		return u.String()
	}
	return s
}

func seriesKeys(s *alarms.Series, dst []watchKey) []watchKey {
	switch s.Type {
	case alarms.TypeResourcesThreshold:
		dst = append(dst, watchKey{byResourceName, normID(s.ResourceID), s.Metric})
	case alarms.TypeAggregationByMetrics:
		for _, m := range s.Metrics {
			dst = append(dst, watchKey{kind: byMetricID, a: normID(m)})
		}
	case alarms.TypeAggregationByResources:
		dst = append(dst, watchKey{byTypeName, strings.ToLower(s.ResourceType), s.Metric})
	}
	return dst
}

// keysOf lists the series an alarm reads.
func keysOf(a *alarms.Alarm) []watchKey {
	var keys []watchKey
	switch r := a.Rule.(type) {
	case *alarms.ThresholdRule:
		keys = seriesKeys(&r.Series, keys)
	case *alarms.CompositeRule:
		for _, l := range r.Leaves() {
			keys = seriesKeys(&l.Series, keys)
		}
	case *alarms.ExpressionRule:
		for _, n := range r.Names {
			keys = seriesKeys(r.Queries[n], keys)
		}
	}
	slices.SortFunc(keys, func(x, y watchKey) int {
		if x.kind != y.kind {
			return int(x.kind) - int(y.kind)
		}
		if c := strings.Compare(x.a, y.a); c != 0 {
			return c
		}
		return strings.Compare(x.b, y.b)
	})
	return slices.Compact(keys)
}

// index adds an entry to the watch index or the event index. e.mu must
// be held.
func (e *Evaluator) index(en *entry, a *alarms.Alarm) {
	if a.Type == alarms.TypeEvent {
		e.events[a.ProjectID] = append(e.events[a.ProjectID], en)
		en.keys = nil
		return
	}
	en.keys = keysOf(a)
	for _, k := range en.keys {
		e.watch[k] = append(e.watch[k], en)
	}
}

// unindex removes an entry from both indexes. e.mu must be held.
func (e *Evaluator) unindex(en *entry) {
	for _, k := range en.keys {
		l := slices.DeleteFunc(e.watch[k], func(x *entry) bool { return x == en })
		if len(l) == 0 {
			delete(e.watch, k)
		} else {
			e.watch[k] = l
		}
	}
	en.keys = nil
	for p, l := range e.events {
		if i := slices.Index(l, en); i >= 0 {
			l = slices.Delete(l, i, i+1)
			if len(l) == 0 {
				delete(e.events, p)
			} else {
				e.events[p] = l
			}
		}
	}
}

// lookup appends the entries watching an announced series. e.mu must be
// held for reading.
func (e *Evaluator) lookup(s *alarms.UpdatedSeries, dst []*entry) []*entry {
	if s.MetricID != "" {
		dst = append(dst, e.watch[watchKey{kind: byMetricID, a: normID(s.MetricID)}]...)
	}
	if s.Name != "" {
		if s.ResourceID != "" {
			dst = append(dst, e.watch[watchKey{byResourceName, normID(s.ResourceID), s.Name}]...)
		}
		if s.OriginalResourceID != "" && normID(s.OriginalResourceID) != normID(s.ResourceID) {
			dst = append(dst, e.watch[watchKey{byResourceName, normID(s.OriginalResourceID), s.Name}]...)
		}
		if s.ResourceType != "" {
			dst = append(dst, e.watch[watchKey{byTypeName, strings.ToLower(s.ResourceType), s.Name}]...)
			if !strings.EqualFold(s.ResourceType, "generic") {
				dst = append(dst, e.watch[watchKey{byTypeName, "generic", s.Name}]...)
			}
		}
	}
	return dst
}
