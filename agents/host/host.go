package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Config says where the pollster reads the machine.
type Config struct {
	// ProcFS is the procfs mount (default "/proc"); a container reading
	// its host uses the host's, bind-mounted.
	ProcFS string
	// SysFS is the sysfs mount (default "/sys").
	SysFS string
	// Hostname is the host resource's id and host_name (default: the
	// machine's hostname).
	Hostname string
}

// The procfs files, relative to ProcFS.
const (
	fileStat      = "stat"
	fileLoadavg   = "loadavg"
	fileMeminfo   = "meminfo"
	fileVmstat    = "vmstat"
	fileNetSNMP   = "net/snmp"
	fileNetDev    = "net/dev"
	fileDiskstats = "diskstats"
	fileMounts    = "mounts"
)

// required files fail New when unreadable; the others only turn their
// meters off.
var optionalFiles = []string{fileLoadavg, fileVmstat, fileNetSNMP, fileNetDev, fileDiskstats, fileMounts}

// nicRefreshPolls is how often (in polls) an interface's sysfs attributes
// (MAC address, speed) are read again.
const nicRefreshPolls = 30

// maxCPUs bounds the CPU list read from sysfs.
const maxCPUs = 8192

// Pollster reads the local host; it implements poll.Pollster. Its
// resources are the host (id = hostname), its filesystems (host_disk, id
// "<host>.<device>") and block devices (host_disk, "<host>.<name>"), and its
// network interfaces (host_network_interface, "<host>.<name>"): the ids
// Ceilometer's hardware pollsters gave them, with '/' replaced by '_' as its
// Gnocchi publisher did.
type Pollster struct {
	cfg    Config
	log    *slog.Logger
	host   string
	hostMD map[string]any
	off    map[string]bool // optional files unreadable at start

	mu        sync.Mutex // guards everything below; Poll may run concurrently
	buf       []byte
	prevCPU   cpuTimes
	havePrev  bool
	polls     int
	perf      *perfCounters
	disks     map[string]*resource // by resource id
	nics      map[string]*resource // by resource id
	netDevs   []netDev
	diskStats []diskStat
	mounts    []mount
	mountsRaw []byte // the /proc/mounts content mounts was parsed from
	seenDev   map[string]bool
	sample    pipeline.Sample
}

// resource is a per-device resource's id and its metadata, which is
// replaced, never changed, once emitted.
type resource struct {
	id      string
	md      map[string]any
	refresh int // poll at which to re-read the attributes
	seen    int // last poll that listed it
}

// New checks that the host can be read and opens the performance counters
// where the kernel allows them. Files other than stat and meminfo may be
// missing (some containers hide them): their meters are then off, which
// New logs once.
func New(cfg Config, log *slog.Logger) (*Pollster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ProcFS == "" {
		cfg.ProcFS = "/proc"
	}
	if cfg.SysFS == "" {
		cfg.SysFS = "/sys"
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cannot name the host resource: %w", err)
		}
		cfg.Hostname = h
	}
	p := &Pollster{
		cfg:     cfg,
		log:     log,
		host:    cfg.Hostname,
		hostMD:  map[string]any{"host_name": cfg.Hostname},
		off:     make(map[string]bool),
		disks:   make(map[string]*resource),
		nics:    make(map[string]*resource),
		seenDev: make(map[string]bool),
	}
	var err error
	for _, f := range []string{fileStat, fileMeminfo} {
		if p.buf, err = p.read(f); err != nil {
			return nil, fmt.Errorf("cannot read the host: %w", err)
		}
	}
	for _, f := range optionalFiles {
		if p.buf, err = p.read(f); err != nil {
			p.off[f] = true
			log.Info("host file unreadable; its meters are off", "file", f, "err", err)
		}
	}
	p.perf, err = p.openPerf()
	if err != nil {
		log.Info("hardware performance counters unavailable; perf.* meters are off", "err", err)
	} else {
		runtime.AddCleanup(p, func(c *perfCounters) { c.close() }, p.perf)
	}
	return p, nil
}

func (p *Pollster) openPerf() (*perfCounters, error) {
	data, err := os.ReadFile(filepath.Join(p.cfg.SysFS, "devices/system/cpu/online"))
	if err != nil {
		return nil, fmt.Errorf("cannot list online CPUs: %w", err)
	}
	cpus, err := parseCPUList(data, maxCPUs)
	if err != nil {
		return nil, err
	}
	return openPerf(cpus)
}

