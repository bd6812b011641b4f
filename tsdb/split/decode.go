package split

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// decoder reads the fields of one encoding.
type decoder struct {
	src []byte
	pos int
}

func (d *decoder) byte() (byte, error) {
	if d.pos >= len(d.src) {
		return 0, errTruncated
	}
	b := d.src[d.pos]
	d.pos++
	return b, nil
}

func (d *decoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.src[d.pos:])
	switch {
	case n == 0:
		return 0, errTruncated
	case n < 0:
		return 0, errVarint
	}
	d.pos += n
	return v, nil
}

func (d *decoder) varint() (int64, error) {
	v, n := binary.Varint(d.src[d.pos:])
	switch {
	case n == 0:
		return 0, errTruncated
	case n < 0:
		return 0, errVarint
	}
	d.pos += n
	return v, nil
}

// count reads a uvarint that must not exceed limit.
func (d *decoder) count(what string, limit int) (int, error) {
	v, err := d.uvarint()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if v > uint64(limit) {
		return 0, fmt.Errorf("%s %d over the limit of %d", what, v, limit)
	}
	return int(v), nil
}

// ints starts reading an <ints> sequence.
func (d *decoder) ints() (intsReader, error) {
	mode, err := d.byte()
	if err != nil {
		return intsReader{}, err
	}
	if mode == 0 {
		return intsReader{zero: true}, nil
	}
	if mode > 64 {
		return intsReader{}, fmt.Errorf("%w %d", errIntsMode, mode)
	}
	return intsReader{br: bitReader{src: d.src[d.pos:]}, k: uint(mode - 1)}, nil
}

// endInts moves past the bit stream of r once all its values are read.
func (d *decoder) endInts(r *intsReader) error {
	if r.zero {
		return nil
	}
	return d.endBits(&r.br)
}

func (d *decoder) endBits(br *bitReader) error {
	n, ok := br.consumed()
	if !ok {
		return errPadding
	}
	d.pos += n
	return nil
}

var (
	errVarint  = errors.New("varint overflows 64 bits")
	errNaN     = errors.New("NaN outside the NaN mask")
	errTrailer = errors.New("trailing bytes")
)

// mask reads the NaN mask of a column of n values and returns its bytes and
// how many values it keeps.
func (d *decoder) mask(n int) ([]byte, int, error) {
	start := d.pos
	total, kept := 0, 0
	for keep := true; total < n; keep = !keep {
		r, err := d.uvarint()
		if err != nil {
			return nil, 0, fmt.Errorf("NaN mask: %w", err)
		}
		if r > uint64(n-total) || (r == 0 && total > 0) {
			return nil, 0, fmt.Errorf("NaN mask: run of %d at %d of %d values", r, total, n)
		}
		total += int(r)
		if keep {
			kept += int(r)
		}
	}
	if kept == 0 || kept == n {
		return nil, 0, fmt.Errorf("NaN mask keeps %d of %d values", kept, n)
	}
	return d.src[start:d.pos], kept, nil
}

// expandMask spreads the kept values, which fill the end of col, over their
// positions and puts NaN at the others. runs must have passed mask.
func expandMask(runs []byte, col []float64, kept int) {
	src, dst := len(col)-kept, 0
	for keep := true; dst < len(col); keep = !keep {
		r, w := binary.Uvarint(runs)
		runs = runs[w:]
		if keep {
			copy(col[dst:dst+int(r)], col[src:src+int(r)])
			src += int(r)
		} else {
			fillNaN(col[dst : dst+int(r)])
		}
		dst += int(r)
	}
}

// applyMask puts NaN at the masked positions of col, whose every position
// holds a value, and reports whether a kept one is NaN.
func applyMask(runs []byte, col []float64) bool {
	pos := 0
	for keep := true; pos < len(col); keep = !keep {
		r, w := binary.Uvarint(runs)
		runs = runs[w:]
		if keep {
			if hasNaN(col[pos : pos+int(r)]) {
				return true
			}
		} else {
			fillNaN(col[pos : pos+int(r)])
		}
		pos += int(r)
	}
	return false
}

func fillNaN(xs []float64) {
	nan := math.NaN()
	for i := range xs {
		xs[i] = nan
	}
}

func hasNaN(xs []float64) bool {
	for _, x := range xs {
		if x != x {
			return true
		}
	}
	return false
}

