package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gosnmp/gosnmp"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Pollster polls SNMP agents; it implements poll.Pollster and
// poll.MeterLister. Each target is a host resource (id: the target's
// name), with its disks (host_disk, "<host>.<device>") and network
// interfaces (host_network_interface, "<host>.<ifDescr>"), '/' replaced
// by '_' as Ceilometer's Gnocchi publisher did.
type Pollster struct {
	log         *slog.Logger
	targets     []*target
	concurrency int
}

// target is one agent and what the pollster keeps of it between polls.
type target struct {
	name      string
	timeout   time.Duration
	maxRows   int
	log       *slog.Logger
	newClient func() *gosnmp.GoSNMP // a fresh, unconnected client
	skipped   *metrics.Counter
	failed    *metrics.Counter

	mu     sync.Mutex // guards everything below: one poll of a target at a time
	g      *gosnmp.GoSNMP
	hostMD map[string]any
	nics   map[string]*device // by resource id
	disks  map[string]*device // by resource id
	polls  int
}

// device is a disk's or interface's resource; md is replaced, never
// changed, once emitted.
type device struct {
	id   string
	key  string // the attributes md was built from
	md   map[string]any
	seen int
}

// New checks every target's configuration. It sends nothing: an agent that
// is down now may answer later, and its polls fail until then.
func New(cfg Config, log *slog.Logger) (*Pollster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("no SNMP targets")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxRepetitions == 0 {
		cfg.MaxRepetitions = DefaultMaxRepetitions
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = DefaultMaxRows
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	p := &Pollster{log: log, concurrency: cfg.Concurrency}
	names := make(map[string]bool)
	for i := range cfg.Targets {
		spec := cfg.Targets[i]
		_, name, err := spec.client(&cfg)
		if err != nil {
			return nil, fmt.Errorf("agents.snmp.targets[%d]: %w", i, err)
		}
		if names[name] {
			return nil, fmt.Errorf("agents.snmp.targets[%d]: host %q named twice", i, name)
		}
		names[name] = true
		l := fmt.Sprintf(`{target=%q}`, name)
		p.targets = append(p.targets, &target{
			name: name, timeout: cfg.Timeout, maxRows: cfg.MaxRows,
			newClient: func() *gosnmp.GoSNMP {
				g, _, _ := spec.client(&cfg) // checked above
				return g
			},
			log:     log.With("target", name),
			skipped: cfg.Metrics.GetOrCreateCounter("vigil_agent_snmp_values_skipped_total" + l),
			failed:  cfg.Metrics.GetOrCreateCounter("vigil_agent_snmp_target_errors_total" + l),
			hostMD:  map[string]any{"host_name": name},
			nics:    make(map[string]*device),
			disks:   make(map[string]*device),
		})
	}
	return p, nil
}

// Name returns "snmp".
func (p *Pollster) Name() string { return "snmp" }

// Meters lists the meters Poll can produce.
func (p *Pollster) Meters() []string {
	names := make([]string, len(allMeters))
	for i, m := range allMeters {
		names[i] = m.name
	}
	return names
}

// Close closes the agents' sockets. Poll must not be called after.
func (p *Pollster) Close() error {
	for _, t := range p.targets {
		t.mu.Lock()
		t.reset()
		t.mu.Unlock()
	}
	return nil
}

// Poll polls every target, at most Config.Concurrency at once, each within
// Config.Timeout, and emits their samples with timestamp now. A target
// that does not answer fails alone: the error names it, and the others'
// samples are emitted. A value of the wrong type is skipped, counted and
// logged once per target and poll; a value the agent does not have is
// left out.
func (p *Pollster) Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	errs := make([]error, len(p.targets))
	sem := make(chan struct{}, p.concurrency)
	var wg sync.WaitGroup
	for i, t := range p.targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = fmt.Errorf("SNMP target %s not polled: %w", t.name, ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = t.poll(ctx, now, emit)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// reset drops the client, so that the next poll starts from a fresh
// socket and, for v3, a fresh engine discovery (the agent may have
// restarted with new engine boots).
func (t *target) reset() {
	if t.g != nil && t.g.Conn != nil {
		t.g.Conn.Close()
	}
	t.g = nil
}

func (t *target) poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) (err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if err != nil {
			t.failed.Inc()
			t.reset()
			err = fmt.Errorf("SNMP target %s: %w", t.name, err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if t.g == nil {
		g := t.newClient()
		if err := g.Connect(); err != nil {
			return fmt.Errorf("cannot connect: %w", err)
		}
		t.g = g
	}
	t.g.Context = ctx
	t.polls++
	e := &emitter{emit: emit}
	e.s = pipeline.Sample{Timestamp: now, Source: SampleSource}
	defer e.report(t)

	pkt, err := t.g.Get(scalarOIDs)
	if err != nil {
		return fmt.Errorf("cannot get scalars: %w", err)
	}
	if pkt.Error != gosnmp.NoError {
		return fmt.Errorf("cannot get scalars: agent error %s at variable %d", pkt.Error, pkt.ErrorIndex)
	}
	t.emitHost(pkt.Variables, e)

	ifs := newIfTable(&e.garbage)
	if err := walkColumns(t.g, ifColumns, t.g.MaxRepetitions, t.maxRows, ifs.add); err != nil {
		return err
	}
	t.emitInterfaces(ifs, e)

	disks := newDiskTable(&e.garbage)
	if err := walkColumns(t.g, dskColumns, t.g.MaxRepetitions, t.maxRows, disks.addDsk); err != nil {
		return err
	}
	if len(disks.rows) == 0 {
		// The agent lists no UCD disks: read the mounted filesystems
		// from HOST-RESOURCES-MIB instead.
		if err := walkColumns(t.g, hrStorageColumns, t.g.MaxRepetitions, t.maxRows, disks.addHr); err != nil {
			return err
		}
	}
	t.emitDisks(disks, e)
	forget(t.nics, t.polls)
	forget(t.disks, t.polls)
	return nil
}

// forget drops the devices a poll did not list, so that devices that come
// and go do not accumulate.
func forget(m map[string]*device, polls int) {
	for id, d := range m {
		if d.seen < polls-1 {
			delete(m, id)
		}
	}
}

// garbage counts the values of one poll that could not be decoded.
type garbage struct {
	n     int
	first error
}

// skip notes a value that could not be decoded; absent values are not
// garbage.
func (g *garbage) skip(err error) {
	if errors.Is(err, errAbsent) {
		return
	}
	g.n++
	if g.first == nil {
		g.first = err
	}
}

// emitter fills the reused sample for one resource at a time and keeps
// count of the garbage values it skipped.
type emitter struct {
	garbage
	s    pipeline.Sample
	emit func(*pipeline.Sample)
}

func (e *emitter) resource(id, typ string, md map[string]any) {
	e.s.ResourceID, e.s.ResourceType, e.s.Metadata = id, typ, md
}

func (e *emitter) add(m meter, v float64) {
	e.s.Name, e.s.Unit, e.s.Type, e.s.Volume = m.name, m.unit, m.typ, v
	e.emit(&e.s)
}

func (e *emitter) report(t *target) {
	if e.n > 0 {
		t.skipped.Add(e.n)
		t.log.Warn("SNMP values of the wrong type skipped", "count", e.n, "first", e.first.Error())
	}
}

// emitHost emits the host's meters from the scalars' reply.
func (t *target) emitHost(vars []gosnmp.SnmpPDU, e *emitter) {
	byOID := make(map[string]*gosnmp.SnmpPDU, len(vars))
	for i := range vars {
		byOID[vars[i].Name] = &vars[i]
	}
	num := func(oid string) (uint64, bool) {
		pdu, ok := byOID[oid]
		if !ok {
			return 0, false
		}
		v, err := decodeUint(pdu)
		if err != nil {
			e.skip(err)
			return 0, false
		}
		return v, true
	}
	e.resource(t.name, typeHost, t.hostMD)
	for _, l := range []struct {
		oid string
		m   meter
	}{{oidLaLoad1, mLoad1}, {oidLaLoad5, mLoad5}, {oidLaLoad15, mLoad15}} {
		if pdu, ok := byOID[l.oid]; ok {
			if v, err := decodeDecimal(pdu); err != nil {
				e.skip(err)
			} else {
				e.add(l.m, v)
			}
		}
	}
	total, haveTotal := num(oidMemTotalReal)
	if !haveTotal {
		total, haveTotal = num(oidHrMemorySize)
	}
	if haveTotal {
		e.add(mMemTotal, float64(total))
	}
	if avail, ok := num(oidMemAvailReal); ok {
		e.add(mMemAvail, float64(avail))
		if haveTotal {
			// Ceilometer's hardware.memory.used: total less available.
			e.add(mMemUsed, float64(total-min(avail, total)))
		}
	}
	for _, s := range []struct {
		oid string
		m   meter
	}{
		{oidMemBuffer, mMemBuffer}, {oidMemCached, mMemCached},
		{oidMemTotalSwap, mSwapTotal}, {oidMemAvailSwap, mSwapAvail},
		{oidSsIORawReceived, mSysIOIn}, {oidSsIORawSent, mSysIOOut},
		{oidIPInReceives, mIPInDgrams}, {oidIPOutRequests, mIPOutDgrams},
	} {
		if v, ok := num(s.oid); ok {
			e.add(s.m, float64(v))
		}
	}
	// ssCpuIdle is a percentage over the agent's last minute.
	if v, ok := num(oidSsCPUIdle); ok {
		if v > 100 {
			e.skip(fmt.Errorf("OID %s: idle %d%% out of range", oidSsCPUIdle, v))
		} else {
			e.add(mSysCPUIdle, float64(v))
		}
	}
}

// ifRow is one interface's columns.
type ifRow struct {
	descr, mac                  string
	speed, highSpeed            uint64
	in32, out32, hcIn, hcOut    uint64
	outErrors                   uint64
	hasSpeed, hasHighSpeed      bool
	hasIn32, hasOut32           bool
	hasHCIn, hasHCOut, hasOutEr bool
}

// ifTable gathers the interface columns of a walk.
type ifTable struct {
	rows  map[string]*ifRow // by ifIndex
	order []string          // ifIndex in the order the agent listed them
	ips   map[uint64]string // first IPv4 address by ifIndex
	bad   *garbage
}

func newIfTable(bad *garbage) *ifTable {
	return &ifTable{rows: make(map[string]*ifRow), ips: make(map[uint64]string), bad: bad}
}

func (t *ifTable) row(index string) *ifRow {
	r := t.rows[index]
	if r == nil {
		r = &ifRow{}
		t.rows[index] = r
		t.order = append(t.order, index)
	}
	return r
}

// add takes one variable of the interface walk; its shape suits
// walkColumns.
func (t *ifTable) add(col int, index string, pdu *gosnmp.SnmpPDU) {
	if col == colIPAdEntIfIdx {
		// The row index is the address; the value the interface.
		ifIndex, err := decodeUint(pdu)
		if err != nil {
			t.bad.skip(err)
			return
		}
		if _, ok := t.ips[ifIndex]; !ok {
			t.ips[ifIndex] = clip(index)
		}
		return
	}
	if _, err := strconv.ParseUint(index, 10, 32); err != nil {
		t.bad.skip(fmt.Errorf("OID %s: interface index %q is not a number", pdu.Name, index))
		return
	}
	r := t.row(index)
	var err error
	switch col {
	case colIfDescr:
		r.descr, err = decodeString(pdu)
	case colIfPhysAddress:
		r.mac, err = decodeHex(pdu)
	case colIfSpeed:
		r.speed, err = decodeUint(pdu)
		r.hasSpeed = err == nil
	case colIfHighSpeed:
		r.highSpeed, err = decodeUint(pdu)
		r.hasHighSpeed = err == nil
	case colIfInOctets:
		r.in32, err = decodeUint(pdu)
		r.hasIn32 = err == nil
	case colIfOutOctets:
		r.out32, err = decodeUint(pdu)
		r.hasOut32 = err == nil
	case colIfHCInOctets:
		r.hcIn, err = decodeUint(pdu)
		r.hasHCIn = err == nil
	case colIfHCOutOctets:
		r.hcOut, err = decodeUint(pdu)
		r.hasHCOut = err == nil
	case colIfOutErrors:
		r.outErrors, err = decodeUint(pdu)
		r.hasOutEr = err == nil
	}
	if err != nil {
		t.bad.skip(err)
	}
}

// emitInterfaces emits each named interface's meters, preferring the
// 64-bit octet counters, which do not wrap every few seconds on fast
// links.
func (t *target) emitInterfaces(ifs *ifTable, e *emitter) {
	for _, index := range ifs.order {
		r := ifs.rows[index]
		if r.descr == "" {
			continue
		}
		n, _ := strconv.ParseUint(index, 10, 32)
		speed, hasSpeed := r.speed, r.hasSpeed
		if r.hasHighSpeed && (!hasSpeed || r.speed == 1<<32-1) {
			// ifSpeed saturates at 4.29 Gb/s; ifHighSpeed is in Mb/s.
			speed, hasSpeed = r.highSpeed*1_000_000, true
		}
		key := r.descr + "\x00" + r.mac + "\x00" + strconv.FormatUint(speed, 10) + "\x00" + ifs.ips[n]
		d, fresh := t.device(t.nics, r.descr, key, func() map[string]any {
			md := map[string]any{"host_name": t.name, "device_name": r.descr, "name": r.descr}
			if r.mac != "" {
				md["mac"] = r.mac
			}
			if hasSpeed {
				md["speed"] = speed / 8 // bytes/s, as Ceilometer reported it
			}
			if ip := ifs.ips[n]; ip != "" {
				md["ip"] = ip
			}
			return md
		})
		if !fresh {
			continue // a second interface of the same name: the first holds
		}
		e.resource(d.id, typeInterface, d.md)
		switch {
		case r.hasHCIn:
			e.add(mNetInBytes, float64(r.hcIn))
		case r.hasIn32:
			e.add(mNetInBytes, float64(r.in32))
		}
		switch {
		case r.hasHCOut:
			e.add(mNetOutBytes, float64(r.hcOut))
		case r.hasOut32:
			e.add(mNetOutBytes, float64(r.out32))
		}
		if r.hasOutEr {
			e.add(mNetOutErrors, float64(r.outErrors))
		}
	}
}

// diskRow is one filesystem, from the UCD disk table or the
// HOST-RESOURCES storage table.
type diskRow struct {
	path, device                     string
	total, used                      uint64 // KB
	totalLow, totalHigh              uint64
	usedLow, usedHigh                uint64
	hasTotal, hasUsed                bool
	hasTotalLH, hasUsedLH            uint8 // bit 1: low, bit 2: high
	hrType                           string
	hrUnits, hrSize, hrUsed          uint64
	hasHrUnits, hasHrSize, hasHrUsed bool
}

// diskTable gathers the disk columns of a walk.
type diskTable struct {
	rows  map[string]*diskRow
	order []string
	bad   *garbage
}

func newDiskTable(bad *garbage) *diskTable {
	return &diskTable{rows: make(map[string]*diskRow), bad: bad}
}

func (t *diskTable) row(index string) *diskRow {
	r := t.rows[index]
	if r == nil {
		r = &diskRow{}
		t.rows[index] = r
		t.order = append(t.order, index)
	}
	return r
}

// addDsk takes one variable of the UCD disk walk.
func (t *diskTable) addDsk(col int, index string, pdu *gosnmp.SnmpPDU) {
	r := t.row(index)
	var err error
	var v uint64
	switch col {
	case colDskPath:
		r.path, err = decodeString(pdu)
	case colDskDevice:
		r.device, err = decodeString(pdu)
	case colDskTotal:
		r.total, err = decodeUint(pdu)
		r.hasTotal = err == nil
	case colDskUsed:
		r.used, err = decodeUint(pdu)
		r.hasUsed = err == nil
	case colDskTotalLow, colDskTotalHigh, colDskUsedLow, colDskUsedHigh:
		if v, err = decodeUint(pdu); err == nil && v > 1<<32-1 {
			err = fmt.Errorf("OID %s: %d does not fit a 32-bit half", pdu.Name, v)
		}
		if err != nil {
			break
		}
		switch col {
		case colDskTotalLow:
			r.totalLow, r.hasTotalLH = v, r.hasTotalLH|1
		case colDskTotalHigh:
			r.totalHigh, r.hasTotalLH = v, r.hasTotalLH|2
		case colDskUsedLow:
			r.usedLow, r.hasUsedLH = v, r.hasUsedLH|1
		case colDskUsedHigh:
			r.usedHigh, r.hasUsedLH = v, r.hasUsedLH|2
		}
	}
	if err != nil {
		t.bad.skip(err)
	}
}

// addHr takes one variable of the HOST-RESOURCES storage walk.
func (t *diskTable) addHr(col int, index string, pdu *gosnmp.SnmpPDU) {
	r := t.row(index)
	var err error
	switch col {
	case colHrStorageType:
		r.hrType, err = decodeOID(pdu)
	case colHrStorageDescr:
		r.path, err = decodeString(pdu)
	case colHrStorageUnits:
		r.hrUnits, err = decodeUint(pdu)
		r.hasHrUnits = err == nil
	case colHrStorageSize:
		r.hrSize, err = decodeUint(pdu)
		r.hasHrSize = err == nil
	case colHrStorageUsed:
		r.hrUsed, err = decodeUint(pdu)
		r.hasHrUsed = err == nil
	}
	if err != nil {
		t.bad.skip(err)
	}
}

// kb returns a row's size and use in KB, from the full 64-bit UCD values
// where the agent has them, else from the saturating 32-bit ones, else
// from HOST-RESOURCES-MIB's allocation units.
func (r *diskRow) kb() (total, used uint64, ok bool) {
	switch {
	case r.hasTotalLH == 3 && r.hasUsedLH == 3:
		return r.totalHigh<<32 | r.totalLow, r.usedHigh<<32 | r.usedLow, true
	case r.hasTotal && r.hasUsed:
		return r.total, r.used, true
	case r.hrType != "":
		if r.hrType != hrStorageFixedDisk || !r.hasHrUnits || !r.hasHrSize || !r.hasHrUsed || r.hrUnits == 0 {
			return 0, 0, false
		}
		// Units are bytes per allocation unit; keep the product in range.
		units := min(r.hrUnits, 1<<31)
		size, use := min(r.hrSize, 1<<32), min(r.hrUsed, 1<<32)
		return size * units / 1024, use * units / 1024, true
	}
	return 0, 0, false
}

func (t *target) emitDisks(disks *diskTable, e *emitter) {
	for _, index := range disks.order {
		r := disks.rows[index]
		total, used, ok := r.kb()
		if !ok {
			continue
		}
		// Ceilometer named a disk by its device; the storage table knows
		// only the mount point, and a device of several mounts (tmpfs)
		// is named by the mount point after its first.
		name := r.device
		if name == "" || t.listed(t.disks, name) {
			name = r.path
		}
		if name == "" {
			continue
		}
		key := r.path + "\x00" + r.device
		d, fresh := t.device(t.disks, name, key, func() map[string]any {
			md := map[string]any{"host_name": t.name, "device_name": name}
			if r.device != "" {
				md["device"] = r.device
			}
			if r.path != "" {
				md["path"] = r.path
			}
			return md
		})
		if !fresh {
			continue // a mount point listed twice
		}
		e.resource(d.id, typeDisk, d.md)
		e.add(mDiskTotal, float64(total))
		e.add(mDiskUsed, float64(used))
	}
}

// listed reports whether the device of that name was listed in this poll.
func (t *target) listed(m map[string]*device, name string) bool {
	d := m[t.name+"."+strings.ReplaceAll(name, "/", "_")]
	return d != nil && d.seen == t.polls
}

// device returns the resource of a disk or interface, rebuilding its
// metadata when the attributes it came from changed. fresh is false when
// the resource was already listed in this poll.
func (t *target) device(m map[string]*device, name, key string, metadata func() map[string]any) (d *device, fresh bool) {
	id := t.name + "." + strings.ReplaceAll(name, "/", "_")
	d = m[id]
	if d == nil {
		d = &device{id: id}
		m[id] = d
	}
	if d.seen == t.polls {
		return d, false
	}
	if d.md == nil || d.key != key {
		d.md, d.key = metadata(), key
	}
	d.seen = t.polls
	return d, true
}
