package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/google/uuid"
)

// ErrClosed is returned by the methods of a storage that was closed.
var ErrClosed = errors.New("storage is closed")

// Defaults of PebbleOptions.
const (
	DefaultMemTableBytes = 16 << 20
	DefaultCacheBytes    = 16 << 20
	DefaultReclaimDelay  = 5 * time.Second
)

// PebbleOptions configures OpenPebble. Zero values take the defaults.
type PebbleOptions struct {
	// MemTableBytes is the size of one memtable (default 16 MiB). Two are
	// in memory at once: the one written and the one being flushed or kept
	// for reuse (briefly three).
	MemTableBytes int
	// CacheBytes is the size of the block cache of uncompressed blocks
	// (default 16 MiB), on top of the memtables.
	CacheBytes int
	// Metrics, when set, receives the engine's gauges (vigil_storage_*):
	// disk usage, compactions, flushes, WAL syncs, bytes read and written.
	// They are unregistered by Close. A set holds one storage's gauges.
	Metrics *metrics.Set
	// Logger receives the engine's own messages (default slog.Default()).
	Logger *slog.Logger
	// ReclaimDelay is how long the compaction that frees a deleted metric's
	// space waits for more deletions to gather (default 5 s).
	ReclaimDelay time.Duration

	// Engine settings that the benchmarks compare; zero values take the
	// chosen ones.
	compression pebble.Compression
	blockSize   int
	cleaner     pebble.Cleaner
	preallocate bool
}

// Pebble is the Storage on a Pebble LSM in one directory. It survives a
// crash of the process at any moment: what Commit(ctx, true) or
// DeleteMetric returned for is on disk.
type Pebble struct {
	dir          string
	log          *slog.Logger
	reclaimDelay time.Duration

	// closeMu is read-held by every operation on db and write-held by
	// Close, so that no operation races the close (Pebble panics on a
	// closed DB).
	closeMu sync.RWMutex
	db      *pebble.DB
	closed  bool

	// pendingMu guards pending: metrics deleted whose space awaits the
	// reclaim loop.
	pendingMu sync.Mutex
	pending   map[uuid.UUID]struct{}
	wake      chan struct{} // cap 1: the reclaim loop has work
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed by the reclaim loop when it ends

	stats   stats
	gauges  *gauges
	metrics *metrics.Set
}

// stats counts what Pebble's own metrics do not say.
type stats struct {
	readBytes     atomic.Uint64
	writtenBytes  atomic.Uint64
	syncedCommits atomic.Uint64
	writeStalls   atomic.Uint64
	stallLogged   atomic.Int64 // Unix ns of the last stall logged
	reclaims      atomic.Uint64
	reclaimErrors atomic.Uint64
}

var _ Storage = (*Pebble)(nil)

