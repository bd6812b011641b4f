package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cockroachdb/pebble"
	"github.com/google/uuid"
)

const sec = int64(1e9)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, dir string, o PebbleOptions) *Pebble {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	s, err := OpenPebble(dir, o)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return s
}

func closeTest(t testing.TB, s *Pebble) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// commit applies f to a new batch and commits it durably.
func commit(t testing.TB, s Storage, f func(b Batch) error) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	if err := f(b); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if err := b.Commit(context.Background(), true); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// value is a deterministic, self-checking value of n bytes for seed: a
// CRC-32 of the payload, then the payload.
func value(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	v := make([]byte, 4+n)
	for i := 4; i < len(v); i++ {
		v[i] = byte(r.Uint32())
	}
	binary.BigEndian.PutUint32(v, crc32.ChecksumIEEE(v[4:]))
	return v
}

func intact(v []byte) bool {
	return len(v) >= 4 && binary.BigEndian.Uint32(v) == crc32.ChecksumIEEE(v[4:])
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	defer closeTest(t, s)
	m, other := uuid.New(), uuid.New()

	if _, err := s.GetSplit(ctx, m, sec, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSplit of an empty store: %v, want ErrNotFound", err)
	}
	if _, err := s.GetUnaggregated(ctx, m, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUnaggregated of an empty store: %v, want ErrNotFound", err)
	}

	v1, v2, raw := value(1, 3000), value(2, 5000), value(3, 100)
	buf := slices.Clone(v1)
	commit(t, s, func(b Batch) error {
		if err := b.PutSplit(m, sec, -3600*sec, buf); err != nil {
			return err
		}
		// The caller may reuse the value at once.
		copy(buf, v2)
		return errors.Join(
			b.PutSplit(m, 60*sec, -3600*sec, v2),
			b.PutUnaggregated(m, raw),
			b.PutSplit(other, sec, -3600*sec, raw),
		)
	})

	prefix := []byte("prefix")
	got, err := s.GetSplit(ctx, m, sec, -3600*sec, slices.Clone(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], v1) {
		t.Fatalf("GetSplit appended %d bytes, want the prefix and the first value (%d bytes)", len(got), len(v1))
	}
	// The result is the caller's: scribbling on it changes nothing stored.
	for i := range got {
		got[i] = 0
	}
	for _, c := range []struct {
		name string
		get  func() ([]byte, error)
		want []byte
	}{
		{"split at 1 s", func() ([]byte, error) { return s.GetSplit(ctx, m, sec, -3600*sec, nil) }, v1},
		{"split at 60 s", func() ([]byte, error) { return s.GetSplit(ctx, m, 60*sec, -3600*sec, nil) }, v2},
		{"unaggregated", func() ([]byte, error) { return s.GetUnaggregated(ctx, m, nil) }, raw},
		{"other metric", func() ([]byte, error) { return s.GetSplit(ctx, other, sec, -3600*sec, nil) }, raw},
	} {
		got, err := c.get()
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", c.name, len(got), err, len(c.want))
		}
	}
	for _, c := range []struct {
		name       string
		g, start   int64
		metric     uuid.UUID
		wantsError bool
	}{
		{"other start", sec, 0, m, false},
		{"other granularity", 3600 * sec, -3600 * sec, m, false},
		{"other metric", 60 * sec, -3600 * sec, other, false},
	} {
		if _, err := s.GetSplit(ctx, c.metric, c.g, c.start, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", c.name, err)
		}
	}
	if _, err := s.GetUnaggregated(ctx, uuid.New(), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unaggregated of an unknown metric: %v, want ErrNotFound", err)
	}

	// A later write replaces the value.
	commit(t, s, func(b Batch) error { return b.PutSplit(m, sec, -3600*sec, v2) })
	if got, err := s.GetSplit(ctx, m, sec, -3600*sec, nil); err != nil || !bytes.Equal(got, v2) {
		t.Errorf("after overwrite: %d bytes, %v", len(got), err)
	}
}

