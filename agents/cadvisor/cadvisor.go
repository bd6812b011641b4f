package cadvisor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// The modes of Config.Mode.
const (
	ModeEmbedded = "embedded"
	ModeRemote   = "remote"
)

// Config says where the pollster reads cAdvisor.
type Config struct {
	// Mode is ModeEmbedded (default: cAdvisor's manager in this process,
	// over this machine's cgroups) or ModeRemote (a daemon's REST API).
	Mode string
	// URL is the daemon's base URL in remote mode, e.g.
	// "http://127.0.0.1:8080/".
	URL string
	// Hostname names the node in resource ids and metadata (default: the
	// machine's hostname).
	Hostname string
	// Timeout bounds a remote poll's requests (default 10 s); the poll's
	// context bounds them too.
	Timeout time.Duration
	// MaxReplyBytes bounds one remote reply (default 64 MiB).
	MaxReplyBytes int64
	// HTTPClient makes the remote requests (default: one with Timeout).
	HTTPClient *http.Client
	// HousekeepingInterval is how often the embedded manager reads every
	// cgroup (default 10 s). The process runs one manager: the first
	// embedded pollster's interval holds.
	HousekeepingInterval time.Duration
	// MaxAge is how old, at a poll, the embedded manager's statistics of
	// a container may be before the poll reads the cgroup again
	// (default 1 s), so that samples are fresh whatever the interval.
	MaxAge time.Duration
	// Metrics receives the pollster's counters (default: a set of its
	// own): vigil_agent_cadvisor_containers_skipped_total and
	// vigil_agent_cadvisor_counter_resets_total.
	Metrics *metrics.Set
}

// Defaults of Config.
const (
	DefaultTimeout              = 10 * time.Second
	DefaultMaxReplyBytes        = 64 << 20
	DefaultHousekeepingInterval = 10 * time.Second
	DefaultMaxAge               = time.Second
)

// forgetAfter is how many polls a container may be missing before its
// state (metadata, previous CPU reading) is dropped.
const forgetAfter = 2

// maxSkippedLogged bounds the names in the once-per-poll log line about
// skipped containers.
const maxSkippedLogged = 5

// source reads the latest statistics of every container.
type source interface {
	// read appends a reading per container with statistics to dst, and
	// the names of the containers it listed without any to skipped. An
	// error with readings is a partial failure.
	read(ctx context.Context, dst []reading, skipped []string) ([]reading, []string, error)
}

// Pollster reads cAdvisor; it implements poll.Pollster and
// poll.MeterLister. Its resources are containers (type "container"; the
// package documentation has their ids, meters and metadata).
type Pollster struct {
	mode    string
	log     *slog.Logger
	host    string
	src     source
	skipped *metrics.Counter
	resets  *metrics.Counter

	mu         sync.Mutex // guards everything below; Poll may run concurrently
	polls      int
	readings   []reading
	skipNames  []string
	containers map[string]*containerState // by cAdvisor name
	sample     pipeline.Sample
}

// containerState is what the pollster keeps of a container between polls.
type containerState struct {
	id      string
	md      map[string]any // replaced, never changed, once emitted
	created time.Time
	seen    int // last poll that listed it

	havePrev bool
	prevAt   time.Time
	prevCPU  uint64
}

// New checks the configuration and connects the pollster to cAdvisor: in
// embedded mode it starts (or joins) the process's cAdvisor manager, which
// fails where the machine has no cgroups to read; in remote mode it only
// parses the URL, since the daemon may come up later.
func New(cfg Config, log *slog.Logger) (*Pollster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cannot name the node of the containers: %w", err)
		}
		cfg.Hostname = h
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	p := &Pollster{
		mode:       cfg.Mode,
		log:        log,
		host:       cfg.Hostname,
		skipped:    cfg.Metrics.GetOrCreateCounter("vigil_agent_cadvisor_containers_skipped_total"),
		resets:     cfg.Metrics.GetOrCreateCounter("vigil_agent_cadvisor_counter_resets_total"),
		containers: make(map[string]*containerState),
	}
	switch cfg.Mode {
	case "", ModeEmbedded:
		p.mode = ModeEmbedded
		if cfg.HousekeepingInterval <= 0 {
			cfg.HousekeepingInterval = DefaultHousekeepingInterval
		}
		if cfg.MaxAge <= 0 {
			cfg.MaxAge = DefaultMaxAge
		}
		m, err := processManager(cfg.HousekeepingInterval, log)
		if err != nil {
			return nil, err
		}
		p.src = &embedded{m: m, maxAge: cfg.MaxAge}
	case ModeRemote:
		if cfg.URL == "" {
			return nil, fmt.Errorf("cadvisor mode %q needs a URL", ModeRemote)
		}
		if cfg.Timeout <= 0 {
			cfg.Timeout = DefaultTimeout
		}
		if cfg.MaxReplyBytes <= 0 {
			cfg.MaxReplyBytes = DefaultMaxReplyBytes
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: cfg.Timeout}
		}
		r, err := newRemote(cfg.URL, client, cfg.MaxReplyBytes)
		if err != nil {
			return nil, err
		}
		p.src = r
	default:
		return nil, fmt.Errorf("unknown cadvisor mode %q: want %q or %q", cfg.Mode, ModeEmbedded, ModeRemote)
	}
	return p, nil
}

