//go:build libvirt

package libvirt

// The bulk call and the reading of its records go straight to libvirt's C
// API: the Go binding unpacks every record with a cgo call and a scan of
// all parameters per field it knows (some 140 per domain), which costs more
// than the call itself. One pass over the parameters here reads what the
// meters need without allocating.

/*
#cgo pkg-config: libvirt
#include <stdlib.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

// Each wrapper copies libvirt's error in the same C call, on the thread
// that set it.
static int vigil_all_stats(virConnectPtr conn, unsigned int stats, unsigned int flags,
                           virDomainStatsRecordPtr **recs, virErrorPtr err) {
	int n = virConnectGetAllDomainStats(conn, stats, recs, flags);
	if (n < 0)
		virCopyLastError(err);
	return n;
}

static int vigil_uuid(virDomainPtr dom, char *buf, virErrorPtr err) {
	int r = virDomainGetUUIDString(dom, buf);
	if (r < 0)
		virCopyLastError(err);
	return r;
}

static char *vigil_xml(virDomainPtr dom, virErrorPtr err) {
	char *x = virDomainGetXMLDesc(dom, 0);
	if (x == NULL)
		virCopyLastError(err);
	return x;
}

static virDomainStatsRecordPtr vigil_record(virDomainStatsRecordPtr *recs, int i) {
	return recs[i];
}
*/
import "C"

import (
	"bytes"
	"math"
	"unsafe"

	lv "libvirt.org/go/libvirt"
)

// cError turns a copied libvirt error into the binding's Error, so that
// one classification serves both.
func cError(e *C.virError) error {
	err := lv.Error{
		Code:    lv.ErrorNumber(e.code),
		Domain:  lv.ErrorDomain(e.domain),
		Message: C.GoString(e.message),
		Level:   lv.ErrorLevel(e.level),
	}
	C.virResetError(e)
	if err.Code == 0 {
		err.Code, err.Message = lv.ERR_INTERNAL_ERROR, "libvirt call failed without an error"
	}
	return err
}

// rawConn takes a reference to the connection for the C calls; closeRaw
// drops it.
func rawConn(c *lv.Connect) (unsafe.Pointer, error) {
	ptr, err := c.RawPtr()
	return unsafe.Pointer(ptr), err
}

func closeRaw(raw unsafe.Pointer) {
	C.virConnectClose(C.virConnectPtr(raw))
}

// records is one bulk call's result. The records and everything read from
// them in place live until free.
type records struct {
	list *C.virDomainStatsRecordPtr
	n    int
}

func allStats(raw unsafe.Pointer, groups lv.DomainStatsTypes, flags lv.ConnectGetAllDomainStatsFlags) (records, error) {
	var (
		e    C.virError
		list *C.virDomainStatsRecordPtr
	)
	n := C.vigil_all_stats(C.virConnectPtr(raw), C.uint(groups), C.uint(flags), &list, &e)
	if n < 0 {
		return records{}, cError(&e)
	}
	return records{list: list, n: int(n)}, nil
}

func (r *records) free() {
	if r.list != nil {
		C.virDomainStatsRecordListFree(r.list)
		r.list, r.n = nil, 0
	}
}

// record is one domain's record of a bulk call.
type record struct{ p C.virDomainStatsRecordPtr }

func (r *records) at(i int) record { return record{C.vigil_record(r.list, C.int(i))} }

// uuidBufLen sizes the buffer of record.uuid.
const uuidBufLen = C.VIR_UUID_STRING_BUFLEN

// uuid writes the domain's UUID into buf, a local call.
func (r record) uuid(buf *[uuidBufLen]byte) ([]byte, error) {
	var e C.virError
	if C.vigil_uuid(r.p.dom, (*C.char)(unsafe.Pointer(&buf[0])), &e) < 0 {
		return nil, cError(&e)
	}
	n := bytes.IndexByte(buf[:], 0)
	if n < 0 {
		n = len(buf)
	}
	return buf[:n], nil
}

// name is the domain's name, a local call.
func (r record) name() string { return C.GoString(C.virDomainGetName(r.p.dom)) }

// id is the domain's id, -1 while it is inactive; a local call.
func (r record) id() int64 {
	id := C.virDomainGetID(r.p.dom)
	if id == math.MaxUint32 {
		return -1
	}
	return int64(id)
}

