package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQPConfig is the configuration of the AMQP 0-9-1 listener.
// NOTIFICATIONS.md describes the exchanges, queues and bindings.
type AMQPConfig struct {
	// URL of the broker, amqp://user:password@host:5672/vhost.
	URL string `yaml:"url"`
	// Exchanges are the services' control exchanges to listen on.
	Exchanges []string `yaml:"exchanges"`
	// Topics are the notification topics ([oslo_messaging_notifications]
	// topics of the services).
	Topics []string `yaml:"topics"`
	// Priorities are the priorities listened to; each topic.priority is a
	// queue, named after its routing key as oslo.messaging names it.
	Priorities []string `yaml:"priorities"`
	// Pool, when set, is the one queue bound to every topic.priority of
	// every exchange, as an oslo.messaging listener pool.
	Pool string `yaml:"pool"`
	// Durable is the durability of the exchanges and queues the listener
	// creates; those that exist are used as they are. It must agree with
	// the services' [oslo_messaging_rabbit] amqp_durable_queues, or their
	// own declarations of what the listener created first fail.
	Durable bool `yaml:"durable"`
	// Connections to the broker, and Consumers (channels) per queue on
	// each.
	Connections int `yaml:"connections"`
	Consumers   int `yaml:"consumers"`
	// Prefetch is how many unacknowledged messages the broker sends one
	// consumer.
	Prefetch int `yaml:"prefetch"`
	// BatchSize bounds the notifications handled and published together;
	// BatchTimeout is how long a batch waits to fill once it has one.
	BatchSize    int           `yaml:"batch_size"`
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// MaxAttempts is how many times a batch is published before its
	// notifications are dead-lettered; RetryBackoff and RetryBackoffMax
	// space the attempts.
	MaxAttempts     int           `yaml:"max_attempts"`
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	// PublishTimeout bounds one publish attempt.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ReconnectMin and ReconnectMax space the reconnections.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// DeadLetterExchange and DeadLetterQueue receive what cannot be
	// handled, with the reason in the x-vigil-dead-reason header.
	DeadLetterExchange string `yaml:"dead_letter_exchange"`
	DeadLetterQueue    string `yaml:"dead_letter_queue"`
	// MaxMessageBytes bounds a notification.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Heartbeat is the AMQP heartbeat interval.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// DefaultExchanges are Ceilometer's notification_control_exchanges.
var DefaultExchanges = []string{"nova", "glance", "neutron", "cinder", "heat", "keystone", "sahara", "trove", "zaqar", "swift", "ceilometer", "magnum", "dns", "ironic", "aodh"}

// DefaultPriorities are those Ceilometer's notification agent listens to.
var DefaultPriorities = []string{"audit", "critical", "debug", "error", "info", "sample", "warn"}

// DefaultAMQPConfig returns the listener's defaults; URL is left empty.
func DefaultAMQPConfig() AMQPConfig {
	return AMQPConfig{
		Exchanges:          append([]string(nil), DefaultExchanges...),
		Topics:             []string{"notifications"},
		Priorities:         append([]string(nil), DefaultPriorities...),
		Durable:            true,
		Connections:        1,
		Consumers:          2,
		Prefetch:           1000,
		BatchSize:          500,
		BatchTimeout:       10 * time.Millisecond,
		MaxAttempts:        10,
		RetryBackoff:       100 * time.Millisecond,
		RetryBackoffMax:    5 * time.Second,
		PublishTimeout:     30 * time.Second,
		ReconnectMin:       100 * time.Millisecond,
		ReconnectMax:       30 * time.Second,
		DeadLetterExchange: "vigil.deadletter",
		DeadLetterQueue:    "vigil.deadletter.notifications",
		MaxMessageBytes:    MaxNotificationBytes,
		Heartbeat:          10 * time.Second,
	}
}

// Validate reports every problem of c, each naming its key.
func (c *AMQPConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		bad("url: %q: want amqp://user:password@host:port/vhost", redactAMQP(c.URL))
	}
	if len(c.Exchanges) == 0 {
		bad("exchanges: at least one is needed")
	}
	if len(c.Topics) == 0 {
		bad("topics: at least one is needed")
	}
	if len(c.Priorities) == 0 && c.Pool == "" {
		bad("priorities: at least one is needed")
	}
	for _, l := range [][]string{c.Exchanges, c.Topics, c.Priorities} {
		for _, s := range l {
			if s == "" || len(s) > 255 {
				bad("exchanges, topics, priorities: %q is not a name", s)
			}
		}
	}
	for _, v := range []struct {
		key    string
		v, min int
		max    int
	}{
		{"connections", c.Connections, 1, 64}, {"consumers", c.Consumers, 1, 256}, {"prefetch", c.Prefetch, 1, 65535},
		{"batch_size", c.BatchSize, 1, 100000}, {"max_attempts", c.MaxAttempts, 1, 1000},
		{"max_message_bytes", c.MaxMessageBytes, 1024, 1 << 30},
	} {
		if v.v < v.min || v.v > v.max {
			bad("%s: %d is out of range [%d, %d]", v.key, v.v, v.min, v.max)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"retry_backoff", c.RetryBackoff}, {"retry_backoff_max", c.RetryBackoffMax}, {"publish_timeout", c.PublishTimeout},
		{"reconnect_min", c.ReconnectMin}, {"reconnect_max", c.ReconnectMax}, {"heartbeat", c.Heartbeat},
	} {
		if d.v <= 0 {
			bad("%s: %v must be positive", d.key, d.v)
		}
	}
	if c.BatchTimeout < 0 {
		bad("batch_timeout: %v must not be negative", c.BatchTimeout)
	}
	if c.DeadLetterExchange == "" || c.DeadLetterQueue == "" {
		bad("dead_letter_exchange, dead_letter_queue: required")
	}
	return errors.Join(errs...)
}

