package split

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
)

// Column codecs and tag bits (FORMAT.md, "Column").
const (
	codecAllNaN       = 0
	codecSame         = 1
	codecQuotient     = 2
	codecConstDecimal = 3
	codecConst        = 4
	codecDecimal      = 5
	codecXOR          = 6

	tagMask     = 0x80
	tagCodec    = 0x0f
	tagReserved = 0x70
)

// maxExp bounds decimal exponents to the powers of ten a float64 holds
// exactly, which makes dec one correctly rounded operation.
const maxExp = 22

var pow10 = [maxExp + 1]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// maxMantissa bounds decimal mantissas to the integers a float64 holds
// exactly.
const maxMantissa = 1 << 53

// nearUlps is how far, in units in the last place of the column's largest
// magnitude, a value may lie from its decimal for that decimal's exponent
// to be chosen; the difference is coded as a correction.
const nearUlps = 16

// maxQuotientOperands bounds the columns searched for quotient operands,
// which keeps the search quadratic in a small number.
const maxQuotientOperands = 32

// dec returns m × 10^exp (|exp| ≤ maxExp) in one IEEE 754 operation.
func dec(m int64, exp int) float64 {
	if exp < 0 {
		return float64(m) / pow10[-exp]
	}
	return float64(m) * pow10[exp]
}

// scaled returns x / 10^exp, the mantissa of x before rounding.
func scaled(x float64, exp int) float64 {
	if exp < 0 {
		return x * pow10[-exp]
	}
	return x / pow10[exp]
}

