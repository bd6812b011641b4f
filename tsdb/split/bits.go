package split

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// bitWriter appends an MSB-first bit stream to dst.
type bitWriter struct {
	dst []byte
	acc uint64 // pending bits, left-aligned
	n   uint   // pending bits in acc, < 64
}

// write appends the low k bits of v (k ≤ 64); the bits of v above k must be
// zero.
func (w *bitWriter) write(v uint64, k uint) {
	free := 64 - w.n
	if k < free {
		w.acc |= v << (free - k)
		w.n += k
		return
	}
	rest := k - free
	w.acc |= v >> rest
	w.dst = binary.BigEndian.AppendUint64(w.dst, w.acc)
	w.acc, w.n = 0, rest
	if rest > 0 {
		w.acc = v << (64 - rest)
	}
}

// finish pads the stream to a byte and returns dst.
func (w *bitWriter) finish() []byte {
	for i := uint(0); i < w.n; i += 8 {
		w.dst = append(w.dst, byte(w.acc>>(56-i)))
	}
	w.acc, w.n = 0, 0
	return w.dst
}

// bitReader reads an MSB-first bit stream from src.
type bitReader struct {
	src []byte
	pos int    // next byte of src to load into buf
	buf uint64 // unread bits, left-aligned; bits past n are zero or the next bits of src
	n   uint   // unread bits in buf
}

// refill loads whole bytes into buf until it holds at least 57 bits or src
// is exhausted.
func (r *bitReader) refill() {
	if r.pos+8 <= len(r.src) {
		// Load eight bytes and keep as many as fit; the bits of a partly
		// kept byte land where the next refill puts them again.
		v := binary.BigEndian.Uint64(r.src[r.pos:])
		take := (64 - r.n) / 8
		r.buf |= v >> r.n
		r.pos += int(take)
		r.n += take * 8
		return
	}
	for r.n <= 56 && r.pos < len(r.src) {
		r.buf |= uint64(r.src[r.pos]) << (56 - r.n)
		r.pos++
		r.n += 8
	}
}

// read returns the next k bits (k ≤ 64).
func (r *bitReader) read(k uint) (uint64, error) {
	if k > 56 {
		hi, err := r.read(k - 32)
		if err != nil {
			return 0, err
		}
		lo, err := r.read(32)
		return hi<<32 | lo, err
	}
	if r.n < k {
		r.refill()
		if r.n < k {
			return 0, errTruncated
		}
	}
	if k == 0 {
		return 0, nil
	}
	v := r.buf >> (64 - k)
	r.buf <<= k
	r.n -= k
	return v, nil
}

// bit returns the next bit.
func (r *bitReader) bit() (bool, error) {
	if r.n == 0 {
		r.refill()
		if r.n == 0 {
			return false, errTruncated
		}
	}
	b := r.buf>>63 != 0
	r.buf <<= 1
	r.n--
	return b, nil
}

// riceEscape is the quotient from which a Rice code escapes to an explicit
// bit length; it bounds both the unary run and the cost of an outlier.
const riceEscape = 16

// rice returns the next Rice-coded value with parameter k.
func (r *bitReader) rice(k uint) (uint64, error) {
	if r.n < 57 {
		r.refill()
	}
	ones := uint(bits.LeadingZeros64(^r.buf))
	if ones < riceEscape {
		if ones >= r.n {
			return 0, errTruncated
		}
		r.buf <<= ones + 1
		r.n -= ones + 1
		q := uint64(ones)
		if k == 0 {
			return q, nil
		}
		if q > math.MaxUint64>>k {
			return 0, errRiceOverflow
		}
		low, err := r.read(k)
		return q<<k | low, err
	}
	if r.n < riceEscape+6 {
		return 0, errTruncated
	}
	r.buf <<= riceEscape
	r.n -= riceEscape
	l, _ := r.read(6)
	low, err := r.read(uint(l))
	if err != nil {
		return 0, err
	}
	u := 1<<l | low
	if u>>k < riceEscape {
		return 0, errRiceEscape
	}
	return u, nil
}

// consumed returns how many whole bytes of src the stream used so far and
// reports whether the padding of the last one is zero.
func (r *bitReader) consumed() (int, bool) {
	used := uint(r.pos)*8 - r.n
	nbytes := (used + 7) / 8
	pad := nbytes*8 - used
	return int(nbytes), pad == 0 || r.buf>>(64-pad) == 0
}

// writeRice appends u as a Rice code with parameter k.
func (w *bitWriter) writeRice(u uint64, k uint) {
	q := u >> k
	if q < riceEscape {
		if n := uint(q) + 1 + k; n <= 64 {
			w.write((1<<(q+1)-2)<<k|u&(1<<k-1), n)
			return
		}
		w.write(1<<(q+1)-2, uint(q)+1)
		w.write(u&(1<<k-1), k)
		return
	}
	l := uint(bits.Len64(u)) - 1
	w.write(1<<riceEscape-1, riceEscape)
	w.write(uint64(l), 6)
	w.write(u&(1<<l-1), l)
}

// riceBits returns how many bits the Rice codes of us with parameter k take.
func riceBits(us []uint64, k uint) int {
	n := 0
	for _, u := range us {
		if q := u >> k; q < riceEscape {
			n += int(q) + 1 + int(k)
		} else {
			n += riceEscape + 6 + bits.Len64(u) - 1
		}
	}
	return n
}

func zigzag(x int64) uint64   { return uint64(x<<1) ^ uint64(x>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
