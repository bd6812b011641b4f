package host

import "github.com/vigil-telemetry/vigil/pipeline"

// meter is a meter's name, unit and type as Ceilometer's last hardware
// (SNMP) definitions have them, so that dashboards, alarms and
// gnocchi_resources.yaml written for Ceilometer apply unchanged.
type meter struct {
	name string
	unit string
	typ  pipeline.Type
}

// Resource types, as ceilometer-upgrade creates them in Gnocchi.
const (
	typeHost      = "host"
	typeDisk      = "host_disk"
	typeInterface = "host_network_interface"
)

// SampleSource is the sample source of every host sample, as Ceilometer's
// hardware pollsters set it.
const SampleSource = "hardware"

var (
	mLoad1     = meter{"hardware.cpu.load.1min", "process", pipeline.Gauge}
	mLoad5     = meter{"hardware.cpu.load.5min", "process", pipeline.Gauge}
	mLoad15    = meter{"hardware.cpu.load.15min", "process", pipeline.Gauge}
	mCPUUtil   = meter{"hardware.cpu.util", "%", pipeline.Gauge}
	mCPUUser   = meter{"hardware.cpu.user", "tick", pipeline.Gauge}
	mCPUNice   = meter{"hardware.cpu.nice", "tick", pipeline.Gauge}
	mCPUSystem = meter{"hardware.cpu.system", "tick", pipeline.Gauge}
	mCPUIdle   = meter{"hardware.cpu.idle", "tick", pipeline.Gauge}
	mCPUWait   = meter{"hardware.cpu.wait", "tick", pipeline.Gauge}
	mCPUKernel = meter{"hardware.cpu.kernel", "tick", pipeline.Gauge}
	mCPUIntr   = meter{"hardware.cpu.interrupt", "tick", pipeline.Gauge}

	mMemTotal     = meter{"hardware.memory.total", "KB", pipeline.Gauge}
	mMemUsed      = meter{"hardware.memory.used", "KB", pipeline.Gauge}
	mMemAvail     = meter{"hardware.memory.avail", "KB", pipeline.Gauge}
	mMemBuffer    = meter{"hardware.memory.buffer", "KB", pipeline.Gauge}
	mMemCached    = meter{"hardware.memory.cached", "KB", pipeline.Gauge}
	mSwapTotal    = meter{"hardware.memory.swap.total", "KB", pipeline.Gauge}
	mSwapAvail    = meter{"hardware.memory.swap.avail", "KB", pipeline.Gauge}
	mSysCPUIdle   = meter{"hardware.system_stats.cpu.idle", "%", pipeline.Gauge}
	mSysIOOut     = meter{"hardware.system_stats.io.outgoing.blocks", "blocks", pipeline.Cumulative}
	mSysIOIn      = meter{"hardware.system_stats.io.incoming.blocks", "blocks", pipeline.Cumulative}
	mIPInDgrams   = meter{"hardware.network.ip.incoming.datagrams", "datagrams", pipeline.Cumulative}
	mIPOutDgrams  = meter{"hardware.network.ip.outgoing.datagrams", "datagrams", pipeline.Cumulative}
	mDiskTotal    = meter{"hardware.disk.size.total", "KB", pipeline.Gauge}
	mDiskUsed     = meter{"hardware.disk.size.used", "KB", pipeline.Gauge}
	mDiskRdBytes  = meter{"hardware.disk.read.bytes", "B", pipeline.Gauge}
	mDiskWrBytes  = meter{"hardware.disk.write.bytes", "B", pipeline.Gauge}
	mDiskRdReqs   = meter{"hardware.disk.read.requests", "requests", pipeline.Gauge}
	mDiskWrReqs   = meter{"hardware.disk.write.requests", "requests", pipeline.Gauge}
	mNetInBytes   = meter{"hardware.network.incoming.bytes", "B", pipeline.Cumulative}
	mNetOutBytes  = meter{"hardware.network.outgoing.bytes", "B", pipeline.Cumulative}
	mNetOutErrors = meter{"hardware.network.outgoing.errors", "packet", pipeline.Cumulative}

	// Compute meters: Ceilometer's perf.* meters of instances, here for
	// the whole host; counts since the pollster started.
	mPerfCycles      = meter{"perf.cpu.cycles", "", pipeline.Gauge}
	mPerfInstr       = meter{"perf.instructions", "", pipeline.Gauge}
	mPerfCacheRefs   = meter{"perf.cache.references", "", pipeline.Gauge}
	mPerfCacheMisses = meter{"perf.cache.misses", "", pipeline.Gauge}
)

// allMeters lists every meter the pollster can produce.
var allMeters = []meter{
	mLoad1, mLoad5, mLoad15, mCPUUtil, mCPUUser, mCPUNice, mCPUSystem, mCPUIdle, mCPUWait, mCPUKernel, mCPUIntr,
	mMemTotal, mMemUsed, mMemAvail, mMemBuffer, mMemCached, mSwapTotal, mSwapAvail,
	mSysCPUIdle, mSysIOOut, mSysIOIn, mIPInDgrams, mIPOutDgrams,
	mDiskTotal, mDiskUsed, mDiskRdBytes, mDiskWrBytes, mDiskRdReqs, mDiskWrReqs,
	mNetInBytes, mNetOutBytes, mNetOutErrors,
	mPerfCycles, mPerfInstr, mPerfCacheRefs, mPerfCacheMisses,
}
