package split

import (
	"slices"
	"testing"
)

// checkSplitRoundTrip re-encodes a split that decoded and checks that it
// decodes to the same thing again.
func checkSplitRoundTrip(t *testing.T, sp *Split) {
	b, err := AppendEncode(nil, sp)
	if err != nil {
		t.Fatalf("decoded split does not encode: %v", err)
	}
	var again Split
	if err := Decode(b, &again); err != nil {
		t.Fatalf("re-encoded split does not decode: %v", err)
	}
	if d := equalSplits(sp, &again); d != "" {
		t.Fatalf("re-encoded split differs in %s", d)
	}
}

// FuzzDecode feeds Decode arbitrary bytes, and the parser behind the
// checksum too, since random bytes almost never carry a good checksum.
func FuzzDecode(f *testing.F) {
	for _, b := range validSplits(f) {
		f.Add(b)
		f.Add(b[:len(b)-4])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sp Split
		if err := Decode(data, &sp); err == nil {
			checkSplitRoundTrip(t, &sp)
		}
		if err := decodeSplit(data, &sp, nil); err == nil {
			checkSplitRoundTrip(t, &sp)
			// The bytes decoded without the checksum; with one they
			// must decode the same.
			var withSum Split
			if err := Decode(appendChecksum(slices.Clone(data), 0), &withSum); err != nil {
				t.Fatalf("body decodes but not with its checksum: %v", err)
			}
			if d := equalSplits(&sp, &withSum); d != "" {
				t.Fatalf("checksummed decode differs in %s", d)
			}
		}
	})
}

// FuzzDecodeRaw is FuzzDecode for raw windows.
func FuzzDecodeRaw(f *testing.F) {
	for _, b := range validRaws(f) {
		f.Add(b)
		f.Add(b[:len(b)-4])
	}
	check := func(t *testing.T, ts []int64, vs []float64) {
		b, err := AppendEncodeRaw(nil, ts, vs)
		if err != nil {
			t.Fatalf("decoded raw window does not encode: %v", err)
		}
		ts2, vs2, err := DecodeRaw(b, nil, nil)
		if err != nil {
			t.Fatalf("re-encoded raw window does not decode: %v", err)
		}
		if !slices.Equal(ts, ts2) || len(vs) != len(vs2) {
			t.Fatalf("re-encoded raw window differs")
		}
		for i := range vs {
			if !sameBits(vs[i], vs2[i]) {
				t.Fatalf("re-encoded value %d differs", i)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if ts, vs, err := DecodeRaw(data, nil, nil); err == nil {
			check(t, ts, vs)
		}
		if ts, vs, err := decodeRaw(data, nil, nil); err == nil {
			check(t, ts, vs)
		}
	})
}