func redactAMQP(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "<unparsable URL>"
}

// Headers of an AMQP dead letter.
const (
	HeaderAMQPDeadReason      = "x-vigil-dead-reason"
	HeaderAMQPDeadExchange    = "x-vigil-original-exchange"
	HeaderAMQPDeadRoutingKey  = "x-vigil-original-routing-key"
	HeaderAMQPDeadAttempts    = "x-vigil-attempts"
	HeaderAMQPDeadRedelivered = "x-vigil-redelivered"
)

// AMQPListener consumes oslo.messaging notifications from RabbitMQ, turns
// them into samples and events with a Processor, hands each batch to a
// Publisher, and acknowledges the batch once Publish returns nil. A
// message that cannot be parsed, and a batch that could not be published
// MaxAttempts times, go to the dead-letter exchange with the reason, then
// are acknowledged. It reconnects with backoff until its context ends.
type AMQPListener struct {
	cfg  AMQPConfig
	proc *Processor
	pub  Publisher
	log  *slog.Logger
	met  *listenerMetrics

	mu    sync.Mutex
	conns map[*amqp.Connection]bool // live connections; guarded by mu
}

// NewAMQPListener validates cfg and returns a listener; Run starts it.
func NewAMQPListener(cfg AMQPConfig, proc *Processor, pub Publisher, set *metrics.Set, logger *slog.Logger) (*AMQPListener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid AMQP listener config: %w", err)
	}
	if set == nil {
		set = metrics.NewSet()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &AMQPListener{
		cfg: cfg, proc: proc, pub: pub, met: newListenerMetrics(set, "amqp"),
		log:   logger.With("component", "notify-amqp", "url", redactAMQP(cfg.URL)),
		conns: map[*amqp.Connection]bool{},
	}, nil
}

// Queues returns the queues the listener consumes and, for each, the
// (exchange, routing key) bindings it makes.
func (l *AMQPListener) Queues() map[string][][2]string {
	out := map[string][][2]string{}
	for _, topic := range l.cfg.Topics {
		for _, prio := range l.cfg.Priorities {
			key := topic + "." + prio
			q := key
			if l.cfg.Pool != "" {
				q = l.cfg.Pool
			}
			for _, ex := range l.cfg.Exchanges {
				out[q] = append(out[q], [2]string{ex, key})
			}
		}
	}
	return out
}

// Run consumes until ctx is done, over Connections connections, and
// returns nil then. Connection failures are logged and retried.
func (l *AMQPListener) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range l.cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.connLoop(ctx, i)
		}()
	}
	wg.Wait()
	return nil
}

