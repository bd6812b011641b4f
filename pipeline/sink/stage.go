package sink

import (
	"context"
	"errors"
	"sync"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Stage is one step of a sink: a transformer or a publisher.
//
// Process handles src and appends what the next stage gets to dst, which it
// returns. It must not modify src or keep it after it returns (a transformer
// that keeps a sample keeps a copy; the Metadata map is shared, never
// modified). A publisher appends nothing: a nil error means its samples are
// delivered, durably where the publisher says so. A transformer never fails
// on a sample it cannot use: it drops and counts it; only publishers return
// errors.
//
// An empty src is a tick: stages that flush on time (the aggregator's
// retention_time) flush then. Process must be safe for concurrent use.
type Stage interface {
	Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error)
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error)

// Process calls f.
func (f StageFunc) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	return f(ctx, dst, src)
}

// Sequence runs its stages in order, each on what the one before returned,
// and appends what the last returns to dst. It stops at the first error. An
// empty Sequence passes src through.
type Sequence []Stage

// Process runs the sequence.
func (s Sequence) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	switch len(s) {
	case 0:
		return append(dst, src...), nil
	case 1:
		return s[0].Process(ctx, dst, src)
	}
	sc := getScratch()
	defer putScratch(sc)
	cur := src
	for i, st := range s {
		if i == len(s)-1 {
			return st.Process(ctx, dst, cur)
		}
		// Alternate between two buffers: stage i reads one and fills the
		// other, and cur never aliases the buffer being filled.
		next, err := st.Process(ctx, sc.bufs[i%2][:0], cur)
		sc.bufs[i%2] = next
		if err != nil {
			return dst, err
		}
		cur = next
	}
	panic("BUG: unreachable")
}

// Fanout gives src to each of its stages and appends all they return to dst.
// Every stage runs even when one fails; the errors are joined.
type Fanout []Stage

// Process runs the fan-out.
func (f Fanout) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	var errs []error
	for _, st := range f {
		var err error
		if dst, err = st.Process(ctx, dst, src); err != nil {
			errs = append(errs, err)
		}
	}
	return dst, errors.Join(errs...)
}

// scratch holds the buffers a Sequence or a Pipeline fills for one call.
type scratch struct {
	bufs [2][]pipeline.Sample
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// maxPooledSamples bounds the buffers kept for reuse, so that one huge batch
// does not pin its memory.
const maxPooledSamples = 1 << 16

func putScratch(sc *scratch) {
	for i := range sc.bufs {
		b := sc.bufs[i]
		clear(b) // release metadata maps; the tail beyond len was cleared before
		if cap(b) > maxPooledSamples {
			b = nil
		}
		sc.bufs[i] = b[:0]
	}
	scratchPool.Put(sc)
}