// Name returns "host".
func (p *Pollster) Name() string { return "host" }

// Meters lists the meters Poll can produce.
func (p *Pollster) Meters() []string {
	names := make([]string, len(allMeters))
	for i, m := range allMeters {
		names[i] = m.name
	}
	return names
}

// Close releases the performance counters. Poll must not be called after.
func (p *Pollster) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perf != nil {
		p.perf.close()
		p.perf = nil
	}
	return nil
}

// Poll reads the host once and emits its samples with timestamp now. The
// CPU percentages are computed over the time since the previous poll, so
// the first poll has none. A file that cannot be read or parsed is
// reported in the error; the others' samples are still emitted.
func (p *Pollster) Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	p.sample = pipeline.Sample{Timestamp: now, Source: SampleSource}
	e := emitter{s: &p.sample, emit: emit}
	var errs []error
	steps := []func(*emitter) error{p.pollCPU, p.pollLoad, p.pollMemory, p.pollVM, p.pollIP, p.pollNetDev, p.pollDiskstats, p.pollFilesystems, p.pollPerf}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := step(&e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// emitter fills the reused sample for one resource at a time.
type emitter struct {
	s    *pipeline.Sample
	emit func(*pipeline.Sample)
}

func (e *emitter) resource(id, typ string, md map[string]any) {
	e.s.ResourceID, e.s.ResourceType, e.s.Metadata = id, typ, md
}

func (e *emitter) add(m meter, v float64) {
	e.s.Name, e.s.Unit, e.s.Type, e.s.Volume = m.name, m.unit, m.typ, v
	e.emit(e.s)
}

// read returns the content of a procfs file in p.buf, which it reuses.
func (p *Pollster) read(name string) ([]byte, error) {
	path := filepath.Join(p.cfg.ProcFS, name)
	f, err := os.Open(path)
	if err != nil {
		return p.buf[:0], err
	}
	defer f.Close()
	buf := p.buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("cannot read %s: %w", path, err)
		}
		if len(buf) > 64<<20 {
			return buf, fmt.Errorf("cannot read %s: larger than 64 MiB", path)
		}
	}
}

// load reads and remembers a file, or reports that it is off.
func (p *Pollster) load(name string) (data []byte, ok bool, err error) {
	if p.off[name] {
		return nil, false, nil
	}
	p.buf, err = p.read(name)
	if err != nil {
		return nil, false, err
	}
	return p.buf, true, nil
}

func (p *Pollster) pollCPU(e *emitter) error {
	data, _, err := p.load(fileStat)
	if err != nil {
		return err
	}
	c, err := parseStat(data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileStat, err)
	}
	e.resource(p.host, typeHost, p.hostMD)
	// net-snmp's raw CPU counters on Linux: system includes interrupts,
	// kernel does not.
	e.add(mCPUUser, float64(c.User))
	e.add(mCPUNice, float64(c.Nice))
	e.add(mCPUSystem, float64(c.System+c.IRQ+c.SoftIRQ))
	e.add(mCPUIdle, float64(c.Idle))
	e.add(mCPUWait, float64(c.IOWait))
	e.add(mCPUKernel, float64(c.System))
	e.add(mCPUIntr, float64(c.IRQ+c.SoftIRQ))
	prev, had := p.prevCPU, p.havePrev
	p.prevCPU, p.havePrev = c, true
	if !had || c.total() <= prev.total() || c.Idle < prev.Idle || c.IOWait < prev.IOWait {
		return nil // first poll, no tick since, or counters went back (CPU hot-unplug)
	}
	total := float64(c.total() - prev.total())
	idle := float64(c.Idle - prev.Idle)
	busy := max(0, total-idle-float64(c.IOWait-prev.IOWait))
	e.add(mCPUUtil, min(100, 100*busy/total))
	e.add(mSysCPUIdle, min(100, 100*idle/total))
	return nil
}

func (p *Pollster) pollLoad(e *emitter) error {
	data, ok, err := p.load(fileLoadavg)
	if !ok {
		return err
	}
	l, err := parseLoadavg(data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileLoadavg, err)
	}
	e.resource(p.host, typeHost, p.hostMD)
	e.add(mLoad1, l.Load1)
	e.add(mLoad5, l.Load5)
	e.add(mLoad15, l.Load15)
	return nil
}

