package split

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-telemetry/vigil/tsdb/aggregate"
)

const sec = int64(1e9)

// cols builds n-slot columns from per-slot generators.
func cols(n int, gens ...func(i int) float64) [][]float64 {
	out := make([][]float64, len(gens))
	for k, g := range gens {
		for i := range n {
			out[k] = append(out[k], g(i))
		}
	}
	return out
}

func contiguous(n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	nan := math.NaN()
	walk := cpuWalk(rand.New(rand.NewPCG(7, 7)), 3600)
	w := func(i int) float64 { return walk[i] }
	constant := func(x float64) func(int) float64 { return func(int) float64 { return x } }
	tests := []struct {
		name   string
		sp     Split
		codecs []string // when set, the codecs the encoder must pick
	}{
		{name: "empty", sp: Split{Start: 0, Granularity: sec}},
		{name: "empty with columns", sp: Split{Granularity: sec, Columns: make([][]float64, 6)},
			codecs: []string{"all-nan", "all-nan", "all-nan", "all-nan", "all-nan", "all-nan"}},
		{name: "one slot", sp: Split{Start: 3600 * sec, Granularity: 3600 * sec, Slots: []uint32{0},
			Columns: [][]float64{{45.67}, {1.5}, {1000}}},
			codecs: []string{"const-decimal", "const-decimal", "const-decimal"}},
		{name: "last slot", sp: Split{Granularity: sec, Slots: []uint32{MaxSlots - 1}, Columns: [][]float64{{1}}}},
		{name: "sparse slots", sp: Split{Granularity: 60 * sec, Slots: []uint32{3, 4, 9, 100, 3599},
			Columns: [][]float64{{1.25, 2.5, 3.75, 5, 6.25}}}},
		{name: "contiguous", sp: Split{Granularity: sec, Slots: contiguous(3600), Columns: cols(3600, w)},
			codecs: []string{"decimal"}},
		{name: "every other slot", sp: Split{Granularity: sec, Slots: func() []uint32 {
			s := contiguous(1800)
			for i := range s {
				s[i] *= 2
			}
			return s
		}(), Columns: cols(1800, w)}},
		{name: "all NaN column", sp: Split{Granularity: sec, Slots: contiguous(10), Columns: cols(10, w, constant(nan))},
			codecs: []string{"decimal", "all-nan"}},
		{name: "partial NaN", sp: Split{Granularity: sec, Slots: contiguous(50), Columns: cols(50,
			func(i int) float64 { return map[bool]float64{true: nan, false: walk[i]}[i == 0] },
			func(i int) float64 { return map[bool]float64{true: nan, false: walk[i]}[i%7 == 3 || i > 45] },
			func(i int) float64 { return map[bool]float64{true: nan, false: 3}[i%2 == 0] },
			func(i int) float64 { return map[bool]float64{true: nan, false: math.Pi * walk[i]}[i == 20] },
		)},
			codecs: []string{"decimal+mask", "decimal+mask", "const-decimal+mask"}},
		{name: "NaN payloads", sp: Split{Granularity: sec, Slots: contiguous(3), Columns: [][]float64{
			{math.Float64frombits(0x7ff8000000000123), 1, math.Float64frombits(0xfff0000000000001)}}}},
		{name: "duplicate columns", sp: Split{Granularity: sec, Slots: contiguous(3600), Columns: cols(3600, w, w, w, w, constant(1), w)},
			codecs: []string{"decimal", "same", "same", "same", "const-decimal", "same"}},
		{name: "duplicate NaN columns", sp: Split{Granularity: sec, Slots: contiguous(4), Columns: [][]float64{
			{1, nan, 2.5, 3}, {1, nan, 2.5, 3}}},
			codecs: []string{"decimal+mask", "same"}},
		{name: "constant count", sp: Split{Granularity: 60 * sec, Slots: contiguous(100), Columns: cols(100, constant(60))},
			codecs: []string{"const-decimal"}},
		{name: "quotient before its operands", sp: Split{Granularity: 60 * sec, Slots: contiguous(20), Columns: cols(20,
			func(i int) float64 { return (walk[i] * 7) / float64(i%3+1) },
			func(i int) float64 { return walk[i] * 7 },
			func(i int) float64 { return float64(i%3 + 1) },
		)}, codecs: []string{"quotient", "decimal", "decimal"}},
		{name: "quotient with NaN", sp: Split{Granularity: 60 * sec, Slots: contiguous(4), Columns: [][]float64{
			{nan, 1.5, 2.0 / 3, 0.25}, {3, 3, 2, 1}, {2, 2, 3, 4}}},
			codecs: []string{"quotient+mask", "decimal", "decimal"}},
		{name: "negative numbers", sp: Split{Start: -7200 * sec, Granularity: sec, Slots: contiguous(100), Columns: cols(100,
			func(i int) float64 { return walk[i] - 50 },
			func(i int) float64 { return -float64(i) * 1000 },
		)}, codecs: []string{"decimal", "decimal"}},
		{name: "huge and tiny", sp: Split{Granularity: sec, Slots: contiguous(6), Columns: [][]float64{
			{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e300, 1e-300, 0},
			{1e20, 2e20, 3e21, -4e22, 5e15, 9007199254740993e3},
			{1e-20, 2.5e-21, 3e-22, 1e-22, 0, 7e-21},
			{math.Inf(1), math.Inf(-1), 1, 2, math.Inf(1), 0},
		}}},
		{name: "signed zeros", sp: Split{Granularity: sec, Slots: contiguous(4), Columns: [][]float64{
			{0, math.Copysign(0, -1), 0, 1}, {math.Copysign(0, -1), math.Copysign(0, -1), math.Copysign(0, -1), math.Copysign(0, -1)}}},
			codecs: []string{"", "const"}},
		{name: "not quite decimal", sp: Split{Granularity: sec, Slots: contiguous(8), Columns: [][]float64{
			{0.1 + 0.2, 1.0 / 3, math.Nextafter(0.29, 1), math.Nextafter(0.29, 0), 0.29, 2.675, 1e-7 * 3, 123456789.123456789},
			{0.1 + 0.2, 0.1 + 0.2, 0.1 + 0.2, 0.1 + 0.2, 0.1 + 0.2, 0.1 + 0.2, 0.1 + 0.2, 0.1 + 0.2},
		}}},
		{name: "unrounded floats", sp: Split{Granularity: sec, Slots: contiguous(500), Columns: cols(500,
			func(i int) float64 { return math.Sin(float64(i)) * 100 })}},
		{name: "random bits", sp: Split{Granularity: sec, Slots: contiguous(500), Columns: cols(500,
			func(i int) float64 {
				return math.Float64frombits(rand.New(rand.NewPCG(uint64(i), 1)).Uint64()&^(0x7ff<<52) | 0x3ff<<52)
			})}},
		{name: "beyond decimals", sp: Split{Granularity: sec, Slots: contiguous(500), Columns: cols(500,
			func(i int) float64 { return (1 + float64(i%7)/8) * 1e300 })},
			codecs: []string{"xor"}},
		{name: "counter", sp: Split{Granularity: sec, Slots: contiguous(500), Columns: cols(500,
			func(i int) float64 { return float64(1_000_000_000 + i*4096) })},
			codecs: []string{"decimal"}},
		{name: "trailing zeros", sp: Split{Granularity: sec, Slots: contiguous(5), Columns: [][]float64{
			{1000, 2500, 30000, 4500, -100}, {15, 25, 35, 45, 5}, {1e21, 2e22, 3e20, 4e21, 5e22}, {1200, 3400, 5600, 7800, 9000}}},
			codecs: []string{"decimal", "decimal", "decimal", "decimal"}},
		{name: "start off the grid", sp: Split{Start: 1_700_000_000_123_456_789, Granularity: 7, Slots: []uint32{0, 1}, Columns: [][]float64{{1, 2}}}},
		{name: "extreme start", sp: Split{Start: math.MinInt64, Granularity: math.MaxInt64, Slots: []uint32{0}, Columns: [][]float64{{1}}}},
	}
	var reused Split
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := roundTrip(t, &tt.sp, &reused)
			got, err := ColumnCodecs(b)
			if err != nil {
				t.Fatalf("ColumnCodecs: %v", err)
			}
			for j, want := range tt.codecs {
				if want != "" && got[j] != want {
					t.Errorf("column %d: codec %s, want %s (all: %v)", j, got[j], want, got)
				}
			}
		})
	}
}

