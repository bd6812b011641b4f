// Package wire is the versioned binary encoding of sample batches on the bus:
// protocol buffers generated from batch.proto, plus the checks a consumer
// runs before it trusts a batch. FORMAT.md describes the encoding.
package wire

import (
	"encoding/json"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Version is the encoding version this package writes and reads.
const Version = 1

// MaxBatchBytes bounds a batch message; it matches the bus's max payload.
const MaxBatchBytes = 8 << 20

// Marshal appends the encoding of b to dst.
func Marshal(dst []byte, b *Batch) ([]byte, error) {
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, b)
	if err != nil {
		return dst, fmt.Errorf("cannot encode batch of %d series: %w", len(b.Series), err)
	}
	return out, nil
}

// Unmarshal decodes data into b, which it resets first, and validates it.
// b's slices may be reused across calls.
func Unmarshal(data []byte, b *Batch) error {
	if len(data) > MaxBatchBytes {
		return fmt.Errorf("cannot decode batch: %d bytes exceeds the limit of %d", len(data), MaxBatchBytes)
	}
	if err := (proto.UnmarshalOptions{Merge: false}).Unmarshal(data, b); err != nil {
		return fmt.Errorf("cannot decode batch of %d bytes: %w", len(data), err)
	}
	return Validate(b)
}

// Validate reports the first inconsistency in b: an unknown version, a
// series that names no metric or a missing resource, unequal columns, or a
// non-finite value.
func Validate(b *Batch) error {
	if b.Version != Version {
		return fmt.Errorf("batch version %d is not supported (want %d)", b.Version, Version)
	}
	for i, r := range b.Resources {
		if r.Id == "" {
			return fmt.Errorf("resource %d has an empty id", i)
		}
		if len(r.MetadataJson) > 0 && !json.Valid(r.MetadataJson) {
			return fmt.Errorf("resource %q has invalid metadata JSON", r.Id)
		}
	}
	for i, s := range b.Series {
		switch {
		case len(s.MetricId) == 0:
			if s.Resource == nil {
				return fmt.Errorf("series %d names neither a metric nor a resource", i)
			}
			if s.Name == "" {
				return fmt.Errorf("series %d has no metric name", i)
			}
		case len(s.MetricId) != 16:
			return fmt.Errorf("series %d has a metric id of %d bytes, want 16", i, len(s.MetricId))
		}
		if s.Resource != nil && int(*s.Resource) >= len(b.Resources) {
			return fmt.Errorf("series %d names resource %d of %d", i, *s.Resource, len(b.Resources))
		}
		if len(s.Timestamps) != len(s.Values) {
			return fmt.Errorf("series %d has %d timestamps and %d values", i, len(s.Timestamps), len(s.Values))
		}
		for _, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("series %d (%s) has a non-finite value %v", i, s.Name, v)
			}
		}
	}
	return nil
}

// Builder groups samples into a Batch: one Resource per distinct resource id
// and one Series per (resource, meter). It is not safe for concurrent use;
// Reset lets it build the next batch with the same memory.
type Builder struct {
	batch     Batch
	resources map[string]uint32
	series    map[seriesKey]int
	creator   string
	producer  string
}

type seriesKey struct {
	resource uint32
	name     string
}

// NewBuilder returns a Builder whose batches name producer and creator
// ("user_id:project_id" of the writing service).
func NewBuilder(producer, creator string) *Builder {
	b := &Builder{creator: creator, producer: producer}
	b.Reset()
	return b
}

// Reset forgets the samples added so far.
func (b *Builder) Reset() {
	b.batch = Batch{Version: Version, Producer: b.producer}
	b.resources = make(map[string]uint32)
	b.series = make(map[seriesKey]int)
}

// Len returns the number of points added since the last Reset.
func (b *Builder) Len() int {
	n := 0
	for _, s := range b.batch.Series {
		n += len(s.Values)
	}
	return n
}

// Add appends s. The first sample of a resource in a batch sets its
// metadata; later ones of the same resource do not change it.
func (b *Builder) Add(s *pipeline.Sample) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if math.IsNaN(s.Volume) || math.IsInf(s.Volume, 0) {
		return fmt.Errorf("sample %q of resource %q has a non-finite volume", s.Name, s.ResourceID)
	}
	ri, ok := b.resources[s.ResourceID]
	if !ok {
		var md []byte
		if len(s.Metadata) > 0 {
			var err error
			if md, err = json.Marshal(s.Metadata); err != nil {
				return fmt.Errorf("cannot encode metadata of resource %q: %w", s.ResourceID, err)
			}
		}
		ri = uint32(len(b.batch.Resources))
		b.resources[s.ResourceID] = ri
		b.batch.Resources = append(b.batch.Resources, &Resource{
			Id: s.ResourceID, Type: s.ResourceType, UserId: s.UserID, ProjectId: s.ProjectID,
			Source: s.Source, MetadataJson: md, Creator: b.creator,
		})
	}
	k := seriesKey{ri, s.Name}
	si, ok := b.series[k]
	if !ok {
		si = len(b.batch.Series)
		b.series[k] = si
		b.batch.Series = append(b.batch.Series, &Series{
			Resource: &ri, Name: s.Name, Type: MeterType(s.Type), Unit: s.Unit,
		})
	}
	ser := b.batch.Series[si]
	ser.Timestamps = append(ser.Timestamps, s.Timestamp.UnixNano())
	ser.Values = append(ser.Values, s.Volume)
	return nil
}

// Batch returns the batch built so far. It stays owned by the Builder
// until the next Reset.
func (b *Builder) Batch() *Batch { return &b.batch }