func TestUncommittedInvisible(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	defer closeTest(t, s)
	m := uuid.New()
	b := s.NewBatch()
	if err := b.PutSplit(m, sec, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSplit(ctx, m, sec, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("uncommitted write visible: %v", err)
	}
	b.Close()
	b.Close()
	if _, err := s.GetSplit(ctx, m, sec, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("closed batch applied: %v", err)
	}
	if err := b.PutSplit(m, sec, 0, nil); err == nil {
		t.Error("PutSplit on a closed batch succeeded")
	}
}

func TestBatchMisuse(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	defer closeTest(t, s)
	m := uuid.New()
	b := s.NewBatch()
	defer b.Close()
	for _, c := range []struct {
		name string
		err  error
	}{
		{"PutSplit at granularity 0", b.PutSplit(m, 0, 0, nil)},
		{"PutSplit at a negative granularity", b.PutSplit(m, -sec, 0, nil)},
		{"DeleteSplitsBefore at granularity 0", b.DeleteSplitsBefore(m, 0, 0)},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), "granularity") {
			t.Errorf("%s: %v, want an error about the granularity", c.name, c.err)
		}
	}
	if _, err := s.GetSplit(ctx, m, 0, 0, nil); err == nil {
		t.Error("GetSplit at granularity 0 succeeded")
	}
	if _, err := s.Splits(ctx, m, -1, 0, 1); err == nil {
		t.Error("Splits at granularity -1 succeeded")
	}
	if err := b.Commit(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, true); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := b.PutUnaggregated(m, nil); err == nil {
		t.Error("PutUnaggregated after Commit succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b2 := s.NewBatch()
	defer b2.Close()
	if err := b2.PutUnaggregated(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b2.Commit(cctx, true); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a canceled context: %v", err)
	}
	if _, err := s.GetSplit(cctx, m, sec, 0, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("GetSplit with a canceled context: %v", err)
	}
}

// TestSplits lists splits around every boundary: negative times, the split
// before from, the exclusive end.
func TestSplits(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	defer closeTest(t, s)
	m, other := uuid.New(), uuid.New()
	h := 3600 * sec
	starts := []int64{-2 * h, -h, 0, h, 2 * h}
	commit(t, s, func(b Batch) error {
		for _, st := range starts {
			if err := b.PutSplit(m, sec, st, []byte("s")); err != nil {
				return err
			}
		}
		// Neighbours that must not leak into the listing.
		return errors.Join(
			b.PutSplit(m, 60*sec, -h/2, []byte("g")),
			b.PutSplit(m, 60*sec, 10*h, []byte("g")),
			b.PutSplit(m, sec-1, 5*h, []byte("g")),
			b.PutSplit(m, sec+1, -5*h, []byte("g")),
			b.PutSplit(other, sec, h/2, []byte("o")),
			b.PutUnaggregated(m, []byte("u")),
		)
	})
	for _, c := range []struct {
		name     string
		from, to int64
		want     []int64
	}{
		{"everything", math.MinInt64, math.MaxInt64, starts},
		{"from a split start takes no earlier one", -2 * h, math.MaxInt64, starts},
		{"from inside the first split", -2*h + 1, -h, []int64{-2 * h}},
		{"the split before from", 0, h, []int64{-h, 0}},
		{"one point inside a split", 1, 2, []int64{0}},
		{"the end is exclusive", math.MinInt64, 0, []int64{-2 * h, -h}},
		{"the end just past a start", math.MinInt64, 1, []int64{-2 * h, -h, 0}},
		{"negative window", -90 * 60 * sec, -1, []int64{-2 * h, -h}},
		{"before every split", math.MinInt64, -2 * h, nil},
		{"after every split", 3 * h, math.MaxInt64, []int64{2 * h}},
		{"at the last start", 2 * h, 2*h + 1, []int64{h, 2 * h}},
		{"empty window", h, h, nil},
		{"inverted window", h, 0, nil},
	} {
		got, err := s.Splits(ctx, m, sec, c.from, c.to)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Splits(%d, %d) = %v, want %v", c.name, c.from, c.to, got, c.want)
		}
	}
	if got, err := s.Splits(ctx, uuid.New(), sec, math.MinInt64, math.MaxInt64); err != nil || len(got) != 0 {
		t.Errorf("splits of an unknown metric: %v, %v", got, err)
	}
}