func (l *AMQPListener) backoff(min, max time.Duration, attempt int) time.Duration {
	d := max
	if attempt < 30 {
		d = min << attempt
		if d <= 0 || d > max {
			d = max
		}
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (l *AMQPListener) connLoop(ctx context.Context, idx int) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		conn, err := amqp.DialConfig(l.cfg.URL, amqp.Config{
			Heartbeat:  l.cfg.Heartbeat,
			Locale:     "en_US",
			Dial:       amqp.DefaultDial(10 * time.Second),
			Properties: amqp.Table{"connection_name": "vigil-notify-" + strconv.Itoa(idx)},
		})
		if err != nil {
			d := l.backoff(l.cfg.ReconnectMin, l.cfg.ReconnectMax, attempt)
			if attempt == 0 {
				l.log.Warn("cannot connect to the AMQP broker; retrying", "in", d, "err", err)
			} else {
				l.log.Debug("cannot connect to the AMQP broker", "attempt", attempt, "in", d, "err", err)
			}
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		l.mu.Lock()
		l.conns[conn] = true
		l.mu.Unlock()
		started := time.Now()
		err = l.session(ctx, conn)
		l.mu.Lock()
		delete(l.conns, conn)
		l.mu.Unlock()
		conn.Close()
		if ctx.Err() != nil {
			return
		}
		l.met.reconnects.Inc()
		if time.Since(started) > l.cfg.ReconnectMax {
			attempt = -1 // a session that lasted starts the backoff over
		}
		d := l.backoff(l.cfg.ReconnectMin, l.cfg.ReconnectMax, max(attempt, 0))
		l.log.Warn("AMQP session ended; reconnecting", "in", d, "err", err)
		if !sleep(ctx, d) {
			return
		}
	}
}

// closeConnections closes every live connection, as a broker or network
// failure would; tests use it to cut the listener between consume and ack.
func (l *AMQPListener) closeConnections() {
	l.mu.Lock()
	conns := make([]*amqp.Connection, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// session declares the topology and consumes until the connection closes
// or ctx ends.
func (l *AMQPListener) session(ctx context.Context, conn *amqp.Connection) error {
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	queues := l.Queues()
	if err := l.declare(conn, queues); err != nil {
		return err
	}
	dl, err := newAMQPDeadLetterer(conn, l.cfg.DeadLetterExchange)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	// A consumer that stops while the connection lives (its channel was
	// closed by an error) ends the session, so that the reconnection
	// brings it back rather than leaving its queue without a consumer.
	stopped := make(chan string, 1)
	for q := range queues {
		for c := range l.cfg.Consumers {
			ch, err := conn.Channel()
			if err != nil {
				return fmt.Errorf("cannot open a channel: %w", err)
			}
			if err := ch.Qos(l.cfg.Prefetch, 0, false); err != nil {
				return fmt.Errorf("cannot set prefetch %d: %w", l.cfg.Prefetch, err)
			}
			tag := fmt.Sprintf("vigil-notify-%s-%d", q, c)
			deliveries, err := ch.Consume(q, tag, false, false, false, false, nil)
			if err != nil {
				return fmt.Errorf("cannot consume from queue %s: %w", q, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.consume(sctx, ch, deliveries, dl)
				if sctx.Err() == nil {
					select {
					case stopped <- q:
					default:
					}
				}
			}()
		}
	}
	l.log.Info("listening for notifications", "queues", len(queues), "consumers_per_queue", l.cfg.Consumers)
	select {
	case <-ctx.Done():
		cancel()
		wg.Wait()
		return ctx.Err()
	case err, ok := <-closed:
		cancel()
		if !ok || err == nil {
			return errors.New("connection closed")
		}
		return err
	case q := <-stopped:
		cancel()
		return fmt.Errorf("a consumer of queue %s stopped", q)
	}
}

// declare makes sure the exchanges, queues and bindings exist, using what
// is there as it is and creating what is missing.
func (l *AMQPListener) declare(conn *amqp.Connection, queues map[string][][2]string) error {
	d := &declarer{conn: conn}
	defer d.close()
	seen := map[string]bool{}
	for _, binds := range queues {
		for _, b := range binds {
			if seen[b[0]] {
				continue
			}
			seen[b[0]] = true
			if err := d.exchange(b[0], l.cfg.Durable); err != nil {
				return err
			}
		}
	}
	for q, binds := range queues {
		if err := d.queue(q, l.cfg.Durable); err != nil {
			return err
		}
		for _, b := range binds {
			if err := d.bind(q, b[1], b[0]); err != nil {
				return err
			}
		}
	}
	if err := d.exchange(l.cfg.DeadLetterExchange, true); err != nil {
		return err
	}
	if err := d.queue(l.cfg.DeadLetterQueue, true); err != nil {
		return err
	}
	return d.bind(l.cfg.DeadLetterQueue, "#", l.cfg.DeadLetterExchange)
}

// declarer declares on one channel, reopening it after the broker closes
// it for a failed passive declaration.
type declarer struct {
	conn *amqp.Connection
	ch   *amqp.Channel
}

func (d *declarer) channel() (*amqp.Channel, error) {
	if d.ch != nil && !d.ch.IsClosed() {
		return d.ch, nil
	}
	ch, err := d.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("cannot open a channel: %w", err)
	}
	d.ch = ch
	return ch, nil
}

func (d *declarer) close() {
	if d.ch != nil {
		d.ch.Close()
	}
}

func isAMQPCode(err error, code int) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == code
}

func (d *declarer) exchange(name string, durable bool) error {
	for range 3 {
		ch, err := d.channel()
		if err != nil {
			return err
		}
		if err = ch.ExchangeDeclarePassive(name, "topic", durable, false, false, false, nil); err == nil {
			return nil
		}
		if !isAMQPCode(err, amqp.NotFound) {
			return fmt.Errorf("cannot check exchange %s: %w", name, err)
		}
		if ch, err = d.channel(); err != nil {
			return err
		}
		err = ch.ExchangeDeclare(name, "topic", durable, false, false, false, nil)
		if err == nil {
			return nil
		}
		if !isAMQPCode(err, amqp.PreconditionFailed) {
			return fmt.Errorf("cannot declare exchange %s: %w", name, err)
		}
		// Someone declared it differently meanwhile: use theirs.
	}
	return fmt.Errorf("cannot declare exchange %s: it keeps changing", name)
}

func (d *declarer) queue(name string, durable bool) error {
	for range 3 {
		ch, err := d.channel()
		if err != nil {
			return err
		}
		if _, err = ch.QueueDeclarePassive(name, durable, false, false, false, nil); err == nil {
			return nil
		}
		if !isAMQPCode(err, amqp.NotFound) {
			return fmt.Errorf("cannot check queue %s: %w", name, err)
		}
		if ch, err = d.channel(); err != nil {
			return err
		}
		_, err = ch.QueueDeclare(name, durable, false, false, false, nil)
		if err == nil {
			return nil
		}
		if !isAMQPCode(err, amqp.PreconditionFailed) {
			return fmt.Errorf("cannot declare queue %s: %w", name, err)
		}
	}
	return fmt.Errorf("cannot declare queue %s: it keeps changing", name)
}

func (d *declarer) bind(queue, key, exchange string) error {
	ch, err := d.channel()
	if err != nil {
		return err
	}
	if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
		return fmt.Errorf("cannot bind queue %s to exchange %s with %s: %w", queue, exchange, key, err)
	}
	return nil
}

// amqpDeadLetterer publishes dead letters with publisher confirms.
type amqpDeadLetterer struct {
	mu       sync.Mutex
	ch       *amqp.Channel // guarded by mu
	exchange string
}

func newAMQPDeadLetterer(conn *amqp.Connection, exchange string) (*amqpDeadLetterer, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("cannot open the dead-letter channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("cannot put the dead-letter channel in confirm mode: %w", err)
	}
	return &amqpDeadLetterer{ch: ch, exchange: exchange}, nil
}

// send republishes d's body with the reason and waits for the broker's
// confirm.
func (dl *amqpDeadLetterer) send(ctx context.Context, d *amqp.Delivery, reason string, attempts int) error {
	h := amqp.Table{
		HeaderAMQPDeadReason:      headerText(reason),
		HeaderAMQPDeadExchange:    d.Exchange,
		HeaderAMQPDeadRoutingKey:  d.RoutingKey,
		HeaderAMQPDeadAttempts:    int32(attempts),
		HeaderAMQPDeadRedelivered: d.Redelivered,
	}
	for k, v := range d.Headers {
		if _, ours := h[k]; !ours {
			h[k] = v
		}
	}
	msg := amqp.Publishing{
		Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding, DeliveryMode: amqp.Persistent,
		MessageId: d.MessageId, Timestamp: time.Now(), Body: d.Body,
	}
	dl.mu.Lock()
	dc, err := dl.ch.PublishWithDeferredConfirmWithContext(ctx, dl.exchange, d.RoutingKey, false, false, msg)
	dl.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cannot publish a dead letter to %s: %w", dl.exchange, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("no confirm for a dead letter to %s: %w", dl.exchange, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused a dead letter to %s", dl.exchange)
	}
	return nil
}

