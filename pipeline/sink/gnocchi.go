package sink

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// BatchPublisher is where gnocchi:// sends samples: the sample bus, whose
// processors store them in the tsdb. *bus.Bus satisfies it. A nil error
// means the batch is durable; the same MsgID makes a repeat harmless.
type BatchPublisher interface {
	PublishWith(ctx context.Context, b *wire.Batch, opts bus.PublishOptions) error
}

// gnocchiBatchSamples bounds the samples of one wire batch, well within the
// bus's message size even with large metadata.
const gnocchiBatchSamples = 2000

// gnocchi is the gnocchi:// publisher: samples go to the bus as wire
// batches (FORMAT.md of pipeline/wire), each published with an id derived
// from its content, so that a batch sent again within the bus's duplicate
// window (a notification redelivered before its ack) is stored once. A
// '/' in a resource id becomes '_', as Ceilometer's publisher does, since
// Gnocchi refuses it.
//
// URL options, as Ceilometer's: filter_project=<id> drops the samples of
// that project (Ceilometer resolves a project name through Keystone; here
// it is the id, and nothing is dropped by default); archive_policy=<name>
// sets the policy of every metric; timeout=<seconds> bounds a publish;
// resources_definition_file=<path> maps meters with a gnocchi_resources.yaml
// of its own (pipeline/resources): a sample whose producer gave no
// resource type gets the type of its meter there, or is dropped (counted,
// logged once per meter) when the file does not list it, and a metric gets
// the file's archive policy. Without it the processors map the samples
// with the deployment's definitions (pipeline.resources_file). The
// attributes are always taken by the processors. filter_domain is
// accepted and ignored.
type gnocchi struct {
	bus           BatchPublisher
	producer      string
	creator       string
	filterProject string
	archivePolicy string
	timeout       time.Duration
	defs          *resources.Definitions // nil: the processors map
	builders      sync.Pool              // of *wire.Builder
	met           publishCounters
	notMapped     *metrics.Counter
	log           *slog.Logger
	warned        sync.Map     // meters logged as not mapped
	nWarned       atomic.Int64 // entries of warned
}

// maxWarnedMeters bounds the meters remembered as logged: notifications
// choose meter names.
const maxWarnedMeters = 10000

func (g *gnocchi) warnNotMapped(meter string) {
	if g.log == nil {
		return
	}
	if _, seen := g.warned.Load(meter); seen || g.nWarned.Load() >= maxWarnedMeters {
		return
	}
	if _, seen := g.warned.LoadOrStore(meter, struct{}{}); !seen {
		g.nWarned.Add(1)
		g.log.Warn("meter is not handled by the resource definitions of gnocchi://; its samples are dropped", "meter", meter)
	}
}

