package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/google/uuid"
)

// splitLike returns a value shaped like an encoded split: points columns
// of CPU-percent-like values rounded to 2 decimals, each stored as zig-zag
// varint deltas of the hundredths. A codec that packs bits further leaves
// block compression less to find, so this is the favourable case for it.
func splitLike(r *rand.Rand, columns, points int) []byte {
	out := make([]byte, 0, columns*points)
	for range columns {
		v := 20 + 60*r.Float64()
		prev := int64(0)
		for range points {
			v = math.Max(0, math.Min(100, v+r.NormFloat64()))
			h := int64(math.Round(v * 100))
			out = binary.AppendVarint(out, h-prev)
			prev = h
		}
	}
	return out
}

// BenchmarkBatchCommit commits batches of 64 split-like values of 4 KiB,
// with and without waiting for the WAL fsync, with the chosen block
// compression (none) and with zstd. Sustained, it measures what flushes and
// compactions let through.
func BenchmarkBatchCommit(b *testing.B) {
	for _, c := range []struct {
		name string
		comp pebble.Compression
		sync bool
	}{
		{"none/sync=false", pebble.NoCompression, false},
		{"none/sync=true", pebble.NoCompression, true},
		{"zstd/sync=false", pebble.ZstdCompression, false},
	} {
		sync := c.sync
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s := openTest(b, b.TempDir(), PebbleOptions{compression: c.comp})
			defer closeTest(b, s)
			r := rand.New(rand.NewPCG(1, 1))
			vals := make([][]byte, 64)
			for i := range vals {
				vals[i] = splitLike(r, 6, 600)[:4096]
			}
			ids := make([]uuid.UUID, 1000)
			for i := range ids {
				ids[i] = uuid.New()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				batch := s.NewBatch()
				for j, v := range vals {
					if err := batch.PutSplit(ids[(i*64+j)%len(ids)], sec, int64(i/16)*3600*sec, v); err != nil {
						b.Fatal(err)
					}
				}
				if err := batch.Commit(ctx, sync); err != nil {
					b.Fatal(err)
				}
				batch.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(b.N*64*4096)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
		})
	}
}

// BenchmarkGetSplit reads splits of 4 KiB from 1,000 metrics: memtable
// reads, then table reads through the block cache.
func BenchmarkGetSplit(b *testing.B) {
	for _, flushed := range []bool{false, true} {
		b.Run(fmt.Sprintf("flushed=%v", flushed), func(b *testing.B) {
			ctx := context.Background()
			s := openTest(b, b.TempDir(), PebbleOptions{})
			defer closeTest(b, s)
			r := rand.New(rand.NewPCG(2, 2))
			ids := make([]uuid.UUID, 1000)
			for i := range ids {
				ids[i] = uuid.New()
			}
			for i := 0; i < len(ids); i += 100 {
				commit(b, s, func(batch Batch) error {
					for _, id := range ids[i : i+100] {
						if err := batch.PutSplit(id, 60*sec, 0, splitLike(r, 6, 600)[:4096]); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if flushed {
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				var err error
				if buf, err = s.GetSplit(ctx, ids[i%len(ids)], 60*sec, 0, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
		})
	}
}

// BenchmarkSplits lists the splits of one day of a metric with a split per
// hour.
func BenchmarkSplits(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, b.TempDir(), PebbleOptions{})
	defer closeTest(b, s)
	m := uuid.New()
	commit(b, s, func(batch Batch) error {
		for h := range int64(24 * 30) {
			if err := batch.PutSplit(m, sec, h*3600*sec, []byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		from := int64(i%29) * 24 * 3600 * sec
		if _, err := s.Splits(ctx, m, sec, from, from+24*3600*sec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompression stores the same split-like values under each block
// compression and block size and reports the table bytes per value byte
// and the read cost.
func BenchmarkCompression(b *testing.B) {
	for _, comp := range []pebble.Compression{pebble.NoCompression, pebble.SnappyCompression, pebble.ZstdCompression} {
		for _, bs := range []int{4 << 10, 16 << 10, 32 << 10} {
			b.Run(fmt.Sprintf("%v/block=%dKiB", comp, bs>>10), func(b *testing.B) {
				ctx := context.Background()
				s := openTest(b, b.TempDir(), PebbleOptions{compression: comp, blockSize: bs})
				defer closeTest(b, s)
				r := rand.New(rand.NewPCG(3, 3))
				ids := make([]uuid.UUID, 300)
				for i := range ids {
					ids[i] = uuid.New()
				}
				var raw int
				for _, id := range ids {
					commit(b, s, func(batch Batch) error {
						// A metric's splits at three granularities.
						for g, points := range map[int64]int{sec: 3600, 60 * sec: 1440, 3600 * sec: 200} {
							v := splitLike(r, 6, points)
							raw += len(v)
							if err := batch.PutSplit(id, g, 0, v); err != nil {
								return err
							}
						}
						return nil
					})
				}
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := s.db.Compact([]byte{nsSeries}, []byte{nsSeries + 1}, false); err != nil {
					b.Fatal(err)
				}
				tables := s.db.Metrics().Total().Size
				var buf []byte
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					var err error
					if buf, err = s.GetSplit(ctx, ids[i%len(ids)], 60*sec, 0, buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(tables)/float64(raw), "table-bytes/value-byte")
			})
		}
	}
}

// BenchmarkSyncCommit commits small synced batches, the ingest's pattern
// when it keeps up: the fsync is the cost. It compares reusing emptied
// write-ahead logs (Pebble's way, kept) with not reusing them, each with
// and without preallocating new logs, and reports the disk the store takes
// beyond its tables.
func BenchmarkSyncCommit(b *testing.B) {
	for _, c := range []struct {
		name                 string
		recycle, preallocate bool
	}{
		{"chosen:recycle", true, false},
		{"recycle+preallocate", true, true},
		{"no-recycle", false, false},
		{"no-recycle+preallocate", false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			o := PebbleOptions{MemTableBytes: 4 << 20, preallocate: c.preallocate}
			if !c.recycle {
				o.cleaner = noRecycleCleaner{}
			}
			s := openTest(b, b.TempDir(), o)
			defer closeTest(b, s)
			v := splitLike(rand.New(rand.NewPCG(4, 4)), 6, 600)[:2048]
			m := uuid.New()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				batch := s.NewBatch()
				for j := range 8 {
					// Rewrites of the same splits, as ingest does.
					if err := batch.PutSplit(m, sec, int64(j)*3600*sec, v); err != nil {
						b.Fatal(err)
					}
				}
				if err := batch.Commit(ctx, true); err != nil {
					b.Fatal(err)
				}
				batch.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			tables := s.db.Metrics().Total().Size
			b.ReportMetric(float64(diskUsage(b, s)-int64(tables))/(1<<20), "non-table-disk-MiB")
		})
	}
}

// noRecycleCleaner deletes obsolete files as pebble.DeleteCleaner does, and
// so stops Pebble from reusing emptied logs: Pebble recycles no log when
// its cleaner needs file contents, which the embedded ArchiveCleaner
// declares (its Clean is shadowed by the shallower DeleteCleaner's).
type noRecycleCleaner struct {
	pebble.DeleteCleaner
	archiveMarker
}

type archiveMarker struct{ pebble.ArchiveCleaner }
