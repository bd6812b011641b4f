package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// BusBacklog publishes the API's measures on the bus and keeps the count
// of those not yet processed, so that it serves as the API's Publisher and
// Backlog both. A measure counts as processed once the processor consuming
// its partition has acknowledged it — it acknowledges only what is durable
// in storage: the partition's durable consumer has then nothing pending
// nor unacknowledged, or its acknowledgement floor has passed the stream
// sequence the measure was stored at. Measures that agents publish
// straight on the bus are not counted.
type BusBacklog struct {
	bus *bus.Bus

	mu sync.Mutex // guards the fields below
	// pending counts, per partition and metric, the measures published
	// here since the partition was last seen drained.
	pending map[int]map[uuid.UUID]int64
	// lastSeq is the stream sequence of the last message published here
	// on each partition.
	lastSeq map[int]uint64
	// where holds the partitions each metric's measures went to.
	where map[uuid.UUID]map[int]bool
}

// NewBusBacklog returns a backlog publishing on b.
func NewBusBacklog(b *bus.Bus) *BusBacklog {
	return &BusBacklog{bus: b, pending: map[int]map[uuid.UUID]int64{}, lastSeq: map[int]uint64{}, where: map[uuid.UUID]map[int]bool{}}
}

// PublishWith publishes batch and counts its measures as pending.
func (bb *BusBacklog) PublishWith(ctx context.Context, batch *wire.Batch, opts bus.PublishOptions) error {
	if err := bb.bus.PublishWith(ctx, batch, opts); err != nil {
		return err
	}
	seq, err := bb.streamLastSeq(ctx)
	if err != nil {
		seq = 0
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	for _, s := range batch.Series {
		if len(s.MetricId) != 16 {
			continue
		}
		key, err := bus.PartitionKey(batch, s)
		if err != nil {
			continue
		}
		p := bb.bus.Partition(key)
		id := uuid.UUID(s.MetricId)
		m := bb.pending[p]
		if m == nil {
			m = map[uuid.UUID]int64{}
			bb.pending[p] = m
		}
		m[id] += int64(len(s.Values))
		if bb.where[id] == nil {
			bb.where[id] = map[int]bool{}
		}
		bb.where[id][p] = true
		if seq > bb.lastSeq[p] {
			bb.lastSeq[p] = seq
		}
	}
	return nil
}

func (bb *BusBacklog) streamLastSeq(ctx context.Context) (uint64, error) {
	st, err := bb.bus.JetStream().Stream(ctx, bb.bus.SamplesStream())
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// processedUpTo reports whether partition p has processed every message up
// to stream sequence seq.
func (bb *BusBacklog) processedUpTo(ctx context.Context, p int, seq uint64) (bool, error) {
	c, err := bb.bus.JetStream().Consumer(ctx, bb.bus.SamplesStream(), bus.ConsumerName(p))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read the consumer of partition %d: %w", p, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("cannot read the consumer of partition %d: %w", p, err)
	}
	if info.NumPending == 0 && info.NumAckPending == 0 {
		return true, nil
	}
	return seq != 0 && info.AckFloor.Stream >= seq, nil
}

// settle forgets the counts of the partitions that have processed what was
// published on them.
func (bb *BusBacklog) settle(ctx context.Context) error {
	bb.mu.Lock()
	parts := make(map[int]uint64, len(bb.pending))
	for p := range bb.pending {
		parts[p] = bb.lastSeq[p]
	}
	bb.mu.Unlock()
	for p, seq := range parts {
		done, err := bb.processedUpTo(ctx, p, seq)
		if err != nil {
			return err
		}
		if !done {
			continue
		}
		bb.mu.Lock()
		if bb.lastSeq[p] == seq {
			for id := range bb.pending[p] {
				delete(bb.where[id], p)
				if len(bb.where[id]) == 0 {
					delete(bb.where, id)
				}
			}
			delete(bb.pending, p)
		}
		bb.mu.Unlock()
	}
	return nil
}

// Backlog reports the measures published here and not yet processed.
func (bb *BusBacklog) Backlog(ctx context.Context) (BacklogReport, error) {
	if err := bb.settle(ctx); err != nil {
		return BacklogReport{}, err
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	rep := BacklogReport{PerMetric: map[uuid.UUID]int64{}}
	for _, m := range bb.pending {
		for id, n := range m {
			rep.PerMetric[id] += n
			rep.Measures += n
		}
	}
	rep.Metrics = int64(len(rep.PerMetric))
	return rep, nil
}

// WaitProcessed waits until the partitions the metrics' measures went to
// have processed them, polling the consumers.
func (bb *BusBacklog) WaitProcessed(ctx context.Context, metrics []uuid.UUID) error {
	bb.mu.Lock()
	want := map[int]uint64{}
	for _, id := range metrics {
		for p := range bb.where[id] {
			want[p] = bb.lastSeq[p]
		}
	}
	bb.mu.Unlock()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for len(want) > 0 {
		for p, seq := range want {
			done, err := bb.processedUpTo(ctx, p, seq)
			if err != nil {
				return err
			}
			if done {
				delete(want, p)
			}
		}
		if len(want) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
