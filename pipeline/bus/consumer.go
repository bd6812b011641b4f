package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead letter; SUBJECTS.md lists them.
const (
	HeaderDeadReason     = "Vigil-Dead-Reason"
	HeaderDeadSubject    = "Vigil-Dead-Subject"
	HeaderDeadStream     = "Vigil-Dead-Stream"
	HeaderDeadSequence   = "Vigil-Dead-Sequence"
	HeaderDeadDeliveries = "Vigil-Dead-Deliveries"
	HeaderDeadMsgID      = "Vigil-Dead-Msg-Id"
)

// maxReasonLen bounds the reason header: it is for people, and a header
// is not the place for a whole error chain of a huge batch.
const maxReasonLen = 1024

// ErrTooManyDeliveries is the dead-letter reason of a message delivered
// more than Config.MaxDeliver times.
var ErrTooManyDeliveries = errors.New("delivered too many times")

// PartitionConsumer reads one partition of the samples stream through the
// durable pull consumer proc-<partition>. Several processes may fetch from
// the same partition at once (JetStream hands each message to one), though
// the leases normally give each partition to one. It is safe for concurrent
// use.
type PartitionConsumer struct {
	b         *Bus
	partition int
	cons      jetstream.Consumer
}

// ConsumerName returns the durable consumer name of partition p.
func ConsumerName(p int) string { return "proc-" + strconv.Itoa(p) }

// Consumer creates or updates the durable consumer of partition p and
// returns it. The consumer has explicit acks, Config.AckWait and
// Config.MaxAckPending; the server redelivers without limit and Fetch
// enforces Config.MaxDeliver, because on a work-queue stream a message the
// server stops delivering would stay stored forever.
func (b *Bus) Consumer(ctx context.Context, p int) (*PartitionConsumer, error) {
	if p < 0 || p >= b.cfg.Partitions {
		return nil, fmt.Errorf("cannot consume partition %d: out of range [0, %d)", p, b.cfg.Partitions)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(p),
		Description:   "vigil processor of partition " + strconv.Itoa(p),
		FilterSubject: b.subjects[p],
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxAckPending: b.cfg.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      b.cfg.Replicas,
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.samplesStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer %s on %s: %w", cfg.Durable, b.samplesStream, err)
	}
	return &PartitionConsumer{b: b, partition: p, cons: cons}, nil
}

// Partition returns the partition c reads.
func (c *PartitionConsumer) Partition() int { return c.partition }

// Fetch returns up to max messages of the partition: it returns when max
// messages have arrived or when maxWait has passed, with what arrived,
// possibly none, and no error for the timeout. Every returned message must be
// acknowledged (Ack once durable, Nak to retry, or Bus.DeadLetter). A
// message already delivered more than Config.MaxDeliver times is
// dead-lettered here instead of being returned.
func (c *PartitionConsumer) Fetch(ctx context.Context, max int, maxWait time.Duration) ([]jetstream.Msg, error) {
	if max <= 0 || maxWait <= 0 {
		return nil, fmt.Errorf("cannot fetch from partition %d: max %d and wait %v must be positive", c.partition, max, maxWait)
	}
	c.b.met.fetches.Inc()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot fetch from partition %d: %w", c.partition, err)
	}
	// The wait is the pull request's expiry rather than a context
	// deadline: under load a short deadline can pass before the request is
	// even sent, which the client refuses as an invalid option. maxWait is
	// short, so a cancelled ctx is noticed at the next call.
	batch, err := c.cons.Fetch(max, jetstream.FetchMaxWait(maxWait))
	if err != nil {
		c.b.met.fetchErrors.Inc()
		return nil, fmt.Errorf("cannot fetch from partition %d: %w", c.partition, err)
	}
	return c.collect(ctx, batch)
}