// OpenPebble opens or creates the storage in dir.
func OpenPebble(dir string, o PebbleOptions) (*Pebble, error) {
	if o.MemTableBytes < 0 || o.MemTableBytes >= 4<<30 {
		return nil, fmt.Errorf("cannot open storage %s: memtable size %d is not in [0, 4 GiB)", dir, o.MemTableBytes)
	}
	if o.CacheBytes < 0 || o.ReclaimDelay < 0 {
		return nil, fmt.Errorf("cannot open storage %s: negative cache size %d or reclaim delay %v", dir, o.CacheBytes, o.ReclaimDelay)
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.ReclaimDelay == 0 {
		o.ReclaimDelay = DefaultReclaimDelay
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Pebble{
		dir:          dir,
		log:          o.Logger.With("storage", dir),
		reclaimDelay: o.ReclaimDelay,
		pending:      make(map[uuid.UUID]struct{}),
		wake:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if o.Metrics != nil {
		if err := checkMetricNames(o.Metrics); err != nil {
			return nil, fmt.Errorf("cannot open storage %s: %w", dir, err)
		}
	}
	// Pebble charges its memtables to the block cache; without room for
	// them the cache would hold no block at all.
	cache := pebble.NewCache(int64(o.CacheBytes) + 2*int64(o.MemTableBytes))
	defer cache.Unref() // the DB holds its own reference
	db, err := pebble.Open(dir, s.options(o, cache))
	if err != nil {
		return nil, fmt.Errorf("cannot open storage %s: %w", dir, err)
	}
	s.db = db
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open storage %s: %w", dir, err)
	}
	if err := s.loadPending(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open storage %s: %w", dir, err)
	}
	if o.Metrics != nil {
		s.metrics = o.Metrics
		s.gauges = registerGauges(o.Metrics, s)
	}
	go s.reclaimLoop()
	return s, nil
}

// options is the engine's configuration; FORMAT.md says why.
func (s *Pebble) options(o PebbleOptions, cache *pebble.Cache) *pebble.Options {
	opts := &pebble.Options{
		FormatMajorVersion:          pebble.FormatVirtualSSTables,
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableBytes),
		MemTableStopWritesThreshold: 2,
		// Splits are rewritten as they fill: compacting L0 early drops
		// the superseded versions while they are few.
		L0CompactionThreshold:    2,
		L0StopWritesThreshold:    16,
		LBaseMaxBytes:            64 << 20,
		MaxConcurrentCompactions: func() int { return 1 },
		MaxOpenFiles:             512,
		Logger:                   pebbleLogger{s.log},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				s.log.Error("background error in the series storage", "err", err)
			},
			WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
				// Under sustained load stalls come many a second: log one
				// a minute, count them all.
				n := s.stats.writeStalls.Add(1)
				now := time.Now().UnixNano()
				if last := s.stats.stallLogged.Load(); now-last > int64(time.Minute) && s.stats.stallLogged.CompareAndSwap(last, now) {
					s.log.Warn("series storage writes stall", "reason", info.Reason, "stalls", n)
				}
			},
		},
	}
	if o.cleaner != nil {
		opts.Cleaner = o.cleaner
	}
	if !o.preallocate {
		opts.FS = noPreallocFS{vfs.Default}
	}
	comp, bs := compression, blockSize
	if o.compression != 0 {
		comp = o.compression
	}
	if o.blockSize != 0 {
		bs = o.blockSize
	}
	opts.Levels = make([]pebble.LevelOptions, 7)
	size := int64(2 << 20)
	for i := range opts.Levels {
		opts.Levels[i] = pebble.LevelOptions{
			BlockSize:      bs,
			Compression:    comp,
			FilterPolicy:   bloom.FilterPolicy(10),
			TargetFileSize: size,
		}
		// Bounded file sizes keep the compaction that reclaims one
		// deleted metric small.
		size = min(2*size, 16<<20)
	}
	return opts.EnsureDefaults()
}

// Block settings, chosen with BenchmarkCompression and BenchmarkBatchCommit
// (FORMAT.md has the figures): values come compressed by their codec, and
// Pebble's zstd makes a new encoder per block, which cut sustained writes
// eightfold for a sixth less disk at best.
const (
	blockSize   = 4 << 10
	compression = pebble.NoCompression
)

// checkFormat writes the key layout's version into a new directory and
// refuses a directory of another version.
func (s *Pebble) checkFormat() error {
	v, closer, err := s.db.Get(formatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		if err := s.db.Set(formatKey, []byte(formatVersion), pebble.Sync); err != nil {
			return fmt.Errorf("cannot write the format version: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the format version: %w", err)
	}
	defer closer.Close()
	if string(v) != formatVersion {
		return fmt.Errorf("key format %q: this version reads format %q only", v, formatVersion)
	}
	return nil
}

// GetSplit implements Storage.
func (s *Pebble) GetSplit(ctx context.Context, metric uuid.UUID, granularity, start int64, dst []byte) ([]byte, error) {
	if err := checkGranularity(granularity); err != nil {
		return dst, fmt.Errorf("cannot read split %d of metric %s: %w", start, metric, err)
	}
	kb := keyPool.Get().(*[splitKeyLen]byte)
	defer keyPool.Put(kb)
	return s.get(ctx, appendSplitKey(kb[:0], metric, granularity, start), dst)
}

// GetUnaggregated implements Storage.
func (s *Pebble) GetUnaggregated(ctx context.Context, metric uuid.UUID, dst []byte) ([]byte, error) {
	kb := keyPool.Get().(*[splitKeyLen]byte)
	defer keyPool.Put(kb)
	return s.get(ctx, appendUnaggregatedKey(kb[:0], metric), dst)
}

// keyPool holds key buffers for reads: Pebble keeps the key of a Get in
// its iterator, so a key on the stack would move to the heap every time.
var keyPool = sync.Pool{New: func() any { return new([splitKeyLen]byte) }}

func (s *Pebble) get(ctx context.Context, key, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return dst, ErrClosed
	}
	v, closer, err := s.db.Get(key)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return dst, ErrNotFound
		}
		return dst, fmt.Errorf("cannot get key %x: %w", key, err)
	}
	// v is Pebble's block memory, valid until closer.Close.
	dst = append(dst, v...)
	s.stats.readBytes.Add(uint64(len(v)))
	if err := closer.Close(); err != nil {
		return dst, fmt.Errorf("cannot release key %x: %w", key, err)
	}
	return dst, nil
}