func buildGnocchi(u *url.URL, _ string, env *buildEnv) (Stage, error) {
	if env.opts.Bus == nil {
		return nil, errors.New("no sample bus to publish to")
	}
	o, err := newURLOptions(u)
	if err != nil {
		return nil, err
	}
	g := &gnocchi{bus: env.opts.Bus, producer: env.opts.Producer, creator: env.opts.Creator, met: env.publishCounters("gnocchi"), log: env.log}
	g.filterProject, _ = o.get("filter_project")
	g.archivePolicy, _ = o.get("archive_policy")
	o.get("filter_domain")
	if f, ok := o.get("resources_definition_file"); ok && f != "" {
		if g.defs, err = resources.Load(f); err != nil {
			return nil, fmt.Errorf("resources_definition_file: %w", err)
		}
		g.notMapped = env.set.GetOrCreateCounter(fmt.Sprintf(`vigil_pipeline_gnocchi_not_mapped_total{sink=%q}`, env.sink))
	}
	if s, ok := o.get("timeout"); ok {
		if g.timeout, err = parseSeconds(s); err != nil {
			return nil, fmt.Errorf("timeout: %w", err)
		}
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	g.builders.New = func() any { return wire.NewBuilder(g.producer, g.creator) }
	return g, nil
}

func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 3600 {
		return 0, fmt.Errorf("%q: want seconds in (0, 3600]", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func (g *gnocchi) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if len(src) == 0 {
		return dst, nil
	}
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	b := g.builders.Get().(*wire.Builder)
	defer g.builders.Put(b)
	var errs []error
	for len(src) > 0 {
		n := min(len(src), gnocchiBatchSamples)
		if err := g.publish(ctx, b, src[:n]); err != nil {
			errs = append(errs, err)
		}
		src = src[n:]
	}
	return dst, errors.Join(errs...)
}

func (g *gnocchi) publish(ctx context.Context, b *wire.Builder, samples []pipeline.Sample) error {
	b.Reset()
	added := 0
	for i := range samples {
		s := &samples[i]
		if g.filterProject != "" && s.ProjectID == g.filterProject {
			continue
		}
		if (g.defs != nil && s.ResourceType == "") || strings.Contains(s.ResourceID, "/") {
			cp := *s
			cp.ResourceID = strings.ReplaceAll(cp.ResourceID, "/", "_")
			if g.defs != nil && cp.ResourceType == "" {
				def := g.defs.ForMeter(cp.Name)
				if def == nil {
					g.notMapped.Inc()
					g.warnNotMapped(cp.Name)
					continue
				}
				cp.ResourceType = def.Type
			}
			s = &cp
		}
		if err := b.Add(s); err != nil {
			// A producer's bug, not the bus's: retrying cannot help.
			g.met.dropped.Inc()
			continue
		}
		added++
	}
	if added == 0 {
		return nil
	}
	batch := b.Batch()
	for _, ser := range batch.Series {
		switch {
		case g.archivePolicy != "":
			ser.ArchivePolicy = g.archivePolicy
		case g.defs != nil:
			if def := g.defs.ForType(batch.Resources[*ser.Resource].Type); def != nil {
				ser.ArchivePolicy, _ = def.Policy(ser.Name)
			}
		}
	}
	if err := g.bus.PublishWith(ctx, batch, bus.PublishOptions{MsgID: batchID(batch)}); err != nil {
		g.met.errors.Inc()
		return fmt.Errorf("cannot publish %d samples to the bus: %w", added, err)
	}
	g.met.samples.Add(added)
	return nil
}

// batchID is a digest of a batch's content: equal batches get equal ids,
// and different ones collide with negligible probability (128 bits).
func batchID(b *wire.Batch) string {
	h := fnv.New128a()
	var num [8]byte
	putU64 := func(h hash.Hash, v uint64) {
		binary.LittleEndian.PutUint64(num[:], v)
		h.Write(num[:])
	}
	putStr := func(s string) {
		putU64(h, uint64(len(s)))
		h.Write([]byte(s))
	}
	putU64(h, uint64(len(b.Resources)))
	for _, r := range b.Resources {
		putStr(r.Id)
		putStr(r.Type)
		putStr(r.UserId)
		putStr(r.ProjectId)
		putStr(r.Source)
		putStr(r.Creator)
		putU64(h, uint64(len(r.MetadataJson)))
		h.Write(r.MetadataJson)
	}
	putU64(h, uint64(len(b.Series)))
	for _, s := range b.Series {
		if s.Resource != nil {
			putU64(h, uint64(*s.Resource))
		}
		putStr(s.Name)
		putU64(h, uint64(s.Type))
		putStr(s.Unit)
		putStr(s.ArchivePolicy)
		putU64(h, uint64(len(s.Timestamps)))
		for i, ts := range s.Timestamps {
			putU64(h, uint64(ts))
			putU64(h, math.Float64bits(s.Values[i]))
		}
	}
	var sum [16]byte
	return "g-" + hex.EncodeToString(h.Sum(sum[:0]))
}