// TestDuplicatesNearlyFree checks the point of the same and constant
// codecs: a W1 1 s split costs barely more than its one distinct column.
func TestDuplicatesNearlyFree(t *testing.T) {
	walk := cpuWalk(rand.New(rand.NewPCG(3, 4)), 3600)
	one := Split{Granularity: sec, Slots: contiguous(3600), Columns: [][]float64{walk}}
	six := Split{Granularity: sec, Slots: contiguous(3600), Columns: [][]float64{walk, walk, walk, walk, make([]float64, 3600), walk}}
	for i := range six.Columns[4] {
		six.Columns[4][i] = 1
	}
	b1, err := AppendEncode(nil, &one)
	if err != nil {
		t.Fatal(err)
	}
	b6, err := AppendEncode(nil, &six)
	if err != nil {
		t.Fatal(err)
	}
	if extra := len(b6) - len(b1); extra > 12 {
		t.Errorf("five more columns cost %d bytes, want at most 12", extra)
	}
	// A random walk of steps σ 200 (in hundredths) has an entropy of about
	// 9.7 bits a step; the Rice codes should stay within a bit of it.
	if bits := float64(len(b1)*8) / 3600; bits > 10.7 {
		t.Errorf("walk costs %.2f bits a value, want at most 10.7", bits)
	}
}

