//go:build libvirt

package libvirt

import (
	"fmt"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// The counters of a disk and of an interface, indexing diskStats.v and
// nicStats.v; the meters below are in the same order.
const (
	dRdReqs = iota
	dRdBytes
	dWrReqs
	dWrBytes
	dRdTimes
	dWrTimes
	dCapacity
	dAllocation
	dPhysical
	nDiskValues
)

const (
	nRxBytes = iota
	nRxPkts
	nRxErrs
	nRxDrop
	nTxBytes
	nTxPkts
	nTxErrs
	nTxDrop
	nNICValues
)

// diskCounters are the cumulative disk meters by value index.
var diskCounters = [...]meter{
	dRdReqs: mDiskReadReqs, dRdBytes: mDiskReadBytes, dWrReqs: mDiskWriteReqs, dWrBytes: mDiskWriteBytes,
	dRdTimes: mDiskReadLat, dWrTimes: mDiskWriteLat,
}

// nicCounters are the interface meters by value index; all are cumulative.
var nicCounters = [nNICValues]meter{
	nRxBytes: mNetInBytes, nRxPkts: mNetInPackets, nRxErrs: mNetInErrors, nRxDrop: mNetInDrops,
	nTxBytes: mNetOutBytes, nTxPkts: mNetOutPackets, nTxErrs: mNetOutErrors, nTxDrop: mNetOutDrops,
}

// The values of a domain in domStats.v, whichever call they came from.
// Memory values are in KiB, times in ns.
const (
	vState = iota
	vCPUTime
	vVCPUTime // Σ vcpu.N.time + vcpu.N.wait, only when every vCPU has both
	vVCPUs
	vBalCurrent
	vBalMaximum
	vSwapIn
	vSwapOut
	vUnused
	vAvailable
	vUsable
	vRSS
	vCycles
	vInstructions
	vCacheRefs
	vCacheMisses
	vCmt
	vMbmt
	vMbml
	nDomValues
)

// domStats is one poll's readings of one domain. has holds a bit per value
// read; a value without its bit gives no sample. It is reused from domain
// to domain.
type domStats struct {
	has   uint32
	v     [nDomValues]uint64
	disks []diskStats
	nics  []nicStats
}

type diskStats struct {
	name string
	has  uint32
	v    [nDiskValues]uint64
}

type nicStats struct {
	name string
	has  uint32
	v    [nNICValues]uint64
}

func (s *domStats) reset() {
	s.has = 0
	s.disks = s.disks[:0]
	s.nics = s.nics[:0]
}

func (s *domStats) set(i int, v uint64) {
	s.v[i] = v
	s.has |= 1 << i
}

func (s *domStats) ok(i int) bool { return s.has&(1<<i) != 0 }

// disk appends a disk and returns it for filling.
func (s *domStats) disk(name string) *diskStats {
	s.disks = append(s.disks, diskStats{name: name})
	return &s.disks[len(s.disks)-1]
}

func (s *domStats) nic(name string) *nicStats {
	s.nics = append(s.nics, nicStats{name: name})
	return &s.nics[len(s.nics)-1]
}

func (d *diskStats) set(i int, v uint64) {
	d.v[i] = v
	d.has |= 1 << i
}

func (n *nicStats) set(i int, v uint64) {
	n.v[i] = v
	n.has |= 1 << i
}

// active reports whether a domain in this state has a running guest whose
// statistics can be read. Ceilometer skips shut-off domains; a crashed one
// has no process left either.
func active(state int) bool {
	return state != stateShutoff && state != stateCrashed
}

// tally counts what one cycle skipped, so that the cycle logs one line.
type tally struct {
	domains  int
	polled   int
	skipped  [nSkipReasons]int
	statErrs [nGroups]int
	resets   int
	examples []string
}

// maxExamples is how many problems a cycle's log line spells out.
const maxExamples = 3

func (t *tally) reset() {
	*t = tally{examples: t.examples[:0]}
}

func (t *tally) example(format string, args ...any) {
	if len(t.examples) < maxExamples {
		t.examples = append(t.examples, fmt.Sprintf(format, args...))
	}
}

// emitter turns domStats into samples in one reused Sample.
type emitter struct {
	s    pipeline.Sample
	emit func(*pipeline.Sample)
	t    *tally
	m    *pollMetrics
}

func (e *emitter) start(now time.Time, emit func(*pipeline.Sample), t *tally, m *pollMetrics) {
	e.s = pipeline.Sample{Timestamp: now, Source: SampleSource}
	e.emit, e.t, e.m = emit, t, m
}

func (e *emitter) resource(id, typ string, md map[string]any, d *domain) {
	e.s.ResourceID, e.s.ResourceType, e.s.Metadata = id, typ, md
	e.s.UserID, e.s.ProjectID = d.userID, d.projectID
}

func (e *emitter) add(m meter, v float64) {
	e.s.Name, e.s.Unit, e.s.Type, e.s.Volume = m.name, m.unit, m.typ, v
	e.emit(&e.s)
}

// counter emits a cumulative value and remembers it, counting a reset
// when it went down (the domain restarted). The value is emitted as it is,
// as Ceilometer does: the store's rate aggregates see the drop, and the
// count tells the operator why.
func (e *emitter) counter(m meter, cur uint64, scale float64, prev *uint64, prevHas *uint32, bit int) {
	if *prevHas&(1<<bit) != 0 && cur < *prev {
		e.t.resets++
		e.m.resets.Inc()
	}
	*prev = cur
	*prevHas |= 1 << bit
	e.add(m, float64(cur)*scale)
}

const perMiB = 1.0 / 1024 // KiB to MB, as Ceilometer divides by units.Ki

// domain emits the samples of one domain from its readings. An inactive
// domain gives its power state and its flavor's disk sizes only.
func (e *emitter) domain(d *domain, s *domStats) {
	e.resource(d.uuid, typeInstance, d.md, d)
	if s.ok(vState) {
		e.add(mPowerState, float64(s.v[vState]))
	}
	if n := d.xml.Nova; n != nil {
		e.add(mRootSize, float64(n.Flavor.Disk))
		e.add(mEphemeral, float64(n.Flavor.Ephemeral))
	}
	if s.ok(vState) && !active(int(s.v[vState])) {
		return
	}
	switch {
	case s.ok(vVCPUTime):
		e.counter(mCPU, s.v[vVCPUTime], 1, &d.prev[vCPUTime], &d.prevHas, vCPUTime)
	case s.ok(vCPUTime):
		e.counter(mCPU, s.v[vCPUTime], 1, &d.prev[vCPUTime], &d.prevHas, vCPUTime)
	}
	if s.ok(vVCPUs) {
		e.add(mVCPUs, float64(s.v[vVCPUs]))
	}
	if s.ok(vBalCurrent) {
		e.add(mMemory, float64(s.v[vBalCurrent])*perMiB)
	}
	switch avail := s.v[vAvailable]; {
	case s.ok(vAvailable) && s.ok(vUsable):
		e.add(mMemUsage, (float64(avail)-float64(s.v[vUsable]))*perMiB)
	case s.ok(vAvailable) && s.ok(vUnused):
		e.add(mMemUsage, (float64(avail)-float64(s.v[vUnused]))*perMiB)
	}
	if s.ok(vRSS) {
		e.add(mMemResident, float64(s.v[vRSS])*perMiB)
	}
	if s.ok(vSwapIn) && s.ok(vSwapOut) {
		e.counter(mSwapIn, s.v[vSwapIn], perMiB, &d.prev[vSwapIn], &d.prevHas, vSwapIn)
		e.counter(mSwapOut, s.v[vSwapOut], perMiB, &d.prev[vSwapOut], &d.prevHas, vSwapOut)
	}
	for _, g := range [...]struct {
		v int
		m meter
	}{{vCycles, mCycles}, {vInstructions, mInstructions}, {vCacheRefs, mCacheRefs}, {vCacheMisses, mCacheMisses},
		{vCmt, mL3Cache}, {vMbmt, mMemBWTotal}, {vMbml, mMemBWLocal}} {
		if s.ok(g.v) {
			e.add(g.m, float64(s.v[g.v]))
		}
	}
	for i := range s.disks {
		ds := &s.disks[i]
		r := d.findDisk(ds.name, i)
		if r == nil {
			continue // a disk without a source (an empty cdrom)
		}
		e.resource(r.id, typeDisk, r.md, d)
		for v := range diskCounters {
			if ds.has&(1<<v) != 0 {
				e.counter(diskCounters[v], ds.v[v], 1, &r.prev[v], &r.prevHas, v)
			}
		}
		capOK, physOK := ds.has&(1<<dCapacity) != 0, ds.has&(1<<dPhysical) != 0
		if capOK || physOK {
			// Ceilometer's capacity is the larger of the two: a raw file
			// on a block device reports its size as physical.
			c := ds.v[dCapacity]
			if physOK && (!capOK || ds.v[dPhysical] > c) {
				c = ds.v[dPhysical]
			}
			e.add(mDiskCapacity, float64(c))
		}
		if ds.has&(1<<dAllocation) != 0 {
			e.add(mDiskAllocation, float64(ds.v[dAllocation]))
		}
		if physOK {
			e.add(mDiskUsage, float64(ds.v[dPhysical]))
		}
	}
	for i := range s.nics {
		ns := &s.nics[i]
		r := d.findNIC(ns.name, i)
		if r == nil {
			continue
		}
		e.resource(r.id, typeNIC, r.md, d)
		for v := range nicCounters {
			if ns.has&(1<<v) != 0 {
				e.counter(nicCounters[v], ns.v[v], 1, &r.prev[v], &r.prevHas, v)
			}
		}
	}
}

// findDisk returns the disk resource of a target dev; hint is where it
// usually is, as the stats list disks in the XML's order.
func (d *domain) findDisk(dev string, hint int) *diskRes {
	if hint < len(d.disks) && d.disks[hint].dev == dev {
		return &d.disks[hint]
	}
	for i := range d.disks {
		if d.disks[i].dev == dev {
			return &d.disks[i]
		}
	}
	return nil
}

func (d *domain) findNIC(dev string, hint int) *nicRes {
	if hint < len(d.nics) && d.nics[hint].dev == dev {
		return &d.nics[hint]
	}
	for i := range d.nics {
		if d.nics[i].dev == dev {
			return &d.nics[i]
		}
	}
	return nil
}

// knows reports whether the domain's XML lists every device the stats
// name; when it does not, the devices changed and the XML is stale.
func (d *domain) knows(s *domStats) bool {
	for i := range s.disks {
		if !d.xmlHasDisk(s.disks[i].name) {
			return false
		}
	}
	for i := range s.nics {
		if !d.xmlHasNIC(s.nics[i].name) {
			return false
		}
	}
	return true
}

func (d *domain) xmlHasDisk(dev string) bool {
	for i := range d.xml.Disks {
		if d.xml.Disks[i].Dev == dev {
			return true
		}
	}
	return d.xml.Truncated
}

func (d *domain) xmlHasNIC(dev string) bool {
	for i := range d.xml.NICs {
		if d.xml.NICs[i].Dev == dev {
			return true
		}
	}
	return d.xml.Truncated
}
