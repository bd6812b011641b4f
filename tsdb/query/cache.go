package query

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/split"
)

// DefaultCacheBytes is the memory NewReader gives its cache of decoded
// columns.
const DefaultCacheBytes = 8 << 20

// colKey names one method's column of one split.
type colKey struct {
	id       uuid.UUID
	g, start int64
	col      int
}

// colEntry is a decoded column with the encoded split it came from. It is
// never changed once in the cache, so readers use it without the lock.
type colEntry struct {
	key    colKey
	raw    []byte
	start  int64
	slots  []uint32
	values []float64
	size   int
	elem   *list.Element
}

// colCache keeps recently decoded columns, least recently used out first.
// Decoding is most of the cost of a read (a split holds every method's
// column) and dashboards ask for the same series again and again; an entry
// is used only while the stored split is byte for byte the one it was
// decoded from, so a split rewritten by ingest is decoded afresh and a
// cached answer is never stale.
type colCache struct {
	max int

	mu   sync.Mutex // guards the fields below
	size int
	m    map[colKey]*colEntry
	lru  list.List
}

func newColCache(max int) *colCache {
	if max <= 0 {
		return nil
	}
	return &colCache{max: max, m: make(map[colKey]*colEntry)}
}

// get returns the column of k when raw is the split it was decoded from.
func (c *colCache) get(k colKey, raw []byte) (*colEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil || !bytes.Equal(e.raw, raw) {
		return nil, false
	}
	c.lru.MoveToFront(e.elem)
	return e, true
}

// put copies column col of sp, decoded from raw, into the cache.
func (c *colCache) put(k colKey, raw []byte, sp *split.Split) *colEntry {
	e := &colEntry{
		key: k, raw: bytes.Clone(raw), start: sp.Start,
		slots:  append([]uint32(nil), sp.Slots...),
		values: append([]float64(nil), sp.Columns[k.col]...),
	}
	e.size = len(e.raw) + 4*len(e.slots) + 8*len(e.values) + 128
	if c == nil || e.size > c.max {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[k]; old != nil {
		c.lru.Remove(old.elem)
		c.size -= old.size
	}
	e.elem = c.lru.PushFront(e)
	c.m[k] = e
	c.size += e.size
	for c.size > c.max {
		last := c.lru.Back().Value.(*colEntry)
		c.lru.Remove(last.elem)
		delete(c.m, last.key)
		c.size -= last.size
	}
	return e
}
