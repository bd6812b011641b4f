package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

// NATSConfig is the configuration of the NATS listener.
type NATSConfig struct {
	// Durable names the JetStream consumer (shared by every agent that
	// uses the same name, each message going to one of them).
	Durable string `yaml:"durable"`
	// Workers fetch and handle batches in parallel.
	Workers int `yaml:"workers"`
	// BatchSize bounds a fetch; FetchWait is how long a fetch waits to
	// fill.
	BatchSize int           `yaml:"batch_size"`
	FetchWait time.Duration `yaml:"fetch_wait"`
	// AckWait is how long JetStream waits for an ack before redelivering.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered.
	MaxDeliver int `yaml:"max_deliver"`
	// MaxAttempts, RetryBackoff, RetryBackoffMax and PublishTimeout are
	// as in AMQPConfig.
	MaxAttempts     int           `yaml:"max_attempts"`
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	PublishTimeout  time.Duration `yaml:"publish_timeout"`
	// MaxAge is how long the notifications stream keeps what no agent
	// took.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxMessageBytes bounds a notification.
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// DefaultNATSConfig returns the NATS listener's defaults.
func DefaultNATSConfig() NATSConfig {
	return NATSConfig{
		Durable: "notify", Workers: 2, BatchSize: 500, FetchWait: 200 * time.Millisecond,
		AckWait: 2 * time.Minute, MaxDeliver: 10, MaxAttempts: 5,
		RetryBackoff: 100 * time.Millisecond, RetryBackoffMax: 5 * time.Second, PublishTimeout: 30 * time.Second,
		MaxAge: 7 * 24 * time.Hour, MaxMessageBytes: MaxNotificationBytes,
	}
}

// Validate reports every problem of c, each naming its key.
func (c *NATSConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Durable == "" {
		bad("durable: required")
	}
	for _, v := range []struct {
		key         string
		v, min, max int
	}{
		{"workers", c.Workers, 1, 256}, {"batch_size", c.BatchSize, 1, 10000}, {"max_deliver", c.MaxDeliver, 1, 1000},
		{"max_attempts", c.MaxAttempts, 1, 1000}, {"max_message_bytes", c.MaxMessageBytes, 1024, 1 << 30},
	} {
		if v.v < v.min || v.v > v.max {
			bad("%s: %d is out of range [%d, %d]", v.key, v.v, v.min, v.max)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"fetch_wait", c.FetchWait}, {"ack_wait", c.AckWait}, {"retry_backoff", c.RetryBackoff},
		{"retry_backoff_max", c.RetryBackoffMax}, {"publish_timeout", c.PublishTimeout}, {"max_age", c.MaxAge},
	} {
		if d.v <= 0 {
			bad("%s: %v must be positive", d.key, d.v)
		}
	}
	return errors.Join(errs...)
}

// NATSListener consumes notifications published as JSON (either oslo
// form) on <prefix>.notifications.> through the JetStream stream
// <StreamPrefix>_NOTIFICATIONS and a durable pull consumer, with the AMQP
// listener's handling: a message is acknowledged once what it produced is
// published, and dead-lettered on <prefix>.deadletter.notifications when it
// is malformed, cannot be published, or was delivered MaxDeliver times.
type NATSListener struct {
	cfg    NATSConfig
	b      *bus.Bus
	proc   *Processor
	pub    Publisher
	log    *slog.Logger
	met    *listenerMetrics
	stream string
	subj   string
	dlSubj string
}

// NewNATSListener validates cfg and returns a listener on b; Run starts it.
func NewNATSListener(b *bus.Bus, cfg NATSConfig, proc *Processor, pub Publisher, set *metrics.Set, logger *slog.Logger) (*NATSListener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid NATS listener config: %w", err)
	}
	if set == nil {
		set = metrics.NewSet()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bc := b.Config()
	return &NATSListener{
		cfg: cfg, b: b, proc: proc, pub: pub, log: logger.With("component", "notify-nats"), met: newListenerMetrics(set, "nats"),
		stream: bc.StreamPrefix + "_NOTIFICATIONS", subj: bc.Prefix + ".notifications.>", dlSubj: bc.Prefix + ".deadletter.notifications",
	}, nil
}

// Stream returns the notifications stream's name.
func (l *NATSListener) Stream() string { return l.stream }

// Setup creates or updates the stream and the consumer. Run calls it;
// producers may call it first to have the stream before the agent runs.
func (l *NATSListener) Setup(ctx context.Context) (jetstream.Consumer, error) {
	js := l.b.JetStream()
	bc := l.b.Config()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(cctx, jetstream.StreamConfig{
		Name:        l.stream,
		Description: "notifications for the vigil notification agents",
		Subjects:    []string{l.subj},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    bc.Replicas,
		Compression: jetstream.S2Compression,
		Duplicates:  bc.DuplicateWindow,
		MaxAge:      l.cfg.MaxAge,
		MaxMsgSize:  int32(min(l.cfg.MaxMessageBytes, bc.MaxPayload)),
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create or update stream %s on %s: %w", l.stream, l.subj, err)
	}
	cons, err := js.CreateOrUpdateConsumer(cctx, l.stream, jetstream.ConsumerConfig{
		Durable:       l.cfg.Durable,
		Description:   "vigil notification agents",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.cfg.AckWait,
		MaxAckPending: max(1000, 4*l.cfg.Workers*l.cfg.BatchSize),
		MaxDeliver:    -1, // the listener dead-letters past cfg.MaxDeliver
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      bc.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer %s on %s: %w", l.cfg.Durable, l.stream, err)
	}
	return cons, nil
}

// Run consumes until ctx is done and returns nil then, or the error of
// setting up the stream.
func (l *NATSListener) Run(ctx context.Context) error {
	var cons jetstream.Consumer
	for attempt := 0; ; attempt++ {
		var err error
		if cons, err = l.Setup(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("cannot set up the notifications stream; retrying", "err", err)
		if !sleep(ctx, min(time.Second<<min(attempt, 5), 30*time.Second)) {
			return nil
		}
	}
	var wg sync.WaitGroup
	for range l.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(ctx, cons)
		}()
	}
	wg.Wait()
	return nil
}

func (l *NATSListener) work(ctx context.Context, cons jetstream.Consumer) {
	b := newBatcher(l.proc, l.pub, l.met, l.log, batchLimits{
		maxBytes: l.cfg.MaxMessageBytes, attempts: l.cfg.MaxAttempts,
		backoff: l.cfg.RetryBackoff, backoffMax: l.cfg.RetryBackoffMax, timeout: l.cfg.PublishTimeout,
	})
	var batch []jetstream.Msg
	b.onRetry = func() {
		for _, m := range batch {
			m.InProgress()
		}
	}
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, l.cfg.FetchWait)
		fb, err := cons.Fetch(l.cfg.BatchSize, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				l.log.Warn("cannot fetch notifications", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		batch = batch[:0]
		for m := range fb.Messages() {
			batch = append(batch, m)
		}
		cancel()
		if len(batch) > 0 {
			l.handle(ctx, batch, b)
		}
	}
}

func (l *NATSListener) handle(ctx context.Context, batch []jetstream.Msg, b *batcher) {
	msgs := make([]message, 0, len(batch))
	keep := batch[:0:0]
	for _, m := range batch {
		l.met.received.Inc()
		md, err := m.Metadata()
		if err == nil && md.NumDelivered > 1 {
			l.met.redelivered.Inc()
		}
		if err == nil && md.NumDelivered > uint64(l.cfg.MaxDeliver) {
			l.deadLetter(ctx, m, deadPublishFailed, fmt.Sprintf("delivered %d times, the limit is %d", md.NumDelivered, l.cfg.MaxDeliver))
			continue
		}
		keep = append(keep, m)
		msgs = append(msgs, message{body: m.Data()})
	}
	if b.run(ctx, msgs) == batchRequeue {
		for _, m := range keep {
			m.Nak()
		}
		l.met.requeued.Add(len(keep))
		return
	}
	for i, m := range keep {
		if msgs[i].dead != "" {
			l.deadLetter(ctx, m, msgs[i].dead, msgs[i].deadReason)
			continue
		}
		if err := m.Ack(); err != nil {
			l.met.ackErrors.Inc()
			continue
		}
		l.met.acked.Inc()
	}
}

// deadLetter stores m on the dead-letter subject with the reason, then
// acknowledges it; if that fails the message stays for redelivery.
func (l *NATSListener) deadLetter(ctx context.Context, m jetstream.Msg, label, reason string) {
	h := nats.Header{}
	h.Set(bus.HeaderDeadReason, headerLine(reason))
	h.Set(bus.HeaderDeadSubject, m.Subject())
	if md, err := m.Metadata(); err == nil {
		h.Set(bus.HeaderDeadStream, md.Stream)
		h.Set(bus.HeaderDeadSequence, strconv.FormatUint(md.Sequence.Stream, 10))
		h.Set(bus.HeaderDeadDeliveries, strconv.FormatUint(md.NumDelivered, 10))
		h.Set(jetstream.MsgIDHeader, "dl:"+md.Stream+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	}
	if id := m.Headers().Get(jetstream.MsgIDHeader); id != "" {
		h.Set(bus.HeaderDeadMsgID, id)
	}
	if _, err := l.b.JetStream().PublishMsg(ctx, &nats.Msg{Subject: l.dlSubj, Data: m.Data(), Header: h}); err != nil {
		l.met.deadErrors.Inc()
		l.log.Error("cannot dead-letter a notification; it stays for redelivery", "reason", reason, "err", err)
		m.NakWithDelay(time.Second)
		return
	}
	if err := m.Ack(); err != nil {
		l.met.ackErrors.Inc()
	}
	l.met.dead[label].Inc()
	l.log.Warn("dead-lettered a notification", "subject", m.Subject(), "reason", reason)
}

// headerLine makes s a single header line of bounded length.
func headerLine(s string) string {
	b := []byte(headerText(s))
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}