// Name returns "cadvisor".
func (p *Pollster) Name() string { return "cadvisor" }

// Mode returns ModeEmbedded or ModeRemote.
func (p *Pollster) Mode() string { return p.mode }

// Meters lists the meters Poll can produce.
func (p *Pollster) Meters() []string {
	names := make([]string, len(allMeters))
	for i, m := range allMeters {
		names[i] = m.name
	}
	return names
}

// Poll reads every container once and emits its samples with timestamp
// now. container.cpu.util is the rate of container.cpu between cAdvisor's
// readings of this poll and the previous one, so a container's first poll
// has none. A container listed without statistics (it stopped while
// cAdvisor read it) is skipped and counted; one that vanished is
// forgotten. An error means cAdvisor could not be read, or only in part.
func (p *Pollster) Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	var err error
	p.readings, p.skipNames, err = p.src.read(ctx, p.readings[:0], p.skipNames[:0])
	if len(p.readings) == 0 && err != nil {
		return err
	}
	// Sorted, so that a poll's samples come in the same order every time.
	slices.SortFunc(p.readings, func(a, b reading) int { return strings.Compare(a.name, b.name) })
	p.sample = pipeline.Sample{Timestamp: now, Source: SampleSource, ResourceType: ResourceType}
	for i := range p.readings {
		p.emitContainer(&p.readings[i], emit)
	}
	// Drop the references into the decoded replies until the next poll.
	clear(p.readings)
	for name, c := range p.containers {
		if c.seen < p.polls-forgetAfter+1 {
			delete(p.containers, name)
		}
	}
	if n := len(p.skipNames); n > 0 {
		p.skipped.Add(n)
		slices.Sort(p.skipNames)
		p.log.Warn("containers without statistics skipped", "count", n, "containers", p.skipNames[:min(n, maxSkippedLogged)])
	}
	return err
}

func (p *Pollster) emitContainer(r *reading, emit func(*pipeline.Sample)) {
	c := p.containers[r.name]
	if c == nil || !c.created.Equal(r.created) {
		if c != nil {
			p.resets.Inc() // the container was re-created under its name
		}
		c = &containerState{id: resourceID(p.host, r.name), md: metadata(p.host, r), created: r.created}
		p.containers[r.name] = c
	}
	c.seen = p.polls
	s := &p.sample
	s.ResourceID, s.Metadata = c.id, c.md
	add := func(m meter, v float64) {
		s.Name, s.Unit, s.Type, s.Volume = m.name, m.unit, m.typ, v
		emit(s)
	}
	if r.hasCPU {
		add(mCPU, float64(r.cpuTotal))
		switch {
		case !c.havePrev || !r.at.After(c.prevAt):
			// First reading, or cAdvisor has not read the cgroup since.
		case r.cpuTotal < c.prevCPU:
			p.resets.Inc()
		default:
			add(mCPUUtil, 100*float64(r.cpuTotal-c.prevCPU)/float64(r.at.Sub(c.prevAt)))
		}
		if !c.havePrev || r.at.After(c.prevAt) {
			c.havePrev, c.prevAt, c.prevCPU = true, r.at, r.cpuTotal
		}
	}
	if r.hasMem {
		add(mMemUsage, float64(r.memUsage))
		add(mMemWorkingSet, float64(r.memWS))
		add(mMemRSS, float64(r.memRSS))
		add(mMemCache, float64(r.memCache))
	}
	if r.hasNet {
		n := &r.net
		add(mNetInBytes, float64(n.rxBytes))
		add(mNetInPackets, float64(n.rxPackets))
		add(mNetInErrors, float64(n.rxErrors))
		add(mNetInDrops, float64(n.rxDropped))
		add(mNetOutBytes, float64(n.txBytes))
		add(mNetOutPackets, float64(n.txPackets))
		add(mNetOutErrors, float64(n.txErrors))
		add(mNetOutDrops, float64(n.txDropped))
	}
	if r.hasFS {
		add(mFSUsage, float64(r.fsUsage))
	}
	if r.hasFSLimit {
		add(mFSLimit, float64(r.fsLimit))
	}
}
