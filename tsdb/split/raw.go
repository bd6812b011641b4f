package split

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// AppendEncodeRaw appends the encoding of a raw window (FORMAT.md) to dst
// and returns the extended buffer: the points (ts[i], vs[i]), ts in Unix ns
// and strictly ascending. It returns dst unchanged with an error when the
// slices differ in length, ts is out of order or there are more than
// MaxRawPoints points. Every value decodes to the same bits, except that
// every NaN decodes as math.NaN(). It does not allocate beyond growing dst
// and is safe for concurrent use.
func AppendEncodeRaw(dst []byte, ts []int64, vs []float64) ([]byte, error) {
	if err := checkRaw(ts, vs); err != nil {
		return dst, fmt.Errorf("cannot encode raw window of %d points: %w", len(ts), err)
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)

	start := len(dst)
	n := len(ts)
	dst = append(dst, versionRaw)
	dst = binary.AppendUvarint(dst, uint64(n))
	if n >= 1 {
		dst = binary.AppendVarint(dst, ts[0])
	}
	if n >= 2 {
		// The largest power of ten dividing every delta; only deltas that
		// differ from the previous one can lower it.
		exp := maxIntExp
		d := uint64(ts[1]) - uint64(ts[0])
		for exp > 0 && d%pow10i[exp] != 0 {
			exp--
		}
		for i := 2; i < n && exp > 0; i++ {
			if d2 := uint64(ts[i]) - uint64(ts[i-1]); d2 != d {
				for exp > 0 && d2%pow10i[exp] != 0 {
					exp--
				}
				d = d2
			}
		}
		p := pow10i[exp]
		prev := (uint64(ts[1]) - uint64(ts[0])) / p
		dst = binary.AppendUvarint(append(dst, byte(exp)), prev)
		e.ints = e.ints[:0]
		for i := 2; i < n; i++ {
			cur := (uint64(ts[i]) - uint64(ts[i-1])) / p
			e.ints = append(e.ints, zigzag(int64(cur-prev)))
			prev = cur
		}
		dst = appendInts(dst, e.ints)
	}
	nans, constant := scan(vs)
	dst = e.appendBase(dst, vs, nans, constant)
	return appendChecksum(dst, start), nil
}

func checkRaw(ts []int64, vs []float64) error {
	switch {
	case len(ts) != len(vs):
		return fmt.Errorf("%d timestamps for %d values", len(ts), len(vs))
	case len(ts) > MaxRawPoints:
		return fmt.Errorf("over the limit of %d points", MaxRawPoints)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] <= ts[i-1] {
			return fmt.Errorf("timestamp %d after %d", ts[i], ts[i-1])
		}
	}
	return nil
}

// DecodeRaw decodes src, an encoding made by AppendEncodeRaw, appending the
// points to ts[:0] and vs[:0], and returns the two slices. It does not keep
// src. Corrupt input, truncated or not, gives an error; it never makes
// DecodeRaw panic or allocate beyond the limits.
func DecodeRaw(src []byte, ts []int64, vs []float64) ([]int64, []float64, error) {
	body, err := checksummed(src)
	if err == nil {
		ts, vs, err = decodeRaw(body, ts, vs)
	}
	if err != nil {
		return ts, vs, fmt.Errorf("cannot decode raw window: %d bytes: %w", len(src), err)
	}
	return ts, vs, nil
}

// decodeRaw decodes the body of a raw window, without its checksum.
func decodeRaw(src []byte, ts []int64, vs []float64) ([]int64, []float64, error) {
	ts, vs = ts[:0], vs[:0]
	d := decoder{src: src}
	version, err := d.byte()
	if err != nil {
		return ts, vs, fmt.Errorf("version: %w", err)
	}
	switch version {
	case versionRaw:
	case versionSplit:
		return ts, vs, errors.New("a split, not a raw window")
	default:
		return ts, vs, fmt.Errorf("unknown version %d", version)
	}
	n, err := d.count("points", MaxRawPoints)
	if err != nil {
		return ts, vs, err
	}
	ts = slices.Grow(ts, n)
	if n >= 1 {
		t, err := d.varint()
		if err != nil {
			return ts, vs, fmt.Errorf("first timestamp: %w", err)
		}
		ts = append(ts, t)
	}
	if n >= 2 {
		exp, err := d.byte()
		if err != nil {
			return ts, vs, fmt.Errorf("timestamp scale: %w", err)
		}
		if exp > maxIntExp {
			return ts, vs, fmt.Errorf("timestamp scale %d out of range", exp)
		}
		p := pow10i[exp]
		delta, err := d.uvarint()
		if err != nil {
			return ts, vs, fmt.Errorf("first delta: %w", err)
		}
		r, err := d.ints()
		if err != nil {
			return ts, vs, fmt.Errorf("timestamps: %w", err)
		}
		t := ts[0]
		for i := 1; i < n; i++ {
			if i >= 2 {
				u, err := r.next()
				if err != nil {
					return ts, vs, fmt.Errorf("timestamp %d: %w", i, err)
				}
				delta += uint64(unzigzag(u))
			}
			next := int64(uint64(t) + delta*p)
			if next <= t {
				return ts, vs, fmt.Errorf("timestamp %d: %d after %d", i, next, t)
			}
			t = next
			ts = append(ts, t)
		}
		if err := d.endInts(&r); err != nil {
			return ts, vs, fmt.Errorf("timestamps: %w", err)
		}
	}
	vs = grow(vs, n)
	tag, err := d.byte()
	if err != nil {
		return ts, vs, fmt.Errorf("values: %w", err)
	}
	if tag&tagReserved != 0 {
		return ts, vs, fmt.Errorf("values: bad tag %#02x", tag)
	}
	if c := tag & tagCodec; c == codecSame || c == codecQuotient {
		return ts, vs, fmt.Errorf("values: codec %d in a raw window", c)
	}
	if err := d.baseColumn(tag, vs); err != nil {
		return ts, vs, fmt.Errorf("values: %w", err)
	}
	if d.pos != len(src) {
		return ts, vs, fmt.Errorf("%w: %d after the values", errTrailer, len(src)-d.pos)
	}
	return ts, vs, nil
}