func (p *Pollster) pollMemory(e *emitter) error {
	data, _, err := p.load(fileMeminfo)
	if err != nil {
		return err
	}
	m, err := parseMeminfo(data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileMeminfo, err)
	}
	avail := m.availKB()
	e.resource(p.host, typeHost, p.hostMD)
	e.add(mMemTotal, float64(m.TotalKB))
	e.add(mMemUsed, float64(m.TotalKB-min(avail, m.TotalKB)))
	e.add(mMemAvail, float64(avail))
	e.add(mMemBuffer, float64(m.BuffersKB))
	e.add(mMemCached, float64(m.CachedKB))
	e.add(mSwapTotal, float64(m.SwapTotalKB))
	e.add(mSwapAvail, float64(m.SwapFreeKB))
	return nil
}

func (p *Pollster) pollVM(e *emitter) error {
	data, ok, err := p.load(fileVmstat)
	if !ok {
		return err
	}
	v, err := parseVmstat(data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileVmstat, err)
	}
	e.resource(p.host, typeHost, p.hostMD)
	// Blocks read from disk come in (ssIORawReceived), written go out.
	e.add(mSysIOIn, float64(v.PgpgIn))
	e.add(mSysIOOut, float64(v.PgpgOut))
	return nil
}

func (p *Pollster) pollIP(e *emitter) error {
	data, ok, err := p.load(fileNetSNMP)
	if !ok {
		return err
	}
	s, err := parseNetSNMP(data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileNetSNMP, err)
	}
	e.resource(p.host, typeHost, p.hostMD)
	e.add(mIPInDgrams, float64(s.InReceives))
	e.add(mIPOutDgrams, float64(s.OutRequests))
	return nil
}

func (p *Pollster) pollNetDev(e *emitter) error {
	data, ok, err := p.load(fileNetDev)
	if !ok {
		return err
	}
	p.netDevs, err = parseNetDev(p.netDevs[:0], data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileNetDev, err)
	}
	for i := range p.netDevs {
		d := &p.netDevs[i]
		r := p.device(p.nics, d.Name, p.nicMetadata)
		e.resource(r.id, typeInterface, r.md)
		e.add(mNetInBytes, float64(d.RxBytes))
		e.add(mNetOutBytes, float64(d.TxBytes))
		e.add(mNetOutErrors, float64(d.TxErrors))
	}
	p.forget(p.nics)
	return nil
}

// nicMetadata is what Ceilometer's IF-MIB pollster put in an interface's
// metadata (name, MAC as bare hex, speed in bytes/s), plus the host_disk /
// host_network_interface attributes.
func (p *Pollster) nicMetadata(name string) map[string]any {
	md := map[string]any{"host_name": p.host, "device_name": name, "name": name}
	dir := filepath.Join(p.cfg.SysFS, "class/net", name)
	if b, err := os.ReadFile(filepath.Join(dir, "address")); err == nil {
		md["mac"] = strings.ReplaceAll(strings.TrimSpace(string(b)), ":", "")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "speed")); err == nil {
		// Virtual and down links report -1 or refuse the read.
		if mbps, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && mbps > 0 {
			md["speed"] = mbps * 1_000_000 / 8
		}
	}
	return md
}

func (p *Pollster) pollDiskstats(e *emitter) error {
	data, ok, err := p.load(fileDiskstats)
	if !ok {
		return err
	}
	p.diskStats, err = parseDiskstats(p.diskStats[:0], data)
	if err != nil {
		return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileDiskstats, err)
	}
	for i := range p.diskStats {
		d := &p.diskStats[i]
		if skipBlockDevice(d) {
			continue
		}
		r := p.device(p.disks, d.Name, func(name string) map[string]any {
			return map[string]any{"host_name": p.host, "device_name": name, "device": name}
		})
		e.resource(r.id, typeDisk, r.md)
		e.add(mDiskRdBytes, float64(d.SectorsRead)*512)
		e.add(mDiskWrBytes, float64(d.SectorsWritten)*512)
		e.add(mDiskRdReqs, float64(d.Reads))
		e.add(mDiskWrReqs, float64(d.Writes))
	}
	return nil
}