// TestW1Splits checks the codecs and sizes of the splits of the W1 workload.
func TestW1Splits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name     string
		perSlot  int
		g        int64
		codecs   []string
		maxBytes float64 // per point
	}{
		{"1s", 1, sec, []string{"decimal", "same", "same", "same", "const-decimal", "same"}, 0.25},
		{"60s", 60, 60 * sec, []string{"quotient", "decimal", "decimal", "decimal", "const-decimal", "decimal"}, 1.3},
		{"3600s", 3600, 3600 * sec, []string{"quotient", "decimal", "decimal", "decimal", "const-decimal", "decimal"}, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slots := min(3600, 3_600_000/tt.perSlot)
			sp := w1Split(rng, slots, tt.perSlot, tt.g)
			b := roundTrip(t, sp, nil)
			got, err := ColumnCodecs(b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.codecs) {
				t.Errorf("codecs %v, want %v", got, tt.codecs)
			}
			if bpp := float64(len(b)) / float64(slots*len(w1Methods)); bpp > tt.maxBytes {
				t.Errorf("%.3f bytes/point, want at most %.2f", bpp, tt.maxBytes)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		sp   Split
		want string
	}{
		{"zero granularity", Split{}, "granularity not positive"},
		{"negative granularity", Split{Granularity: -1}, "granularity not positive"},
		{"unsorted slots", Split{Granularity: sec, Slots: []uint32{2, 1}, Columns: [][]float64{{1, 2}}}, "slot 1 after slot 2"},
		{"duplicate slots", Split{Granularity: sec, Slots: []uint32{2, 2}}, "slot 2 after slot 2"},
		{"slot too large", Split{Granularity: sec, Slots: []uint32{MaxSlots}}, "over the limit"},
		{"short column", Split{Granularity: sec, Slots: []uint32{1, 2}, Columns: [][]float64{{1, 2}, {1}}}, "column 1 has 1 values for 2 slots"},
		{"too many columns", Split{Granularity: sec, Columns: make([][]float64, MaxColumns+1)}, "columns, over the limit"},
		{"too many values", Split{Granularity: sec, Slots: contiguous(MaxValues/8 + 1), Columns: make([][]float64, 8)}, "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendEncode(dst, &tt.sp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if string(got) != "keep" {
				t.Errorf("dst changed to %q", got)
			}
		})
	}
}

