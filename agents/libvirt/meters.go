package libvirt

import "github.com/vigil-telemetry/vigil/pipeline"

// meter is a meter's name, unit and type as Ceilometer's compute pollsters
// have them, so that dashboards, alarms, rating rules and
// gnocchi_resources.yaml written for Ceilometer apply unchanged.
type meter struct {
	name string
	unit string
	typ  pipeline.Type
}

// SampleSource is the source of every sample, Ceilometer's default
// sample_source.
const SampleSource = "openstack"

var (
	// Instance resource.
	mCPU          = meter{"cpu", "ns", pipeline.Cumulative}
	mVCPUs        = meter{"vcpus", "vcpu", pipeline.Gauge}
	mMemory       = meter{"memory", "MB", pipeline.Gauge}
	mMemUsage     = meter{"memory.usage", "MB", pipeline.Gauge}
	mMemResident  = meter{"memory.resident", "MB", pipeline.Gauge}
	mSwapIn       = meter{"memory.swap.in", "MB", pipeline.Cumulative}
	mSwapOut      = meter{"memory.swap.out", "MB", pipeline.Cumulative}
	mPowerState   = meter{"power.state", "", pipeline.Gauge}
	mRootSize     = meter{"disk.root.size", "GB", pipeline.Gauge}
	mEphemeral    = meter{"disk.ephemeral.size", "GB", pipeline.Gauge}
	mCycles       = meter{"perf.cpu.cycles", "", pipeline.Gauge}
	mInstructions = meter{"perf.instructions", "", pipeline.Gauge}
	mCacheRefs    = meter{"perf.cache.references", "", pipeline.Gauge}
	mCacheMisses  = meter{"perf.cache.misses", "", pipeline.Gauge}
	mL3Cache      = meter{"cpu_l3_cache", "B", pipeline.Gauge}
	mMemBWTotal   = meter{"memory.bandwidth.total", "B/s", pipeline.Gauge}
	mMemBWLocal   = meter{"memory.bandwidth.local", "B/s", pipeline.Gauge}

	// Disk resources, "<instance>-<target dev>".
	mDiskReadReqs   = meter{"disk.device.read.requests", "request", pipeline.Cumulative}
	mDiskReadBytes  = meter{"disk.device.read.bytes", "B", pipeline.Cumulative}
	mDiskWriteReqs  = meter{"disk.device.write.requests", "request", pipeline.Cumulative}
	mDiskWriteBytes = meter{"disk.device.write.bytes", "B", pipeline.Cumulative}
	mDiskReadLat    = meter{"disk.device.read.latency", "ns", pipeline.Cumulative}
	mDiskWriteLat   = meter{"disk.device.write.latency", "ns", pipeline.Cumulative}
	mDiskCapacity   = meter{"disk.device.capacity", "B", pipeline.Gauge}
	mDiskAllocation = meter{"disk.device.allocation", "B", pipeline.Gauge}
	mDiskUsage      = meter{"disk.device.usage", "B", pipeline.Gauge}

	// Network interface resources.
	mNetInBytes    = meter{"network.incoming.bytes", "B", pipeline.Cumulative}
	mNetInPackets  = meter{"network.incoming.packets", "packet", pipeline.Cumulative}
	mNetInErrors   = meter{"network.incoming.packets.error", "packet", pipeline.Cumulative}
	mNetInDrops    = meter{"network.incoming.packets.drop", "packet", pipeline.Cumulative}
	mNetOutBytes   = meter{"network.outgoing.bytes", "B", pipeline.Cumulative}
	mNetOutPackets = meter{"network.outgoing.packets", "packet", pipeline.Cumulative}
	mNetOutErrors  = meter{"network.outgoing.packets.error", "packet", pipeline.Cumulative}
	mNetOutDrops   = meter{"network.outgoing.packets.drop", "packet", pipeline.Cumulative}
)

// allMeters lists every meter the pollster can produce.
var allMeters = []meter{
	mCPU, mVCPUs, mMemory, mMemUsage, mMemResident, mSwapIn, mSwapOut, mPowerState, mRootSize, mEphemeral,
	mCycles, mInstructions, mCacheRefs, mCacheMisses, mL3Cache, mMemBWTotal, mMemBWLocal,
	mDiskReadReqs, mDiskReadBytes, mDiskWriteReqs, mDiskWriteBytes, mDiskReadLat, mDiskWriteLat,
	mDiskCapacity, mDiskAllocation, mDiskUsage,
	mNetInBytes, mNetInPackets, mNetInErrors, mNetInDrops, mNetOutBytes, mNetOutPackets, mNetOutErrors, mNetOutDrops,
}

// meterNames returns the names of allMeters.
func meterNames() []string {
	names := make([]string, len(allMeters))
	for i, m := range allMeters {
		names[i] = m.name
	}
	return names
}
