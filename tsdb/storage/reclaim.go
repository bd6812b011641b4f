package storage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/google/uuid"
)

// A deleted metric's range tombstone hides its keys at once, but the bytes
// stay in the table files until a compaction rewrites them, which Pebble
// may not do for a long time in a store that is no longer written there.
// The reclaim loop compacts each deleted range shortly after the deletion.
// Deletions that come together (the metrics of one resource) are gathered
// for ReclaimDelay and compacted in one pass, which flushes the memtable
// holding their tombstones once.

// schedule queues metric for the reclaim loop.
func (s *Pebble) schedule(metric uuid.UUID) {
	s.pendingMu.Lock()
	s.pending[metric] = struct{}{}
	s.pendingMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loadPending queues the reclaims a previous run left unfinished.
func (s *Pebble) loadPending() error {
	hi := append(bytes.Clone(reclaimKeyPrefix), 0xFF)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: reclaimKeyPrefix, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("cannot list pending reclaims: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		if len(k) != len(reclaimKeyPrefix)+16 {
			continue // not one of ours; a later format may add some
		}
		m, _ := uuid.FromBytes(k[len(reclaimKeyPrefix):])
		s.schedule(m)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot list pending reclaims: %w", err)
	}
	return nil
}

func (s *Pebble) takePending() []uuid.UUID {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	out := make([]uuid.UUID, 0, len(s.pending))
	for m := range s.pending {
		out = append(out, m)
	}
	clear(s.pending)
	return out
}

func (s *Pebble) pendingCount() int {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	return len(s.pending)
}

func (s *Pebble) reclaimLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		t := time.NewTimer(s.reclaimDelay)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		for _, m := range s.takePending() {
			select {
			case <-s.stop:
				return // the durable marker brings it back at the next open
			default:
			}
			if err := s.reclaim(m); err != nil {
				// The marker stays: the next open tries again.
				s.stats.reclaimErrors.Add(1)
				s.log.Error("cannot reclaim the space of a deleted metric", "metric", m, "err", err)
				continue
			}
			s.stats.reclaims.Add(1)
		}
	}
}

// reclaim compacts the range of a deleted metric, so that its bytes leave
// the disk, and then drops the marker. Close waits for it: the loop runs
// it only while the storage is open.
func (s *Pebble) reclaim(m uuid.UUID) error {
	lo, hi := metricRange(m)
	if err := s.db.Compact(lo, hi, false); err != nil {
		return fmt.Errorf("cannot compact the range of metric %s: %w", m, err)
	}
	// Losing this delete in a crash only repeats a cheap compaction.
	if err := s.db.Delete(reclaimKey(m), pebble.NoSync); err != nil {
		return fmt.Errorf("cannot drop the reclaim marker of metric %s: %w", m, err)
	}
	return nil
}