// WaitFetch waits up to idle for the partition's next message, then
// fetches as Fetch does: up to max messages, gathered for up to maxWait.
// Nothing arriving in idle returns none and no error. A processor whose
// partitions are idle calls it instead of Fetch, so that each partition
// keeps one pull request open for seconds instead of sending one every
// maxWait: at a 100 ms maxWait, sixteen partitions would cost the server
// 160 expiring requests a second doing nothing.
func (c *PartitionConsumer) WaitFetch(ctx context.Context, max int, maxWait, idle time.Duration) ([]jetstream.Msg, error) {
	if max <= 0 || maxWait <= 0 || idle <= 0 {
		return nil, fmt.Errorf("cannot fetch from partition %d: max %d, wait %v and idle %v must be positive", c.partition, max, maxWait, idle)
	}
	c.b.met.fetches.Inc()
	wctx, cancel := context.WithTimeout(ctx, idle)
	defer cancel()
	// A context rather than FetchMaxWait: the wait is long, and a
	// cancelled ctx must end it at once for shutdown.
	batch, err := c.cons.Fetch(1, jetstream.FetchContext(wctx))
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		c.b.met.fetchErrors.Inc()
		return nil, fmt.Errorf("cannot fetch from partition %d: %w", c.partition, err)
	}
	first, err := c.collect(ctx, batch)
	if err != nil || len(first) == 0 || max == 1 {
		return first, err
	}
	rest, err := c.Fetch(ctx, max-1, maxWait)
	return append(first, rest...), err
}

// collect takes a pull's messages, dead-lettering those delivered too
// often. A timeout of the pull is not an error.
func (c *PartitionConsumer) collect(ctx context.Context, batch jetstream.MessageBatch) ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	for msg := range batch.Messages() {
		if md, err := msg.Metadata(); err == nil && md.NumDelivered > uint64(c.b.cfg.MaxDeliver) {
			reason := fmt.Errorf("%w: %d times, the limit is %d", ErrTooManyDeliveries, md.NumDelivered, c.b.cfg.MaxDeliver)
			if err := c.b.DeadLetter(ctx, msg, reason); err != nil {
				c.b.log.Error("cannot dead-letter a message delivered too often", "partition", c.partition,
					"deliveries", md.NumDelivered, "err", err)
			}
			continue
		}
		msgs = append(msgs, msg)
	}
	c.b.met.fetchedMessages.Add(len(msgs))
	err := batch.Error()
	if (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) && ctx.Err() == nil {
		err = nil // maxWait passed
	}
	if err != nil {
		c.b.met.fetchErrors.Inc()
		if len(msgs) == 0 {
			return nil, fmt.Errorf("cannot fetch from partition %d: %w", c.partition, err)
		}
		// What arrived must still be handed over to be acknowledged.
		c.b.log.Warn("fetch ended early", "partition", c.partition, "messages", len(msgs), "err", err)
	}
	return msgs, nil
}

// Info returns the consumer's state as the server reports it.
func (c *PartitionConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot get info of consumer %s: %w", ConsumerName(c.partition), err)
	}
	return info, nil
}

// DeadLetter republishes msg's data on <Prefix>.deadletter.samples with
// headers giving the reason, the original subject, stream sequence and
// delivery count, waits for that to be stored, then acknowledges msg so
// that it leaves the samples stream. A dead letter of the same stream
// sequence is stored once even if DeadLetter runs twice.
func (b *Bus) DeadLetter(ctx context.Context, msg jetstream.Msg, reason error) error {
	err := b.deadLetter(ctx, msg, reason)
	if err != nil {
		b.met.deadLetterErrors.Inc()
		return err
	}
	b.met.deadLettered.Inc()
	return nil
}

func (b *Bus) deadLetter(ctx context.Context, msg jetstream.Msg, reason error) error {
	text := "unknown"
	if reason != nil {
		text = headerSafe(reason.Error())
	}
	h := nats.Header{}
	h.Set(HeaderDeadReason, text)
	h.Set(HeaderDeadSubject, msg.Subject())
	md, err := msg.Metadata()
	if err == nil {
		h.Set(HeaderDeadStream, md.Stream)
		h.Set(HeaderDeadSequence, strconv.FormatUint(md.Sequence.Stream, 10))
		h.Set(HeaderDeadDeliveries, strconv.FormatUint(md.NumDelivered, 10))
		h.Set(jetstream.MsgIDHeader, "dl:"+md.Stream+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	}
	if orig := msg.Headers().Get(jetstream.MsgIDHeader); orig != "" {
		h.Set(HeaderDeadMsgID, orig)
	}
	dl := &nats.Msg{Subject: b.deadLetterSubj, Data: msg.Data(), Header: h}
	if _, err := b.js.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("cannot dead-letter message from %s (reason %q): %w", msg.Subject(), text, err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("dead-lettered message from %s but cannot acknowledge it: %w", msg.Subject(), err)
	}
	b.log.Warn("dead-lettered a message", "subject", msg.Subject(), "reason", text)
	return nil
}

// headerSafe makes s a valid single-line header value of bounded length.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < ' ' && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxReasonLen {
		cut := maxReasonLen
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
