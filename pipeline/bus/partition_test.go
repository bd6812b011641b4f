package bus

import (
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// TestPartitionStable pins the partition function: a change would move
// resources between partitions and break per-resource ordering across an
// upgrade.
func TestPartitionStable(t *testing.T) {
	for _, tc := range []struct {
		id, creator string
		partitions  int
		want        int
	}{
		{"00000000-0000-0000-0000-000000000000", "", 16, 5},
		{"5a301761-f78b-46e2-8900-8b4f6fe6675a", "", 16, 2},
		{"5a301761f78b46e289008b4f6fe6675a", "", 16, 2},
		{"5a301761-f78b-46e2-8900-8b4f6fe6675a", "", 7, 5},
		{"compute-1", "admin:admin", 16, 11},
		{"compute-1", "other:other", 16, 12},
		{"compute-1", "admin:admin", 1, 0},
	} {
		u, err := pipeline.ResourceUUID(tc.id, tc.creator)
		if err != nil {
			t.Fatal(err)
		}
		if got := PartitionOf(u, tc.partitions); got != tc.want {
			t.Errorf("PartitionOf(%s (%s, %q), %d) = %d, want %d", u, tc.id, tc.creator, tc.partitions, got, tc.want)
		}
	}
}

// TestPartitionOfMatchesFNV compares PartitionOf with the standard
// library's FNV-1a on random keys, and checks the spread.
func TestPartitionOfMatchesFNV(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, parts := range []int{1, 2, 3, 16, 64, 1000} {
		counts := make([]int, parts)
		const n = 20000
		for range n {
			var u uuid.UUID
			for i := range u {
				u[i] = byte(rng.UintN(256))
			}
			h := fnv.New64a()
			h.Write(u[:])
			want := int(h.Sum64() % uint64(parts))
			got := PartitionOf(u, parts)
			if got != want {
				t.Fatalf("PartitionOf(%s, %d) = %d, want %d", u, parts, got, want)
			}
			counts[got]++
		}
		if parts <= 64 {
			for p, c := range counts {
				if exp := n / parts; c < exp*7/10 || c > exp*13/10 {
					t.Errorf("%d partitions: partition %d got %d of %d keys", parts, p, c, n)
				}
			}
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spec       batchSpec
		partitions int
	}{
		{"one resource", batchSpec{resources: 1, meters: 4, points: 3}, 16},
		{"by metric only", batchSpec{byMetric: 30, points: 2}, 16},
		{"many resources", batchSpec{resources: 100, meters: 3, points: 2, byMetric: 10}, 16},
		{"one partition", batchSpec{resources: 30, meters: 2, points: 1, byMetric: 3}, 1},
		{"many partitions", batchSpec{resources: 50, meters: 1, points: 1}, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := makeBatch(11, tc.spec)
			checkSplit(t, newSplitter(tc.partitions), b, tc.partitions)
		})
	}
	// One splitter reused across batches of different shapes.
	sp := newSplitter(16)
	for seed := range uint64(20) {
		b := makeBatch(seed, batchSpec{resources: int(seed * 7 % 23), meters: 2, points: int(seed%3) + 1, byMetric: int(seed % 4)})
		checkSplit(t, sp, b, 16)
	}
}

// checkSplit splits b and checks the result against a naive reference:
// every series in the partition of its key, exactly once, with exactly the
// resources the partition's series name.
func checkSplit(t *testing.T, sp *splitter, b *wire.Batch, partitions int) {
	t.Helper()
	before := points(b)
	n, err := sp.split(b, partitions)
	if err != nil {
		t.Fatal(err)
	}
	wantParts := make(map[int]map[point]int)
	wantRes := make(map[int]map[string]bool)
	for _, s := range b.Series {
		key, err := PartitionKey(b, s)
		if err != nil {
			t.Fatal(err)
		}
		p := PartitionOf(key, partitions)
		if wantParts[p] == nil {
			wantParts[p], wantRes[p] = make(map[point]int), make(map[string]bool)
		}
		for i := range s.Values {
			wantParts[p][point{seriesName(b, s), s.Timestamps[i], s.Values[i]}]++
		}
		if s.Resource != nil {
			wantRes[p][b.Resources[*s.Resource].Id] = true
		}
	}
	if n != len(wantParts) || len(sp.used) != n {
		t.Fatalf("split into %d partitions (used %v), want %d", n, sp.used, len(wantParts))
	}
	if n == 1 {
		if _, ok := wantParts[sp.used[0]]; !ok {
			t.Fatalf("single partition %d, want %v", sp.used[0], wantParts)
		}
		return
	}
	sp.regroup(b)
	for _, p := range sp.used {
		pb := &sp.parts[p]
		// Through the encoding, as a consumer sees it.
		data, err := wire.Marshal(nil, pb)
		if err != nil {
			t.Fatal(err)
		}
		var got wire.Batch
		if err := wire.Unmarshal(data, &got); err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
		gp := points(&got)
		if len(gp) != len(wantParts[p]) {
			t.Errorf("partition %d: %d points, want %d", p, len(gp), len(wantParts[p]))
		}
		for pt, c := range wantParts[p] {
			if gp[pt] != c {
				t.Errorf("partition %d: point %+v %d times, want %d", p, pt, gp[pt], c)
			}
		}
		if len(got.Resources) != len(wantRes[p]) {
			t.Errorf("partition %d: %d resources, want %d", p, len(got.Resources), len(wantRes[p]))
		}
		for _, r := range got.Resources {
			if !wantRes[p][r.Id] {
				t.Errorf("partition %d holds resource %s it does not need", p, r.Id)
			}
		}
	}
	sp.release()
	after := points(b)
	if len(after) != len(before) {
		t.Fatal("split modified the batch")
	}
	for i := range sp.slab {
		if s := &sp.slab[i]; s.Values != nil || s.Resource != nil {
			t.Fatalf("slab entry %d still references the batch after release", i)
		}
	}
}

// TestCopySeriesCoversEveryField fails when wire.Series gains a field that
// copySeries does not copy.
func TestCopySeriesCoversEveryField(t *testing.T) {
	src := &wire.Series{}
	m := src.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() {
			l := m.Mutable(fd).List()
			l.Append(scalar(t, fd))
			continue
		}
		m.Set(fd, scalar(t, fd))
	}
	var dst wire.Series
	copySeries(&dst, src)
	if !proto.Equal(&dst, src) {
		t.Fatalf("copySeries lost fields:\n got %v\nwant %v", &dst, src)
	}
}

func scalar(t *testing.T, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{1})
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(1)
	case protoreflect.Sfixed64Kind, protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	}
	t.Fatalf("field %s has kind %v the test does not know", fd.Name(), fd.Kind())
	return protoreflect.Value{}
}

// FuzzSplit splits any batch the wire codec accepts and checks the split
// against the reference.
func FuzzSplit(f *testing.F) {
	for seed := range uint64(4) {
		data, err := wire.Marshal(nil, makeBatch(seed, batchSpec{resources: int(seed * 3), meters: 2, points: 2, byMetric: int(seed)}))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, parts uint16) {
		var b wire.Batch
		if err := wire.Unmarshal(data, &b); err != nil {
			return
		}
		partitions := int(parts)%maxPartitions + 1
		for _, s := range b.Series {
			if _, err := PartitionKey(&b, s); err != nil {
				// Refused before any split; split must say so too.
				if _, err := newSplitter(partitions).split(&b, partitions); err == nil {
					t.Fatalf("split accepted a batch whose series %q has no key", s.Name)
				}
				return
			}
		}
		checkSplit(t, newSplitter(partitions), &b, partitions)
	})
}
