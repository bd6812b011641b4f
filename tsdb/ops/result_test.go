package ops

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAppendTimestampMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	cases := []int64{0, -1, 1, 86400e9 - 1, 951782400e9, 4102444800e9, -6213559680e9, 9223372036e9}
	for range 10000 {
		cases = append(cases, r.Int64N(1<<62)-1<<61, r.Int64N(4e18)-2e18)
	}
	for _, ts := range cases {
		tm := time.Unix(0, ts).UTC()
		want := tm.Format("2006-01-02T15:04:05")
		if tm.Nanosecond() != 0 {
			want += tm.Format(".000000000")
		}
		want += "+00:00"
		if got := string(AppendTimestamp(nil, ts)); got != want {
			t.Fatalf("AppendTimestamp(%d) = %s, want %s", ts, got, want)
		}
	}
}

// TestCentDecimalMatchesShortest checks the hundredths fast path against
// strconv's shortest representation on values it takes and values it must
// refuse.
func TestCentDecimalMatchesShortest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	slow := func(f float64) string {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	for i := range 200000 {
		var f float64
		switch i % 4 {
		case 0:
			f = float64(rng.Int64N(2e11)-1e11) / 100
		case 1:
			f = float64(rng.Int64N(2000)-1000) / 10
		case 2:
			f = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-2))
		default:
			f = math.Round(rng.Float64()*1e6) / 100
		}
		if f == 0 || math.Abs(f) < 1e-4 || math.Abs(f) >= 1e16 {
			continue
		}
		got, ok := appendCentDecimal(nil, f)
		if !ok {
			continue
		}
		if string(got) != slow(f) {
			t.Fatalf("appendCentDecimal(%v) = %s, want %s", f, got, slow(f))
		}
	}
	tenth, fifth := 0.1, 0.2
	for _, f := range []float64{0.005, 1e9, 123.456, tenth + fifth} {
		if got, ok := appendCentDecimal(nil, f); ok {
			t.Errorf("appendCentDecimal(%v) took it as %s", f, got)
		}
	}
}
