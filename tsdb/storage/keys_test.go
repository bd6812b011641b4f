package storage

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// TestKeyOrder checks against int64 comparison that split keys of one
// series sort by start, negative times first.
func TestKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := uuid.New()
	edge := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
	draw := func() int64 {
		if r.IntN(4) == 0 {
			return edge[r.IntN(len(edge))]
		}
		return int64(r.Uint64())
	}
	for range 10000 {
		a, b := draw(), draw()
		ka := appendSplitKey(nil, m, 1e9, a)
		kb := appendSplitKey(nil, m, 1e9, b)
		want := 0
		if a < b {
			want = -1
		} else if a > b {
			want = 1
		}
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("keys of starts %d and %d compare %d, want %d", a, b, got, want)
		}
		if got := splitStart(ka); got != a {
			t.Fatalf("start %d decodes as %d", a, got)
		}
	}
}

// TestMetricRange checks that every key of a metric, and no key of another
// metric or of storage's records, lies in its range.
func TestMetricRange(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ids := []uuid.UUID{{}, uuid.Max, uuid.New(), uuid.New()}
	// Neighbours differing in the last byte.
	n := ids[2]
	n[15]++
	ids = append(ids, n)
	in := func(k, lo, hi []byte) bool { return bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 }
	for _, m := range ids {
		lo, hi := metricRange(m)
		for _, other := range ids {
			keys := [][]byte{appendUnaggregatedKey(nil, other)}
			for range 50 {
				g := 1 + r.Int64N(math.MaxInt64)
				keys = append(keys, appendSplitKey(nil, other, g, int64(r.Uint64())))
			}
			keys = append(keys, appendSplitKey(nil, other, math.MaxInt64, math.MaxInt64), appendSplitKey(nil, other, 1, math.MinInt64))
			for _, k := range keys {
				if got := in(k, lo, hi); got != (other == m) {
					t.Errorf("key %x of metric %s in the range of %s: %v", k, other, m, got)
				}
			}
		}
		for _, k := range [][]byte{formatKey, reclaimKey(m), reclaimKey(uuid.Max)} {
			if in(k, lo, hi) {
				t.Errorf("record key %x lies in the range of metric %s", k, m)
			}
		}
	}
}

func TestKeyLengths(t *testing.T) {
	m := uuid.New()
	if n := len(appendSplitKey(nil, m, 1, 0)); n != splitKeyLen {
		t.Errorf("split key is %d bytes, want %d", n, splitKeyLen)
	}
	if n := len(appendUnaggregatedKey(nil, m)); n != unaggregatedKeyLen {
		t.Errorf("unaggregated key is %d bytes, want %d", n, unaggregatedKeyLen)
	}
}
