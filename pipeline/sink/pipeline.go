package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// Options are what building a Pipeline needs besides the file.
type Options struct {
	// Bus receives gnocchi:// batches, unless the context of a Process call
	// names another (WithBus); *bus.Bus satisfies it. A pipeline with a
	// gnocchi:// publisher fails to load without it.
	Bus BatchPublisher
	// NATS carries nats:// messages; the bus's Conn satisfies it.
	NATS NATSConn
	// Producer names the writer in wire batches (for example "notify@host").
	Producer string
	// Creator is "user_id:project_id" of the writing service, which maps
	// non-UUID resource ids to Gnocchi's UUIDs.
	Creator string
	// Metrics receives the pipeline's self-metrics; nil keeps them private.
	Metrics *metrics.Set
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock of the time-based transformers; nil is time.Now.
	Now func() time.Time
}

// Pipeline routes samples from pipeline.yaml's sources to its sinks. A
// sample goes to each sink that one of the sources accepting its meter
// lists, once per sink even when several of those sources list it
// (Ceilometer would run it through the sink once per source). Sinks are
// shared by the sources that list them, as in Ceilometer, so a
// transformer's state spans them.
//
// Pipeline is a Stage: Process is safe for concurrent use, and a nil error
// means every sink's publishers delivered what they got. On an error some
// sinks may have delivered; a caller that retries sends them the samples
// again (harmless for gnocchi://, whose batches are deduplicated and whose
// store keeps the last write per timestamp; stateful transformers see the
// samples twice: rate_of_change and delta drop the repeat, the aggregator
// and accumulator count it again).
type Pipeline struct {
	sinks   []*sinkRun
	closers []io.Closer
	log     *slog.Logger
	in      *metrics.Counter
}

type sinkRun struct {
	name    string
	stage   Stage
	filters []*pipeline.MeterFilter // of the sources that list the sink
	all     bool                    // a source takes every meter: no filtering
	in      *metrics.Counter
	errors  *metrics.Counter
}

// Load parses a pipeline.yaml and builds its pipeline. An invalid file or a
// publisher that cannot be built fails the load with the line and the
// reason.
func Load(data []byte, opts Options) (*Pipeline, error) {
	cfg, err := parseConfig(data)
	if err != nil {
		return nil, err
	}
	return build(cfg, &opts)
}