// Splits implements Storage.
func (s *Pebble) Splits(ctx context.Context, metric uuid.UUID, granularity, from, to int64) ([]int64, error) {
	if err := checkGranularity(granularity); err != nil {
		return nil, fmt.Errorf("cannot list splits of metric %s: %w", metric, err)
	}
	if from >= to {
		return nil, nil
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	keys := make([]byte, 0, 3*splitKeyLen)
	keys = appendSplitKey(keys, metric, granularity, math.MinInt64)
	keys = appendSplitKey(keys, metric, granularity, to)
	keys = appendSplitKey(keys, metric, granularity, from)
	lo, hi, seek := keys[:splitKeyLen], keys[splitKeyLen:2*splitKeyLen], keys[2*splitKeyLen:]
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("cannot list splits of metric %s at %d ns: %w", metric, granularity, err)
	}
	var out []int64
	valid := it.SeekLT(seek)
	if valid {
		// The last split before from may reach into [from, to).
		out = append(out, splitStart(it.Key()))
		valid = it.Next()
	} else {
		valid = it.SeekGE(seek)
	}
	for ; valid; valid = it.Next() {
		if len(out)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return nil, err
			}
		}
		out = append(out, splitStart(it.Key()))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("cannot list splits of metric %s at %d ns: %w", metric, granularity, err)
	}
	return out, nil
}

// NewBatch implements Storage.
func (s *Pebble) NewBatch() Batch {
	return &pebbleBatch{s: s}
}

