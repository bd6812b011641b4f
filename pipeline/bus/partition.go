package bus

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// FNV-1a, 64 bits.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// PartitionOf maps key to a partition in [0, partitions): FNV-1a 64 of the
// 16 bytes, modulo partitions. The mapping is part of the bus format: it
// never changes, so that one resource's samples stay in one partition
// across versions. partitions must be positive.
func PartitionOf(key uuid.UUID, partitions int) int {
	if partitions <= 0 {
		panic(fmt.Sprintf("BUG: PartitionOf with %d partitions", partitions))
	}
	h := uint64(fnvOffset64)
	for _, c := range key {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return int(h % uint64(partitions))
}

// Partition maps key to one of the bus's partitions; see PartitionOf.
func (b *Bus) Partition(key uuid.UUID) int { return PartitionOf(key, b.cfg.Partitions) }

// PartitionKey returns the key that places series s of batch b: the UUID of
// its resource (pipeline.ResourceUUID of the resource's id and creator)
// when the series names one, else its metric id. b must have passed
// wire.Validate.
func PartitionKey(b *wire.Batch, s *wire.Series) (uuid.UUID, error) {
	if s.Resource != nil {
		r := b.Resources[*s.Resource]
		u, err := pipeline.ResourceUUID(r.Id, r.Creator)
		if err != nil {
			return uuid.Nil, fmt.Errorf("cannot place series %q: %w", s.Name, err)
		}
		return u, nil
	}
	u, err := uuid.FromBytes(s.MetricId)
	if err != nil {
		return uuid.Nil, fmt.Errorf("cannot place series %q: metric id: %w", s.Name, err)
	}
	return u, nil
}

// splitter splits batches by partition with memory reused across calls. It
// is owned by one Publish call at a time (through Bus.splitters).
type splitter struct {
	resPart []int32  // partition of each resource of the batch; -1 before it is computed
	resNew  []uint32 // index of each resource in its partition's batch; noIndex before
	serPart []int32  // partition of each series
	parts   []wire.Batch
	used    []int         // partitions that hold series, in order of first series
	slab    []wire.Series // re-indexed shallow copies of the caller's series
	nslab   int           // slab entries in use
	buf     []byte        // the encodings of all partition batches, back to back
	ends    []int         // ends[i] is where used[i]'s encoding ends in buf
}

const noIndex = ^uint32(0)

func newSplitter(partitions int) *splitter {
	return &splitter{parts: make([]wire.Batch, partitions)}
}

// split places every series of b. It returns the number of partitions the
// batch touches; s.used lists them. When it is one, the caller may encode b
// as it is. b must have passed wire.Validate.
func (s *splitter) split(b *wire.Batch, partitions int) (int, error) {
	nr, ns := len(b.Resources), len(b.Series)
	s.resPart = grow(s.resPart, nr)
	for i := range s.resPart {
		s.resPart[i] = -1
	}
	s.serPart = grow(s.serPart, ns)
	s.used = s.used[:0]
	var seen [maxPartitions/64 + 1]uint64
	for i, ser := range b.Series {
		var p int32
		if ser.Resource != nil && s.resPart[*ser.Resource] >= 0 {
			p = s.resPart[*ser.Resource]
		} else {
			key, err := PartitionKey(b, ser)
			if err != nil {
				return 0, fmt.Errorf("series %d: %w", i, err)
			}
			p = int32(PartitionOf(key, partitions))
			if ser.Resource != nil {
				s.resPart[*ser.Resource] = p
			}
		}
		s.serPart[i] = p
		if seen[p/64]&(1<<(p%64)) == 0 {
			seen[p/64] |= 1 << (p % 64)
			s.used = append(s.used, int(p))
		}
	}
	return len(s.used), nil
}

// regroup builds s.parts[p] for every p in s.used from b, after split: each
// holds the series of partition p and only the resources they name,
// re-indexed. The partition batches share b's resources and point columns.
func (s *splitter) regroup(b *wire.Batch) {
	s.resNew = grow(s.resNew, len(b.Resources))
	for i := range s.resNew {
		s.resNew[i] = noIndex
	}
	if cap(s.slab) < len(b.Series) {
		s.slab = make([]wire.Series, len(b.Series))
	}
	s.nslab = len(b.Series)
	for _, p := range s.used {
		pb := &s.parts[p]
		pb.Version, pb.Producer = b.Version, b.Producer
		pb.Resources, pb.Series = pb.Resources[:0], pb.Series[:0]
	}
	for i, ser := range b.Series {
		pb := &s.parts[s.serPart[i]]
		ns := &s.slab[i]
		copySeries(ns, ser)
		if ser.Resource != nil {
			r := *ser.Resource
			if s.resNew[r] == noIndex {
				s.resNew[r] = uint32(len(pb.Resources))
				pb.Resources = append(pb.Resources, b.Resources[r])
			}
			ns.Resource = &s.resNew[r]
		}
		pb.Series = append(pb.Series, ns)
	}
}

// copySeries makes dst a shallow copy of src without copying the message
// state. TestCopySeriesCoversEveryField fails when Series gains a field
// this does not copy.
func copySeries(dst, src *wire.Series) {
	dst.MetricId = src.MetricId
	dst.Resource = src.Resource
	dst.Name = src.Name
	dst.Type = src.Type
	dst.Unit = src.Unit
	dst.ArchivePolicy = src.ArchivePolicy
	dst.Timestamps = src.Timestamps
	dst.Values = src.Values
}

// release drops the references to the caller's batch so that a pooled
// splitter does not keep it alive.
func (s *splitter) release() {
	for _, p := range s.used {
		pb := &s.parts[p]
		clear(pb.Resources)
		clear(pb.Series)
		pb.Resources, pb.Series = pb.Resources[:0], pb.Series[:0]
	}
	var zero wire.Series
	for i := range s.slab[:s.nslab] {
		copySeries(&s.slab[i], &zero)
	}
	s.used, s.nslab = s.used[:0], 0
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
