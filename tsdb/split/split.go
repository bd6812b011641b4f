package split

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"
)

// Split is the aggregated series of one metric at one granularity over a run
// of grid slots: one column per aggregation method of the archive policy,
// in the policy's order.
type Split struct {
	Start       int64 // Unix ns of slot 0
	Granularity int64 // ns, positive
	// Slots are the indices of the slots present, strictly ascending and
	// below MaxSlots; slot i starts at Start + i×Granularity.
	Slots []uint32
	// Columns holds one column per aggregation method, each with one value
	// per slot; NaN where the method has no value in that bucket.
	Columns [][]float64
}

// Limits of a split and a raw window, checked by the encoders and the
// decoders; they bound what a corrupt value can make a decoder allocate.
const (
	MaxSlots     = 1 << 20 // slots of a split, and bound of a slot index
	MaxColumns   = 256     // columns of a split
	MaxValues    = 1 << 22 // slots × columns of a split
	MaxRawPoints = 1 << 22 // points of a raw window
)

// Versions, the first byte of an encoding.
const (
	versionSplit = 1
	versionRaw   = 2
)

// Split header flags (FORMAT.md).
const (
	flagStartInGrid = 0x01
	flagExpShift    = 1
	flagExpMask     = 0x3e
	flagReserved    = 0xc0
)

// maxIntExp is the largest power of ten an int64 holds.
const maxIntExp = 18

var pow10i = [maxIntExp + 1]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendEncode appends the encoding of sp (FORMAT.md) to dst and returns the
// extended buffer. It checks sp against the limits and returns dst unchanged
// with an error when sp breaks them. Every value decodes to the same bits,
// except that every NaN decodes as math.NaN(). It does not allocate beyond
// growing dst and is safe for concurrent use.
func AppendEncode(dst []byte, sp *Split) ([]byte, error) {
	if err := sp.check(); err != nil {
		return dst, fmt.Errorf("cannot encode split at %d of granularity %d: %w", sp.Start, sp.Granularity, err)
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)

	start := len(dst)
	g := uint64(sp.Granularity)
	gexp := 0
	for gexp < maxIntExp && g%pow10i[gexp+1] == 0 {
		gexp++
	}
	flags := byte(gexp << flagExpShift)
	first := sp.Start
	if sp.Start%sp.Granularity == 0 {
		flags |= flagStartInGrid
		first = sp.Start / sp.Granularity
	}
	dst = append(dst, versionSplit, flags)
	dst = binary.AppendUvarint(dst, g/pow10i[gexp])
	dst = binary.AppendVarint(dst, first)

	n := len(sp.Slots)
	dst = binary.AppendUvarint(dst, uint64(n))
	if n > 0 {
		dst = binary.AppendUvarint(dst, uint64(sp.Slots[0]))
		e.ints = e.ints[:0]
		for i := 1; i < n; i++ {
			e.ints = append(e.ints, uint64(sp.Slots[i]-sp.Slots[i-1]-1))
		}
		dst = appendInts(dst, e.ints)
	}

	dst = binary.AppendUvarint(dst, uint64(len(sp.Columns)))
	e.plan(sp.Columns)
	for j := range sp.Columns {
		dst = e.appendColumn(dst, sp.Columns, j)
	}
	return appendChecksum(dst, start), nil
}

