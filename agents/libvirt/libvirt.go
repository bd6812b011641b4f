//go:build libvirt

package libvirt

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unsafe"

	lv "libvirt.org/go/libvirt"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// groupBits are the bulk call's stat types by group; xml has none.
var groupBits = [nGroups]lv.DomainStatsTypes{
	gState: lv.DOMAIN_STATS_STATE, gCPU: lv.DOMAIN_STATS_CPU_TOTAL, gBalloon: lv.DOMAIN_STATS_BALLOON,
	gVCPU: lv.DOMAIN_STATS_VCPU, gInterface: lv.DOMAIN_STATS_INTERFACE, gBlock: lv.DOMAIN_STATS_BLOCK,
	gPerf: lv.DOMAIN_STATS_PERF,
}

const allGroups = lv.DOMAIN_STATS_STATE | lv.DOMAIN_STATS_CPU_TOTAL | lv.DOMAIN_STATS_BALLOON |
	lv.DOMAIN_STATS_VCPU | lv.DOMAIN_STATS_INTERFACE | lv.DOMAIN_STATS_BLOCK | lv.DOMAIN_STATS_PERF

// Pollster polls the domains of one libvirt connection; it implements
// poll.Pollster and poll.MeterLister. Each poll makes one
// virConnectGetAllDomainStats call for every domain and stat group; where
// the driver leaves a group out (libvirt's test driver fills only state),
// per-domain calls stand in for that group alone, as remembered per
// connection. Domain XML is read on first sight and then only now and then
// (Config.XMLRefresh), and parsed only when it changed.
//
// Poll may be called concurrently; polls run one at a time. A poll returns
// when its context is done even if a libvirt call hangs: that call's
// samples are then dropped, and later polls wait for it (within their own
// context) before they start.
type Pollster struct {
	cfg  Config
	log  *slog.Logger
	m    *pollMetrics
	seed maphash.Seed

	// sem is held by the goroutine running a cycle, and guards every field
	// below it.
	sem chan struct{}

	conn     *lv.Connect
	raw      unsafe.Pointer      // conn's virConnectPtr, referenced, for the bulk call
	probed   bool                // groups and flags were probed on conn
	groups   lv.DomainStatsTypes // what the bulk call asks conn for
	flags    lv.ConnectGetAllDomainStatsFlags
	failures int       // connection attempts failed in a row
	retryAt  time.Time // no attempt before
	lastErr  error     // of the last failed attempt

	polls   int
	doms    map[string]*domain    // by UUID
	handles map[string]*lv.Domain // this cycle's, by UUID, where per-domain calls stand in
	stats   domStats
	vcpus   []vcpuAcc
	uuidBuf [uuidBufLen]byte
	tally   tally
	emit    emitter

	// afterBulk, when set by a test, runs between the bulk call and the
	// per-domain work, so that a test can change the domains mid-poll.
	afterBulk func()
}

// New returns a pollster of cfg.URI. It does not connect: the first poll
// does, and a poll while libvirt is unreachable returns an error at once.
func New(cfg Config, log *slog.Logger) (*Pollster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pollster{
		cfg:     cfg,
		log:     log.With("pollster", "libvirt", "uri", cfg.URI),
		m:       newPollMetrics(cfg.Metrics, cfg.URI),
		seed:    maphash.MakeSeed(),
		sem:     make(chan struct{}, 1),
		flags:   lv.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT,
		doms:    make(map[string]*domain),
		handles: make(map[string]*lv.Domain),
	}, nil
}

// Name returns "libvirt".
func (p *Pollster) Name() string { return "libvirt" }

// Meters lists the meters Poll can produce.
func (p *Pollster) Meters() []string { return meterNames() }

// Close closes the connection. It waits up to ten seconds for a poll still
// in a libvirt call; Poll must not be called after.
func (p *Pollster) Close() error {
	select {
	case p.sem <- struct{}{}:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("cannot close libvirt connection %s: a libvirt call is still blocked", p.cfg.URI)
	}
	defer func() { <-p.sem }()
	p.disconnect()
	return nil
}

// guard lets an abandoned cycle finish without emitting: emit must not be
// called after Poll returned.
type guard struct {
	mu        sync.Mutex
	abandoned bool
	emit      func(*pipeline.Sample)
}

func (g *guard) gone() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.abandoned
}

// Poll reads every domain once and emits their samples with timestamp now.
// Domains that vanish, are shut off or whose stats fail are skipped,
// counted and logged once per poll; they are no error. The error reports
// a poll that could not list the domains at all: libvirt unreachable
// (wrapping ErrUnavailable), or ctx done first.
func (p *Pollster) Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("cannot poll libvirt %s: the previous poll is still in a libvirt call: %w", p.cfg.URI, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		<-p.sem
		return fmt.Errorf("cannot poll libvirt %s: %w", p.cfg.URI, err)
	}
	g := &guard{emit: emit}
	done := make(chan error, 1)
	go func() {
		err := p.cycle(g, now)
		<-p.sem
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		g.mu.Lock()
		g.abandoned = true
		g.mu.Unlock()
		return fmt.Errorf("libvirt %s poll abandoned in a libvirt call: %w", p.cfg.URI, ctx.Err())
	}
}

