package split

import (
	"errors"
	"math"
	"math/bits"
)

// An <ints> sequence (FORMAT.md): mode 0 when every value is zero, else
// mode k+1 and a Rice bit stream with parameter k.

// appendInts appends the <ints> encoding of us.
func appendInts(dst []byte, us []uint64) []byte {
	k, ok := bestRice(us)
	if !ok {
		return append(dst, 0)
	}
	w := bitWriter{dst: append(dst, byte(k+1))}
	for _, u := range us {
		w.writeRice(u, k)
	}
	return w.finish()
}

// bestRice returns the Rice parameter that codes us in the fewest bits, or
// false when every value is zero.
func bestRice(us []uint64) (uint, bool) {
	var or uint64
	for _, u := range us {
		or |= u
	}
	if or == 0 {
		return 0, false
	}
	// Escapes make the cost non-convex in k, and a few outliers throw any
	// mean off; a histogram of bit lengths prices every k to within a bit
	// or two a value (a value of length l is taken as 1.5×2^(l-1)), then
	// exact passes around the cheapest settle it.
	var count [65]int
	for _, u := range us {
		count[bits.Len64(u)]++
	}
	// Past the longest value's length every value costs kk+1 bits, more
	// with each kk: the search stops there, which for small deltas cuts
	// it from 64×65 steps to a few dozen.
	maxL := bits.Len64(or)
	k, best := uint(0), math.MaxInt
	for kk := 0; kk <= min(maxL, 63); kk++ {
		c := 0
		for l := 0; l <= maxL; l++ {
			n := count[l]
			switch {
			case n == 0:
			case l <= kk:
				c += n * (kk + 1)
			case l-kk > 4:
				c += n * (riceEscape + 5 + l)
			default:
				c += n * (kk + 1 + 3<<(l-kk-1)/2)
			}
		}
		if c < best {
			k, best = uint(kk), c
		}
	}
	k = min(max(k, 1), 62)
	lo, mid, hi := riceBits3(us, k)
	switch {
	case lo < mid && lo <= hi:
		k, mid = k-1, lo
		for k > 0 {
			c := riceBits(us, k-1)
			if c >= mid {
				break
			}
			k, mid = k-1, c
		}
	case hi < mid:
		k, mid = k+1, hi
		for k < 63 {
			c := riceBits(us, k+1)
			if c >= mid {
				break
			}
			k, mid = k+1, c
		}
	}
	return k, true
}

// riceBits3 returns riceBits(us, k-1), riceBits(us, k) and
// riceBits(us, k+1), for 1 ≤ k ≤ 62.
func riceBits3(us []uint64, k uint) (int, int, int) {
	var lo, mid, hi int
	for _, u := range us {
		l := bits.Len64(u)
		q := u >> (k - 1)
		if q < riceEscape {
			lo += int(q) + int(k)
		} else {
			lo += riceEscape + 5 + l
		}
		if q >>= 1; q < riceEscape {
			mid += int(q) + 1 + int(k)
		} else {
			mid += riceEscape + 5 + l
		}
		if q >>= 1; q < riceEscape {
			hi += int(q) + 2 + int(k)
		} else {
			hi += riceEscape + 5 + l
		}
	}
	return lo, mid, hi
}

var (
	errTruncated    = errors.New("truncated")
	errRiceOverflow = errors.New("rice code overflows 64 bits")
	errRiceEscape   = errors.New("rice escape codes a small value")
	errIntsMode     = errors.New("bad integer sequence mode")
	errPadding      = errors.New("nonzero bit padding")
)

// intsReader reads the values of one <ints> sequence.
type intsReader struct {
	br   bitReader
	k    uint
	zero bool
}

// next returns the next value of the sequence; the caller knows how many
// there are.
func (r *intsReader) next() (uint64, error) {
	if r.zero {
		return 0, nil
	}
	return r.br.rice(r.k)
}
