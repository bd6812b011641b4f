package cadvisor

import "github.com/vigil-telemetry/vigil/pipeline"

// meter is a meter's name, unit and type; the package documentation has
// the table.
type meter struct {
	name string
	unit string
	typ  pipeline.Type
}

// ResourceType is the resource type of every container sample.
const ResourceType = "container"

// SampleSource is the sample source of every container sample.
const SampleSource = "cadvisor"

var (
	mCPU     = meter{"container.cpu", "ns", pipeline.Cumulative}
	mCPUUtil = meter{"container.cpu.util", "%", pipeline.Gauge}

	mMemUsage      = meter{"container.memory.usage", "B", pipeline.Gauge}
	mMemWorkingSet = meter{"container.memory.working_set", "B", pipeline.Gauge}
	mMemRSS        = meter{"container.memory.rss", "B", pipeline.Gauge}
	mMemCache      = meter{"container.memory.cache", "B", pipeline.Gauge}

	mNetInBytes    = meter{"container.network.incoming.bytes", "B", pipeline.Cumulative}
	mNetInPackets  = meter{"container.network.incoming.packets", "packet", pipeline.Cumulative}
	mNetInErrors   = meter{"container.network.incoming.packets.error", "packet", pipeline.Cumulative}
	mNetInDrops    = meter{"container.network.incoming.packets.drop", "packet", pipeline.Cumulative}
	mNetOutBytes   = meter{"container.network.outgoing.bytes", "B", pipeline.Cumulative}
	mNetOutPackets = meter{"container.network.outgoing.packets", "packet", pipeline.Cumulative}
	mNetOutErrors  = meter{"container.network.outgoing.packets.error", "packet", pipeline.Cumulative}
	mNetOutDrops   = meter{"container.network.outgoing.packets.drop", "packet", pipeline.Cumulative}

	mFSUsage = meter{"container.filesystem.usage", "B", pipeline.Gauge}
	mFSLimit = meter{"container.filesystem.limit", "B", pipeline.Gauge}
)

// allMeters lists every meter the pollster can produce.
var allMeters = []meter{
	mCPU, mCPUUtil,
	mMemUsage, mMemWorkingSet, mMemRSS, mMemCache,
	mNetInBytes, mNetInPackets, mNetInErrors, mNetInDrops,
	mNetOutBytes, mNetOutPackets, mNetOutErrors, mNetOutDrops,
	mFSUsage, mFSLimit,
}
