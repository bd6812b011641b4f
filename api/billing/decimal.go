package billing

import (
	"fmt"
	"math"
	"strconv"

	"github.com/cockroachdb/apd/v3"
)

// exact is the context of every sum and product of money and quantities:
// its precision is far above what a bill can hold, and an inexact result
// is an error instead of a silent rounding, so that only the rounding the
// configuration asks for ever happens.
var exact = apd.Context{
	Precision:   100,
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.DefaultTraps | apd.Inexact,
}

// divide is the context of the unit conversions that cannot be exact
// (nanoseconds to hours, bytes to GiB): 40 significant digits, far more
// than the quantity keeps once it is rounded to its configured places.
var divide = apd.Context{
	Precision:   40,
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.DefaultTraps,
	Rounding:    apd.RoundHalfEven,
}

// mustExact runs an operation of the exact context. Its precision cannot be
// exhausted by a bill: an error there is a broken invariant.
func mustExact(_ apd.Condition, err error) {
	if err != nil {
		panic("BUG: exact decimal arithmetic failed: " + err.Error())
	}
}

// decFromFloat sets d to the shortest decimal that reads back as f, which
// is the value the measure was written with (1.1 stays 1.1, not the binary
// expansion of the nearest double).
func decFromFloat(d *apd.Decimal, f float64, buf []byte) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, fmt.Errorf("value %v is not a finite number", f)
	}
	buf = strconv.AppendFloat(buf[:0], f, 'g', -1, 64)
	if _, _, err := d.SetString(string(buf)); err != nil {
		return buf, fmt.Errorf("cannot read value %v as a decimal: %w", f, err)
	}
	return buf, nil
}

// roundTo rounds x to places decimal places with rounder r, into d.
func roundTo(d, x *apd.Decimal, places int32, r apd.Rounder) error {
	c := exact
	c.Traps = apd.DefaultTraps
	c.Rounding = r
	if _, err := c.Quantize(d, x, -places); err != nil {
		return fmt.Errorf("cannot round %s to %d places: %w", x.Text('f'), places, err)
	}
	return nil
}

// decText renders d without exponent, as every export writes numbers.
func decText(d *apd.Decimal) string { return d.Text('f') }

// reduced renders d without exponent and without trailing zeros.
func reduced(d *apd.Decimal) string {
	var r apd.Decimal
	r.Reduce(d)
	if r.Exponent > 0 {
		// Text('f') of 1E+1 is "10": the exponent is spelled out, but a
		// Reduce can push integral values there.
		mustExact(exact.Quantize(&r, &r, 0))
	}
	return r.Text('f')
}