// xml reads the domain's XML description.
func (r record) xml() (string, error) {
	var e C.virError
	x := C.vigil_xml(r.p.dom, &e)
	if x == nil {
		return "", cError(&e)
	}
	defer C.free(unsafe.Pointer(x))
	return C.GoString(x), nil
}

// vcpuAcc gathers one vCPU's parameters.
type vcpuAcc struct {
	has        uint8 // 1 time, 2 wait
	time, wait uint64
}

// maxVCPUs bounds the vCPU indexes read (libvirt's own limit is lower).
const maxVCPUs = 16384

// parse reads the record's parameters into s in one pass. Device names
// are taken from d's XML when it has them, so that a known device costs no
// allocation; vcpus is scratch space the caller keeps between records.
func (r record) parse(s *domStats, d *domain, vcpus *[]vcpuAcc) {
	params := unsafe.Slice(r.p.params, int(r.p.nparams))
	*vcpus = (*vcpus)[:0]
	var current uint64
	haveCurrent := false
	for i := range params {
		tp := &params[i]
		name := fieldName(tp)
		switch {
		case string(name) == "state.state":
			if v, ok := paramUint(tp); ok {
				s.set(vState, v)
			}
		case string(name) == "cpu.time":
			if v, ok := paramUint(tp); ok {
				s.set(vCPUTime, v)
			}
		case bytes.HasPrefix(name, []byte("balloon.")):
			if f := balloonField(name[len("balloon."):]); f >= 0 {
				if v, ok := paramUint(tp); ok {
					s.set(f, v)
				}
			}
		case bytes.HasPrefix(name, []byte("perf.")):
			if f := perfField(name[len("perf."):]); f >= 0 {
				if v, ok := paramUint(tp); ok {
					s.set(f, v)
				}
			}
		case bytes.HasPrefix(name, []byte("vcpu.")):
			rest := name[len("vcpu."):]
			if string(rest) == "current" {
				current, haveCurrent = paramUint(tp)
				continue
			}
			idx, field, ok := indexed(rest, maxVCPUs)
			if !ok {
				continue
			}
			for len(*vcpus) <= idx {
				*vcpus = append(*vcpus, vcpuAcc{})
			}
			v, ok := paramUint(tp)
			if !ok {
				continue
			}
			switch string(field) {
			case "time":
				(*vcpus)[idx].time = v
				(*vcpus)[idx].has |= 1
			case "wait":
				(*vcpus)[idx].wait = v
				(*vcpus)[idx].has |= 2
			}
		case bytes.HasPrefix(name, []byte("block.")):
			idx, field, ok := indexed(name[len("block."):], maxDevices)
			if !ok {
				continue
			}
			for len(s.disks) <= idx {
				s.disks = append(s.disks, diskStats{})
			}
			ds := &s.disks[idx]
			if string(field) == "name" {
				ds.name = d.diskName(paramString(tp))
				continue
			}
			if f := blockField(field); f >= 0 {
				if v, ok := paramUint(tp); ok {
					ds.set(f, v)
				}
			}
		case bytes.HasPrefix(name, []byte("net.")):
			idx, field, ok := indexed(name[len("net."):], maxDevices)
			if !ok {
				continue
			}
			for len(s.nics) <= idx {
				s.nics = append(s.nics, nicStats{})
			}
			ns := &s.nics[idx]
			if string(field) == "name" {
				ns.name = d.nicName(paramString(tp))
				continue
			}
			if f := netField(field); f >= 0 {
				if v, ok := paramUint(tp); ok {
					ns.set(f, v)
				}
			}
		}
	}
	// Unnamed slots (a parameter without its device's name) say nothing.
	s.disks = dropUnnamed(s.disks, func(d *diskStats) bool { return d.name == "" })
	s.nics = dropUnnamed(s.nics, func(n *nicStats) bool { return n.name == "" })
	if haveCurrent {
		s.set(vVCPUs, current)
		// Ceilometer's cpu is Σ time + wait over the vCPUs when every
		// online vCPU (offline ones leave holes) has both, else cpu.time.
		var complete, sum uint64
		for _, v := range *vcpus {
			if v.has == 3 {
				complete++
				sum += v.time + v.wait
			}
		}
		if current > 0 && complete == current {
			s.set(vVCPUTime, sum)
		}
	}
}

