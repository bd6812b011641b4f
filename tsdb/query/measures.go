// Package query answers reads of the store: the measures of one metric at
// one or all granularities of its archive policy, for one aggregation
// method, within a time range.
package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/aggregate"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/split"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// Measure is one aggregated point.
type Measure struct {
	Timestamp   int64 // Unix ns, the start of the bucket
	Granularity time.Duration
	Value       float64
}

// MeasuresOptions selects what Measures returns. Zero Start and Stop mean
// unbounded; Granularity zero means every granularity of the policy.
type MeasuresOptions struct {
	Method      archive.Method
	Granularity time.Duration
	Start, Stop int64 // Unix ns; Start inclusive (rounded down to the bucket), Stop exclusive
}

// ErrNoAggregation is returned when the policy does not compute the method
// at the granularity asked for.
var ErrNoAggregation = errors.New("aggregation method does not exist")

// Reader reads aggregated series. It is safe for concurrent use.
type Reader struct {
	store storage.Storage
	// scratch pools the decoded split and the read buffer: a split holds
	// every method's column, far more than the one asked for, and a fresh
	// one per read made the garbage collector the tail of every query.
	scratch sync.Pool
	cache   *colCache
}

type scratch struct {
	sp      split.Split
	buf     []byte
	entries []*colEntry
}

// NewReader returns a reader over store with a cache of DefaultCacheBytes
// of decoded columns.
func NewReader(store storage.Storage) *Reader { return NewReaderCache(store, DefaultCacheBytes) }

// NewReaderCache returns a reader over store whose cache of decoded
// columns holds up to cacheBytes; 0 turns the cache off.
func NewReaderCache(store storage.Storage, cacheBytes int) *Reader {
	return &Reader{store: store, scratch: sync.Pool{New: func() any { return new(scratch) }}, cache: newColCache(cacheBytes)}
}

// Measures returns the points of metric id (of policy p) chosen by o, coarsest
// granularity first and by ascending timestamp within one, as Gnocchi orders
// them.
func (r *Reader) Measures(ctx context.Context, id uuid.UUID, p *archive.Policy, o MeasuresOptions) ([]Measure, error) {
	return r.AppendMeasures(ctx, nil, id, p, o)
}

// AppendMeasures appends to dst what Measures returns and returns the
// extended slice, so that a caller converting the points can reuse dst.
func (r *Reader) AppendMeasures(ctx context.Context, dst []Measure, id uuid.UUID, p *archive.Policy, o MeasuresOptions) ([]Measure, error) {
	col := -1
	for i, m := range p.Methods {
		if m == o.Method {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("%w: %s for metric %s", ErrNoAggregation, o.Method, id)
	}
	defs := make([]archive.Definition, 0, len(p.Definitions))
	for _, d := range p.Definitions {
		if o.Granularity == 0 || d.Granularity == o.Granularity {
			defs = append(defs, d)
		}
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("%w: %s at granularity %v for metric %s", ErrNoAggregation, o.Method, o.Granularity, id)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Granularity > defs[j].Granularity })
	out := dst
	sc := r.scratch.Get().(*scratch)
	defer r.scratch.Put(sc)
	for _, d := range defs {
		g := int64(d.Granularity)
		from, to := int64(math.MinInt64), int64(math.MaxInt64)
		if o.Start != 0 {
			from = aggregate.Floor(o.Start, g)
		}
		if o.Stop != 0 {
			to = o.Stop
		}
		starts, err := r.store.Splits(ctx, id, g, from, to)
		if err != nil {
			return nil, fmt.Errorf("cannot list splits of metric %s at %v: %w", id, d.Granularity, err)
		}
		first := len(out)
		// Read every split first, so that out grows once to its size.
		entries := sc.entries[:0]
		total := 0
		for _, st := range starts {
			sc.buf, err = r.store.GetSplit(ctx, id, g, st, sc.buf[:0])
			if errors.Is(err, storage.ErrNotFound) {
				continue // expired between the listing and the read
			}
			if err != nil {
				return nil, fmt.Errorf("cannot read split %d of metric %s at %v: %w", st, id, d.Granularity, err)
			}
			key := colKey{id: id, g: g, start: st, col: col}
			e, ok := r.cache.get(key, sc.buf)
			if !ok {
				if err := split.Decode(sc.buf, &sc.sp); err != nil {
					return nil, fmt.Errorf("cannot decode split %d of metric %s at %v: %w", st, id, d.Granularity, err)
				}
				if col >= len(sc.sp.Columns) {
					continue
				}
				e = r.cache.put(key, sc.buf, &sc.sp)
			}
			entries = append(entries, e)
			total += len(e.slots)
		}
		out = slices.Grow(out, total)
		for _, e := range entries {
			for i, slot := range e.slots {
				ts := e.start + int64(slot)*g
				v := e.values[i]
				if ts < from || ts >= to || math.IsNaN(v) {
					continue
				}
				out = append(out, Measure{Timestamp: ts, Granularity: d.Granularity, Value: v})
			}
		}
		clear(entries)
		sc.entries = entries[:0]
		// Retention is by whole splits on disk; the points past the
		// timespan inside the oldest split are hidden here.
		if n := len(out); n > first {
			cut := out[n-1].Timestamp - int64(d.Timespan)
			i := sort.Search(n-first, func(i int) bool { return out[first+i].Timestamp > cut })
			out = append(out[:first], out[first+i:]...)
		}
	}
	return out, nil
}
