package split

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomValue returns an arbitrary float64: any bits at all, or one of the
// awkward ones.
func randomValue(rng *rand.Rand) float64 {
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1, -1, 0.1, 1e22, 1e-22, 1 << 53, 1<<53 + 1}
	if rng.IntN(3) == 0 {
		return special[rng.IntN(len(special))]
	}
	return math.Float64frombits(rng.Uint64())
}

// randomColumn returns n values from a randomly chosen kind of series,
// possibly derived from the earlier columns.
func randomColumn(rng *rand.Rand, n int, earlier [][]float64) []float64 {
	col := make([]float64, n)
	kinds := 9
	if len(earlier) > 0 {
		kinds = 11
	}
	switch rng.IntN(kinds) {
	case 0: // a walk of decimals with some exponent
		exp := rng.IntN(10) - 7
		step := 1 + rng.Float64()*float64(rng.IntN(1000))
		m := float64(rng.IntN(1e6)) - 5e5
		for i := range col {
			m += math.Round(rng.NormFloat64() * step)
			col[i] = dec(int64(m), exp)
		}
	case 1: // a constant
		x := randomValue(rng)
		for i := range col {
			col[i] = x
		}
	case 2: // anything
		for i := range col {
			col[i] = randomValue(rng)
		}
	case 3: // decimals a few ulps off
		for i := range col {
			x := math.Round(rng.Float64()*1e6) / 100
			col[i] = math.Float64frombits(math.Float64bits(x) + uint64(rng.IntN(5)) - 2)
		}
	case 4: // a counter
		c := float64(rng.Uint64N(1 << 40))
		inc := float64(rng.IntN(5000))
		for i := range col {
			c += inc + float64(rng.IntN(3))
			col[i] = c
		}
	case 5: // noise
		for i := range col {
			col[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		}
	case 6: // few distinct values
		vals := []float64{randomValue(rng), randomValue(rng), 42.5}
		for i := range col {
			col[i] = vals[rng.IntN(len(vals))]
		}
	case 7: // a CPU percent
		copy(col, cpuWalk(rng, n))
	case 8: // integers with trailing zeros
		p := math.Pow(10, float64(rng.IntN(20)))
		for i := range col {
			col[i] = float64(rng.IntN(2000)-1000) * 5 * p
		}
	case 9: // a copy
		copy(col, earlier[rng.IntN(len(earlier))])
	case 10: // a quotient
		a, b := earlier[rng.IntN(len(earlier))], earlier[rng.IntN(len(earlier))]
		for i := range col {
			col[i] = a[i] / b[i]
		}
	}
	// Sprinkle NaNs: none, a few, many, in runs, or all.
	switch rng.IntN(6) {
	case 1:
		if n > 0 {
			col[rng.IntN(n)] = math.NaN()
		}
	case 2:
		for i := range col {
			if rng.IntN(3) == 0 {
				col[i] = math.NaN()
			}
		}
	case 3:
		if n > 0 {
			i := rng.IntN(n)
			j := i + rng.IntN(n-i)
			for ; i < j; i++ {
				col[i] = math.NaN()
			}
		}
	case 4:
		if rng.IntN(4) == 0 {
			for i := range col {
				col[i] = math.NaN()
			}
		}
	}
	return col
}

// randomSplit returns a split of random shape and contents.
func randomSplit(rng *rand.Rand) *Split {
	sp := &Split{Start: int64(rng.Uint64()), Granularity: int64(rng.Uint64N(1<<63-1)) + 1}
	switch rng.IntN(3) {
	case 0:
		sp.Granularity = int64(rng.IntN(3600)+1) * 1e9
		sp.Start = sp.Granularity * int64(rng.IntN(1e6)-5e5)
	case 1:
		sp.Start = sp.Granularity * int64(rng.IntN(1000)-500)
	}
	n := rng.IntN(200)
	if rng.IntN(10) == 0 {
		n = rng.IntN(3601)
	}
	slot := rng.Uint32N(1000)
	for range n {
		if slot >= MaxSlots {
			break
		}
		sp.Slots = append(sp.Slots, slot)
		switch rng.IntN(4) {
		case 0:
			slot += 1 + rng.Uint32N(100)
		case 1:
			slot += 1 + rng.Uint32N(1<<rng.IntN(20))
		default:
			slot++
		}
	}
	n = len(sp.Slots)
	for range rng.IntN(10) {
		sp.Columns = append(sp.Columns, randomColumn(rng, n, sp.Columns))
	}
	return sp
}

// TestRandomSplits round-trips random splits, decoding each both into a
// fresh split and into one that held the previous one.
func TestRandomSplits(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		var reused Split
		for range 500 {
			sp := randomSplit(rng)
			roundTrip(t, sp, &reused)
		}
	}
}

func TestRandomRaw(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		rng := rand.New(rand.NewPCG(seed, 0xa11))
		for range 500 {
			n := rng.IntN(300)
			ts := make([]int64, 0, n)
			t0 := int64(rng.Uint64())
			step := int64(rng.Uint64N(1 << rng.IntN(40)))
			for i := range n {
				var next int64
				switch {
				case i == 0:
					next = t0
				case rng.IntN(4) == 0:
					next = ts[i-1] + 1 + int64(rng.Uint64N(1<<rng.IntN(62)))
				default:
					next = ts[i-1] + 1 + step + int64(rng.IntN(3))*1000
				}
				if i > 0 && next <= ts[i-1] {
					break
				}
				ts = append(ts, next)
			}
			roundTripRaw(t, ts, randomColumn(rng, len(ts), nil))
		}
	}
}
