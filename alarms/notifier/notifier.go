// Package notifier runs alarm actions: http(s):// webhooks with Aodh's body
// and headers (Heat's scaling-policy signal URLs are such webhooks),
// trust+http(s):// through a Keystone trust, log:// and nats://subject.
// Each target (scheme and host) has its own bounded queue and workers, so a
// slow or dead target never delays the others; deliveries time out, are
// retried with exponential backoff and jitter, and every attempt is
// recorded in the alarm's history.
package notifier

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/vigil-telemetry/vigil/alarms"
)

// Config is the notifier configuration; start from DefaultConfig.
type Config struct {
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how often a delivery is tried in all (1 = no retry).
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffBase is the wait before the first retry; it doubles up to
	// BackoffMax, with jitter.
	BackoffBase time.Duration `yaml:"backoff_base"`
	BackoffMax  time.Duration `yaml:"backoff_max"`
	// QueueSize bounds the deliveries waiting per target; beyond it new
	// ones are dropped (and recorded as such).
	QueueSize int `yaml:"queue_size"`
	// WorkersPerTarget is how many deliveries run at once per target.
	WorkersPerTarget int `yaml:"workers_per_target"`
	// IdleTimeout ends a target's workers after that long without work.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// TLSVerify checks https servers' certificates (default true); an
	// action may override it with ?aodh-alarm-ssl-verify=0|1 as in Aodh.
	TLSVerify bool `yaml:"tls_verify"`
	// CAFile, CertFile and KeyFile are a CA bundle and a client
	// certificate for https actions.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Keystone authenticates trust+ actions.
	Keystone KeystoneConfig `yaml:"keystone"`
	// HistoryQueue bounds history entries waiting to be stored.
	HistoryQueue int `yaml:"history_queue"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Timeout:          10 * time.Second,
		MaxAttempts:      3,
		BackoffBase:      500 * time.Millisecond,
		BackoffMax:       30 * time.Second,
		QueueSize:        1000,
		WorkersPerTarget: 4,
		IdleTimeout:      5 * time.Minute,
		TLSVerify:        true,
		HistoryQueue:     10000,
	}
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Timeout <= 0 {
		bad("timeout: %v must be positive", c.Timeout)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		bad("max_attempts: %d is out of range [1, 100]", c.MaxAttempts)
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		bad("backoff_base: %v must be positive and at most backoff_max (%v)", c.BackoffBase, c.BackoffMax)
	}
	if c.QueueSize < 1 {
		bad("queue_size: %d must be positive", c.QueueSize)
	}
	if c.WorkersPerTarget < 1 || c.WorkersPerTarget > 256 {
		bad("workers_per_target: %d is out of range [1, 256]", c.WorkersPerTarget)
	}
	if c.IdleTimeout <= 0 {
		bad("idle_timeout: %v must be positive", c.IdleTimeout)
	}
	if c.HistoryQueue < 1 {
		bad("history_queue: %d must be positive", c.HistoryQueue)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("cert_file, key_file: give both or neither")
	}
	return errors.Join(errs...)
}

// History stores history entries (*store.Store).
type History interface {
	AppendHistory(ctx context.Context, cs []alarms.Change) error
}

// Deps are the parts the notifier works with.
type Deps struct {
	History History
	// NATS runs nats:// actions; nil makes them fail.
	NATS    *nats.Conn
	Log     *slog.Logger
	Metrics *metrics.Set
	// Transport replaces the HTTP transport (tests); TLS settings then come
	// from it.
	Transport http.RoundTripper
}

// Notifier runs actions; it is safe for concurrent use.
type Notifier struct {
	cfg      Config
	d        Deps
	log      *slog.Logger
	verify   *http.Client // certificates checked
	insecure *http.Client // ?aodh-alarm-ssl-verify=0
	keystone *Keystone
	hist     *historyWriter
	met      *notifyMetrics

	mu      sync.Mutex // guards targets, closed
	targets map[string]*target
	closed  bool
	stop    chan struct{}  // closed by Close: workers end once their queue is empty
	wg      sync.WaitGroup // workers
	// base is the parent of every attempt; Close cancels it when its
	// context ends, which fails the attempts in flight and drops the rest.
	base   context.Context
	cancel context.CancelFunc
}

// target is one destination with its queue.
type target struct {
	key     string
	jobs    chan job
	workers int // guarded by Notifier.mu
}

type job struct {
	note   *alarms.Notification
	action string
	u      *url.URL
}

// New returns a notifier. Close it to drain and stop.
func New(cfg Config, d Deps) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid notifier config: %w", err)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.NewSet()
	}
	n := &Notifier{cfg: cfg, d: d, log: d.Log.With("component", "alarm-notifier"), targets: map[string]*target{}, stop: make(chan struct{}), met: newNotifyMetrics(d.Metrics)}
	n.base, n.cancel = context.WithCancel(context.Background())
	if d.Transport != nil {
		n.verify = &http.Client{Transport: d.Transport}
		n.insecure = n.verify
	} else {
		v, err := transport(cfg, cfg.TLSVerify)
		if err != nil {
			return nil, err
		}
		i, err := transport(cfg, false)
		if err != nil {
			return nil, err
		}
		n.verify, n.insecure = &http.Client{Transport: v}, &http.Client{Transport: i}
	}
	// Redirects are not followed: a webhook answers, it does not send the
	// alarm elsewhere.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n.verify.CheckRedirect, n.insecure.CheckRedirect = noRedirect, noRedirect
	if cfg.Keystone.URL != "" {
		n.keystone = NewKeystone(cfg.Keystone, &http.Client{Transport: n.verify.Transport, Timeout: cfg.Timeout})
	}
	n.hist = newHistoryWriter(d.History, cfg.HistoryQueue, n.log, n.met)
	return n, nil
}

func transport(cfg Config, verify bool) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify} //nolint:gosec // per-action opt-out, as Aodh offers
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = tc
	return t, nil
}

// Keystone returns the Keystone client of trust+ actions, or nil when none
// is configured; the API uses it to create and delete trusts.
func (n *Notifier) Keystone() *Keystone { return n.keystone }

// targetKey groups actions that share a fate: the same server.
func targetKey(u *url.URL) string {
	switch u.Scheme {
	case alarms.SchemeLog, alarms.SchemeNATS:
		return u.Scheme
	}
	return strings.TrimPrefix(u.Scheme, "trust+") + "://" + strings.ToLower(u.Host)
}

// Notify queues the notification's actions without blocking. An action
// whose target queue is full is dropped and recorded in the history.
func (n *Notifier) Notify(note *alarms.Notification) {
	for _, action := range note.Actions {
		u, err := alarms.ParseAction(action)
		if err != nil {
			n.record(note, action, 0, "failed", 0, err.Error(), 0)
			continue
		}
		n.enqueue(job{note: note, action: action, u: u})
	}
}

func (n *Notifier) enqueue(j job) {
	key := targetKey(j.u)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.record(j.note, j.action, 0, "dropped", 0, "notifier is stopping", 0)
		return
	}
	t := n.targets[key]
	if t == nil {
		t = &target{key: key, jobs: make(chan job, n.cfg.QueueSize)}
		n.targets[key] = t
	}
	select {
	case t.jobs <- j:
	default:
		n.mu.Unlock()
		n.met.dropped.Inc()
		n.record(j.note, j.action, 0, "dropped", 0, fmt.Sprintf("queue of %s is full (%d)", key, n.cfg.QueueSize), 0)
		return
	}
	if t.workers < n.cfg.WorkersPerTarget && (t.workers == 0 || len(t.jobs) > 0) {
		t.workers++
		n.wg.Add(1)
		go n.worker(t)
	}
	n.mu.Unlock()
}

func (n *Notifier) worker(t *target) {
	defer n.wg.Done()
	idle := time.NewTimer(n.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		select {
		case j := <-t.jobs:
			n.deliver(j)
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(n.cfg.IdleTimeout)
		case <-n.stop:
			n.mu.Lock()
			if len(t.jobs) == 0 {
				t.workers--
				n.mu.Unlock()
				return
			}
			n.mu.Unlock()
		case <-idle.C:
			n.mu.Lock()
			if len(t.jobs) == 0 {
				t.workers--
				if t.workers == 0 && n.targets[t.key] == t {
					delete(n.targets, t.key)
				}
				n.mu.Unlock()
				return
			}
			n.mu.Unlock()
			idle.Reset(n.cfg.IdleTimeout)
		}
	}
}

// permanent marks an outcome no retry can change.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// deliver runs one action with retries, recording each attempt.
func (n *Notifier) deliver(j job) {
	for attempt := 1; ; attempt++ {
		if n.base.Err() != nil {
			n.met.dropped.Inc()
			n.record(j.note, j.action, attempt, "dropped", 0, "notifier stopped", 0)
			return
		}
		start := time.Now()
		status, err := n.attempt(j)
		dur := time.Since(start)
		if err == nil {
			n.met.delivered.Inc()
			n.met.latency.UpdateDuration(j.note.At)
			n.record(j.note, j.action, attempt, "delivered", status, "", dur)
			return
		}
		var p permanent
		last := attempt >= n.cfg.MaxAttempts || errors.As(err, &p) || n.base.Err() != nil
		outcome := "retrying"
		if last {
			outcome = "failed"
			n.met.failed.Inc()
		}
		n.met.attemptErrors.Inc()
		n.record(j.note, j.action, attempt, outcome, status, err.Error(), dur)
		n.log.Warn("alarm action failed", "alarm_id", j.note.AlarmID, "action", alarms.ScrubAction(j.action),
			"attempt", attempt, "outcome", outcome, "err", err)
		if last {
			return
		}
		d := n.cfg.BackoffBase << (attempt - 1)
		if d > n.cfg.BackoffMax || d <= 0 {
			d = n.cfg.BackoffMax
		}
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-t.C:
		case <-n.base.Done():
			t.Stop()
		}
	}
}

// attempt runs one delivery; it returns the HTTP status when there was one.
func (n *Notifier) attempt(j job) (int, error) {
	ctx, cancel := context.WithTimeout(n.base, n.cfg.Timeout)
	defer cancel()
	switch j.u.Scheme {
	case alarms.SchemeLog:
		n.log.Info(fmt.Sprintf("Notifying alarm %s %s of %s priority from %s to %s with action log: because %s.",
			j.note.AlarmName, j.note.AlarmID, j.note.Severity, j.note.Previous, j.note.Current, j.note.Reason))
		return 0, nil
	case alarms.SchemeNATS:
		if n.d.NATS == nil {
			return 0, permanent{errors.New("no NATS connection for nats:// actions")}
		}
		subj, err := alarms.NATSActionSubject(j.u)
		if err != nil {
			return 0, permanent{err}
		}
		msg := &nats.Msg{Subject: subj, Data: j.note.Body(), Header: nats.Header{}}
		msg.Header.Set("Content-Type", "application/json")
		msg.Header.Set("X-Openstack-Request-Id", "req-"+uuid.NewString())
		if err := n.d.NATS.PublishMsg(msg); err != nil {
			return 0, err
		}
		return 0, n.d.NATS.FlushWithContext(ctx)
	case alarms.SchemeHTTP, alarms.SchemeHTTPS:
		return n.post(ctx, j, j.u, "")
	case alarms.SchemeTrustHTTP, alarms.SchemeTrustHTTPS:
		if n.keystone == nil {
			return 0, permanent{errors.New("no Keystone configured for trust+ actions")}
		}
		if j.u.User == nil || j.u.User.Username() == "" {
			return 0, permanent{errors.New("trust+ action without a trust id")}
		}
		trust := j.u.User.Username()
		tok, err := n.keystone.Token(ctx, trust)
		if err != nil {
			if errors.Is(err, ErrUnauthorized) {
				return 0, permanent{err}
			}
			return 0, err
		}
		plain := *j.u
		plain.User = nil
		plain.Scheme = strings.TrimPrefix(j.u.Scheme, "trust+")
		status, err := n.post(ctx, j, &plain, tok)
		if status == http.StatusUnauthorized {
			// The token may have been revoked: fetch a new one next time.
			n.keystone.Forget(trust)
			return status, err
		}
		return status, err
	}
	return 0, permanent{fmt.Errorf("unsupported action scheme %q", j.u.Scheme)}
}

// post sends Aodh's webhook request. The URL is used verbatim, query
// included.
func (n *Notifier) post(ctx context.Context, j job, u *url.URL, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(j.note.Body()))
	if err != nil {
		return 0, permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Openstack-Request-Id", "req-"+uuid.NewString())
	req.Header.Set("User-Agent", "vigil-alarm-notifier")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	client := n.verify
	if u.Scheme == "https" {
		if v := u.Query()["aodh-alarm-ssl-verify"]; len(v) > 0 && v[len(v)-1] == "0" {
			client = n.insecure
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) && isCertError(uerr.Err) {
			return 0, permanent{err}
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return resp.StatusCode, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5:
		return resp.StatusCode, fmt.Errorf("target answered %s", resp.Status)
	case resp.StatusCode == http.StatusUnauthorized && token != "":
		return resp.StatusCode, fmt.Errorf("target refused the trust token: %s", resp.Status)
	}
	return resp.StatusCode, permanent{fmt.Errorf("target answered %s", resp.Status)}
}

func isCertError(err error) bool {
	var (
		ue *x509.UnknownAuthorityError
		he x509.HostnameError
		ce x509.CertificateInvalidError
		ve *tls.CertificateVerificationError
	)
	return errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) || errors.As(err, &ve)
}

// record queues the history entry of one attempt.
func (n *Notifier) record(note *alarms.Notification, action string, attempt int, outcome string, status int, errText string, dur time.Duration) {
	detail := map[string]any{
		"action": alarms.ScrubAction(action), "attempt": attempt, "max_attempts": n.cfg.MaxAttempts,
		"outcome": outcome, "previous": note.Previous, "current": note.Current,
		"duration": dur.Seconds(),
	}
	if status != 0 {
		detail["status"] = status
	}
	if errText != "" {
		detail["error"] = errText
	}
	b, _ := json.Marshal(detail)
	n.hist.add(alarms.Change{EventID: uuid.NewString(), AlarmID: note.AlarmID, Type: alarms.ChangeAction, Detail: b,
		OnBehalfOf: note.ProjectID, Severity: note.Severity, Timestamp: time.Now().UTC()})
}

// Close stops taking notifications and waits until the queued ones are
// delivered; when ctx ends first, the attempts in flight fail and the rest
// are dropped (each recorded). Then it stores the remaining history.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("notifier stopped with deliveries pending: %w", ctx.Err())
		n.cancel()
		<-done
	}
	n.cancel()
	n.hist.close(ctx)
	return err
}