// maxReasonLen bounds a dead letter's reason.
const maxReasonLen = 1024

func headerText(s string) string {
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen] + "..."
	}
	return s
}

// consume handles one channel's deliveries in batches until they stop.
func (l *AMQPListener) consume(ctx context.Context, ch *amqp.Channel, deliveries <-chan amqp.Delivery, dl *amqpDeadLetterer) {
	defer ch.Close()
	b := newBatcher(l.proc, l.pub, l.met, l.log, batchLimits{
		maxBytes: l.cfg.MaxMessageBytes, attempts: l.cfg.MaxAttempts,
		backoff: l.cfg.RetryBackoff, backoffMax: l.cfg.RetryBackoffMax, timeout: l.cfg.PublishTimeout,
	})
	batch := make([]amqp.Delivery, 0, l.cfg.BatchSize)
	for {
		batch = batch[:0]
		var ok bool
		if batch, ok = collect(ctx, deliveries, batch, l.cfg.BatchSize, l.cfg.BatchTimeout); !ok && len(batch) == 0 {
			return
		}
		if !l.handle(ctx, ch, batch, b, dl) || !ok {
			return
		}
	}
}

// collect waits for a first delivery, then takes what is ready, up to max,
// waiting up to timeout for the batch to fill. It reports false when the
// deliveries stopped or ctx ended.
func collect(ctx context.Context, deliveries <-chan amqp.Delivery, batch []amqp.Delivery, max int, timeout time.Duration) ([]amqp.Delivery, bool) {
	select {
	case <-ctx.Done():
		return batch, false
	case d, ok := <-deliveries:
		if !ok {
			return batch, false
		}
		batch = append(batch, d)
	}
	var timer *time.Timer
	for len(batch) < max {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return batch, false
			}
			batch = append(batch, d)
			continue
		default:
		}
		if timeout <= 0 {
			return batch, true
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		select {
		case d, ok := <-deliveries:
			if !ok {
				return batch, false
			}
			batch = append(batch, d)
		case <-timer.C:
			return batch, true
		case <-ctx.Done():
			return batch, true
		}
	}
	return batch, true
}

