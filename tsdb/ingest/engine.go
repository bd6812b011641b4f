// Package ingest is the processor side of the store: it consumes sample
// batches from the bus partition by partition, resolves each series to its
// metric (creating resources and metrics through the archive policy rules),
// aggregates the points into every series of the metric's archive policy and
// acknowledges the batches only once the result is durable.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/aggregate"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/split"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// PointsPerSplit is how many grid slots one split covers, as in Gnocchi.
const PointsPerSplit = 3600

// Point is one raw measure.
type Point struct {
	T int64 // Unix ns
	V float64
}

// Engine aggregates raw points into the series of one set of metrics. An
// Engine is owned by one goroutine (one partition): the metrics of two
// partitions are disjoint, so engines never share state and need no locks.
type Engine struct {
	store storage.Storage
	log   *slog.Logger

	// states caches the raw window of recently written metrics, encoded
	// as storage holds it, up to maxCachedBytes in all; the rest is re-read
	// from storage. Encoded, a window of CPU-like values takes one to three
	// bytes a point instead of sixteen, and decoding it again on each Apply
	// costs less than the memory it saves at a million open points.
	states         map[uuid.UUID]*metricState
	cachedBytes    int
	maxCachedBytes int
	tick           uint64

	// ts and vs hold the decoded raw window of the metric being applied.
	ts []int64
	vs []float64

	bucket aggregate.Bucket
	sp     split.Split
	buf    []byte

	// Dropped counts points older than their metric's back window.
	Dropped func(metric uuid.UUID, n int)
}

type metricState struct {
	raw      []byte // the raw window as split.AppendEncodeRaw encodes it; nil when empty
	used     uint64
	retained map[int64]int64 // granularity → first split start kept
}

// NewEngine returns an engine writing to store that caches up to
// maxCachedBytes of encoded raw windows.
func NewEngine(store storage.Storage, log *slog.Logger, maxCachedBytes int) *Engine {
	return &Engine{
		store: store, log: log,
		states:         make(map[uuid.UUID]*metricState),
		maxCachedBytes: maxCachedBytes,
		Dropped:        func(uuid.UUID, int) {},
	}
}

// Forget drops the cached state of every metric, e.g. when the partition
// moves to another processor.
func (e *Engine) Forget() {
	clear(e.states)
	e.cachedBytes = 0
}

// ForgetMetric drops the cached state of one metric (deleted metrics).
func (e *Engine) ForgetMetric(id uuid.UUID) {
	if st, ok := e.states[id]; ok {
		e.cachedBytes -= len(st.raw)
		delete(e.states, id)
	}
}

// state returns the cached state of metric id, reading it from storage on
// a miss, and leaves its raw window decoded in e.ts and e.vs: once per
// Apply, whether it came from the cache or from storage.
func (e *Engine) state(ctx context.Context, id uuid.UUID) (*metricState, error) {
	e.tick++
	e.ts, e.vs = e.ts[:0], e.vs[:0]
	if st, ok := e.states[id]; ok {
		st.used = e.tick
		if len(st.raw) > 0 {
			var err error
			if e.ts, e.vs, err = split.DecodeRaw(st.raw, e.ts, e.vs); err != nil {
				return nil, fmt.Errorf("cannot decode raw points of metric %s: %w", id, err)
			}
		}
		return st, nil
	}
	st := &metricState{used: e.tick}
	raw, err := e.store.GetUnaggregated(ctx, id, e.buf[:0])
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("cannot read raw points of metric %s: %w", id, err)
	default:
		e.buf = raw
		if e.ts, e.vs, err = split.DecodeRaw(raw, e.ts, e.vs); err != nil {
			return nil, fmt.Errorf("cannot decode raw points of metric %s: %w", id, err)
		}
		st.raw = bytes.Clone(raw)
	}
	e.states[id] = st
	e.cachedBytes += len(st.raw)
	return st, nil
}

// evict keeps the cache under its bound by dropping the least recently
// used half when it overflows: cheaper than an exact LRU list on the hot
// path, and the evicted state is one storage read away.
func (e *Engine) evict() {
	if e.cachedBytes <= e.maxCachedBytes {
		return
	}
	ticks := make([]uint64, 0, len(e.states))
	for _, st := range e.states {
		ticks = append(ticks, st.used)
	}
	slices.Sort(ticks)
	cut := ticks[len(ticks)/2]
	for id, st := range e.states {
		if st.used <= cut {
			e.cachedBytes -= len(st.raw)
			delete(e.states, id)
		}
	}
}

