package split

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRawRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	walk := cpuWalk(rng, 3600)
	jitter := regularTimes(3600, sec)
	for i := range jitter {
		jitter[i] += int64(rng.IntN(1000)) * 1000 // microsecond timestamps
	}
	tests := []struct {
		name     string
		ts       []int64
		vs       []float64
		maxBytes int
	}{
		{"empty", nil, nil, 7},
		{"one point", []int64{1_700_000_000e9}, []float64{42.5}, 0},
		{"two points", []int64{-5, 5}, []float64{1, math.NaN()}, 0},
		{"regular constant", regularTimes(3600, sec), slices.Repeat([]float64{1}, 3600), 24},
		{"regular W1", regularTimes(3600, sec), walk, 3600 * 13 / 10},
		{"microsecond jitter", jitter, walk, 0},
		{"nanosecond gaps", []int64{1, 2, 3, 5, 8, 13, 21, 34}, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 0},
		{"extreme times", []int64{math.MinInt64, -1, 0, math.MaxInt64 - 1, math.MaxInt64}, []float64{1, 2, 3, 4, 5}, 0},
		{"all NaN", []int64{1, 2, 3}, []float64{math.NaN(), math.NaN(), math.NaN()}, 0},
		{"specials", []int64{10, 20, 30, 40}, []float64{math.Inf(1), math.Copysign(0, -1), math.SmallestNonzeroFloat64, math.NaN()}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := roundTripRaw(t, tt.ts, tt.vs)
			if tt.maxBytes > 0 && len(b) > tt.maxBytes {
				t.Errorf("%d bytes, want at most %d", len(b), tt.maxBytes)
			}
		})
	}
}

func TestRawRejects(t *testing.T) {
	tests := []struct {
		name string
		ts   []int64
		vs   []float64
		want string
	}{
		{"lengths", []int64{1, 2}, []float64{1}, "2 timestamps for 1 values"},
		{"out of order", []int64{2, 1}, []float64{1, 2}, "timestamp 1 after 2"},
		{"repeated", []int64{1, 1}, []float64{1, 2}, "timestamp 1 after 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendEncodeRaw([]byte("keep"), tt.ts, tt.vs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if string(got) != "keep" {
				t.Errorf("dst changed to %q", got)
			}
		})
	}
}

func TestDecodeRawRejects(t *testing.T) {
	withCRC := func(body ...byte) []byte { return appendChecksum(slices.Clone(body), 0) }
	tests := []struct {
		name string
		src  []byte
		want string
	}{
		{"short", []byte{2, 0, 0, 0}, "truncated"},
		{"a split", withCRC(1, 0, 1, 0, 0, 0), "a split, not a raw window"},
		{"unknown version", withCRC(7), "unknown version 7"},
		{"too many points", withCRC(2, 0x81, 0x80, 0x80, 0x02), "points 4194305 over the limit"},
		{"zero delta", withCRC(2, 2, 0, 0, 0, codecConstDecimal, 0, 2), "timestamp 1: 0 after 0"},
		{"backwards", withCRC(2, 3, 0, 0, 1, 1, 0x80|0x02, codecConstDecimal, 0, 2), "timestamp 2: 1 after 1"},
		{"scale", withCRC(2, 2, 0, 19, 1, 0, codecConstDecimal, 0, 2), "timestamp scale 19 out of range"},
		{"same codec", withCRC(2, 1, 0, codecSame, 0), "codec 1 in a raw window"},
		{"quotient codec", withCRC(2, 1, 0, codecQuotient, 0, 0), "codec 2 in a raw window"},
		{"trailing", withCRC(2, 0, codecAllNaN, 0), "trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeRaw(tt.src, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "cannot decode raw window: ") {
				t.Errorf("error %q lacks its context", err)
			}
		})
	}
}

// validRaws returns raw window encodings for the corruption tests and the
// fuzz seeds.
func validRaws(tb testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(31, 32))
	var out [][]byte
	add := func(ts []int64, vs []float64) {
		b, err := AppendEncodeRaw(nil, ts, vs)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	add(nil, nil)
	add([]int64{5}, []float64{0.5})
	add(regularTimes(100, sec), cpuWalk(rng, 100))
	ts := regularTimes(50, 10*sec)
	vs := make([]float64, 50)
	for i := range ts {
		ts[i] += int64(rng.IntN(1e6))
		vs[i] = math.Sin(float64(i))
		if i%9 == 4 {
			vs[i] = math.NaN()
		}
	}
	add(ts, vs)
	return out
}

func TestCorruptRaw(t *testing.T) {
	var ts []int64
	var vs []float64
	for _, valid := range validRaws(t) {
		var err error
		if ts, vs, err = DecodeRaw(valid, ts, vs); err != nil {
			t.Fatalf("valid raw window: %v", err)
		}
		body := valid[:len(valid)-4]
		for n := range len(valid) {
			if _, _, err := DecodeRaw(valid[:n], ts, vs); err == nil {
				t.Fatalf("prefix of %d of %d bytes decoded", n, len(valid))
			}
		}
		for n := range len(body) {
			if _, _, err := decodeRaw(body[:n], ts, vs); err == nil {
				t.Fatalf("body prefix of %d of %d bytes decoded", n, len(body))
			}
		}
		for i := range valid {
			for _, flip := range []byte{0x01, 0x80, 0xff, 0x5a} {
				bad := slices.Clone(valid)
				bad[i] ^= flip
				if _, _, err := DecodeRaw(bad, ts, vs); err == nil {
					t.Fatalf("flip %#02x at byte %d of %d decoded", flip, i, len(valid))
				}
				_, _, _ = decodeRaw(bad[:len(bad)-4], ts, vs)
			}
		}
	}
}
