//go:build libvirt

package libvirt

import (
	"errors"
	"fmt"
	"hash/maphash"

	lv "libvirt.org/go/libvirt"
)

// domain polls one domain of the bulk call: it refreshes the cached XML
// when due, reads what the bulk call left out, and emits. Only a lost
// connection is returned; everything else is tallied.
func (p *Pollster) domain(g *guard, rec record) error {
	ub, err := rec.uuid(&p.uuidBuf)
	if err != nil {
		p.tally.skipped[skipError]++
		p.tally.example("a domain without a UUID: %v", err)
		return nil
	}
	d := p.doms[string(ub)]
	if d == nil {
		uuid := string(ub)
		stagger := int(maphash.String(p.seed, uuid) % uint64(p.cfg.XMLRefresh))
		d = &domain{uuid: uuid, name: rec.name(), id: -1, mdState: -1, xmlAt: p.polls + 1 + stagger}
		p.doms[uuid] = d
	}
	d.seen = p.polls

	s := &p.stats
	s.reset()
	rec.parse(s, d, &p.vcpus)
	if !s.ok(vState) {
		h := p.handles[d.uuid]
		if h == nil {
			p.tally.skipped[skipError]++
			p.tally.example("domain %s: no state in the bulk call", d.uuid)
			return nil
		}
		p.m.fallbackCalls.Inc()
		st, _, err := h.GetState()
		if err != nil {
			return p.failed(d, gState, err)
		}
		s.set(vState, uint64(st))
	}
	state := int(s.v[vState])

	// The XML is read again when the domain restarted or started or
	// stopped (devices and tap names change), and now and then for
	// metadata changes.
	id := rec.id()
	stale := d.xml == nil || d.id != id || p.polls >= d.xmlAt || active(d.mdState) != active(state)
	d.id = id
	if stale {
		if err := p.readXML(d, rec); err != nil {
			var lvErr lv.Error
			if d.xml == nil || errors.As(err, &lvErr) {
				return p.failed(d, gXML, err)
			}
			// Unparsable now, but the XML read before still describes
			// the domain's devices well enough.
			p.tally.statErrs[gXML]++
			p.tally.example("domain %s: %v", d.uuid, err)
		}
	}
	if p.cfg.NovaOnly && d.xml.Nova == nil {
		p.tally.skipped[skipNotNova]++
		return nil
	}
	if d.mdState != state {
		d.build(p.cfg.Host, state)
	}
	if active(state) {
		if !stale && !d.knows(s) {
			// A device was plugged or unplugged since the XML was read.
			if err := p.readXML(d, rec); err != nil {
				return p.failed(d, gXML, err)
			}
			if d.mdState != state {
				d.build(p.cfg.Host, state)
			}
		}
		if p.groups != allGroups {
			h := p.handles[d.uuid]
			if h == nil {
				// Listed by the bulk call, gone when the handles were.
				p.tally.skipped[skipVanished]++
				return nil
			}
			if done, err := p.fallback(d, h, s); done {
				return err
			}
		}
		p.tally.polled++
	} else {
		p.tally.skipped[skipInactive]++
	}
	g.mu.Lock()
	if !g.abandoned {
		p.emit.domain(d, s)
	}
	g.mu.Unlock()
	return nil
}

// readXML reads the domain's XML and parses it when it changed.
func (p *Pollster) readXML(d *domain, rec record) error {
	p.m.xmlReads.Inc()
	x, err := rec.xml()
	if err != nil {
		return err
	}
	d.xmlAt = p.polls + p.cfg.XMLRefresh
	h := maphash.String(p.seed, x)
	if d.xml != nil && h == d.xmlHash {
		return nil
	}
	p.m.xmlParses.Inc()
	px, err := parseDomainXML(x)
	if err != nil {
		if d.xml != nil {
			d.xmlHash = h // keep the last good XML; do not parse this one again
		}
		return err
	}
	d.xml, d.xmlHash = px, h
	if px.Name != "" {
		d.name = px.Name // renamed while shut off
	}
	d.mdState = -1 // rebuild the resources from the new XML
	return nil
}

// failed sorts out a failed call for one domain. It returns errLost when
// the connection is gone, and nil after tallying the domain as vanished,
// stopped or in error.
func (p *Pollster) failed(d *domain, g group, err error) error {
	var e lv.Error
	errors.As(err, &e)
	switch {
	case e.Code == lv.ERR_NO_DOMAIN:
		p.tally.skipped[skipVanished]++
		p.tally.example("domain %s vanished: %s", d.uuid, e.Message)
	case e.Code == lv.ERR_OPERATION_INVALID:
		// "domain is not running": it stopped since the bulk call.
		p.tally.skipped[skipInactive]++
	case p.lost(err):
		return fmt.Errorf("%w: %w", errLost, err)
	default:
		p.tally.skipped[skipError]++
		p.tally.statErrs[g]++
		p.tally.example("domain %s %s: %v", d.uuid, groupNames[g], err)
	}
	return nil
}

// memoryTags maps virDomainMemoryStat tags to the values they fill.
var memoryTags = map[lv.DomainMemoryStatTags]int{
	lv.DOMAIN_MEMORY_STAT_SWAP_IN: vSwapIn, lv.DOMAIN_MEMORY_STAT_SWAP_OUT: vSwapOut,
	lv.DOMAIN_MEMORY_STAT_UNUSED: vUnused, lv.DOMAIN_MEMORY_STAT_AVAILABLE: vAvailable,
	lv.DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: vBalCurrent, lv.DOMAIN_MEMORY_STAT_RSS: vRSS,
	lv.DOMAIN_MEMORY_STAT_USABLE: vUsable,
}

