package storage

import (
	"context"
	"errors"

	"github.com/google/uuid"
)

// ErrNotFound is returned, possibly wrapped, by reads of a key that holds
// nothing. Callers branch on it with errors.Is.
var ErrNotFound = errors.New("not found")

// Storage is the series storage. All methods are safe for concurrent use.
// Times and granularities are nanoseconds.
type Storage interface {
	// GetSplit appends the split of metric at granularity starting at start
	// to dst and returns the extended slice. It returns ErrNotFound when
	// there is no such split. The result never aliases storage's memory.
	GetSplit(ctx context.Context, metric uuid.UUID, granularity, start int64, dst []byte) ([]byte, error)
	// GetUnaggregated appends the unaggregated window of metric to dst, or
	// returns ErrNotFound.
	GetUnaggregated(ctx context.Context, metric uuid.UUID, dst []byte) ([]byte, error)
	// Splits returns, ascending, the starts of the splits of metric at
	// granularity that may hold points in [from, to). Storage does not
	// know how long a split is, so the list holds every split starting in
	// [from, to) and the last one starting before from. It is empty when
	// from >= to.
	Splits(ctx context.Context, metric uuid.UUID, granularity, from, to int64) ([]int64, error)
	// NewBatch returns an empty batch of writes; the caller must Close it.
	NewBatch() Batch
	// DeleteMetric durably deletes every key of metric. Its disk space is
	// reclaimed in the background.
	DeleteMetric(ctx context.Context, metric uuid.UUID) error
	// Flush writes what is only in memory (and the WAL) to table files, so
	// that DiskUsage accounts for it.
	Flush(ctx context.Context) error
	// DiskUsage returns the bytes allocated on disk by the storage's files.
	DiskUsage() (int64, error)
	// Close releases the storage; committed writes are on disk already.
	// Methods called after it return an error.
	Close() error
}

// Batch is a set of writes applied atomically by Commit. A batch is used by
// one goroutine at a time. Values passed to Put methods are copied before
// they return, so the caller may reuse them at once. Writes are invisible
// to reads until Commit.
type Batch interface {
	// PutSplit sets the split of metric at granularity (> 0) starting at
	// start.
	PutSplit(metric uuid.UUID, granularity, start int64, value []byte) error
	// PutUnaggregated sets the unaggregated window of metric.
	PutUnaggregated(metric uuid.UUID, value []byte) error
	// DeleteSplitsBefore deletes the splits of metric at granularity whose
	// start is before before; retention drops whole splits.
	DeleteSplitsBefore(metric uuid.UUID, granularity, before int64) error
	// Commit applies the batch atomically. With sync, the writes are in
	// the fsync'd write-ahead log when it returns and survive a crash of
	// the process or the machine. A batch is committed at most once.
	Commit(ctx context.Context, sync bool) error
	// Close releases the batch, committed or not; it may be called more
	// than once.
	Close()
}
