package split

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// TestRice checks the Rice coder against its cost function and its
// decoder, for every parameter, on values of every magnitude.
func TestRice(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for range 200 {
		us := make([]uint64, rng.IntN(50))
		for i := range us {
			us[i] = rng.Uint64() >> rng.IntN(65)
		}
		for k := uint(0); k < 64; k++ {
			w := bitWriter{}
			for _, u := range us {
				w.writeRice(u, k)
			}
			nbits := w.n + uint(len(w.dst))*8
			if want := riceBits(us, k); int(nbits) != want {
				t.Fatalf("k=%d: wrote %d bits, riceBits says %d", k, nbits, want)
			}
			if k >= 1 && k <= 62 {
				lo, mid, hi := riceBits3(us, k)
				if lo != riceBits(us, k-1) || mid != riceBits(us, k) || hi != riceBits(us, k+1) {
					t.Fatalf("k=%d: riceBits3 disagrees with riceBits", k)
				}
			}
			r := bitReader{src: w.finish()}
			for i, want := range us {
				got, err := r.rice(k)
				if err != nil || got != want {
					t.Fatalf("k=%d value %d: got %d, %v, want %d", k, i, got, err, want)
				}
			}
			if n, ok := r.consumed(); n != len(r.src) || !ok {
				t.Fatalf("k=%d: consumed %d of %d bytes (padding ok %v)", k, n, len(r.src), ok)
			}
		}
	}
}

// TestBestRice checks the parameter search against trying them all.
func TestBestRice(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	for range 500 {
		us := make([]uint64, 1+rng.IntN(300))
		scale := rng.IntN(60)
		for i := range us {
			switch rng.IntN(10) {
			case 0:
				us[i] = rng.Uint64() // an outlier
			default:
				us[i] = uint64(rng.ExpFloat64() * float64(uint64(1)<<scale))
			}
		}
		k, ok := bestRice(us)
		if !ok {
			continue
		}
		best := riceBits(us, 0)
		for k2 := uint(1); k2 < 64; k2++ {
			best = min(best, riceBits(us, k2))
		}
		// The walk stops at a local minimum; allow it a bit a value.
		if got := riceBits(us, k); got > best+len(us) {
			t.Errorf("k=%d costs %d bits, the best %d (%d values around 2^%d)", k, got, best, len(us), scale)
		}
	}
}

// TestBitWriter writes fields of every width and reads them back.
func TestBitWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	type field struct {
		v uint64
		k uint
	}
	var fs []field
	w := bitWriter{dst: []byte{0xee}}
	for range 2000 {
		k := uint(rng.IntN(65))
		v := rng.Uint64()
		if k < 64 {
			v &= 1<<k - 1
		}
		fs = append(fs, field{v, k})
		w.write(v, k)
	}
	src := w.finish()
	if src[0] != 0xee {
		t.Fatalf("bitWriter overwrote dst")
	}
	r := bitReader{src: src[1:]}
	for i, f := range fs {
		got, err := r.read(f.k)
		if err != nil || got != f.v {
			t.Fatalf("field %d (%d bits): got %#x, %v, want %#x", i, f.k, got, err, f.v)
		}
	}
	if _, err := r.read(uint(bits.Len(uint(len(src))) + 8)); err == nil {
		t.Errorf("read past the end")
	}
}