// handle processes a batch and acknowledges it; it reports false when the
// channel is unusable.
func (l *AMQPListener) handle(ctx context.Context, ch *amqp.Channel, batch []amqp.Delivery, b *batcher, dl *amqpDeadLetterer) bool {
	msgs := make([]message, len(batch))
	for i := range batch {
		d := &batch[i]
		l.met.received.Inc()
		if d.Redelivered {
			l.met.redelivered.Inc()
		}
		msgs[i] = message{body: d.Body}
	}
	res := b.run(ctx, msgs)
	if res == batchRequeue {
		// Shutting down: give the batch back.
		if err := ch.Nack(batch[len(batch)-1].DeliveryTag, true, true); err != nil {
			l.met.ackErrors.Inc()
			return false
		}
		l.met.requeued.Add(len(batch))
		return true
	}
	allDone := true
	for i := range msgs {
		m := &msgs[i]
		if m.dead == "" {
			continue
		}
		if err := dl.send(ctx, &batch[i], m.deadReason, m.attempts); err != nil {
			l.met.deadErrors.Inc()
			l.log.Error("cannot dead-letter a notification; it goes back to its queue", "reason", m.deadReason, "err", err)
			m.requeue = true
			allDone = false
			continue
		}
		l.met.dead[m.dead].Inc()
		l.log.Warn("dead-lettered a notification", "exchange", batch[i].Exchange, "routing_key", batch[i].RoutingKey, "reason", m.deadReason)
	}
	if allDone {
		if err := ch.Ack(batch[len(batch)-1].DeliveryTag, true); err != nil {
			l.met.ackErrors.Inc()
			l.log.Warn("cannot acknowledge notifications; the broker will redeliver them", "count", len(batch), "err", err)
			return false
		}
		l.met.acked.Add(len(batch))
		return true
	}
	for i := range msgs {
		var err error
		if msgs[i].requeue {
			err = ch.Nack(batch[i].DeliveryTag, false, true)
			l.met.requeued.Inc()
		} else {
			err = ch.Ack(batch[i].DeliveryTag, false)
			l.met.acked.Inc()
		}
		if err != nil {
			l.met.ackErrors.Inc()
			return false
		}
	}
	return true
}
