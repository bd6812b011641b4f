package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// PublishOptions tune one Publish.
type PublishOptions struct {
	// MsgID, when set, makes a retried Publish of the same batch harmless:
	// each partition's message carries the id "<MsgID>:<partition>" and
	// JetStream drops a message whose id it has seen within the duplicate
	// window. The same batch must be published with the same id.
	MsgID string
}

// ErrTooLarge is returned by Publish for a partition batch larger than the
// bus's max payload; the producer must send smaller batches.
var ErrTooLarge = errors.New("batch too large for the bus")

// Publish publishes b; see PublishWith.
func (b *Bus) Publish(ctx context.Context, batch *wire.Batch) error {
	return b.PublishWith(ctx, batch, PublishOptions{})
}

// PublishWith validates batch, splits it by partition (each series goes to
// the partition of its PartitionKey, with only the resources it names),
// publishes one message per partition on <Prefix>.samples.<p>, and waits for
// every acknowledgement. A nil error means every point is durable in
// JetStream. On error some partitions may be stored and others not; retry
// with the same opts.MsgID to store the rest without duplicating the others.
//
// PublishWith does not modify batch and does not keep it after it returns.
// It is safe for concurrent use.
func (b *Bus) PublishWith(ctx context.Context, batch *wire.Batch, opts PublishOptions) error {
	start := time.Now()
	err := b.publish(ctx, batch, opts)
	if err != nil {
		b.met.publishErrors.Inc()
		return err
	}
	b.met.publishDuration.UpdateDuration(start)
	return nil
}

func (b *Bus) publish(ctx context.Context, batch *wire.Batch, opts PublishOptions) error {
	if err := wire.Validate(batch); err != nil {
		return fmt.Errorf("cannot publish batch from %q: %w", batch.Producer, err)
	}
	if len(batch.Series) == 0 {
		return nil
	}
	samples := 0
	for _, s := range batch.Series {
		samples += len(s.Values)
	}
	sp := b.splitters.Get().(*splitter)
	n, err := sp.split(batch, b.cfg.Partitions)
	if err != nil {
		b.splitters.Put(sp)
		return fmt.Errorf("cannot publish batch from %q: %w", batch.Producer, err)
	}
	sp.buf, sp.ends = sp.buf[:0], sp.ends[:0]
	if n == 1 {
		sp.buf, err = wire.Marshal(sp.buf, batch)
		sp.ends = append(sp.ends, len(sp.buf))
	} else {
		sp.regroup(batch)
		for _, p := range sp.used {
			if sp.buf, err = wire.Marshal(sp.buf, &sp.parts[p]); err != nil {
				break
			}
			sp.ends = append(sp.ends, len(sp.buf))
		}
	}
	if err != nil {
		sp.release()
		b.splitters.Put(sp)
		return fmt.Errorf("cannot publish batch from %q: %w", batch.Producer, err)
	}
	maxPayload := b.nc.MaxPayload()
	if maxPayload <= 0 || maxPayload > int64(b.cfg.MaxPayload) {
		maxPayload = int64(b.cfg.MaxPayload)
	}
	futures := make([]jetstream.PubAckFuture, 0, n)
	var errs []error
	prev := 0
	for i, p := range sp.used {
		data := sp.buf[prev:sp.ends[i]:sp.ends[i]]
		prev = sp.ends[i]
		if int64(len(data)) > maxPayload {
			errs = append(errs, fmt.Errorf("%w: partition %d holds %d bytes, the limit is %d", ErrTooLarge, p, len(data), maxPayload))
			continue
		}
		msg := &nats.Msg{Subject: b.subjects[p], Data: data}
		if opts.MsgID != "" {
			msg.Header = nats.Header{jetstream.MsgIDHeader: []string{opts.MsgID + ":" + strconv.Itoa(p)}}
		}
		f, err := b.js.PublishMsgAsync(msg)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot publish on %s: %w", msg.Subject, err))
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("publish on %s not acknowledged: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			// Pending messages still point into sp.buf: leave sp to the
			// garbage collector instead of the pool.
			return fmt.Errorf("cannot publish batch from %q (%d samples): %w", batch.Producer, samples, ctx.Err())
		}
	}
	b.met.publishedBytes.Add(len(sp.buf))
	sp.release()
	b.splitters.Put(sp)
	if len(errs) > 0 {
		return fmt.Errorf("cannot publish batch from %q (%d samples): %d of %d partitions failed: %w",
			batch.Producer, samples, len(errs), n, errors.Join(errs...))
	}
	b.met.publishedBatches.Inc()
	b.met.publishedMessages.Add(n)
	b.met.publishedSamples.Add(samples)
	return nil
}