// TestSplitsReference compares Splits with a naive listing over random
// starts and windows.
func TestSplitsReference(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	defer closeTest(t, s)
	r := rand.New(rand.NewPCG(5, 6))
	m := uuid.New()
	g := 300 * sec
	set := map[int64]bool{}
	commit(t, s, func(b Batch) error {
		for range 300 {
			st := (r.Int64N(2000) - 1000) * g
			set[st] = true
			if err := b.PutSplit(m, g, st, []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
	sorted := make([]int64, 0, len(set))
	for st := range set {
		sorted = append(sorted, st)
	}
	slices.Sort(sorted)
	naive := func(from, to int64) []int64 {
		var out []int64
		if from >= to {
			return nil
		}
		for i, st := range sorted {
			if st >= from && st < to || st < from && (i+1 == len(sorted) || sorted[i+1] >= from) {
				out = append(out, st)
			}
		}
		return out
	}
	for range 2000 {
		from := (r.Int64N(2400) - 1200) * g / 2
		to := from + r.Int64N(200)*g - 10*g
		got, err := s.Splits(ctx, m, g, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if want := naive(from, to); !slices.Equal(got, want) {
			t.Fatalf("Splits(%d, %d) = %v, want %v", from, to, got, want)
		}
	}
}

func TestDeleteSplitsBefore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	defer closeTest(t, s)
	m, other := uuid.New(), uuid.New()
	h := 3600 * sec
	starts := []int64{-2 * h, -h, 0, h, 2 * h}
	commit(t, s, func(b Batch) error {
		for _, st := range starts {
			for _, id := range []uuid.UUID{m, other} {
				if err := errors.Join(b.PutSplit(id, sec, st, []byte("1s")), b.PutSplit(id, 60*sec, st, []byte("60s"))); err != nil {
					return err
				}
			}
		}
		return b.PutUnaggregated(m, []byte("raw"))
	})
	list := func(id uuid.UUID, g int64) []int64 {
		got, err := s.Splits(ctx, id, g, math.MinInt64, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, c := range []struct {
		before int64
		want   []int64
	}{
		{math.MinInt64, starts},
		{-2 * h, starts},
		{-2*h + 1, starts[1:]},
		{0, starts[2:]},
		{h + 1, starts[4:]},
		{math.MaxInt64, nil},
	} {
		commit(t, s, func(b Batch) error { return b.DeleteSplitsBefore(m, sec, c.before) })
		if got := list(m, sec); !slices.Equal(got, c.want) {
			t.Errorf("after DeleteSplitsBefore(%d): %v, want %v", c.before, got, c.want)
		}
		if _, err := s.GetSplit(ctx, m, sec, -h, nil); c.before > -h && !errors.Is(err, ErrNotFound) {
			t.Errorf("after DeleteSplitsBefore(%d) the split at -1 h reads %v", c.before, err)
		}
	}
	if got := list(m, 60*sec); !slices.Equal(got, starts) {
		t.Errorf("another granularity lost splits: %v", got)
	}
	if got := list(other, sec); !slices.Equal(got, starts) {
		t.Errorf("another metric lost splits: %v", got)
	}
	if _, err := s.GetUnaggregated(ctx, m, nil); err != nil {
		t.Errorf("the unaggregated window went with the splits: %v", err)
	}
	// A split written after the deletion in the same batch stays.
	commit(t, s, func(b Batch) error {
		return errors.Join(b.DeleteSplitsBefore(m, 60*sec, h), b.PutSplit(m, 60*sec, 0, []byte("new")))
	})
	if got := list(m, 60*sec); !slices.Equal(got, []int64{0, h, 2 * h}) {
		t.Errorf("delete then put in one batch: %v", got)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, PebbleOptions{})
	m := uuid.New()
	commit(t, s, func(b Batch) error {
		return errors.Join(b.PutSplit(m, sec, 0, value(1, 2000)), b.PutUnaggregated(m, value(2, 200)))
	})
	closeTest(t, s)
	s = openTest(t, dir, PebbleOptions{})
	defer closeTest(t, s)
	if got, err := s.GetSplit(ctx, m, sec, 0, nil); err != nil || !bytes.Equal(got, value(1, 2000)) {
		t.Errorf("split after reopen: %d bytes, %v", len(got), err)
	}
	if got, err := s.GetUnaggregated(ctx, m, nil); err != nil || !bytes.Equal(got, value(2, 200)) {
		t.Errorf("unaggregated after reopen: %d bytes, %v", len(got), err)
	}
}

func TestFormatVersionChecked(t *testing.T) {
	dir := t.TempDir()
	closeTest(t, openTest(t, dir, PebbleOptions{}))
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{quietLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey, []byte("99"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPebble(dir, PebbleOptions{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), `"99"`) {
		t.Fatalf("open of a directory of format 99: %v, want an error naming it", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []PebbleOptions{{MemTableBytes: -1}, {MemTableBytes: 4 << 30}, {CacheBytes: -1}, {ReclaimDelay: -time.Second}} {
		if s, err := OpenPebble(t.TempDir(), o); err == nil {
			s.Close()
			t.Errorf("OpenPebble(%+v) succeeded", o)
		}
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{})
	b := s.NewBatch()
	defer b.Close()
	if err := b.PutUnaggregated(uuid.New(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	closeTest(t, s)
	m := uuid.New()
	for _, c := range []struct {
		name string
		err  error
	}{
		{"Close", s.Close()},
		{"Commit", b.Commit(ctx, true)},
		{"DeleteMetric", s.DeleteMetric(ctx, m)},
		{"Flush", s.Flush(ctx)},
	} {
		if !errors.Is(c.err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", c.name, c.err)
		}
	}
	if _, err := s.GetSplit(ctx, m, sec, 0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("GetSplit after Close: %v", err)
	}
	if _, err := s.Splits(ctx, m, sec, 0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Splits after Close: %v", err)
	}
}

// fill writes mb MiB of incompressible splits of metric m.
func fill(t testing.TB, s Storage, m uuid.UUID, seed uint64, mb int) {
	t.Helper()
	const size = 8 << 10
	n := mb << 20 / size
	for i := 0; i < n; i += 64 {
		commit(t, s, func(b Batch) error {
			for j := i; j < min(i+64, n); j++ {
				if err := b.PutSplit(m, sec, int64(j)*3600*sec, value(seed<<32|uint64(j), size)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

func diskUsage(t testing.TB, s Storage) int64 {
	t.Helper()
	n, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitDiskBelow waits for the disk usage to fall below limit.
func waitDiskBelow(t *testing.T, s Storage, limit int64, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := diskUsage(t, s)
		if n < limit {
			t.Logf("%s: disk usage %d bytes", what, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: disk usage still %d bytes after 60 s, want under %d", what, n, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDeleteMetricFreesDisk(t *testing.T) {
	ctx := context.Background()
	set := metrics.NewSet()
	// A small memtable keeps the write-ahead log, which DiskUsage counts,
	// small beside the data.
	s := openTest(t, t.TempDir(), PebbleOptions{MemTableBytes: 1 << 20, ReclaimDelay: 10 * time.Millisecond, Metrics: set})
	defer closeTest(t, s)
	doomed, kept := uuid.New(), uuid.New()
	fill(t, s, doomed, 1, 12)
	fill(t, s, kept, 2, 2)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	before := diskUsage(t, s)
	if before < 12<<20 {
		t.Fatalf("disk usage %d bytes after writing 14 MiB", before)
	}
	if err := s.DeleteMetric(ctx, doomed); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Splits(ctx, doomed, sec, math.MinInt64, math.MaxInt64); err != nil || len(got) != 0 {
		t.Fatalf("splits of a deleted metric: %d, %v", len(got), err)
	}
	if _, err := s.GetSplit(ctx, doomed, sec, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("split of a deleted metric: %v", err)
	}
	waitDiskBelow(t, s, before-10<<20, fmt.Sprintf("after deleting 12 MiB of %d bytes", before))
	got, err := s.Splits(ctx, kept, sec, math.MinInt64, math.MaxInt64)
	if err != nil || len(got) != 2<<20/(8<<10) {
		t.Fatalf("the other metric has %d splits, %v", len(got), err)
	}
	for i, st := range got {
		v, err := s.GetSplit(ctx, kept, sec, st, nil)
		if err != nil || !bytes.Equal(v, value(2<<32|uint64(i), 8<<10)) {
			t.Fatalf("split %d of the other metric: %d bytes, %v", st, len(v), err)
		}
	}
	if n := gauge(t, set, "vigil_storage_reclaims_total"); n != 1 {
		t.Errorf("reclaims_total = %v, want 1", n)
	}
}

// TestReclaimResumesAfterReopen closes the storage before the reclaim ran;
// the next open frees the space.
func TestReclaimResumesAfterReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, PebbleOptions{MemTableBytes: 1 << 20, ReclaimDelay: time.Hour})
	m := uuid.New()
	fill(t, s, m, 3, 8)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	before := diskUsage(t, s)
	if err := s.DeleteMetric(ctx, m); err != nil {
		t.Fatal(err)
	}
	closeTest(t, s)
	s = openTest(t, dir, PebbleOptions{MemTableBytes: 1 << 20, ReclaimDelay: 10 * time.Millisecond})
	defer closeTest(t, s)
	waitDiskBelow(t, s, before-6<<20, "after reopening")
	deadline := time.Now().Add(10 * time.Second)
	for s.pendingCount() > 0 || hasReclaimMarker(t, s, m) {
		if time.Now().After(deadline) {
			t.Fatal("the reclaim marker stays after the reclaim")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasReclaimMarker(t *testing.T, s *Pebble, m uuid.UUID) bool {
	_, closer, err := s.db.Get(reclaimKey(m))
	if errors.Is(err, pebble.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	closer.Close()
	return true
}

// TestConcurrentReadersAndWriter runs readers against a writer that keeps
// replacing the same keys; every read must see a whole value of a version
// at least as new as the reader saw before. Run it with -race.
func TestConcurrentReadersAndWriter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), PebbleOptions{MemTableBytes: 1 << 20})
	defer closeTest(t, s)
	metricsN := 4
	ids := make([]uuid.UUID, metricsN)
	for i := range ids {
		ids[i] = uuid.New()
	}
	versioned := func(version uint64, n int) []byte {
		v := binary.BigEndian.AppendUint64(nil, version)
		return append(v, value(version, n)...)
	}
	const versions = 300
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for ver := uint64(1); ver <= versions; ver++ {
			b := s.NewBatch()
			for i, id := range ids {
				n := 500 + int(ver%7)*700
				err := errors.Join(
					b.PutSplit(id, sec, int64(ver%5)*3600*sec, versioned(ver, n)),
					b.PutUnaggregated(id, versioned(ver, 64+i)),
				)
				if err == nil && ver%50 == 0 {
					err = b.DeleteSplitsBefore(id, sec, 3600*sec)
				}
				if err != nil {
					errs <- err
					b.Close()
					return
				}
			}
			if err := b.Commit(ctx, ver%3 == 0); err != nil {
				errs <- err
			}
			b.Close()
		}
	}()
	for reader := range 3 {
		wg.Add(1)
		go func() {
			r := reader
			defer wg.Done()
			var buf []byte
			last := make([]uint64, metricsN)
			for {
				select {
				case <-done:
					return
				default:
				}
				i := r % metricsN
				r++
				var err error
				buf, err = s.GetUnaggregated(ctx, ids[i], buf[:0])
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				ver := binary.BigEndian.Uint64(buf)
				if !intact(buf[8:]) || ver < last[i] {
					errs <- fmt.Errorf("metric %d: read version %d (intact %v) after version %d", i, ver, intact(buf[8:]), last[i])
					return
				}
				last[i] = ver
				starts, err := s.Splits(ctx, ids[i], sec, math.MinInt64, math.MaxInt64)
				if err != nil {
					errs <- err
					return
				}
				for _, st := range starts {
					buf, err = s.GetSplit(ctx, ids[i], sec, st, buf[:0])
					if errors.Is(err, ErrNotFound) {
						continue // deleted between the listing and the read
					}
					if err != nil {
						errs <- err
						return
					}
					if !intact(buf[8:]) {
						errs <- fmt.Errorf("metric %d: torn split at %d", i, st)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func gauge(t *testing.T, set *metrics.Set, name string) float64 {
	t.Helper()
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for line := range strings.SplitSeq(sb.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics set", name)
	return 0
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	set := metrics.NewSet()
	dir := t.TempDir()
	s := openTest(t, dir, PebbleOptions{Metrics: set})
	m := uuid.New()
	fill(t, s, m, 4, 1)
	if _, err := s.GetSplit(ctx, m, sec, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"synced_commits_total", "wal_syncs_total", "written_bytes_total", "read_bytes_total", "disk_bytes", "flushes_total", "table_bytes"} {
		if v := gauge(t, set, metricPrefix+name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if _, err := OpenPebble(t.TempDir(), PebbleOptions{Metrics: set, Logger: quietLogger()}); err == nil {
		t.Error("a second storage on one metrics set opened")
	}
	closeTest(t, s)
	for _, n := range set.ListMetricNames() {
		if strings.HasPrefix(n, metricPrefix) {
			t.Errorf("%s is still registered after Close", n)
		}
	}
	closeTest(t, openTest(t, dir, PebbleOptions{Metrics: set}))
}

// TestSettle: after many rewrites of the same splits and a flush, Settle
// returns once compactions are done, and the data is intact.
func TestSettle(t *testing.T) {
	s := openTest(t, t.TempDir(), PebbleOptions{MemTableBytes: 1 << 20})
	defer closeTest(t, s)
	ctx := context.Background()
	m := uuid.New()
	val := bytes.Repeat([]byte{7}, 4096)
	for round := range 40 {
		b := s.NewBatch()
		for k := range 64 {
			val[0] = byte(round)
			if err := b.PutSplit(m, sec, int64(k)*3600*sec, val); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Settle(sctx); err != nil {
		t.Fatal(err)
	}
	if m := s.db.Metrics(); m.Compact.NumInProgress != 0 || m.Compact.EstimatedDebt != 0 {
		t.Errorf("after Settle: %d compactions running, %d bytes owed", m.Compact.NumInProgress, m.Compact.EstimatedDebt)
	}
	got, err := s.GetSplit(ctx, m, sec, 63*3600*sec, nil)
	if err != nil || len(got) != len(val) || got[0] != 39 {
		t.Errorf("split after Settle: %d bytes, first %v, %v; want the last round's", len(got), got[:min(1, len(got))], err)
	}
}