// errLost marks a cycle that lost its connection half way.
var errLost = errors.New("libvirt connection lost")

// cycle is one poll, run while holding sem.
func (p *Pollster) cycle(g *guard, now time.Time) error {
	p.polls++
	p.tally.reset()
	recs, err := p.list()
	if err != nil {
		return err
	}
	defer recs.free()
	defer p.freeHandles()
	p.tally.domains = recs.n
	if p.afterBulk != nil {
		p.afterBulk()
	}
	p.emit.start(now, g.emit, &p.tally, p.m)
	for i := range recs.n {
		if err := p.domain(g, recs.at(i)); errors.Is(err, errLost) {
			p.disconnect()
			p.m.disconnects.Inc()
			p.report()
			return fmt.Errorf("%w: %s: lost the connection while polling: %w", ErrUnavailable, p.cfg.URI, err)
		}
		if g.gone() {
			return nil
		}
	}
	for uuid, d := range p.doms {
		if d.seen != p.polls {
			delete(p.doms, uuid)
		}
	}
	p.report()
	return nil
}

// list makes the cycle's bulk call, connecting first when needed. A
// connection that broke since the last poll (libvirtd restarted) is
// reopened at once, without waiting for the backoff. Where the driver
// leaves groups out, it also lists the domains' handles for the
// per-domain calls.
func (p *Pollster) list() (records, error) {
	hadConn := p.conn != nil
	if err := p.connect(); err != nil {
		return records{}, err
	}
	recs, err := p.bulk()
	if err != nil && hadConn && p.lost(err) {
		p.disconnect()
		p.m.disconnects.Inc()
		p.log.Info("libvirt connection lost; reconnecting", "err", err)
		if err := p.connect(); err != nil {
			return records{}, err
		}
		recs, err = p.bulk()
	}
	if err != nil {
		if p.lost(err) {
			p.disconnect()
			p.m.disconnects.Inc()
			p.backoff(err)
			return records{}, fmt.Errorf("%w: cannot get domain stats from %s: %w", ErrUnavailable, p.cfg.URI, err)
		}
		return records{}, fmt.Errorf("cannot get domain stats from %s: %w", p.cfg.URI, err)
	}
	if p.groups != allGroups {
		if err := p.listHandles(); err != nil {
			recs.free()
			return records{}, err
		}
	}
	return recs, nil
}

// listHandles fills p.handles with one call for every domain.
func (p *Pollster) listHandles() error {
	p.m.fallbackCalls.Inc()
	doms, err := p.conn.ListAllDomains(0)
	if err != nil {
		return fmt.Errorf("cannot list the domains of %s: %w", p.cfg.URI, err)
	}
	for i := range doms {
		uuid, err := doms[i].GetUUIDString()
		if err != nil {
			doms[i].Free()
			continue
		}
		p.handles[uuid] = &doms[i]
	}
	return nil
}

func (p *Pollster) freeHandles() {
	for uuid, d := range p.handles {
		d.Free()
		delete(p.handles, uuid)
	}
}

// connect opens the connection unless it is open or the backoff forbids
// an attempt yet.
func (p *Pollster) connect() error {
	if p.conn != nil {
		return nil
	}
	if wait := time.Until(p.retryAt); wait > 0 {
		return fmt.Errorf("%w: %s unreachable (%d attempts failed), next attempt in %s: %w",
			ErrUnavailable, p.cfg.URI, p.failures, wait.Round(time.Millisecond), p.lastErr)
	}
	conn, err := lv.NewConnectReadOnly(p.cfg.URI)
	if err != nil {
		p.m.connectErrors.Inc()
		p.backoff(err)
		return fmt.Errorf("%w: cannot connect to %s (attempt %d): %w", ErrUnavailable, p.cfg.URI, p.failures, err)
	}
	raw, err := rawConn(conn)
	if err != nil {
		conn.Close()
		return fmt.Errorf("cannot use the connection to %s: %w", p.cfg.URI, err)
	}
	p.raw = raw
	if p.failures > 0 {
		p.log.Info("libvirt reachable again", "failed_attempts", p.failures)
	}
	p.conn, p.failures, p.lastErr, p.probed = conn, 0, nil, false
	p.flags = lv.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
	p.m.connects.Inc()
	p.m.connected.Set(1)
	return nil
}

