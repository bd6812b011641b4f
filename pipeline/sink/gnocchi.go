package sink

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
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
// window (a notification redelivered before its ack) is stored once.
//
// URL options, as Ceilometer's: filter_project=<id> drops the samples of
// that project (Ceilometer resolves a project name through Keystone; here
// it is the id, and nothing is dropped by default); archive_policy=<name>
// sets the policy of every metric; timeout=<seconds> bounds a publish.
// filter_domain and resources_definition_file are accepted and ignored:
// the store maps meters to resource types itself.
type gnocchi struct {
	bus           BatchPublisher
	producer      string
	creator       string
	filterProject string
	archivePolicy string
	timeout       time.Duration
	builders      sync.Pool // of *wire.Builder
	met           publishCounters
}

func buildGnocchi(u *url.URL, _ string, env *buildEnv) (Stage, error) {
	if env.opts.Bus == nil {
		return nil, errors.New("no sample bus to publish to")
	}
	o, err := newURLOptions(u)
	if err != nil {
		return nil, err
	}
	g := &gnocchi{bus: env.opts.Bus, producer: env.opts.Producer, creator: env.opts.Creator, met: env.publishCounters("gnocchi")}
	g.filterProject, _ = o.get("filter_project")
	g.archivePolicy, _ = o.get("archive_policy")
	o.get("filter_domain")
	o.get("resources_definition_file")
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
	if g.archivePolicy != "" {
		for _, s := range batch.Series {
			s.ArchivePolicy = g.archivePolicy
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