// Apply merges pts (in arrival order; a later point wins over an earlier
// one with the same timestamp) into metric id of policy p and writes the
// changed splits and raw window into b. It returns how many points were
// accepted. The caller commits b and must call Abort if it cannot, since
// the cached state then runs ahead of storage.
func (e *Engine) Apply(ctx context.Context, b storage.Batch, id uuid.UUID, p *archive.Policy, pts []Point) (int, error) {
	if len(pts) == 0 {
		return 0, nil
	}
	st, err := e.state(ctx, id)
	if err != nil {
		return 0, err
	}
	maxG := int64(p.MaxGranularity())
	windowStart := int64(math.MinInt64)
	if n := len(e.ts); n > 0 {
		windowStart = aggregate.Floor(e.ts[n-1], maxG) - p.BackWindow*maxG
	}
	// Last write wins: a stable sort keeps arrival order among equal
	// timestamps, and the merge below takes the last of each run.
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].T < pts[j].T })
	accepted := pts[:0]
	dropped := 0
	for i, pt := range pts {
		if i+1 < len(pts) && pts[i+1].T == pt.T {
			continue
		}
		if pt.T < windowStart {
			dropped++
			continue
		}
		accepted = append(accepted, pt)
	}
	if dropped > 0 {
		e.Dropped(id, dropped)
	}
	if len(accepted) == 0 {
		return 0, nil
	}
	e.ts, e.vs = merge(e.ts, e.vs, accepted)

	for _, d := range p.Definitions {
		if err := e.aggregate(ctx, b, id, p, int64(d.Granularity), int64(d.Timespan), st, accepted); err != nil {
			return 0, err
		}
	}

	// Slide the window; keep one point before it for the rate methods.
	last := e.ts[len(e.ts)-1]
	newStart := aggregate.Floor(last, maxG) - p.BackWindow*maxG
	if i := sort.Search(len(e.ts), func(i int) bool { return e.ts[i] >= newStart }); i > 1 {
		n := copy(e.ts, e.ts[i-1:])
		copy(e.vs, e.vs[i-1:])
		e.ts, e.vs = e.ts[:n], e.vs[:n]
	}
	if e.buf, err = split.AppendEncodeRaw(e.buf[:0], e.ts, e.vs); err != nil {
		return 0, fmt.Errorf("cannot encode raw points of metric %s: %w", id, err)
	}
	if err := b.PutUnaggregated(id, e.buf); err != nil {
		return 0, fmt.Errorf("cannot write raw points of metric %s: %w", id, err)
	}
	e.cachedBytes -= len(st.raw)
	st.raw = append(st.raw[:0], e.buf...)
	e.cachedBytes += len(st.raw)
	e.evict()
	return len(accepted), nil
}

// Abort forgets all cached state after a batch could not be committed, so
// that the next Apply starts again from what storage holds.
func (e *Engine) Abort() { e.Forget() }

// aggregate recomputes the buckets of granularity g that the accepted
// points touch and rewrites the splits holding them.
func (e *Engine) aggregate(ctx context.Context, b storage.Batch, id uuid.UUID, p *archive.Policy, g, timespan int64, st *metricState, accepted []Point) error {
	hasRate := false
	for _, m := range p.Methods {
		hasRate = hasRate || m.Rate
	}
	// Buckets to recompute, ascending and distinct. A rate bucket also
	// changes when the point after a new one lies in the next bucket.
	buckets := make([]int64, 0, 8)
	add := func(t int64) {
		bs := aggregate.Floor(t, g)
		if n := len(buckets); n == 0 || buckets[n-1] != bs {
			buckets = append(buckets, bs)
		}
	}
	for _, pt := range accepted {
		add(pt.T)
		if hasRate {
			i := sort.Search(len(e.ts), func(i int) bool { return e.ts[i] > pt.T })
			if i < len(e.ts) {
				add(e.ts[i])
			}
		}
	}
	slices.Sort(buckets)
	buckets = slices.Compact(buckets)

	span := g * PointsPerSplit
	var cur int64
	loaded := false
	flush := func() error {
		if !loaded {
			return nil
		}
		var err error
		if e.buf, err = split.AppendEncode(e.buf[:0], &e.sp); err != nil {
			return fmt.Errorf("cannot encode split %d of metric %s at %ds: %w", cur, id, g/1e9, err)
		}
		return b.PutSplit(id, g, cur, e.buf)
	}
	for _, bs := range buckets {
		start := aggregate.Floor(bs, span)
		if !loaded || start != cur {
			if err := flush(); err != nil {
				return err
			}
			if err := e.loadSplit(ctx, id, g, start, len(p.Methods)); err != nil {
				return err
			}
			cur, loaded = start, true
		}
		i := sort.Search(len(e.ts), func(i int) bool { return e.ts[i] >= bs })
		j := sort.Search(len(e.ts), func(i int) bool { return e.ts[i] >= bs+g })
		e.bucket.Reset()
		e.bucket.Values = append(e.bucket.Values, e.vs[i:j]...)
		if i > 0 {
			e.bucket.Prev, e.bucket.HasPrev = e.vs[i-1], true
		}
		vals := make([]float64, len(p.Methods))
		present := false
		for k, m := range p.Methods {
			v, ok := e.bucket.Compute(m)
			if !ok {
				v = math.NaN()
			} else {
				present = true
			}
			vals[k] = v
		}
		setSlot(&e.sp, uint32((bs-start)/g), vals, present)
	}
	if err := flush(); err != nil {
		return err
	}
	// Retention drops whole splits once their last slot is older than the
	// definition's timespan counted back from the newest bucket.
	last := aggregate.Floor(e.ts[len(e.ts)-1], g)
	keep := aggregate.Floor(last-timespan+g, span)
	if st.retained == nil {
		st.retained = make(map[int64]int64)
	}
	if prev, ok := st.retained[g]; !ok || keep > prev {
		if err := b.DeleteSplitsBefore(id, g, keep); err != nil {
			return fmt.Errorf("cannot expire splits of metric %s at %ds: %w", id, g/1e9, err)
		}
		st.retained[g] = keep
	}
	return nil
}