// skipBlockDevice leaves out memory-backed and loop devices, and devices
// that never did any I/O (empty drives, unused partitions).
func skipBlockDevice(d *diskStat) bool {
	for _, prefix := range []string{"loop", "ram", "zram"} {
		if strings.HasPrefix(d.Name, prefix) {
			return true
		}
	}
	return d.Reads == 0 && d.Writes == 0
}

// pseudoFS are filesystems without disk space of their own. Network
// filesystems are left out too: statfs on a hung server blocks without
// recourse, and their space belongs to another host.
var pseudoFS = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "cgroup": true, "cgroup2": true, "configfs": true,
	"debugfs": true, "devpts": true, "devtmpfs": true, "efivarfs": true, "fusectl": true, "hugetlbfs": true,
	"mqueue": true, "nsfs": true, "proc": true, "pstore": true, "ramfs": true, "rpc_pipefs": true,
	"securityfs": true, "selinuxfs": true, "squashfs": true, "sysfs": true, "tmpfs": true, "tracefs": true,
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "ceph": true, "glusterfs": true,
	"9p": true, "afs": true, "lustre": true, "nfsd": true, "iso9660": true, "udf": true,
}

// realFS reports whether a mount has disk space worth metering.
func realFS(m *mount) bool {
	if pseudoFS[m.FSType] {
		return false
	}
	// FUSE filesystems are daemons (sshfs, lxcfs, gvfs) unless block-backed.
	return !strings.HasPrefix(m.FSType, "fuse") || m.FSType == "fuseblk"
}

func (p *Pollster) pollFilesystems(e *emitter) error {
	data, ok, err := p.load(fileMounts)
	if !ok {
		return err
	}
	// Mounts seldom change: parse them again only when the file did.
	if !bytes.Equal(data, p.mountsRaw) {
		p.mountsRaw = append(p.mountsRaw[:0], data...)
		p.mounts, err = parseMounts(p.mounts[:0], data)
		if err != nil {
			p.mountsRaw, p.mounts = p.mountsRaw[:0], p.mounts[:0]
			return fmt.Errorf("cannot parse %s/%s: %w", p.cfg.ProcFS, fileMounts, err)
		}
	}
	clear(p.seenDev)
	var errs []error
	for i := range p.mounts {
		m := &p.mounts[i]
		// A device mounted several times (bind mounts) is one filesystem;
		// its first mount is the one df shows.
		if !realFS(m) || p.seenDev[m.Device] {
			continue
		}
		p.seenDev[m.Device] = true
		total, used, err := fsUsage(m.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if total == 0 {
			continue
		}
		r := p.device(p.disks, m.Device, func(dev string) map[string]any {
			return map[string]any{"host_name": p.host, "device_name": dev, "device": dev, "path": m.Path}
		})
		e.resource(r.id, typeDisk, r.md)
		e.add(mDiskTotal, float64(total))
		e.add(mDiskUsed, float64(used))
	}
	p.forget(p.disks)
	return errors.Join(errs...)
}

func (p *Pollster) pollPerf(e *emitter) error {
	if p.perf == nil {
		return nil
	}
	v, err := p.perf.read()
	if err != nil {
		return err
	}
	e.resource(p.host, typeHost, p.hostMD)
	e.add(mPerfCycles, v[0])
	e.add(mPerfInstr, v[1])
	e.add(mPerfCacheRefs, v[2])
	e.add(mPerfCacheMisses, v[3])
	return nil
}

// device returns the resource of a device, building its metadata when the
// device is new or its attributes are due for a refresh.
func (p *Pollster) device(m map[string]*resource, dev string, metadata func(string) map[string]any) *resource {
	id := p.host + "." + strings.ReplaceAll(dev, "/", "_")
	r := m[id]
	if r == nil {
		r = &resource{id: id}
		m[id] = r
	}
	if r.md == nil || p.polls >= r.refresh {
		r.md = metadata(dev)
		r.refresh = p.polls + nicRefreshPolls
	}
	r.seen = p.polls
	return r
}

// forget drops the resources a poll did not list, so that devices that
// come and go (VM taps, USB disks) do not accumulate.
func (p *Pollster) forget(m map[string]*resource) {
	for id, r := range m {
		if r.seen < p.polls-1 {
			delete(m, id)
		}
	}
}
