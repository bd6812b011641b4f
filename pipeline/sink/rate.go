package sink

import (
	"context"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// seriesKey names one meter of one resource.
type seriesKey struct {
	name, resource string
}

// prevPoint is the last sample a rate or delta saw of a series.
type prevPoint struct {
	volume float64
	ts     time.Time
	seen   time.Time // wall clock, for eviction
}

// cacheIdle is how long a series may go without samples before a rate or
// delta transformer forgets its last point (Ceilometer never forgets, so
// its cache grows with every resource ever seen).
const cacheIdle = 24 * time.Hour

// sweepEvery is how often the caches look for idle series.
const sweepEvery = time.Minute

// pointCache holds the last point of each series. Guarded by mu.
type pointCache struct {
	mu        sync.Mutex
	last      map[seriesKey]prevPoint
	lastSweep time.Time
}

func newPointCache() *pointCache { return &pointCache{last: make(map[seriesKey]prevPoint)} }

// sweep forgets idle series; mu must be held.
func (c *pointCache) sweep(now time.Time) {
	if now.Sub(c.lastSweep) < sweepEvery {
		return
	}
	c.lastSweep = now
	for k, p := range c.last {
		if now.Sub(p.seen) > cacheIdle {
			delete(c.last, k)
		}
	}
}

// rateOfChange is Ceilometer's rate_of_change: the change of a series'
// volume per second since its previous sample, times the scale, with the
// target's name, unit and type. The first sample of a series only primes
// it. A cumulative volume lower than the previous one is a counter reset:
// the growth is the new volume. A sample older than the previous one is
// dropped and the previous kept; so is one with the same timestamp
// (Ceilometer gives a rate of 0 there, which would overwrite the true rate
// of that timestamp when a sample is delivered twice).
type rateOfChange struct {
	conv  *conversion
	cache *pointCache
	drop  dropCounters
	now   func() time.Time
}

func buildRateOfChange(tc transformerConfig, env *buildEnv) (Stage, error) {
	p, err := readParams(tc.params, tc.path+".parameters", "source", "target")
	if err != nil {
		return nil, err
	}
	conv, err := parseConversion(p, tc.path+".parameters", "name", "unit", "type", "scale", "max", "map_to")
	if err != nil {
		return nil, err
	}
	return &rateOfChange{conv: conv, cache: newPointCache(), drop: env.dropCounters(tc.name), now: env.now}, nil
}

func (r *rateOfChange) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if len(src) == 0 {
		return dst, nil
	}
	now := r.now()
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	r.cache.sweep(now)
	for i := range src {
		s := &src[i]
		k := seriesKey{s.Name, s.ResourceID}
		prev, ok := r.cache.last[k]
		if !ok {
			r.cache.last[k] = prevPoint{s.Volume, s.Timestamp, now}
			r.drop.noPredecessor.Inc()
			continue
		}
		dt := s.Timestamp.Sub(prev.ts)
		switch {
		case dt < 0:
			r.drop.outOfOrder.Inc()
			continue
		case dt == 0:
			r.drop.duplicate.Inc()
			continue
		}
		r.cache.last[k] = prevPoint{s.Volume, s.Timestamp, now}
		growth := s.Volume - prev.volume
		if s.Type == pipeline.Cumulative && s.Volume < prev.volume {
			growth = s.Volume // reset: the new volume bounds the growth from below
		}
		factor, err := r.conv.scale.factorOf(s)
		if err != nil {
			r.drop.evalError(err)
			continue
		}
		dst = append(dst, r.conv.convert(s, factor*growth/dt.Seconds()))
	}
	return dst, nil
}

// delta is Ceilometer's delta transformer: the change of a series' volume
// since its previous sample, as a delta sample named by the target. The
// first sample primes; an older or same-timestamp sample is dropped; with
// growth_only a negative change is dropped.
type delta struct {
	conv       *conversion
	growthOnly bool
	cache      *pointCache
	drop       dropCounters
	now        func() time.Time
}

func buildDelta(tc transformerConfig, env *buildEnv) (Stage, error) {
	p, err := readParams(tc.params, tc.path+".parameters", "source", "target", "growth_only")
	if err != nil {
		return nil, err
	}
	conv, err := parseConversion(p, tc.path+".parameters", "name", "map_to")
	if err != nil {
		return nil, err
	}
	d := &delta{conv: conv, cache: newPointCache(), drop: env.dropCounters(tc.name), now: env.now}
	if n := p["growth_only"]; n != nil {
		if d.growthOnly, err = yamlnode.BoolValue(n, tc.path+".parameters.growth_only"); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *delta) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if len(src) == 0 {
		return dst, nil
	}
	now := d.now()
	d.cache.mu.Lock()
	defer d.cache.mu.Unlock()
	d.cache.sweep(now)
	for i := range src {
		s := &src[i]
		k := seriesKey{s.Name, s.ResourceID}
		prev, ok := d.cache.last[k]
		if !ok {
			d.cache.last[k] = prevPoint{s.Volume, s.Timestamp, now}
			d.drop.noPredecessor.Inc()
			continue
		}
		dt := s.Timestamp.Sub(prev.ts)
		switch {
		case dt < 0:
			d.drop.outOfOrder.Inc()
			continue
		case dt == 0:
			d.drop.duplicate.Inc()
			continue
		}
		d.cache.last[k] = prevPoint{s.Volume, s.Timestamp, now}
		change := s.Volume - prev.volume
		if d.growthOnly && change < 0 {
			d.drop.negative.Inc()
			continue
		}
		out := *s
		out.Name = d.conv.mapped(d.conv.nameMap, d.conv.name, s.Name)
		out.Type = pipeline.Delta
		out.Volume = change
		dst = append(dst, out)
	}
	return dst, nil
}
