package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bus is a connection to NATS JetStream with the vigil streams in place. It
// is safe for concurrent use; Close it once.
type Bus struct {
	cfg     Config
	log     *slog.Logger
	met     *busMetrics
	srv     *server.Server // nil when connected to an external server
	nc      *nats.Conn
	js      jetstream.JetStream
	leaseKV jetstream.KeyValue
	closed  chan struct{} // closed by the connection's ClosedHandler

	samplesStream    string
	deadLetterStream string
	leaseBucket      string
	deadLetterSubj   string
	subjects         []string // subjects[p] = <Prefix>.samples.<p>

	splitters sync.Pool // of *splitter

	closeOnce sync.Once
	closeErr  error
}

// Option changes how Open builds a Bus.
type Option func(*options)

type options struct {
	metrics *metrics.Set
}

// WithMetrics registers the bus's self-metrics in set instead of a private
// set nobody exports.
func WithMetrics(set *metrics.Set) Option {
	return func(o *options) { o.metrics = set }
}

// Reconnection backoff against an external server.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 10 * time.Second
)

// Open validates cfg, starts the embedded server or connects to cfg.URL,
// and creates or updates the samples and dead-letter streams and the lease
// bucket. Against an external server it keeps trying until ctx ends, so a
// processor may start before NATS. The caller must Close the Bus.
func Open(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid bus config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.metrics == nil {
		o.metrics = metrics.NewSet()
	}
	b := &Bus{
		cfg:              cfg,
		log:              logger.With("component", "bus"),
		met:              newBusMetrics(o.metrics),
		closed:           make(chan struct{}),
		samplesStream:    cfg.StreamPrefix + "_SAMPLES",
		deadLetterStream: cfg.StreamPrefix + "_DEADLETTER",
		leaseBucket:      cfg.StreamPrefix + "_LEASES",
		deadLetterSubj:   cfg.Prefix + ".deadletter.samples",
		subjects:         make([]string, cfg.Partitions),
	}
	for p := range b.subjects {
		b.subjects[p] = cfg.Prefix + ".samples." + strconv.Itoa(p)
	}
	b.splitters.New = func() any { return newSplitter(cfg.Partitions) }

	if err := b.connect(); err != nil {
		b.shutdownServer()
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) connect() error {
	nopts := []nats.Option{
		nats.Name("vigil"),
		nats.DrainTimeout(b.cfg.DrainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // closed on purpose
			}
			b.met.disconnects.Inc()
			b.log.Warn("disconnected from NATS", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.met.reconnects.Inc()
			b.log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Error("NATS asynchronous error", "subject", subj, "err", err)
		}),
	}
	addr := b.cfg.URL
	if b.cfg.Embedded() {
		srv, err := startEmbedded(&b.cfg, b.log)
		if err != nil {
			return err
		}
		b.srv = srv
		addr = ""
		nopts = append(nopts, nats.InProcessServer(srv))
	} else {
		nopts = append(nopts,
			nats.MaxReconnects(-1),
			nats.RetryOnFailedConnect(true),
			nats.CustomReconnectDelay(backoff),
		)
	}
	nc, err := nats.Connect(addr, nopts...)
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %q: %w", redactURL(b.cfg.URL), err)
	}
	b.nc = nc
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(b.cfg.PublishTimeout),
		jetstream.WithPublishAsyncMaxPending(4096),
	)
	if err != nil {
		nc.Close()
		return fmt.Errorf("cannot create a JetStream context: %w", err)
	}
	b.js = js
	return nil
}

// backoff doubles the reconnection delay up to reconnectMax, with jitter so
// that a fleet of agents does not reconnect in lockstep.
func backoff(attempts int) time.Duration {
	d := reconnectMax
	if attempts < 16 {
		d = min(reconnectMin<<attempts, reconnectMax)
	}
	return d/2 + rand.N(d/2+1)
}

func startEmbedded(cfg *Config, log *slog.Logger) (*server.Server, error) {
	sopts := &server.Options{
		ServerName: "vigil",
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		MaxPayload: int32(cfg.MaxPayload),
		NoSigs:     true,
		DontListen: cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("cannot parse listen address %q: %w", cfg.Listen, err)
		}
		sopts.Host = host
		if sopts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("cannot parse listen port %q: %w", port, err)
		}
		if sopts.Port == 0 {
			sopts.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("cannot configure the embedded NATS server (store %s): %w", cfg.DataDir, err)
	}
	srv.SetLoggerV2(serverLogger{log.With("component", "nats-server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS server (store %s, listen %q) not ready after 30s", cfg.DataDir, cfg.Listen)
	}
	return srv, nil
}