// validSplits returns encodings covering every codec, for the corruption
// tests and the fuzz seeds.
func validSplits(tb testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(11, 12))
	var out [][]byte
	add := func(sp *Split) {
		b, err := AppendEncode(nil, sp)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	add(&Split{Granularity: sec})
	add(w1Split(rng, 40, 1, sec))
	add(w1Split(rng, 17, 60, 60*sec))
	sp := w1Split(rng, 30, 5, 5*sec)
	sp.Slots = []uint32{0, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 1598, 1599, 1600, 1601, 1700, 1701, 1800, 1900, 2000, 2100, 2200, 3000, 3001, 3599}
	sp.Columns = append(sp.Columns, make([]float64, 30), make([]float64, 30), make([]float64, 30))
	for i := range 30 {
		sp.Columns[6][i] = math.Sin(float64(i))
		sp.Columns[7][i] = math.NaN()
		sp.Columns[8][i] = map[bool]float64{true: math.NaN(), false: math.Copysign(0, -1)}[i%4 == 1]
		if i%5 == 0 {
			sp.Columns[1][i] = math.NaN()
		}
	}
	add(sp)
	return out
}

func TestCorruptSplit(t *testing.T) {
	var sp Split
	for _, valid := range validSplits(t) {
		if err := Decode(valid, &sp); err != nil {
			t.Fatalf("valid split: %v", err)
		}
		body := valid[:len(valid)-4]
		// Every prefix fails, with its checksum and without: the parser
		// itself notices the missing bytes.
		for n := range len(valid) {
			if err := Decode(valid[:n], &sp); err == nil {
				t.Fatalf("prefix of %d of %d bytes decoded", n, len(valid))
			}
		}
		for n := range len(body) {
			if err := decodeSplit(body[:n], &sp, nil); err == nil {
				t.Fatalf("body prefix of %d of %d bytes decoded", n, len(body))
			}
		}
		if err := Decode(append(slices.Clone(body), 0, 0, 0, 0, 0), &sp); err == nil {
			t.Fatalf("split with a trailing byte decoded")
		}
		// The checksum catches every byte flip; the parser alone must at
		// least survive them.
		for i := range valid {
			for _, flip := range []byte{0x01, 0x80, 0xff, 0x5a} {
				bad := slices.Clone(valid)
				bad[i] ^= flip
				if err := Decode(bad, &sp); err == nil {
					t.Fatalf("flip %#02x at byte %d of %d decoded", flip, i, len(valid))
				}
				_ = decodeSplit(bad[:len(bad)-4], &sp, nil)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	withCRC := func(body ...byte) []byte { return appendChecksum(slices.Clone(body), 0) }
	tests := []struct {
		name string
		src  []byte
		want string
	}{
		{"nil", nil, "truncated"},
		{"bad checksum", []byte{1, 0, 1, 0, 0, 0, 1, 2, 3, 4}, "checksum"},
		{"unknown version", withCRC(9, 0), "unknown version 9"},
		{"raw window", withCRC(2, 0, 0), "a raw window, not a split"},
		{"reserved flags", withCRC(1, 0x80, 1, 0, 0, 0), "bad flags"},
		{"zero granularity", withCRC(1, 0, 0, 0, 0, 0), "granularity 0"},
		{"too many slots", withCRC(1, 0, 1, 0, 0x81, 0x80, 0x80, 0x01), "slots 2097153 over the limit"},
		{"slot past the limit", withCRC(1, 0, 1, 0, 2, 0xff, 0xff, 0x3f, 0), "gap of 0 after slot 1048575"},
		{"too many values", withCRC(append([]byte{1, 0, 1, 0, 0x80, 0x80, 0x40, 0, 0, 200, 1}, make([]byte, 200)...)...), "over the limit of 4194304 values"},
		{"more columns than bytes", withCRC(1, 0, 1, 0, 0, 100), "100 columns in 0 bytes"},
		{"same column first", withCRC(1, 0, 1, 0, 0, 1, codecSame, 0), "same column first"},
		{"self reference", withCRC(1, 0, 1, 0, 0, 2, codecAllNaN, codecSame, 1), "reference 1 over the limit of 0"},
		{"quotient of itself", withCRC(1, 0, 1, 0, 1, 0, 0, 2, codecConst, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, codecQuotient, 1, 0), "quotient of columns 1 and 0"},
		{"quotient of a quotient", withCRC(1, 0, 1, 0, 1, 0, 0, 3, codecConst, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, codecQuotient, 0, 0, codecQuotient, 0, 1), "itself derived"},
		{"NaN constant", withCRC(1, 0, 1, 0, 1, 0, 0, 1, codecConst, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f), "NaN outside the NaN mask"},
		{"NaN quotient", withCRC(1, 0, 1, 0, 1, 0, 0, 3, codecConstDecimal, 0, 0, codecConstDecimal, 0, 0, codecQuotient, 0, 1), "NaN outside the NaN mask"},
		{"mask without NaN", withCRC(1, 0, 1, 0, 2, 0, 0, 1, codecConstDecimal|tagMask, 2, 0, 2), "NaN mask keeps 2 of 2"},
		{"mask of NaN only", withCRC(1, 0, 1, 0, 2, 0, 0, 1, codecConstDecimal|tagMask, 0, 2, 0, 2), "NaN mask keeps 0 of 2"},
		{"empty run", withCRC(1, 0, 1, 0, 3, 0, 0, 1, codecConstDecimal|tagMask, 1, 0, 2, 0, 2), "run of 0"},
		{"mask on all-NaN", withCRC(1, 0, 1, 0, 2, 0, 0, 1, codecAllNaN|tagMask, 1, 1), "all-NaN column with a NaN mask"},
		{"codec on no slots", withCRC(1, 0, 1, 0, 0, 1, codecConstDecimal, 0, 2), "codec 3 for an empty column"},
		{"unknown codec", withCRC(1, 0, 1, 0, 1, 0, 0, 1, 9), "unknown codec 9"},
		{"reserved tag bits", withCRC(1, 0, 1, 0, 1, 0, 0, 1, 0x15), "bad tag"},
		{"exponent range", withCRC(1, 0, 1, 0, 1, 0, 0, 1, codecConstDecimal, 23, 2), "exponent 23 out of range"},
		{"order above count", withCRC(1, 0, 1, 0, 1, 0, 0, 1, codecDecimal, 0, 2, 2, 2, 0, 0), "order 2 for 1 values"},
		{"integer mode", withCRC(1, 0, 1, 0, 2, 0, 200), "bad integer sequence mode 200"},
		{"nonzero padding", withCRC(1, 0, 1, 0, 2, 0, 1, 0x01, 0), "nonzero bit padding"},
		{"small escape", withCRC(1, 0, 1, 0, 2, 0, 1, 0xff, 0xff, 0x00, 0x00, 0), "escape codes a small value"},
		{"trailing bytes", withCRC(1, 0, 1, 0, 0, 0, 0), "trailing bytes"},
		{"varint overflow", withCRC(1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), "varint overflows"},
		{"start overflow", withCRC(1, 1, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0), "start 4611686018427387904×2 overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp Split
			err := Decode(tt.src, &sp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "cannot decode split: ") {
				t.Errorf("error %q lacks its context", err)
			}
		})
	}
}

func TestDecodeReusesSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	big, err := AppendEncode(nil, w1Split(rng, 3600, 1, sec))
	if err != nil {
		t.Fatal(err)
	}
	var sp Split
	if err := Decode(big, &sp); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := Decode(big, &sp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode into a used split allocates %.0f times, want 0", allocs)
	}
	if raceEnabled {
		return // the race detector makes sync.Pool drop what it is given
	}
	buf := make([]byte, 0, 2*len(big))
	allocs = testing.AllocsPerRun(20, func() {
		if _, err := AppendEncode(buf[:0], &sp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendEncode into a large enough buffer allocates %.0f times, want 0", allocs)
	}
}

// w1Metric returns the splits the store keeps for one W1 metric: 1000
// points 1 s apart from the start of an hour, aggregated at 1 s, 60 s and
// 3600 s, and its raw points.
func w1Metric(rng *rand.Rand) ([]*Split, []int64, []float64) {
	raw := cpuWalk(rng, 1000)
	ts := regularTimes(1000, sec)
	for i := range ts {
		ts[i] = 1_699_999_200e9 + int64(i)*sec // 1_700_000_000 s rounded down to the hour
	}
	var splits []*Split
	for _, g := range []int64{sec, 60 * sec, 3600 * sec} {
		sp := &Split{Start: ts[0] / (g * 3600) * (g * 3600), Granularity: g, Columns: make([][]float64, len(w1Methods))}
		var b aggregate.Bucket
		for i := 0; i < len(ts); {
			bs := aggregate.Floor(ts[i], g)
			b.Reset()
			for ; i < len(ts) && ts[i] < bs+g; i++ {
				b.Values = append(b.Values, raw[i])
			}
			sp.Slots = append(sp.Slots, uint32((bs-sp.Start)/g))
			for k, m := range w1Methods {
				v, _ := b.Compute(m)
				sp.Columns[k] = append(sp.Columns[k], v)
			}
		}
		splits = append(splits, sp)
	}
	return splits, ts, raw
}

// TestW1Metric checks the encoded bytes per stored aggregated point of a
// whole W1 metric, raw window included: the store's budget is 1 byte on
// disk, keys and engine overhead included.
func TestW1Metric(t *testing.T) {
	splits, ts, vs := w1Metric(rand.New(rand.NewPCG(1, 2)))
	total, points := 0, 0
	for _, sp := range splits {
		b := roundTrip(t, sp, nil)
		total += len(b)
		points += len(sp.Slots) * len(sp.Columns)
		t.Logf("%4ds split: %d slots, %d bytes", sp.Granularity/sec, len(sp.Slots), len(b))
	}
	b := roundTripRaw(t, ts, vs)
	total += len(b)
	t.Logf("raw window: %d points, %d bytes", len(ts), len(b))
	bpp := float64(total) / float64(points)
	t.Logf("%d bytes for %d aggregated points: %.3f bytes/point", total, points, bpp)
	if points != 6108 {
		t.Errorf("%d aggregated points, want W1's 6108", points)
	}
	if bpp > 0.5 {
		t.Errorf("%.3f bytes/point, want at most 0.5", bpp)
	}
}

// TestRandomCorruption mangles valid encodings at random (flips, cuts,
// insertions, several at once): the checksum must catch every one, and the
// parser alone must survive them.
func TestRandomCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	var sp Split
	valids := append(validSplits(t), validRaws(t)...)
	for range 20000 {
		orig := valids[rng.IntN(len(valids))]
		bad := slices.Clone(orig)
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(bad))
			switch rng.IntN(4) {
			case 0:
				bad = slices.Insert(bad, i, byte(rng.Uint32()))
			case 1:
				if len(bad) > 1 {
					bad = slices.Delete(bad, i, i+1)
				}
			default:
				bad[i] ^= byte(1 + rng.IntN(255))
			}
		}
		if slices.Equal(bad, orig) {
			continue // the edits undid one another
		}
		if bad[0] == versionRaw {
			if _, _, err := DecodeRaw(bad, nil, nil); err == nil {
				t.Fatalf("corrupt raw window %x decoded", bad)
			}
			_, _, _ = decodeRaw(bad[:len(bad)-min(4, len(bad))], nil, nil)
			continue
		}
		if err := Decode(bad, &sp); err == nil {
			t.Fatalf("corrupt split %x decoded", bad)
		}
		_ = decodeSplit(bad[:len(bad)-min(4, len(bad))], &sp, nil)
	}
}