func dropUnnamed[T any](xs []T, unnamed func(*T) bool) []T {
	out := xs[:0]
	for i := range xs {
		if !unnamed(&xs[i]) {
			out = append(out, xs[i])
		}
	}
	return out
}

// fieldName is a parameter's name, in place.
func fieldName(tp *C.virTypedParameter) []byte {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&tp.field[0])), len(tp.field))
	if n := bytes.IndexByte(b, 0); n >= 0 {
		return b[:n]
	}
	return b
}

// paramUint reads a non-negative integer parameter of any integer type.
func paramUint(tp *C.virTypedParameter) (uint64, bool) {
	v := unsafe.Pointer(&tp.value[0])
	switch tp._type {
	case C.VIR_TYPED_PARAM_UINT:
		return uint64(*(*C.uint)(v)), true
	case C.VIR_TYPED_PARAM_ULLONG:
		return uint64(*(*C.ulonglong)(v)), true
	case C.VIR_TYPED_PARAM_INT:
		if i := *(*C.int)(v); i >= 0 {
			return uint64(i), true
		}
	case C.VIR_TYPED_PARAM_LLONG:
		if i := *(*C.longlong)(v); i >= 0 {
			return uint64(i), true
		}
	}
	return 0, false
}

// paramString is a string parameter's value, in place (nil for another
// type).
func paramString(tp *C.virTypedParameter) []byte {
	if tp._type != C.VIR_TYPED_PARAM_STRING {
		return nil
	}
	s := *(**C.char)(unsafe.Pointer(&tp.value[0]))
	if s == nil {
		return nil
	}
	n := C.strlen(s)
	if n > maxText {
		n = maxText
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(s)), int(n))
}

// indexed splits "N.field" with N < limit.
func indexed(b []byte, limit int) (idx int, field []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		idx = idx*10 + int(b[i]-'0')
		if idx >= limit {
			return 0, nil, false
		}
	}
	if i == 0 || i == len(b) || b[i] != '.' {
		return 0, nil, false
	}
	return idx, b[i+1:], true
}

func balloonField(f []byte) int {
	switch string(f) {
	case "current":
		return vBalCurrent
	case "maximum":
		return vBalMaximum
	case "swap_in":
		return vSwapIn
	case "swap_out":
		return vSwapOut
	case "unused":
		return vUnused
	case "available":
		return vAvailable
	case "usable":
		return vUsable
	case "rss":
		return vRSS
	}
	return -1
}

func perfField(f []byte) int {
	switch string(f) {
	case "cpu_cycles":
		return vCycles
	case "instructions":
		return vInstructions
	case "cache_references":
		return vCacheRefs
	case "cache_misses":
		return vCacheMisses
	case "cmt":
		return vCmt
	case "mbmt":
		return vMbmt
	case "mbml":
		return vMbml
	}
	return -1
}

func blockField(f []byte) int {
	switch string(f) {
	case "rd.reqs":
		return dRdReqs
	case "rd.bytes":
		return dRdBytes
	case "wr.reqs":
		return dWrReqs
	case "wr.bytes":
		return dWrBytes
	case "rd.times":
		return dRdTimes
	case "wr.times":
		return dWrTimes
	case "capacity":
		return dCapacity
	case "allocation":
		return dAllocation
	case "physical":
		return dPhysical
	}
	return -1
}

func netField(f []byte) int {
	switch string(f) {
	case "rx.bytes":
		return nRxBytes
	case "rx.pkts":
		return nRxPkts
	case "rx.errs":
		return nRxErrs
	case "rx.drop":
		return nRxDrop
	case "tx.bytes":
		return nTxBytes
	case "tx.pkts":
		return nTxPkts
	case "tx.errs":
		return nTxErrs
	case "tx.drop":
		return nTxDrop
	}
	return -1
}

// diskName returns the name of a disk as the cached XML spells it, or a
// copy when the XML does not know it (it is stale).
func (d *domain) diskName(b []byte) string {
	if d.xml != nil {
		for i := range d.xml.Disks {
			if d.xml.Disks[i].Dev == string(b) {
				return d.xml.Disks[i].Dev
			}
		}
	}
	return string(b)
}

func (d *domain) nicName(b []byte) string {
	if d.xml != nil {
		for i := range d.xml.NICs {
			if d.xml.NICs[i].Dev == string(b) {
				return d.xml.NICs[i].Dev
			}
		}
	}
	return string(b)
}