func (e *Engine) loadSplit(ctx context.Context, id uuid.UUID, g, start int64, methods int) error {
	raw, err := e.store.GetSplit(ctx, id, g, start, e.buf[:0])
	switch {
	case errors.Is(err, storage.ErrNotFound):
		e.sp.Start, e.sp.Granularity = start, g
		e.sp.Slots = e.sp.Slots[:0]
		e.sp.Columns = resizeColumns(e.sp.Columns, methods)
		return nil
	case err != nil:
		return fmt.Errorf("cannot read split %d of metric %s at %ds: %w", start, id, g/1e9, err)
	}
	e.buf = raw
	if err := split.Decode(raw, &e.sp); err != nil {
		return fmt.Errorf("cannot decode split %d of metric %s at %ds: %w", start, id, g/1e9, err)
	}
	if len(e.sp.Columns) != methods {
		// The policy's methods changed; start the split afresh rather than
		// mix columns of two method lists.
		e.sp.Slots = e.sp.Slots[:0]
		e.sp.Columns = resizeColumns(e.sp.Columns, methods)
	}
	return nil
}

func resizeColumns(cols [][]float64, n int) [][]float64 {
	if cap(cols) < n {
		cols = make([][]float64, n)
	}
	cols = cols[:n]
	for i := range cols {
		cols[i] = cols[i][:0]
	}
	return cols
}

// setSlot writes vals at slot, inserting it in order, or removes the slot
// when no method has a value.
func setSlot(sp *split.Split, slot uint32, vals []float64, present bool) {
	i, found := slices.BinarySearch(sp.Slots, slot)
	switch {
	case found && present:
		for k, v := range vals {
			sp.Columns[k][i] = v
		}
	case found:
		sp.Slots = slices.Delete(sp.Slots, i, i+1)
		for k := range sp.Columns {
			sp.Columns[k] = slices.Delete(sp.Columns[k], i, i+1)
		}
	case present:
		sp.Slots = slices.Insert(sp.Slots, i, slot)
		for k, v := range vals {
			sp.Columns[k] = slices.Insert(sp.Columns[k], i, v)
		}
	}
}

// merge inserts the sorted, distinct pts into the sorted series (ts, vs),
// replacing equal timestamps.
func merge(ts []int64, vs []float64, pts []Point) ([]int64, []float64) {
	n := len(ts)
	if n == 0 || pts[0].T > ts[n-1] {
		for _, p := range pts {
			ts = append(ts, p.T)
			vs = append(vs, p.V)
		}
		return ts, vs
	}
	outT := make([]int64, 0, n+len(pts))
	outV := make([]float64, 0, n+len(pts))
	i, j := 0, 0
	for i < n || j < len(pts) {
		switch {
		case j == len(pts) || (i < n && ts[i] < pts[j].T):
			outT, outV = append(outT, ts[i]), append(outV, vs[i])
			i++
		case i == n || pts[j].T < ts[i]:
			outT, outV = append(outT, pts[j].T), append(outV, pts[j].V)
			j++
		default:
			outT, outV = append(outT, pts[j].T), append(outV, pts[j].V)
			i++
			j++
		}
	}
	return outT, outV
}