// baseColumn decodes the payload of a column whose tag, already read, is
// that of a standalone codec, into col (all its values).
func (d *decoder) baseColumn(tag byte, col []float64) error {
	codec := tag & tagCodec
	if len(col) == 0 && tag != codecAllNaN {
		return fmt.Errorf("codec %d for an empty column", codec)
	}
	var runs []byte
	xs := col
	if tag&tagMask != 0 {
		if codec == codecAllNaN {
			return errors.New("all-NaN column with a NaN mask")
		}
		var kept int
		var err error
		if runs, kept, err = d.mask(len(col)); err != nil {
			return err
		}
		xs = col[len(col)-kept:]
	}
	switch codec {
	case codecAllNaN:
		fillNaN(col)
		return nil
	case codecConstDecimal, codecConst:
		var x float64
		if codec == codecConst {
			if len(d.src)-d.pos < 8 {
				return fmt.Errorf("constant: %w", errTruncated)
			}
			x = math.Float64frombits(binary.LittleEndian.Uint64(d.src[d.pos:]))
			d.pos += 8
		} else {
			b, err := d.byte()
			if err != nil {
				return fmt.Errorf("constant decimal: %w", err)
			}
			m, err := d.varint()
			if err != nil {
				return fmt.Errorf("constant decimal: %w", err)
			}
			exp := int(int8(b))
			if exp < -maxExp || exp > maxExp {
				return fmt.Errorf("constant decimal: exponent %d out of range", exp)
			}
			x = dec(m, exp)
		}
		if x != x {
			return errNaN
		}
		for i := range xs {
			xs[i] = x
		}
	case codecDecimal:
		if err := d.decimal(xs); err != nil {
			return fmt.Errorf("decimal: %w", err)
		}
	case codecXOR:
		if err := d.xor(xs); err != nil {
			return fmt.Errorf("xor: %w", err)
		}
	default:
		return fmt.Errorf("unknown codec %d", codec)
	}
	if runs != nil {
		expandMask(runs, col, len(xs))
	}
	return nil
}

// decimal decodes a decimal payload into xs.
func (d *decoder) decimal(xs []float64) error {
	b, err := d.byte()
	if err != nil {
		return err
	}
	exp := int(int8(b))
	if exp < -maxExp || exp > maxExp {
		return fmt.Errorf("exponent %d out of range", exp)
	}
	order, err := d.byte()
	if err != nil {
		return err
	}
	if order > 2 || int(order) > len(xs) {
		return fmt.Errorf("order %d for %d values", order, len(xs))
	}
	// The mantissas go through xs as raw bits until the corrections turn
	// them into values.
	var m, delta int64
	i := 0
	if order >= 1 {
		if m, err = d.varint(); err != nil {
			return fmt.Errorf("first mantissa: %w", err)
		}
		xs[0] = math.Float64frombits(uint64(m))
		i = 1
	}
	if order == 2 {
		if delta, err = d.varint(); err != nil {
			return fmt.Errorf("first delta: %w", err)
		}
		m += delta
		xs[1] = math.Float64frombits(uint64(m))
		i = 2
	}
	r, err := d.ints()
	if err != nil {
		return fmt.Errorf("residuals: %w", err)
	}
	for ; i < len(xs); i++ {
		u, err := r.next()
		if err != nil {
			return fmt.Errorf("residual %d: %w", i, err)
		}
		switch order {
		case 0:
			m = unzigzag(u)
		case 1:
			m += unzigzag(u)
		case 2:
			delta += unzigzag(u)
			m += delta
		}
		xs[i] = math.Float64frombits(uint64(m))
	}
	if err := d.endInts(&r); err != nil {
		return fmt.Errorf("residuals: %w", err)
	}
	c, err := d.ints()
	if err != nil {
		return fmt.Errorf("corrections: %w", err)
	}
	for i, x := range xs {
		v := dec(int64(math.Float64bits(x)), exp)
		if !c.zero {
			u, err := c.next()
			if err != nil {
				return fmt.Errorf("correction %d: %w", i, err)
			}
			v = math.Float64frombits(math.Float64bits(v) + uint64(unzigzag(u)))
		}
		if v != v {
			return errNaN
		}
		xs[i] = v
	}
	if err := d.endInts(&c); err != nil {
		return fmt.Errorf("corrections: %w", err)
	}
	return nil
}

// xor decodes an XOR stream into xs.
func (d *decoder) xor(xs []float64) error {
	br := bitReader{src: d.src[d.pos:]}
	v, err := br.read(64)
	if err != nil {
		return err
	}
	var lead, width uint
	window := false
	for i := range xs {
		if i > 0 {
			changed, err := br.bit()
			if err != nil {
				return fmt.Errorf("value %d: %w", i, err)
			}
			if changed {
				fresh, err := br.bit()
				if err != nil {
					return fmt.Errorf("value %d: %w", i, err)
				}
				if fresh {
					l, err := br.read(5)
					if err != nil {
						return fmt.Errorf("value %d: %w", i, err)
					}
					w, err := br.read(6)
					if err != nil {
						return fmt.Errorf("value %d: %w", i, err)
					}
					if w == 0 {
						w = 64
					}
					if l+w > 64 {
						return fmt.Errorf("value %d: window of %d bits after %d", i, w, l)
					}
					lead, width, window = uint(l), uint(w), true
				} else if !window {
					return fmt.Errorf("value %d: no window to reuse", i)
				}
				x, err := br.read(width)
				if err != nil {
					return fmt.Errorf("value %d: %w", i, err)
				}
				v ^= x << (64 - lead - width)
			}
		}
		f := math.Float64frombits(v)
		if f != f {
			return errNaN
		}
		xs[i] = f
	}
	return d.endBits(&br)
}