// setup creates or updates the streams and the lease bucket. Against an
// external server that is still unreachable it retries until ctx ends.
func (b *Bus) setup(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := b.ensureStreams(ctx)
		if err == nil {
			return nil
		}
		if b.cfg.Embedded() || !retryable(err) {
			return err
		}
		d := backoff(attempt)
		b.log.Warn("cannot set up JetStream streams yet; retrying", "url", redactURL(b.cfg.URL), "in", d, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot set up JetStream streams at %q: %w (last error: %w)", redactURL(b.cfg.URL), ctx.Err(), err)
		case <-time.After(d):
		}
	}
}

// retryable reports whether err may go away when the server comes up,
// rather than a refusal of the configuration.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503
	}
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrDisconnected)
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	samples := jetstream.StreamConfig{
		Name:        b.samplesStream,
		Description: "vigil sample batches, one subject per partition",
		Subjects:    []string{b.cfg.Prefix + ".samples.*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		// Not S2: the partitions' filtered consumers make the server load
		// each block once per partition, and decompressing it each time
		// cost a quarter of ingest (SUBJECTS.md).
		Compression: jetstream.NoCompression,
		Duplicates:  b.cfg.DuplicateWindow,
		MaxMsgSize:  int32(b.cfg.MaxPayload),
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
	}
	if _, err := b.js.CreateOrUpdateStream(cctx, samples); err != nil {
		return fmt.Errorf("cannot create or update stream %s on %s: %w", samples.Name, samples.Subjects[0], err)
	}
	dead := jetstream.StreamConfig{
		Name:        b.deadLetterStream,
		Description: "vigil messages no processor could handle, with the reason in headers",
		Subjects:    []string{b.cfg.Prefix + ".deadletter.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		Compression: jetstream.S2Compression,
		MaxAge:      b.cfg.DeadLetterMaxAge,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
	}
	if _, err := b.js.CreateOrUpdateStream(cctx, dead); err != nil {
		return fmt.Errorf("cannot create or update stream %s on %s: %w", dead.Name, dead.Subjects[0], err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
		Bucket:      b.leaseBucket,
		Description: "vigil partition leases and processor heartbeats",
		TTL:         b.cfg.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		History:     1,
	})
	if err != nil {
		return fmt.Errorf("cannot create or update key-value bucket %s: %w", b.leaseBucket, err)
	}
	b.leaseKV = kv
	return nil
}

// Conn returns the NATS connection, for other parts (notification
// listeners, alarm actions) to share. It stays owned by the Bus: do not
// close or drain it.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context of Conn.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Config returns the configuration the Bus was opened with.
func (b *Bus) Config() Config { return b.cfg }

// Subject returns the subject of partition p.
func (b *Bus) Subject(p int) string { return b.subjects[p] }

// SamplesStream returns the name of the samples stream.
func (b *Bus) SamplesStream() string { return b.samplesStream }

// DeadLetterStream returns the name of the dead-letter stream.
func (b *Bus) DeadLetterStream() string { return b.deadLetterStream }

// ClientURL returns the URL on which the embedded server accepts TCP
// clients, or "" when it listens on none or the server is external.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.cfg.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// Healthy reports whether the connection is up and JetStream answers.
func (b *Bus) Healthy(ctx context.Context) error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS connection to %q is %v", redactURL(b.cfg.URL), st)
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream at %q does not answer: %w", redactURL(b.cfg.URL), err)
	}
	return nil
}

// Close drains the connection (pending publishes and fetched messages'
// acks are flushed) and shuts the embedded server down, within about twice
// DrainTimeout. Later calls return the first result.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		if b.nc != nil {
			if err := b.nc.Drain(); err != nil {
				b.nc.Close()
			}
			select {
			case <-b.closed:
			case <-time.After(b.cfg.DrainTimeout + time.Second):
				b.closeErr = fmt.Errorf("NATS connection did not drain within %v", b.cfg.DrainTimeout)
				b.nc.Close()
			}
		}
		b.shutdownServer()
	})
	return b.closeErr
}

func (b *Bus) shutdownServer() {
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	done := make(chan struct{})
	go func() {
		b.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(b.cfg.DrainTimeout):
		b.log.Warn("embedded NATS server did not shut down in time", "timeout", b.cfg.DrainTimeout)
	}
}

// redactURL hides passwords in NATS URLs before they reach logs and errors.
func redactURL(u string) string {
	if u == "" {
		return "embedded"
	}
	parts := strings.Split(u, ",")
	for i, p := range parts {
		if pu, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = pu.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// serverLogger sends the embedded server's log lines to slog.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
