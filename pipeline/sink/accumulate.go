package sink

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// accumulator is Ceilometer's accumulator: it holds samples until it has
// size of them and then passes them all on. A size below 1 passes samples
// straight through. Held samples are in memory only.
type accumulator struct {
	size int
	mu   sync.Mutex
	held []pipeline.Sample // guarded by mu
}

// maxHeldSamples bounds what the accumulator and aggregator may be asked
// to hold, so that a configuration cannot ask for unbounded memory.
const maxHeldSamples = 1 << 20

func buildAccumulator(tc transformerConfig, _ *buildEnv) (Stage, error) {
	p, err := readParams(tc.params, tc.path+".parameters", "size")
	if err != nil {
		return nil, err
	}
	a := &accumulator{size: 1}
	if n := p["size"]; n != nil {
		v, err := yamlnode.IntValue(n, tc.path+".parameters.size")
		if err != nil {
			return nil, err
		}
		if v > maxHeldSamples {
			return nil, yamlnode.ErrAt(n, tc.path+".parameters.size", "%d is more than the limit of %d", v, maxHeldSamples)
		}
		a.size = int(v)
	}
	return a, nil
}

func (a *accumulator) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if a.size < 1 {
		return append(dst, src...), nil
	}
	if len(src) == 0 {
		return dst, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(src) > 0 {
		n := min(len(src), a.size-len(a.held))
		a.held = append(a.held, src[:n]...)
		src = src[n:]
		if len(a.held) >= a.size {
			dst = append(dst, a.held...)
			clear(a.held)
			a.held = a.held[:0]
		}
	}
	return dst, nil
}

// policy says how the aggregator merges a field across the samples of a
// group.
type policy uint8

const (
	policyKey   policy = iota // the field is part of the group key (Ceilometer: not given)
	policyLast                // the latest sample's value
	policyFirst               // the first sample's value
	policyDrop                // resource_metadata only: none
	policyMerge               // resource_metadata only: the union, later keys winning
)

func parsePolicy(s string, metadata bool) (policy, error) {
	switch s {
	case "last":
		return policyLast, nil
	case "first":
		return policyFirst, nil
	case "drop":
		if metadata {
			return policyDrop, nil
		}
	case "merge":
		if metadata {
			return policyMerge, nil
		}
	}
	if metadata {
		return 0, fmt.Errorf("%q: want last, first, drop or merge", s)
	}
	return 0, fmt.Errorf("%q: want last or first (leave it out to group by it)", s)
}

// aggregator is Ceilometer's aggregator: it groups samples by meter,
// resource and, unless they have a policy, user and project, and passes one
// sample per group on when it has held size samples in all, or when
// retention_time has passed since the first (counted on the wall clock at
// arrival, so that samples with old timestamps are not flushed at once).
// A group's volume is the last scaled volume for cumulative meters, the
// sum for delta meters and the mean for gauges; its timestamp the first or
// the last sample's.
type aggregator struct {
	conv      *conversion
	size      int           // 0: no size limit
	retention time.Duration // 0: none
	userID    policy
	projectID policy
	metadata  policy
	lastTS    bool
	drop      dropCounters
	now       func() time.Time

	mu      sync.Mutex
	groups  map[aggKey]int // index into order; guarded by mu
	order   []aggGroup     // guarded by mu
	held    int            // samples aggregated since the last flush; guarded by mu
	started time.Time      // arrival of the first held sample; guarded by mu
}

type aggKey struct {
	name, resource, user, project string
}

type aggGroup struct {
	sample pipeline.Sample // with policyMerge, Metadata is the aggregator's own map
	count  int
}

