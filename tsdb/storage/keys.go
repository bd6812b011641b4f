package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
)

// Key layout: FORMAT.md beside this file.
const (
	nsMeta   byte = 0x00
	nsSeries byte = 0x01

	kindUnaggregated byte = 0x01
	kindSplit        byte = 0x02
	kindEnd          byte = 0xFF

	metricPrefixLen    = 1 + 16
	unaggregatedKeyLen = metricPrefixLen + 1
	splitKeyLen        = metricPrefixLen + 1 + 8 + 8

	formatVersion = "1"
)

var (
	formatKey        = append([]byte{nsMeta}, "format"...)
	reclaimKeyPrefix = append([]byte{nsMeta}, "reclaim"...)
)

func appendMetricPrefix(dst []byte, m uuid.UUID) []byte {
	dst = append(dst, nsSeries)
	return append(dst, m[:]...)
}

func appendUnaggregatedKey(dst []byte, m uuid.UUID) []byte {
	return append(appendMetricPrefix(dst, m), kindUnaggregated)
}

// appendSplitKey appends the key of a split. The granularity must have been
// checked positive.
func appendSplitKey(dst []byte, m uuid.UUID, granularity, start int64) []byte {
	dst = append(appendMetricPrefix(dst, m), kindSplit)
	dst = binary.BigEndian.AppendUint64(dst, uint64(granularity))
	return binary.BigEndian.AppendUint64(dst, encodeStart(start))
}

// metricRange returns the bounds [lo, hi) of every key of m.
func metricRange(m uuid.UUID) (lo, hi []byte) {
	lo = append(appendMetricPrefix(make([]byte, 0, metricPrefixLen+1), m), 0x00)
	hi = append(appendMetricPrefix(make([]byte, 0, metricPrefixLen+1), m), kindEnd)
	return lo, hi
}

func reclaimKey(m uuid.UUID) []byte {
	k := make([]byte, 0, len(reclaimKeyPrefix)+16)
	return append(append(k, reclaimKeyPrefix...), m[:]...)
}

// encodeStart maps signed time to unsigned so that byte order is time
// order, negative times first.
func encodeStart(t int64) uint64 { return uint64(t) ^ (1 << 63) }

func decodeStart(u uint64) int64 { return int64(u ^ (1 << 63)) }

// splitStart returns the start of a split key, which must be one.
func splitStart(key []byte) int64 {
	if len(key) != splitKeyLen || key[metricPrefixLen] != kindSplit {
		panic(fmt.Sprintf("BUG: %x is not a split key", key))
	}
	return decodeStart(binary.BigEndian.Uint64(key[splitKeyLen-8:]))
}

func checkGranularity(g int64) error {
	if g <= 0 {
		return fmt.Errorf("granularity %d ns is not positive", g)
	}
	return nil
}