// encoder holds the scratch space of one encoding. Encoders are pooled so
// that steady-state encoding does not allocate.
type encoder struct {
	vals  []float64 // values outside the NaN mask
	mant  []int64
	ints  []uint64
	corr  []uint64
	plans []colPlan
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

// Column plans.
const (
	planBase = iota
	planAllNaN
	planSame
	planQuotient
)

type colPlan struct {
	kind     uint8
	constant bool // every value outside the NaN mask has the same bits
	operand  bool // some quotient column divides by or into this one
	nans     int
	ref, den int
}

// plan decides which columns repeat, derive from, or stand apart from the
// others.
func (e *encoder) plan(cols [][]float64) {
	if cap(e.plans) < len(cols) {
		e.plans = make([]colPlan, len(cols))
	}
	e.plans = e.plans[:len(cols)]
	for j, col := range cols {
		p := &e.plans[j]
		*p = colPlan{}
		p.nans, p.constant = scan(col)
		if p.nans == len(col) {
			p.kind = planAllNaN
			continue
		}
		for i := range j {
			if e.plans[i].kind == planBase && sameValues(cols[i], col) {
				p.kind, p.ref = planSame, i
				break
			}
		}
	}
	for j, col := range cols {
		p := &e.plans[j]
		if p.kind != planBase || p.constant || p.operand {
			continue
		}
	search:
		for a := range min(len(cols), maxQuotientOperands) {
			if a == j || e.plans[a].kind != planBase {
				continue
			}
			for b := range min(len(cols), maxQuotientOperands) {
				if b == j || b == a || e.plans[b].kind != planBase {
					continue
				}
				if isQuotient(col, cols[a], cols[b]) {
					p.kind, p.ref, p.den = planQuotient, a, b
					e.plans[a].operand, e.plans[b].operand = true, true
					break search
				}
			}
		}
	}
}

// scan returns the number of NaNs in col and whether its other values all
// have the same bits.
func scan(col []float64) (int, bool) {
	nans := 0
	var first uint64
	seen, constant := false, true
	for _, x := range col {
		if x != x {
			nans++
			continue
		}
		b := math.Float64bits(x)
		if !seen {
			first, seen = b, true
		} else if b != first {
			constant = false
		}
	}
	return nans, constant
}

// sameValues reports whether a and b hold the same bits, any NaN being
// equal to any other.
func sameValues(a, b []float64) bool {
	for i, x := range a {
		y := b[i]
		if math.Float64bits(x) != math.Float64bits(y) && (x == x || y == y) {
			return false
		}
	}
	return true
}

// isQuotient reports whether every value of q outside its NaNs is a/b.
func isQuotient(q, a, b []float64) bool {
	for i, x := range q {
		if x == x && math.Float64bits(x) != math.Float64bits(a[i]/b[i]) {
			return false
		}
	}
	return true
}

// appendColumn appends column j of cols as planned.
func (e *encoder) appendColumn(dst []byte, cols [][]float64, j int) []byte {
	p := &e.plans[j]
	col := cols[j]
	switch p.kind {
	case planAllNaN:
		return append(dst, codecAllNaN)
	case planSame:
		return binary.AppendUvarint(append(dst, codecSame), uint64(p.ref))
	case planQuotient:
		dst = e.appendTag(dst, codecQuotient, col, p.nans)
		dst = binary.AppendUvarint(dst, uint64(p.ref))
		return binary.AppendUvarint(dst, uint64(p.den))
	}
	return e.appendBase(dst, col, p.nans, p.constant)
}

// appendTag appends the tag of codec and, when col has NaNs, the NaN mask.
func (e *encoder) appendTag(dst []byte, codec byte, col []float64, nans int) []byte {
	if nans == 0 {
		return append(dst, codec)
	}
	return appendMask(append(dst, codec|tagMask), col)
}

// appendMask appends the NaN runs of col.
func appendMask(dst []byte, col []float64) []byte {
	n := len(col)
	for i := 0; i < n; {
		j := i
		for j < n && col[j] == col[j] {
			j++
		}
		dst = binary.AppendUvarint(dst, uint64(j-i))
		if j == n {
			break
		}
		k := j
		for k < n && col[k] != col[k] {
			k++
		}
		dst = binary.AppendUvarint(dst, uint64(k-j))
		i = k
	}
	return dst
}

// appendBase appends a column that stands on its own: a constant, decimal
// or XOR column, whichever is smallest. col has nans NaNs (not all).
func (e *encoder) appendBase(dst []byte, col []float64, nans int, constant bool) []byte {
	if nans == len(col) {
		return append(dst, codecAllNaN)
	}
	xs := col
	if nans > 0 {
		e.vals = e.vals[:0]
		for _, x := range col {
			if x == x {
				e.vals = append(e.vals, x)
			}
		}
		xs = e.vals
	}
	if constant {
		x := xs[0]
		if m, exp, ok := exactDecimal(x); ok {
			dst = e.appendTag(dst, codecConstDecimal, col, nans)
			return binary.AppendVarint(append(dst, byte(int8(exp))), m)
		}
		dst = e.appendTag(dst, codecConst, col, nans)
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	start := len(dst)
	dst, ok, exact := e.appendDecimal(dst, col, xs, nans)
	// An exact decimal column, or one within two bytes a value, is left
	// alone: XOR needs more than that for anything but runs of repeats,
	// which the deltas code in a bit too.
	if ok && (exact || len(dst)-start <= 2*len(xs)) {
		return dst
	}
	mid := len(dst)
	dst = e.appendTag(dst, codecXOR, col, nans)
	dst = appendXOR(dst, xs)
	if ok && mid-start <= len(dst)-mid {
		return dst[:mid]
	}
	n := copy(dst[start:], dst[mid:])
	return dst[:start+n]
}

// exactDecimal returns m and exp with dec(m, exp) == x, bit for bit, with
// the fewest decimal places and then the fewest trailing zeros.
func exactDecimal(x float64) (int64, int, bool) {
	if !(math.Abs(x) <= math.MaxFloat64) {
		return 0, 0, false
	}
	lo := minExp(math.Abs(x))
	if lo > maxExp {
		return 0, 0, false
	}
	b := math.Float64bits(x)
	for exp := max(lo, 0); exp >= lo; exp-- {
		m := int64(math.Round(scaled(x, exp)))
		if math.Float64bits(dec(m, exp)) != b {
			continue
		}
		for exp < maxExp && m != 0 && m%10 == 0 && exp >= 0 {
			m, exp = m/10, exp+1
		}
		return m, exp, true
	}
	return 0, 0, false
}

// minExp returns the smallest exponent at which every value of magnitude at
// most maxAbs has a mantissa under maxMantissa, or maxExp+1 if none has.
func minExp(maxAbs float64) int {
	for exp := -maxExp; exp <= maxExp; exp++ {
		if scaled(maxAbs, exp) < maxMantissa {
			return exp
		}
	}
	return maxExp + 1
}

// appendDecimal appends col as a decimal column (xs are its values outside
// the NaN mask). It reports false, leaving dst as it was, when the values
// have no usable decimal form, and whether every correction is zero.
func (e *encoder) appendDecimal(dst []byte, col, xs []float64, nans int) ([]byte, bool, bool) {
	exp, ok := e.mantissas(xs)
	if !ok {
		return dst, false, false
	}
	ms := e.mant
	exact := true
	for _, c := range e.corr {
		if c != 0 {
			exact = false
			break
		}
	}
	if exact && exp >= 0 {
		// Exact integers: strip common trailing zeros. dec stays exact
		// because m × 10^exp is the same integer.
	strip:
		for exp < maxExp {
			for _, m := range ms {
				if m%10 != 0 {
					break strip
				}
			}
			for i := range ms {
				ms[i] /= 10
			}
			exp++
		}
	}
	order := bestOrder(ms)
	dst = e.appendTag(dst, codecDecimal, col, nans)
	dst = append(dst, byte(int8(exp)), byte(order))
	e.ints = e.ints[:0]
	switch order {
	case 0:
		for _, m := range ms {
			e.ints = append(e.ints, zigzag(m))
		}
	case 1:
		dst = binary.AppendVarint(dst, ms[0])
		for i := 1; i < len(ms); i++ {
			e.ints = append(e.ints, zigzag(ms[i]-ms[i-1]))
		}
	case 2:
		d := ms[1] - ms[0]
		dst = binary.AppendVarint(binary.AppendVarint(dst, ms[0]), d)
		for i := 2; i < len(ms); i++ {
			d2 := ms[i] - ms[i-1]
			e.ints = append(e.ints, zigzag(d2-d))
			d = d2
		}
	}
	dst = appendInts(dst, e.ints)
	return appendInts(dst, e.corr), true, exact
}

// mantissas fills e.mant and e.corr with the decimal form of xs and returns
// its exponent, or false when xs has none worth coding.
func (e *encoder) mantissas(xs []float64) (int, bool) {
	maxAbs := 0.0
	for _, x := range xs {
		// Not the max builtin: its NaN and signed-zero rules cost a
		// third of this function.
		if a := math.Abs(x); a > maxAbs {
			maxAbs = a
		} else if a != a {
			return 0, false
		}
	}
	lo := minExp(maxAbs)
	if lo > maxExp || maxAbs > math.MaxFloat64 {
		return 0, false
	}
	// The tolerance scales with the column, not the value: the rounding
	// error of 50.01 - 50 is an ulp of 50, hundreds of ulps of 0.01, and
	// it must not push the whole column to 15 decimal places.
	tol := nearUlps * ulp(maxAbs)
	e.mant = grow(e.mant, len(xs))
	e.corr = grow(e.corr, len(xs))
	maxOutliers := len(xs) / 16
	exp := max(lo, 0)
	outliers := 0
	for i := 0; i < len(xs); i++ {
		x := xs[i]
		m, a := mantissa(x, exp)
		if !(math.Abs(x-a) <= tol) {
			found := false
			for e2 := exp - 1; e2 >= lo; e2-- {
				if _, a2 := mantissa(x, e2); math.Abs(x-a2) <= tol {
					exp, found = e2, true
					break
				}
			}
			if found {
				// Values before this one may need their mantissas at
				// the new exponent; exp only decreases, so this ends.
				outliers, i = 0, -1
				continue
			}
			if outliers++; outliers > maxOutliers {
				return 0, false
			}
		}
		e.mant[i] = m
		e.corr[i] = zigzag(int64(math.Float64bits(x) - math.Float64bits(a)))
	}
	return exp, true
}

// mantissa returns the mantissa of x at exp and its decimal. exp must keep
// the mantissa under maxMantissa.
func mantissa(x float64, exp int) (int64, float64) {
	m := int64(math.Round(scaled(x, exp)))
	return m, dec(m, exp)
}

// ulp returns the spacing of the float64s at x (x ≥ 0, finite).
func ulp(x float64) float64 {
	return math.Nextafter(x, math.Inf(1)) - x
}

// bestOrder returns the delta order (0, 1 or 2) that leaves the smallest
// residuals, by their bit lengths.
func bestOrder(ms []int64) int {
	var c [3]int
	c[1] = varintBits(ms[0])
	if len(ms) > 1 {
		c[2] = c[1] + varintBits(ms[1]-ms[0])
	}
	for i, m := range ms {
		c[0] += bits.Len64(zigzag(m))
		if i >= 1 {
			d := m - ms[i-1]
			c[1] += bits.Len64(zigzag(d))
			if i >= 2 {
				c[2] += bits.Len64(zigzag(d - (ms[i-1] - ms[i-2])))
			}
		}
	}
	best := 0
	for o := 1; o <= min(2, len(ms)); o++ {
		if c[o] < c[best] {
			best = o
		}
	}
	return best
}

func varintBits(x int64) int { return (max(bits.Len64(zigzag(x)), 1) + 6) / 7 * 8 }

// appendXOR appends the XOR stream of xs (FORMAT.md, "XOR").
func appendXOR(dst []byte, xs []float64) []byte {
	w := bitWriter{dst: dst}
	prev := math.Float64bits(xs[0])
	w.write(prev, 64)
	const noWindow = 0xff
	lead, trail := uint(noWindow), uint(0)
	for _, x := range xs[1:] {
		v := math.Float64bits(x)
		delta := v ^ prev
		prev = v
		if delta == 0 {
			w.write(0, 1)
			continue
		}
		l := min(uint(bits.LeadingZeros64(delta)), 31)
		t := uint(bits.TrailingZeros64(delta))
		if lead != noWindow && l >= lead && t >= trail {
			w.write(0b10, 2)
			w.write(delta>>trail, 64-lead-trail)
			continue
		}
		lead, trail = l, t
		sig := 64 - l - t
		w.write(0b11, 2)
		w.write(uint64(l), 5)
		w.write(uint64(sig&63), 6)
		w.write(delta>>t, sig)
	}
	return w.finish()
}

// grow returns s resized to n, reusing its array when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