// LoadFile loads the pipeline.yaml at path, or Ceilometer's default
// (everything to gnocchi://) when path is empty.
func LoadFile(path string, opts Options) (*Pipeline, error) {
	if path == "" {
		return Load([]byte(DefaultPipelineYAML), opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open pipeline file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPipelineFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read pipeline file %s: %w", path, err)
	}
	p, err := Load(data, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot load pipeline file %s: %w", path, err)
	}
	return p, nil
}

func build(cfg *fileConfig, opts *Options) (*Pipeline, error) {
	if opts.Bus != nil {
		o := *opts
		o.Bus = busRouter{def: opts.Bus}
		opts = &o
	}
	set := opts.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	p := &Pipeline{log: log.With("component", "pipeline"), in: set.GetOrCreateCounter(`vigil_pipeline_samples_total`)}
	used := map[string]bool{}
	for _, src := range cfg.sources {
		for _, s := range src.sinks {
			used[s] = true
		}
	}
	for _, sc := range cfg.sinks {
		if !used[sc.name] {
			p.log.Warn("no source feeds this sink; it is not built", "sink", sc.name)
			continue
		}
		env := &buildEnv{sink: sc.name, opts: opts, set: set, log: p.log, now: now}
		var seq Sequence
		for _, tc := range sc.transformers {
			st, err := transformerBuilders[tc.name](tc, env)
			if err != nil {
				p.Close()
				return nil, err
			}
			seq = append(seq, st)
		}
		var pubs Fanout
		for _, pc := range sc.publishers {
			st, err := buildPublisher(pc, env)
			if err != nil {
				p.Close()
				return nil, err
			}
			if c, ok := st.(io.Closer); ok {
				p.closers = append(p.closers, c)
			}
			pubs = append(pubs, st)
		}
		var last Stage = pubs
		if len(pubs) == 1 {
			last = pubs[0]
		}
		run := &sinkRun{
			name:   sc.name,
			stage:  append(seq, last),
			in:     set.GetOrCreateCounter(fmt.Sprintf(`vigil_pipeline_sink_samples_total{sink=%q}`, sc.name)),
			errors: set.GetOrCreateCounter(fmt.Sprintf(`vigil_pipeline_sink_errors_total{sink=%q}`, sc.name)),
		}
		for _, src := range cfg.sources {
			for _, s := range src.sinks {
				if s == sc.name {
					run.filters = append(run.filters, src.filter)
					if len(src.meters) == 1 && src.meters[0] == "*" {
						run.all = true
					}
				}
			}
		}
		p.sinks = append(p.sinks, run)
	}
	return p, nil
}

func (r *sinkRun) accepts(name string) bool {
	for _, f := range r.filters {
		if f.Match(name) {
			return true
		}
	}
	return false
}

var selectPool = sync.Pool{New: func() any { return new([]pipeline.Sample) }}

// Process sends src through every sink; see Pipeline.
func (p *Pipeline) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	p.in.Add(len(src))
	var errs []error
	for _, sk := range p.sinks {
		sel := src
		var held *[]pipeline.Sample
		if !sk.all {
			held = selectPool.Get().(*[]pipeline.Sample)
			sel = (*held)[:0]
			for i := range src {
				if sk.accepts(src[i].Name) {
					sel = append(sel, src[i])
				}
			}
		}
		sk.in.Add(len(sel))
		var err error
		dst, err = sk.stage.Process(ctx, dst, sel)
		if held != nil {
			clear(sel)
			if cap(sel) <= maxPooledSamples {
				*held = sel[:0]
				selectPool.Put(held)
			}
		}
		if err != nil {
			sk.errors.Inc()
			errs = append(errs, fmt.Errorf("sink %s: %w", sk.name, err))
		}
	}
	return dst, errors.Join(errs...)
}

// WithBus returns a context under which the gnocchi:// publishers of a
// Pipeline send to b instead of Options.Bus. One pipeline can then serve
// agents that deliver differently while they share its transformers' state
// (an arithmetic transformer combining a polled and a notified meter) and
// its other publishers (one writer per file:// path): the polling agent
// passes its spooling publisher, so that polled samples outlive a bus
// outage, while the notification agent publishes to the bus itself and
// acknowledges a notification only once the bus took it. What a transformer
// releases during a call goes where that call's context says, and what a
// tick (Run) flushes goes to Options.Bus.
func WithBus(ctx context.Context, b BatchPublisher) context.Context {
	return context.WithValue(ctx, busKey{}, b)
}

type busKey struct{}

// busRouter is the BatchPublisher the gnocchi:// publishers of a Pipeline
// get: the context's (WithBus), or def.
type busRouter struct{ def BatchPublisher }

func (r busRouter) PublishWith(ctx context.Context, b *wire.Batch, opts bus.PublishOptions) error {
	if bp, ok := ctx.Value(busKey{}).(BatchPublisher); ok {
		return bp.PublishWith(ctx, b, opts)
	}
	return r.def.PublishWith(ctx, b, opts)
}

// TickInterval is how often Run ticks the sinks.
const TickInterval = time.Second

// Run ticks the sinks every TickInterval until ctx is done, so that the
// aggregator's retention_time flushes without new samples. What a tick
// fails to publish is logged and lost, as nobody waits on it.
func (p *Pipeline) Run(ctx context.Context) {
	t := time.NewTicker(TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.Process(ctx, nil, nil); err != nil && ctx.Err() == nil {
				p.log.Error("cannot publish samples flushed on time", "err", err)
			}
		}
	}
}

// Close releases the publishers' files. The Pipeline must not be used
// after.
func (p *Pipeline) Close() error {
	var errs []error
	for _, c := range p.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	p.closers = nil
	return errors.Join(errs...)
}