// DeleteMetric implements Storage. The range tombstone is durable on
// return; a background compaction then rewrites the files that held the
// metric, after ReclaimDelay, and a restart resumes it.
func (s *Pebble) DeleteMetric(ctx context.Context, metric uuid.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	b := s.db.NewBatch()
	defer b.Close()
	lo, hi := metricRange(metric)
	if err := b.DeleteRange(lo, hi, nil); err != nil {
		return fmt.Errorf("cannot delete metric %s: %w", metric, err)
	}
	if err := b.Set(reclaimKey(metric), nil, nil); err != nil {
		return fmt.Errorf("cannot delete metric %s: %w", metric, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("cannot delete metric %s: %w", metric, err)
	}
	s.stats.syncedCommits.Add(1)
	s.schedule(metric)
	return nil
}

// Flush implements Storage.
func (s *Pebble) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	done, err := s.db.AsyncFlush()
	s.closeMu.RUnlock()
	if err != nil {
		return fmt.Errorf("cannot flush storage %s: %w", s.dir, err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Settle waits until no compaction runs and none is owed, so that what
// DiskUsage then counts is the data at rest rather than the superseded
// versions of rewritten splits that compactions are about to drop.
func (s *Pebble) Settle(ctx context.Context) error {
	for {
		m := s.db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Compact.EstimatedDebt == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("storage %s still compacting: %w", s.dir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DiskUsage implements Storage: the allocated size of the directory's
// files, tables, write-ahead logs (preallocated and recycled) and manifest.
func (s *Pebble) DiskUsage() (int64, error) {
	return dirUsage(s.dir)
}

// Close stops the reclaim loop (a compaction it runs is finished first),
// unregisters the gauges and closes the engine. Committed writes are on
// disk already; metrics whose space was not reclaimed yet are reclaimed
// after the next open.
func (s *Pebble) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.stop)
	s.closeMu.Unlock()
	<-s.done
	if s.gauges != nil {
		s.gauges.unregister(s.metrics)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cannot close storage %s: %w", s.dir, err)
	}
	return nil
}

// pebbleBatch is a Batch over a pebble.Batch, created on first use.
type pebbleBatch struct {
	s         *Pebble
	b         *pebble.Batch
	key       [2 * splitKeyLen]byte
	committed bool
	closed    bool
}

func (b *pebbleBatch) batch() (*pebble.Batch, error) {
	if b.closed {
		return nil, errors.New("batch is closed")
	}
	if b.committed {
		return nil, errors.New("batch is committed")
	}
	if b.b == nil {
		// NewBatch does not touch the DB's state; a closed DB is caught at
		// Commit.
		b.b = b.s.db.NewBatch()
	}
	return b.b, nil
}

func (b *pebbleBatch) PutSplit(metric uuid.UUID, granularity, start int64, value []byte) error {
	if err := checkGranularity(granularity); err != nil {
		return fmt.Errorf("cannot write split %d of metric %s: %w", start, metric, err)
	}
	pb, err := b.batch()
	if err != nil {
		return fmt.Errorf("cannot write split %d of metric %s: %w", start, metric, err)
	}
	// Set copies key and value into the batch.
	return pb.Set(appendSplitKey(b.key[:0], metric, granularity, start), value, nil)
}

func (b *pebbleBatch) PutUnaggregated(metric uuid.UUID, value []byte) error {
	pb, err := b.batch()
	if err != nil {
		return fmt.Errorf("cannot write the unaggregated window of metric %s: %w", metric, err)
	}
	return pb.Set(appendUnaggregatedKey(b.key[:0], metric), value, nil)
}

func (b *pebbleBatch) DeleteSplitsBefore(metric uuid.UUID, granularity, before int64) error {
	if err := checkGranularity(granularity); err != nil {
		return fmt.Errorf("cannot delete splits of metric %s before %d: %w", metric, before, err)
	}
	if before == math.MinInt64 {
		return nil
	}
	pb, err := b.batch()
	if err != nil {
		return fmt.Errorf("cannot delete splits of metric %s before %d: %w", metric, before, err)
	}
	keys := appendSplitKey(b.key[:0], metric, granularity, math.MinInt64)
	keys = appendSplitKey(keys, metric, granularity, before)
	return pb.DeleteRange(keys[:splitKeyLen], keys[splitKeyLen:], nil)
}

func (b *pebbleBatch) Commit(ctx context.Context, sync bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pb, err := b.batch()
	if err != nil {
		return fmt.Errorf("cannot commit: %w", err)
	}
	b.committed = true
	if pb.Empty() {
		return nil
	}
	s := b.s
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := pb.Commit(opts); err != nil {
		return fmt.Errorf("cannot commit %d bytes to storage %s: %w", pb.Len(), s.dir, err)
	}
	s.stats.writtenBytes.Add(uint64(pb.Len()))
	if sync {
		s.stats.syncedCommits.Add(1)
	}
	return nil
}

func (b *pebbleBatch) Close() {
	if b.closed {
		return
	}
	b.closed = true
	if b.b != nil {
		_ = b.b.Close()
		b.b = nil
	}
}

// noPreallocFS is the OS's file system, except that files are not
// preallocated: Pebble reserves 110 % of a memtable for a new write-ahead
// log before it holds anything, most of the disk of a small or idle store.
// Without the reservation a log takes the blocks it is written; the
// reservation does not make syncs faster (BenchmarkSyncCommit), since
// Pebble's KEEP_SIZE fallocate leaves each append a size change to sync.
// Reusing emptied logs is what makes them fast, and Pebble still does.
type noPreallocFS struct{ vfs.FS }

func (fs noPreallocFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return noPreallocFile{f}, nil
}

func (fs noPreallocFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	if err != nil {
		return nil, err
	}
	return noPreallocFile{f}, nil
}

type noPreallocFile struct{ vfs.File }

func (noPreallocFile) Preallocate(offset, length int64) error { return nil }

// pebbleLogger sends Pebble's messages to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info(fmt.Sprintf("pebble: "+format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf("pebble: "+format, args...))
}

// Fatalf is Pebble's report of a broken invariant of its own files.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf("pebble: "+format, args...)
	l.log.Error(msg)
	panic("BUG: " + msg)
}