// backoff schedules the next connection attempt after a failure.
func (p *Pollster) backoff(err error) {
	p.failures++
	p.lastErr = err
	d := p.cfg.MinBackoff
	for i := 1; i < p.failures && d < p.cfg.MaxBackoff; i++ {
		d *= 2
	}
	p.retryAt = time.Now().Add(min(d, p.cfg.MaxBackoff))
}

func (p *Pollster) disconnect() {
	p.freeHandles()
	if p.raw != nil {
		closeRaw(p.raw)
		p.raw = nil
	}
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
	p.m.connected.Set(0)
}

// lost reports whether err means the connection is gone, rather than a
// refusal of one call.
func (p *Pollster) lost(err error) bool {
	var e lv.Error
	if errors.As(err, &e) {
		switch e.Code {
		case lv.ERR_NO_DOMAIN, lv.ERR_OPERATION_INVALID, lv.ERR_ARGUMENT_UNSUPPORTED,
			lv.ERR_NO_SUPPORT, lv.ERR_INVALID_ARG:
			return false
		}
	}
	if p.conn == nil {
		return true
	}
	alive, aerr := p.conn.IsAlive()
	return aerr != nil || !alive
}

// bulk makes the one GetAllDomainStats call of a cycle. On a new
// connection it first asks for every group with ENFORCE_STATS; if the
// driver refuses some, it finds which, once, and asks for the others
// only from then on.
func (p *Pollster) bulk() (records, error) {
	p.m.bulkCalls.Inc()
	start := time.Now()
	defer p.m.bulkDuration.UpdateDuration(start)
	if !p.probed {
		recs, err := p.probe()
		if err != nil || recs.list != nil {
			return recs, err
		}
	}
	recs, err := allStats(p.raw, p.groups, p.flags)
	if err != nil && p.flags != 0 && unsupportedFlags(err) {
		p.flags = 0
		recs, err = allStats(p.raw, p.groups, p.flags)
	}
	return recs, err
}

// probe finds the groups the driver fills. It returns the records of its
// first call when that call asked for every group and succeeded.
func (p *Pollster) probe() (records, error) {
	enforce := lv.CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS
	recs, err := allStats(p.raw, allGroups, p.flags|enforce)
	if err != nil && p.flags != 0 && unsupportedFlags(err) {
		p.flags = 0 // a libvirt older than NOWAIT (4.5)
		recs, err = allStats(p.raw, allGroups, p.flags|enforce)
	}
	if err == nil {
		p.groups, p.probed = allGroups, true
		return recs, nil
	}
	if !unsupportedStats(err) {
		return records{}, err
	}
	p.groups = 0
	var missing []string
	for g := range gXML {
		r, err := allStats(p.raw, groupBits[g], p.flags|enforce)
		switch {
		case err == nil:
			p.groups |= groupBits[g]
			r.free()
		case unsupportedStats(err):
			missing = append(missing, groupNames[g])
		default:
			return records{}, err
		}
	}
	p.probed = true
	p.log.Info("libvirt driver leaves stat groups out of the bulk call; per-domain calls stand in for them (perf has none)",
		"missing", strings.Join(missing, ","))
	return records{}, nil
}

func unsupportedStats(err error) bool {
	var e lv.Error
	return errors.As(err, &e) && e.Code == lv.ERR_ARGUMENT_UNSUPPORTED
}

func unsupportedFlags(err error) bool {
	var e lv.Error
	return errors.As(err, &e) && e.Code == lv.ERR_INVALID_ARG && strings.Contains(e.Message, "flags")
}

// report logs the cycle's skips once and updates the metrics.
func (p *Pollster) report() {
	t := &p.tally
	p.m.domains.Set(float64(t.domains))
	p.m.polled.Add(t.polled)
	// Errors warn; domains that came and went during the poll are churn.
	var problems, churn int
	args := []any{"domains", t.domains, "polled", t.polled}
	for r, n := range t.skipped {
		if n > 0 {
			p.m.skipped[r].Add(n)
			args = append(args, "skipped_"+skipNames[r], n)
			switch skipReason(r) {
			case skipError:
				problems += n
			case skipVanished:
				churn += n
			}
		}
	}
	for g, n := range t.statErrs {
		if n > 0 {
			p.m.statErrors[g].Add(n)
			args = append(args, "stat_errors_"+groupNames[g], n)
			problems += n
		}
	}
	if t.resets > 0 {
		args = append(args, "counter_resets", t.resets)
	}
	if len(t.examples) > 0 {
		args = append(args, "first", strings.Join(t.examples, "; "))
	}
	switch {
	case problems > 0:
		p.log.Warn("libvirt poll skipped domains or stats", args...)
	case churn > 0 || t.resets > 0:
		p.log.Info("libvirt domains vanished during the poll or restarted", args...)
	default:
		p.log.Debug("libvirt poll", args...)
	}
}