// appendChecksum appends the CRC32-C of dst[start:].
func appendChecksum(dst []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func (sp *Split) check() error {
	n := len(sp.Slots)
	switch {
	case sp.Granularity <= 0:
		return errors.New("granularity not positive")
	case n > MaxSlots:
		return fmt.Errorf("%d slots, over the limit of %d", n, MaxSlots)
	case len(sp.Columns) > MaxColumns:
		return fmt.Errorf("%d columns, over the limit of %d", len(sp.Columns), MaxColumns)
	case n*len(sp.Columns) > MaxValues:
		return fmt.Errorf("%d slots × %d columns, over the limit of %d values", n, len(sp.Columns), MaxValues)
	}
	for i, s := range sp.Slots {
		if s >= MaxSlots {
			return fmt.Errorf("slot %d over the limit of %d", s, MaxSlots)
		}
		if i > 0 && s <= sp.Slots[i-1] {
			return fmt.Errorf("slot %d after slot %d", s, sp.Slots[i-1])
		}
	}
	for j, col := range sp.Columns {
		if len(col) != n {
			return fmt.Errorf("column %d has %d values for %d slots", j, len(col), n)
		}
	}
	return nil
}

// Decode decodes src, an encoding made by AppendEncode, into sp. It reuses
// sp's slices, which must not share memory with one another or with src,
// replacing their contents, and does not keep src. It checks the checksum
// before it allocates anything. Corrupt input, truncated or not, gives an
// error and leaves sp in an unspecified state; it never makes Decode panic
// or allocate beyond the limits.
func Decode(src []byte, sp *Split) error {
	body, err := checksummed(src)
	if err == nil {
		err = decodeSplit(body, sp, nil)
	}
	if err != nil {
		return fmt.Errorf("cannot decode split: %d bytes: %w", len(src), err)
	}
	return nil
}

var codecNames = [...]string{
	codecAllNaN: "all-nan", codecSame: "same", codecQuotient: "quotient",
	codecConstDecimal: "const-decimal", codecConst: "const", codecDecimal: "decimal", codecXOR: "xor",
}

// ColumnCodecs decodes src like Decode and returns the codec of each column
// ("decimal", "same", "quotient", ...; "+mask" when it has a NaN mask), for
// diagnostics.
func ColumnCodecs(src []byte) ([]string, error) {
	var sp Split
	var tags []byte
	body, err := checksummed(src)
	if err == nil {
		err = decodeSplit(body, &sp, &tags)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot decode split: %d bytes: %w", len(src), err)
	}
	names := make([]string, len(tags))
	for j, tag := range tags {
		names[j] = codecNames[tag&tagCodec]
		if tag&tagMask != 0 {
			names[j] += "+mask"
		}
	}
	return names, nil
}

// checksummed returns the body of src, without its checksum, once the
// checksum is known good.
func checksummed(src []byte) ([]byte, error) {
	if len(src) < 5 {
		return nil, errTruncated
	}
	body := src[:len(src)-4]
	if want, got := binary.LittleEndian.Uint32(src[len(body):]), crc32.Checksum(body, castagnoli); want != got {
		return nil, fmt.Errorf("checksum %08x, want %08x", got, want)
	}
	return body, nil
}

// columnInfo remembers where a column of a split starts and its codec, for
// the columns that refer to others.
type columnInfo struct {
	off   int
	codec byte
}

// decodeSplit decodes the body of a split, without its checksum, and
// appends the tag of each column to tags when it is not nil.
func decodeSplit(src []byte, sp *Split, tags *[]byte) error {
	d := decoder{src: src}
	version, err := d.byte()
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	switch version {
	case versionSplit:
	case versionRaw:
		return errors.New("a raw window, not a split")
	default:
		return fmt.Errorf("unknown version %d", version)
	}
	flags, err := d.byte()
	if err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	gexp := int(flags&flagExpMask) >> flagExpShift
	if flags&flagReserved != 0 || gexp > maxIntExp {
		return fmt.Errorf("bad flags %#02x", flags)
	}
	gm, err := d.uvarint()
	if err != nil {
		return fmt.Errorf("granularity: %w", err)
	}
	hi, g := bits.Mul64(gm, pow10i[gexp])
	if hi != 0 || g == 0 || g > 1<<63-1 {
		return fmt.Errorf("granularity %d×10^%d out of range", gm, gexp)
	}
	sp.Granularity = int64(g)
	if sp.Start, err = d.varint(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if flags&flagStartInGrid != 0 {
		s := sp.Start * sp.Granularity
		if s/sp.Granularity != sp.Start {
			return fmt.Errorf("start %d×%d overflows", sp.Start, sp.Granularity)
		}
		sp.Start = s
	}

	n, err := d.count("slots", MaxSlots)
	if err != nil {
		return err
	}
	sp.Slots = slices.Grow(sp.Slots[:0], n)
	if n > 0 {
		first, err := d.count("first slot", MaxSlots-1)
		if err != nil {
			return err
		}
		r, err := d.ints()
		if err != nil {
			return fmt.Errorf("slot gaps: %w", err)
		}
		slot := uint64(first)
		sp.Slots = append(sp.Slots, uint32(slot))
		for i := 1; i < n; i++ {
			gap, err := r.next()
			if err != nil {
				return fmt.Errorf("slot gap %d: %w", i, err)
			}
			if gap >= MaxSlots || slot+gap+1 >= MaxSlots {
				return fmt.Errorf("slot %d: gap of %d after slot %d", i, gap, slot)
			}
			slot += gap + 1
			sp.Slots = append(sp.Slots, uint32(slot))
		}
		if err := d.endInts(&r); err != nil {
			return fmt.Errorf("slot gaps: %w", err)
		}
	}

	ncols, err := d.count("columns", MaxColumns)
	if err != nil {
		return err
	}
	if n*ncols > MaxValues {
		return fmt.Errorf("%d slots × %d columns, over the limit of %d values", n, ncols, MaxValues)
	}
	if ncols > len(src)-d.pos {
		return fmt.Errorf("%d columns in %d bytes", ncols, len(src)-d.pos)
	}
	cols := sp.Columns[:cap(sp.Columns)]
	for len(cols) < ncols {
		cols = append(cols, nil)
	}
	cols = cols[:ncols]
	for j := range cols {
		cols[j] = grow(cols[j], n)
	}
	sp.Columns = cols

	// Columns that refer to others come second, once what they refer to is
	// decoded: a quotient may divide columns that follow it.
	var info [MaxColumns]columnInfo
	for j, col := range cols {
		info[j].off = d.pos
		tag, err := d.byte()
		if err != nil {
			return fmt.Errorf("column %d: %w", j, err)
		}
		if tag&tagReserved != 0 {
			return fmt.Errorf("column %d: bad tag %#02x", j, tag)
		}
		codec := tag & tagCodec
		info[j].codec = codec
		if tags != nil {
			*tags = append(*tags, tag)
		}
		switch codec {
		case codecSame, codecQuotient:
			if err := d.derived(tag, j, n, nil, nil); err != nil {
				return fmt.Errorf("column %d: %w", j, err)
			}
		default:
			if err := d.baseColumn(tag, col); err != nil {
				return fmt.Errorf("column %d: %w", j, err)
			}
		}
	}
	end := d.pos
	for j := range cols {
		if c := info[j].codec; c != codecSame && c != codecQuotient {
			continue
		}
		d.pos = info[j].off + 1
		if err := d.derived(src[info[j].off], j, n, cols, info[:ncols]); err != nil {
			return fmt.Errorf("column %d: %w", j, err)
		}
	}
	if end != len(src) {
		return fmt.Errorf("%w: %d after the columns", errTrailer, len(src)-end)
	}
	return nil
}

// derived reads the payload of a same or quotient column j of n values.
// Without cols it only checks and skips it; with them it fills column j.
func (d *decoder) derived(tag byte, j, n int, cols [][]float64, info []columnInfo) error {
	if tag&tagCodec == codecSame {
		if tag&tagMask != 0 {
			return errors.New("same column with a NaN mask")
		}
		if j == 0 {
			return errors.New("same column first")
		}
		ref, err := d.count("reference", j-1)
		if err != nil {
			return err
		}
		if cols != nil {
			copy(cols[j], cols[ref])
		}
		return nil
	}
	var runs []byte
	if tag&tagMask != 0 {
		var err error
		if runs, _, err = d.mask(n); err != nil {
			return err
		}
	}
	num, err := d.count("numerator", MaxColumns-1)
	if err != nil {
		return err
	}
	den, err := d.count("denominator", MaxColumns-1)
	if err != nil {
		return err
	}
	if cols == nil {
		return nil
	}
	if num >= len(cols) || den >= len(cols) || num == j || den == j {
		return fmt.Errorf("quotient of columns %d and %d", num, den)
	}
	for _, k := range [2]int{num, den} {
		if c := info[k].codec; c == codecSame || c == codecQuotient {
			return fmt.Errorf("quotient of column %d, itself derived", k)
		}
	}
	q, a, b := cols[j], cols[num], cols[den]
	for i := range q {
		q[i] = a[i] / b[i]
	}
	if runs == nil {
		if hasNaN(q) {
			return errNaN
		}
	} else if applyMask(runs, q) {
		return errNaN
	}
	return nil
}
