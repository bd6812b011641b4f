package snmp

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// responsePacket encodes an agent's response holding pdus.
func responsePacket(t testing.TB, pdus []gosnmp.SnmpPDU) []byte {
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "c"}
	b, err := g.MkSnmpPacket(gosnmp.GetResponse, pdus, 0, 0).MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodePacket decodes a packet as gosnmp does a reply: its send path
// turns a panic of its decoder into an error, and so does this.
func decodePacket(b []byte) (pkt *gosnmp.SnmpPacket, err error) {
	defer func() {
		if recover() != nil {
			pkt, err = nil, errNoProgress
		}
	}()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "c"}
	return g.SnmpDecodePacket(b)
}

// FuzzResponse decodes arbitrary bytes as an agent's reply and takes its
// variables as the scalars, the interface table and the disk tables:
// whatever an agent sends, no panic, and every sample is valid, finite
// and not negative.
func FuzzResponse(f *testing.F) {
	seeds := [][]gosnmp.SnmpPDU{
		{
			{Name: oidLaLoad1, Type: gosnmp.OctetString, Value: []byte("2.80")},
			{Name: oidMemTotalReal, Type: gosnmp.Integer, Value: 24684092},
			{Name: oidMemAvailReal, Type: gosnmp.Integer, Value: 21114356},
			{Name: oidIPInReceives, Type: gosnmp.Counter32, Value: uint32(45874)},
			{Name: oidSsCPUIdle, Type: gosnmp.NoSuchInstance},
		},
		{
			{Name: ifColumns[colIfDescr] + ".1", Type: gosnmp.OctetString, Value: []byte("lo")},
			{Name: ifColumns[colIfSpeed] + ".1", Type: gosnmp.Gauge32, Value: uint32(10000000)},
			{Name: ifColumns[colIfPhysAddress] + ".1", Type: gosnmp.OctetString, Value: []byte{1, 2, 3, 4, 5, 6}},
			{Name: ifColumns[colIfInOctets] + ".1", Type: gosnmp.Counter32, Value: uint32(7)},
			{Name: ifColumns[colIfOutOctets] + ".1", Type: gosnmp.OctetString, Value: []byte("x")},
			{Name: ifColumns[colIfOutErrors] + ".1", Type: gosnmp.Integer, Value: -1},
			{Name: ifColumns[colIfHCInOctets] + ".1", Type: gosnmp.Counter64, Value: uint64(1 << 40)},
			{Name: ifColumns[colIfHCOutOctets] + ".1", Type: gosnmp.Counter64, Value: uint64(3)},
			{Name: ifColumns[colIfHighSpeed] + ".1", Type: gosnmp.Gauge32, Value: uint32(10)},
			{Name: ifColumns[colIPAdEntIfIdx] + ".127.0.0.1", Type: gosnmp.Integer, Value: 1},
		},
		{
			{Name: dskColumns[colDskPath] + ".1", Type: gosnmp.OctetString, Value: []byte("/")},
			{Name: dskColumns[colDskDevice] + ".1", Type: gosnmp.OctetString, Value: []byte("/dev/vda")},
			{Name: dskColumns[colDskTotal] + ".1", Type: gosnmp.Integer, Value: 264212084},
			{Name: dskColumns[colDskUsed] + ".1", Type: gosnmp.Integer, Value: 1000},
			{Name: hrStorageColumns[colHrStorageType] + ".1", Type: gosnmp.ObjectIdentifier, Value: hrStorageFixedDisk},
			{Name: hrStorageColumns[colHrStorageUnits] + ".1", Type: gosnmp.Integer, Value: 4096},
		},
	}
	for _, s := range seeds {
		f.Add(responsePacket(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkt, err := decodePacket(b)
		if err != nil || pkt == nil {
			return
		}
		tg := &target{name: "h", hostMD: map[string]any{"host_name": "h"}, nics: map[string]*device{}, disks: map[string]*device{}, polls: 1}
		e := &emitter{emit: func(s *pipeline.Sample) {
			if err := s.Validate(); err != nil {
				t.Errorf("invalid sample: %v", err)
			}
			if math.IsNaN(s.Volume) || math.IsInf(s.Volume, 0) || s.Volume < 0 {
				t.Errorf("%s %s = %v", s.ResourceID, s.Name, s.Volume)
			}
		}}
		e.s.Timestamp = time.Unix(1e9, 0)
		tg.emitHost(pkt.Variables, e)
		ifs, dsk, hr := newIfTable(&e.garbage), newDiskTable(&e.garbage), newDiskTable(&e.garbage)
		for i := range pkt.Variables {
			v := &pkt.Variables[i]
			for _, tbl := range []struct {
				cols []string
				add  func(int, string, *gosnmp.SnmpPDU)
			}{{ifColumns, ifs.add}, {dskColumns, dsk.addDsk}, {hrStorageColumns, hr.addHr}} {
				for c, col := range tbl.cols {
					if index, ok := strings.CutPrefix(v.Name, col+"."); ok && index != "" {
						tbl.add(c, index, v)
					}
				}
			}
		}
		tg.emitInterfaces(ifs, e)
		tg.emitDisks(dsk, e)
		tg.polls++
		tg.emitDisks(hr, e)
	})
}
