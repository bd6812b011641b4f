package snmp

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func pdu(typ gosnmp.Asn1BER, v any) *gosnmp.SnmpPDU {
	return &gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.2021.4.5.0", Type: typ, Value: v}
}

func TestDecodeUint(t *testing.T) {
	for _, tc := range []struct {
		pdu    *gosnmp.SnmpPDU
		want   uint64
		absent bool
		bad    string // in the error
	}{
		{pdu: pdu(gosnmp.Integer, 24684092), want: 24684092},
		{pdu: pdu(gosnmp.Counter32, uint(4294967295)), want: 4294967295},
		{pdu: pdu(gosnmp.Gauge32, uint(7)), want: 7},
		{pdu: pdu(gosnmp.Counter64, uint64(math.MaxUint64)), want: math.MaxUint64},
		{pdu: pdu(gosnmp.Uinteger32, uint32(9)), want: 9},
		{pdu: pdu(gosnmp.NoSuchObject, nil), absent: true},
		{pdu: pdu(gosnmp.NoSuchInstance, nil), absent: true},
		{pdu: pdu(gosnmp.EndOfMibView, nil), absent: true},
		{pdu: pdu(gosnmp.Null, nil), absent: true},
		{pdu: pdu(gosnmp.OctetString, []byte("lots")), bad: "OctetString where a number"},
		{pdu: pdu(gosnmp.Integer, -5), bad: "negative"},
		{pdu: pdu(gosnmp.TimeTicks, uint32(5)), bad: "TimeTicks"},
		{pdu: pdu(gosnmp.IPAddress, "10.0.0.1"), bad: "IPAddress"},
		{pdu: pdu(gosnmp.ObjectIdentifier, ".1.3"), bad: "ObjectIdentifier"},
		{pdu: pdu(gosnmp.Counter32, "12"), bad: "where a number"}, // type and value disagree
		{pdu: pdu(gosnmp.Counter64, nil), bad: "where a number"},
	} {
		t.Run(fmt.Sprintf("%s %v", tc.pdu.Type, tc.pdu.Value), func(t *testing.T) {
			got, err := decodeUint(tc.pdu)
			switch {
			case tc.absent:
				if !errors.Is(err, errAbsent) {
					t.Errorf("got %v, %v; want absent", got, err)
				}
			case tc.bad != "":
				if err == nil || !strings.Contains(err.Error(), tc.bad) || !strings.Contains(err.Error(), tc.pdu.Name) || errors.Is(err, errAbsent) {
					t.Errorf("got %v, %v; want an error with %q and the OID", got, err, tc.bad)
				}
			case err != nil || got != tc.want:
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeDecimal(t *testing.T) {
	for _, tc := range []struct {
		pdu  *gosnmp.SnmpPDU
		want float64
		bad  bool
	}{
		{pdu: pdu(gosnmp.OctetString, []byte("2.80")), want: 2.8},
		{pdu: pdu(gosnmp.OctetString, []byte(" 0.00 ")), want: 0},
		{pdu: pdu(gosnmp.Integer, 3), want: 3},
		{pdu: pdu(gosnmp.OpaqueFloat, float32(1.5)), want: 1.5},
		{pdu: pdu(gosnmp.OpaqueDouble, 0.25), want: 0.25},
		{pdu: pdu(gosnmp.OctetString, []byte("high")), bad: true},
		{pdu: pdu(gosnmp.OctetString, []byte("")), bad: true},
		{pdu: pdu(gosnmp.OctetString, []byte("NaN")), bad: true},
		{pdu: pdu(gosnmp.OctetString, []byte("inf")), bad: true},
		{pdu: pdu(gosnmp.OctetString, []byte("-1")), bad: true},
		{pdu: pdu(gosnmp.OctetString, []byte(strings.Repeat("1", 40))), bad: true},
		{pdu: pdu(gosnmp.OctetString, "2.80"), bad: true}, // a string, not bytes
		{pdu: pdu(gosnmp.OpaqueDouble, math.Inf(1)), bad: true},
		{pdu: pdu(gosnmp.OpaqueFloat, 1.5), bad: true}, // float64 under a float type
		{pdu: pdu(gosnmp.IPAddress, "1.2.3.4"), bad: true},
	} {
		got, err := decodeDecimal(tc.pdu)
		if tc.bad {
			if err == nil {
				t.Errorf("%s %v: got %v, want an error", tc.pdu.Type, tc.pdu.Value, got)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("%s %v: got %v, %v; want %v", tc.pdu.Type, tc.pdu.Value, got, err, tc.want)
		}
	}
}

func TestDecodeStrings(t *testing.T) {
	s, err := decodeString(pdu(gosnmp.OctetString, []byte("eth0\x00\x00")))
	if err != nil || s != "eth0" {
		t.Errorf("NUL-padded: %q, %v", s, err)
	}
	s, err = decodeString(pdu(gosnmp.OctetString, []byte{0xff, 0xfe, 'a'}))
	if err != nil || s != "fffe61" {
		t.Errorf("binary: %q, %v", s, err)
	}
	s, err = decodeString(pdu(gosnmp.OctetString, []byte(strings.Repeat("é", 200))))
	if err != nil || len(s) > maxStringLen || !strings.HasPrefix(strings.Repeat("é", 200), s) {
		t.Errorf("long: %d bytes, %v", len(s), err)
	}
	if _, err := decodeString(pdu(gosnmp.Integer, 5)); err == nil {
		t.Error("an integer decoded as a string")
	}
	if _, err := decodeString(pdu(gosnmp.NoSuchInstance, nil)); !errors.Is(err, errAbsent) {
		t.Errorf("absent string: %v", err)
	}
	mac, err := decodeHex(pdu(gosnmp.OctetString, []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}))
	if err != nil || mac != "525400123456" {
		t.Errorf("mac %q, %v", mac, err)
	}
	oid, err := decodeOID(pdu(gosnmp.ObjectIdentifier, hrStorageFixedDisk))
	if err != nil || oid != hrStorageFixedDisk {
		t.Errorf("oid %q, %v", oid, err)
	}
	if _, err := decodeOID(pdu(gosnmp.OctetString, []byte(".1.3"))); err == nil {
		t.Error("a string decoded as an OID")
	}
}

func TestOIDCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{".1.3.6.1.2", ".1.3.6.1.10", -1},
		{".1.3.6.1.2.1", ".1.3.6.1.2", 1},
		{".1.3.6", "1.3.6", 0},
		{".1.3.6.1.4.1.2021.9.1.2.10", ".1.3.6.1.4.1.2021.9.1.2.9", 1},
		{".1.3.x", ".1.3.y", -1},
		{"", ".1", -1},
	} {
		if got := oidCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("oidCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := oidCompare(tc.b, tc.a); got != -tc.want {
			t.Errorf("oidCompare(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

// scripted answers GetBulk requests from a function of the OIDs asked,
// as an agent would, and counts them.
type scripted struct {
	answer   func(oids []string, maxRep uint32) *gosnmp.SnmpPacket
	requests int
}

func (s *scripted) GetBulk(oids []string, _ uint8, maxRep uint32) (*gosnmp.SnmpPacket, error) {
	s.requests++
	if s.requests > 1000 {
		return nil, fmt.Errorf("too many requests")
	}
	return s.answer(oids, maxRep), nil
}

// tableAgent serves a table of the given columns and rows in OID order,
// like a real agent, optionally truncating replies to at most limit
// variables.
func tableAgent(cols []string, rows int, limit int) *scripted {
	var all []string
	for _, c := range cols {
		for r := 1; r <= rows; r++ {
			all = append(all, fmt.Sprintf("%s.%d", c, r))
		}
	}
	all = append(all, ".1.3.6.1.9.9.9") // whatever follows the table
	nextAfter := func(oid string) gosnmp.SnmpPDU {
		for _, o := range all {
			if oidCompare(o, oid) > 0 {
				return gosnmp.SnmpPDU{Name: o, Type: gosnmp.Counter32, Value: uint(len(o))}
			}
		}
		return gosnmp.SnmpPDU{Name: oid, Type: gosnmp.EndOfMibView}
	}
	return &scripted{answer: func(oids []string, maxRep uint32) *gosnmp.SnmpPacket {
		pkt := &gosnmp.SnmpPacket{}
		cur := append([]string(nil), oids...)
		for r := 0; r < int(maxRep); r++ {
			for i := range cur {
				if limit > 0 && len(pkt.Variables) == limit {
					return pkt
				}
				v := nextAfter(cur[i])
				pkt.Variables = append(pkt.Variables, v)
				cur[i] = v.Name
			}
		}
		return pkt
	}}
}

func TestWalkColumns(t *testing.T) {
	cols := []string{".1.3.6.1.2.1.2.2.1.2", ".1.3.6.1.2.1.2.2.1.10", ".1.3.6.1.2.1.2.2.1.16"}
	for _, tc := range []struct {
		name   string
		rows   int
		maxRep uint32
		limit  int
	}{
		{"one request", 4, 20, 0},
		{"several requests", 25, 10, 0},
		{"replies cut mid-row", 7, 10, 5},
		{"replies of one variable", 3, 10, 1},
		{"empty table", 0, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tableAgent(cols, tc.rows, tc.limit)
			seen := map[string]int{}
			err := walkColumns(a, cols, tc.maxRep, 100, func(col int, index string, p *gosnmp.SnmpPDU) {
				if p.Name != cols[col]+"."+index {
					t.Errorf("column %d index %q got %s", col, index, p.Name)
				}
				seen[p.Name]++
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != len(cols)*tc.rows {
				t.Errorf("%d variables seen, want %d", len(seen), len(cols)*tc.rows)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%s seen %d times", k, n)
				}
			}
			t.Logf("%d requests", a.requests)
		})
	}
	// Side by side: 25 rows of 3 columns in 3 requests of 10 repetitions.
	a := tableAgent(cols, 25, 0)
	if err := walkColumns(a, cols, 10, 100, func(int, string, *gosnmp.SnmpPDU) {}); err != nil || a.requests != 3 {
		t.Errorf("%d requests, %v", a.requests, err)
	}
}

func TestWalkColumnsFaults(t *testing.T) {
	col := ".1.3.6.1.2.1.2.2.1.2"
	for _, tc := range []struct {
		name  string
		agent *scripted
		want  string
	}{
		{"loops", &scripted{answer: func([]string, uint32) *gosnmp.SnmpPacket {
			return &gosnmp.SnmpPacket{Variables: []gosnmp.SnmpPDU{{Name: col + ".1", Type: gosnmp.Integer, Value: 1}}}
		}}, "without progress"},
		{"goes back", &scripted{answer: func(oids []string, _ uint32) *gosnmp.SnmpPacket {
			return &gosnmp.SnmpPacket{Variables: []gosnmp.SnmpPDU{{Name: col + ".5", Type: gosnmp.Integer, Value: 1}, {Name: col + ".3", Type: gosnmp.Integer, Value: 1}}}
		}}, "without progress"},
		{"empty reply", &scripted{answer: func([]string, uint32) *gosnmp.SnmpPacket { return &gosnmp.SnmpPacket{} }}, "without progress"},
		{"agent error", &scripted{answer: func([]string, uint32) *gosnmp.SnmpPacket {
			return &gosnmp.SnmpPacket{Error: gosnmp.GenErr, ErrorIndex: 1}
		}}, "GenErr"},
		{"endless table", &scripted{answer: func(oids []string, _ uint32) *gosnmp.SnmpPacket {
			var n int
			fmt.Sscan(strings.TrimPrefix(strings.TrimPrefix(oids[0], col), "."), &n)
			return &gosnmp.SnmpPacket{Variables: []gosnmp.SnmpPDU{{Name: fmt.Sprintf("%s.%d", col, n+1), Type: gosnmp.Integer, Value: 1}}}
		}}, "more than 50 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := walkColumns(tc.agent, []string{col}, 10, 50, func(int, string, *gosnmp.SnmpPDU) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("walk: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestTablesFromPDUs feeds the interface and disk tables variables of the
// kinds agents send, garbage among them.
func TestTablesFromPDUs(t *testing.T) {
	var bad garbage
	ifs := newIfTable(&bad)
	add := func(col int, index string, typ gosnmp.Asn1BER, v any) {
		ifs.add(col, index, &gosnmp.SnmpPDU{Name: ifColumns[col] + "." + index, Type: typ, Value: v})
	}
	add(colIfDescr, "1", gosnmp.OctetString, []byte("lo"))
	add(colIfDescr, "2", gosnmp.OctetString, []byte("eth0"))
	add(colIfDescr, "3", gosnmp.OctetString, []byte("eth0")) // a second eth0: the first holds
	add(colIfSpeed, "2", gosnmp.Gauge32, uint(4294967295))
	add(colIfHighSpeed, "2", gosnmp.Gauge32, uint(10000))
	add(colIfPhysAddress, "2", gosnmp.OctetString, []byte{0x52, 0x54, 0, 1, 2, 3})
	add(colIfInOctets, "1", gosnmp.Counter32, uint(10))
	add(colIfInOctets, "2", gosnmp.Counter32, uint(20))
	add(colIfHCInOctets, "2", gosnmp.Counter64, uint64(1)<<40)
	add(colIfOutOctets, "2", gosnmp.OctetString, []byte("x")) // garbage
	add(colIfOutErrors, "2", gosnmp.Counter32, uint(3))
	add(colIfOutErrors, "x", gosnmp.Counter32, uint(3)) // garbage index
	ifs.add(colIPAdEntIfIdx, "192.0.2.2", &gosnmp.SnmpPDU{Name: ifColumns[colIPAdEntIfIdx] + ".192.0.2.2", Type: gosnmp.Integer, Value: 2})

	tg := &target{name: "h", nics: map[string]*device{}, disks: map[string]*device{}, polls: 1}
	got := map[string]float64{}
	var samples []string
	em := &emitter{}
	em.emit = func(s *pipeline.Sample) {
		samples = append(samples, s.ResourceID+" "+s.Name)
		got[s.ResourceID+" "+s.Name] = s.Volume
		if s.ResourceID == "h.eth0" {
			if md := s.Metadata; md["speed"] != uint64(10000*1_000_000/8) || md["mac"] != "525400010203" || md["ip"] != "192.0.2.2" {
				t.Errorf("eth0 metadata %v", md)
			}
		}
	}
	tg.emitInterfaces(ifs, em)
	want := map[string]float64{
		"h.lo hardware.network.incoming.bytes":    10,
		"h.eth0 hardware.network.incoming.bytes":  1 << 40, // the 64-bit counter
		"h.eth0 hardware.network.outgoing.errors": 3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(samples) != 3 {
		t.Errorf("samples %v", samples)
	}
	if bad.n != 2 {
		t.Errorf("%d garbage values, want 2: first %v", bad.n, bad.first)
	}

	bad = garbage{}
	disks := newDiskTable(&bad)
	dsk := func(col int, index string, typ gosnmp.Asn1BER, v any) {
		disks.addDsk(col, index, &gosnmp.SnmpPDU{Name: dskColumns[col] + "." + index, Type: typ, Value: v})
	}
	dsk(colDskPath, "1", gosnmp.OctetString, []byte("/"))
	dsk(colDskDevice, "1", gosnmp.OctetString, []byte("/dev/vda"))
	dsk(colDskTotal, "1", gosnmp.Integer, 2147483647) // saturated
	dsk(colDskUsed, "1", gosnmp.Integer, 100)
	dsk(colDskTotalLow, "1", gosnmp.Gauge32, uint(5))
	dsk(colDskTotalHigh, "1", gosnmp.Gauge32, uint(1))
	dsk(colDskUsedLow, "1", gosnmp.Gauge32, uint(100))
	dsk(colDskUsedHigh, "1", gosnmp.Gauge32, uint(0))
	dsk(colDskPath, "2", gosnmp.OctetString, []byte("/dev/shm"))
	dsk(colDskDevice, "2", gosnmp.OctetString, []byte("tmpfs"))
	dsk(colDskTotal, "2", gosnmp.Integer, 1000)
	dsk(colDskUsed, "2", gosnmp.Integer, 1)
	dsk(colDskPath, "3", gosnmp.OctetString, []byte("/run"))
	dsk(colDskDevice, "3", gosnmp.OctetString, []byte("tmpfs"))
	dsk(colDskTotal, "3", gosnmp.Integer, 2000)
	dsk(colDskUsed, "3", gosnmp.Integer, -2) // garbage
	dsk(colDskPath, "4", gosnmp.OctetString, []byte("/sys/fs/cgroup"))
	dsk(colDskDevice, "4", gosnmp.OctetString, []byte("tmpfs"))
	dsk(colDskTotal, "4", gosnmp.Integer, 3000)
	dsk(colDskUsed, "4", gosnmp.Integer, 0)
	clear(got)
	tg.emitDisks(disks, em)
	want = map[string]float64{
		"h._dev_vda hardware.disk.size.total":       1<<32 | 5,
		"h._dev_vda hardware.disk.size.used":        100,
		"h.tmpfs hardware.disk.size.total":          1000,
		"h._sys_fs_cgroup hardware.disk.size.total": 3000,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (got %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["h._run hardware.disk.size.total"]; ok || bad.n != 1 {
		t.Errorf("disk with garbage used reported; %d garbage values", bad.n)
	}

	// HOST-RESOURCES-MIB storage: only fixed disks, in allocation units.
	bad = garbage{}
	hr := newDiskTable(&bad)
	st := func(col int, index string, typ gosnmp.Asn1BER, v any) {
		hr.addHr(col, index, &gosnmp.SnmpPDU{Name: hrStorageColumns[col] + "." + index, Type: typ, Value: v})
	}
	st(colHrStorageType, "1", gosnmp.ObjectIdentifier, ".1.3.6.1.2.1.25.2.1.2") // RAM
	st(colHrStorageDescr, "1", gosnmp.OctetString, []byte("Physical memory"))
	st(colHrStorageUnits, "1", gosnmp.Integer, 1024)
	st(colHrStorageSize, "1", gosnmp.Integer, 100)
	st(colHrStorageUsed, "1", gosnmp.Integer, 50)
	st(colHrStorageType, "31", gosnmp.ObjectIdentifier, hrStorageFixedDisk)
	st(colHrStorageDescr, "31", gosnmp.OctetString, []byte("/"))
	st(colHrStorageUnits, "31", gosnmp.Integer, 4096)
	st(colHrStorageSize, "31", gosnmp.Integer, 1000)
	st(colHrStorageUsed, "31", gosnmp.Integer, 10)
	tg.polls++
	clear(got)
	tg.emitDisks(hr, em)
	if got["h._ hardware.disk.size.total"] != 4000 || got["h._ hardware.disk.size.used"] != 40 || len(got) != 2 {
		t.Errorf("storage table samples %v", got)
	}
}