// fallback reads, with per-domain calls, the groups the driver leaves out
// of the bulk call. A failed call loses its group's values only, unless
// the domain is gone or stopped (done, nil) or the connection is (done,
// errLost).
func (p *Pollster) fallback(d *domain, dom *lv.Domain, s *domStats) (done bool, err error) {
	missing := allGroups &^ p.groups
	if missing == 0 {
		return false, nil
	}
	// fail reports whether the domain's poll ends at this error.
	fail := func(g group, callErr error) bool {
		var e lv.Error
		errors.As(callErr, &e)
		if e.Code == lv.ERR_NO_DOMAIN || e.Code == lv.ERR_OPERATION_INVALID || p.lost(callErr) {
			err = p.failed(d, g, callErr)
			done = true
			return true
		}
		p.tally.statErrs[g]++
		p.tally.example("domain %s %s: %v", d.uuid, groupNames[g], callErr)
		return false
	}
	if missing&lv.DOMAIN_STATS_CPU_TOTAL != 0 {
		p.m.fallbackCalls.Inc()
		cs, cerr := dom.GetCPUStats(-1, 1, 0)
		switch {
		case cerr != nil:
			if fail(gCPU, cerr) {
				return
			}
		case len(cs) > 0 && cs[0].CpuTimeSet:
			s.set(vCPUTime, cs[0].CpuTime)
		}
	}
	if missing&(lv.DOMAIN_STATS_VCPU|lv.DOMAIN_STATS_BALLOON) != 0 {
		p.m.fallbackCalls.Inc()
		info, cerr := dom.GetInfo()
		switch {
		case cerr != nil:
			if fail(gVCPU, cerr) {
				return
			}
		default:
			if missing&lv.DOMAIN_STATS_VCPU != 0 {
				s.set(vVCPUs, uint64(info.NrVirtCpu))
			}
			if missing&lv.DOMAIN_STATS_BALLOON != 0 {
				s.set(vBalCurrent, info.Memory)
				s.set(vBalMaximum, info.MaxMem)
			}
		}
	}
	if missing&lv.DOMAIN_STATS_BALLOON != 0 {
		p.m.fallbackCalls.Inc()
		ms, cerr := dom.MemoryStats(uint32(lv.DOMAIN_MEMORY_STAT_NR), 0)
		if cerr != nil {
			if fail(gBalloon, cerr) {
				return
			}
		}
		for _, m := range ms {
			if i, ok := memoryTags[lv.DomainMemoryStatTags(m.Tag)]; ok {
				s.set(i, m.Val)
			}
		}
	}
	if missing&lv.DOMAIN_STATS_BLOCK != 0 {
		for i := range d.disks {
			dev := d.disks[i].dev
			p.m.fallbackCalls.Add(2)
			bs, cerr := dom.BlockStats(dev)
			if cerr != nil {
				if fail(gBlock, cerr) {
					return
				}
				continue
			}
			ds := s.disk(dev)
			for _, f := range [...]struct {
				ok bool
				v  int64
				i  int
			}{{bs.RdReqSet, bs.RdReq, dRdReqs}, {bs.RdBytesSet, bs.RdBytes, dRdBytes}, {bs.WrReqSet, bs.WrReq, dWrReqs},
				{bs.WrBytesSet, bs.WrBytes, dWrBytes}, {bs.RdTotalTimesSet, bs.RdTotalTimes, dRdTimes},
				{bs.WrTotalTimesSet, bs.WrTotalTimes, dWrTimes}} {
				if f.ok && f.v >= 0 {
					ds.set(f.i, uint64(f.v))
				}
			}
			bi, cerr := dom.GetBlockInfo(dev, 0)
			if cerr != nil {
				if fail(gBlock, cerr) {
					return
				}
				continue
			}
			ds.set(dCapacity, bi.Capacity)
			ds.set(dAllocation, bi.Allocation)
			ds.set(dPhysical, bi.Physical)
		}
	}
	if missing&lv.DOMAIN_STATS_INTERFACE != 0 {
		for i := range d.nics {
			dev := d.nics[i].dev
			p.m.fallbackCalls.Inc()
			is, cerr := dom.InterfaceStats(dev)
			if cerr != nil {
				if fail(gInterface, cerr) {
					return
				}
				continue
			}
			ns := s.nic(dev)
			for _, f := range [...]struct {
				ok bool
				v  int64
				i  int
			}{{is.RxBytesSet, is.RxBytes, nRxBytes}, {is.RxPacketsSet, is.RxPackets, nRxPkts},
				{is.RxErrsSet, is.RxErrs, nRxErrs}, {is.RxDropSet, is.RxDrop, nRxDrop},
				{is.TxBytesSet, is.TxBytes, nTxBytes}, {is.TxPacketsSet, is.TxPackets, nTxPkts},
				{is.TxErrsSet, is.TxErrs, nTxErrs}, {is.TxDropSet, is.TxDrop, nTxDrop}} {
				if f.ok && f.v >= 0 {
					ns.set(f.i, uint64(f.v))
				}
			}
		}
	}
	return false, nil
}