func buildAggregator(tc transformerConfig, env *buildEnv) (Stage, error) {
	path := tc.path + ".parameters"
	p, err := readParams(tc.params, path, "size", "retention_time", "project_id", "user_id", "resource_metadata", "timestamp", "source", "target")
	if err != nil {
		return nil, err
	}
	a := &aggregator{metadata: policyLast, drop: env.dropCounters(tc.name), now: env.now, groups: map[aggKey]int{}}
	if a.conv, err = parseConversion(p, path, "name", "unit", "type", "scale", "max", "map_to"); err != nil {
		return nil, err
	}
	if n := p["size"]; n != nil {
		v, err := yamlnode.IntValue(n, path+".size")
		if err != nil {
			return nil, err
		}
		if v < 0 || v > maxHeldSamples {
			return nil, yamlnode.ErrAt(n, path+".size", "%d is out of range [0, %d]", v, maxHeldSamples)
		}
		a.size = int(v)
	}
	if n := p["retention_time"]; n != nil {
		v, err := yamlnode.FloatValue(n, path+".retention_time")
		if err != nil {
			return nil, err
		}
		if v < 0 || v > 366*24*3600 {
			return nil, yamlnode.ErrAt(n, path+".retention_time", "%v seconds is out of range [0, one year]", v)
		}
		a.retention = time.Duration(v * float64(time.Second))
	}
	if a.size == 0 && a.retention == 0 {
		a.size = 1 // as Ceilometer: neither given means every sample
	}
	for _, f := range []struct {
		key string
		dst *policy
		md  bool
	}{{"user_id", &a.userID, false}, {"project_id", &a.projectID, false}, {"resource_metadata", &a.metadata, true}} {
		n := p[f.key]
		if n == nil {
			continue
		}
		s, err := yamlnode.ScalarString(n, path+"."+f.key)
		if err != nil {
			return nil, err
		}
		if *f.dst, err = parsePolicy(s, f.md); err != nil {
			return nil, yamlnode.ErrAt(n, path+"."+f.key, "%v", err)
		}
	}
	if n := p["timestamp"]; n != nil {
		s, err := yamlnode.ScalarString(n, path+".timestamp")
		if err != nil {
			return nil, err
		}
		switch s {
		case "first":
		case "last":
			a.lastTS = true
		default:
			return nil, yamlnode.ErrAt(n, path+".timestamp", "%q: want first or last", s)
		}
	}
	return a, nil
}

func (a *aggregator) key(s *pipeline.Sample) aggKey {
	k := aggKey{name: s.Name, resource: s.ResourceID}
	if a.userID == policyKey {
		k.user = s.UserID
	}
	if a.projectID == policyKey {
		k.project = s.ProjectID
	}
	return k
}

func (a *aggregator) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range src {
		a.add(&src[i], now)
		if a.size > 0 && a.held >= a.size {
			dst = a.flush(dst)
		}
	}
	if a.held > 0 && a.retention > 0 && now.Sub(a.started) >= a.retention {
		dst = a.flush(dst)
	}
	return dst, nil
}

// add aggregates s; mu must be held.
func (a *aggregator) add(s *pipeline.Sample, now time.Time) {
	v, err := a.conv.scaled(s)
	if err != nil {
		a.drop.evalError(err)
		return
	}
	if a.held == 0 {
		a.started = now
	}
	a.held++
	k := a.key(s)
	gi, ok := a.groups[k]
	if !ok {
		a.groups[k] = len(a.order)
		out := a.conv.convert(s, v)
		out.Volume = v // max applies to the aggregate, at flush
		g := aggGroup{sample: out, count: 1}
		switch a.metadata {
		case policyDrop:
			g.sample.Metadata = nil
		case policyMerge:
			g.sample.Metadata = mergeMaps(nil, s.Metadata)
		}
		a.order = append(a.order, g)
		return
	}
	g := &a.order[gi]
	g.count++
	if a.lastTS {
		g.sample.Timestamp = s.Timestamp
	}
	if s.Type == pipeline.Cumulative {
		g.sample.Volume = v
	} else {
		g.sample.Volume += v
	}
	if a.userID == policyLast {
		g.sample.UserID = s.UserID
	}
	if a.projectID == policyLast {
		g.sample.ProjectID = s.ProjectID
	}
	switch a.metadata {
	case policyLast:
		g.sample.Metadata = s.Metadata
	case policyMerge:
		g.sample.Metadata = mergeMaps(g.sample.Metadata, s.Metadata)
	}
}

// flush appends one sample per group to dst and forgets them; mu must be
// held.
func (a *aggregator) flush(dst []pipeline.Sample) []pipeline.Sample {
	for i := range a.order {
		g := &a.order[i]
		s := g.sample
		if s.Type == pipeline.Gauge {
			s.Volume /= float64(g.count)
		}
		if a.conv.hasMax && s.Volume > a.conv.max {
			s.Volume = a.conv.max
		}
		dst = append(dst, s)
	}
	clear(a.order)
	a.order = a.order[:0]
	clear(a.groups)
	a.held = 0
	return dst
}

// mergeMaps returns dst with src's keys added, allocating dst when nil.
// dst is always a map the aggregator owns.
func mergeMaps(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = make(map[string]any, len(src))
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}
