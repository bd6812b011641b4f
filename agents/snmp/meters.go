package snmp

import "github.com/vigil-telemetry/vigil/pipeline"

// meter is a meter's name, unit and type as Ceilometer's last SNMP
// definitions (snmp.yaml) have them.
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

// SampleSource is the sample source of every SNMP sample, as Ceilometer's
// hardware pollsters set it.
const SampleSource = "hardware"

var (
	mLoad1  = meter{"hardware.cpu.load.1min", "process", pipeline.Gauge}
	mLoad5  = meter{"hardware.cpu.load.5min", "process", pipeline.Gauge}
	mLoad15 = meter{"hardware.cpu.load.15min", "process", pipeline.Gauge}

	mMemTotal  = meter{"hardware.memory.total", "KB", pipeline.Gauge}
	mMemUsed   = meter{"hardware.memory.used", "KB", pipeline.Gauge}
	mMemAvail  = meter{"hardware.memory.avail", "KB", pipeline.Gauge}
	mMemBuffer = meter{"hardware.memory.buffer", "KB", pipeline.Gauge}
	mMemCached = meter{"hardware.memory.cached", "KB", pipeline.Gauge}
	mSwapTotal = meter{"hardware.memory.swap.total", "KB", pipeline.Gauge}
	mSwapAvail = meter{"hardware.memory.swap.avail", "KB", pipeline.Gauge}

	mSysCPUIdle = meter{"hardware.system_stats.cpu.idle", "%", pipeline.Gauge}
	mSysIOIn    = meter{"hardware.system_stats.io.incoming.blocks", "blocks", pipeline.Cumulative}
	mSysIOOut   = meter{"hardware.system_stats.io.outgoing.blocks", "blocks", pipeline.Cumulative}

	mIPInDgrams  = meter{"hardware.network.ip.incoming.datagrams", "datagrams", pipeline.Cumulative}
	mIPOutDgrams = meter{"hardware.network.ip.outgoing.datagrams", "datagrams", pipeline.Cumulative}

	mDiskTotal = meter{"hardware.disk.size.total", "KB", pipeline.Gauge}
	mDiskUsed  = meter{"hardware.disk.size.used", "KB", pipeline.Gauge}

	mNetInBytes   = meter{"hardware.network.incoming.bytes", "B", pipeline.Cumulative}
	mNetOutBytes  = meter{"hardware.network.outgoing.bytes", "B", pipeline.Cumulative}
	mNetOutErrors = meter{"hardware.network.outgoing.errors", "packet", pipeline.Cumulative}
)

// allMeters lists every meter the pollster can produce.
var allMeters = []meter{
	mLoad1, mLoad5, mLoad15,
	mMemTotal, mMemUsed, mMemAvail, mMemBuffer, mMemCached, mSwapTotal, mSwapAvail,
	mSysCPUIdle, mSysIOIn, mSysIOOut, mIPInDgrams, mIPOutDgrams,
	mDiskTotal, mDiskUsed,
	mNetInBytes, mNetOutBytes, mNetOutErrors,
}

// The scalars a poll gets in one request (UCD-SNMP-MIB, IP-MIB,
// HOST-RESOURCES-MIB).
const (
	oidLaLoad1         = ".1.3.6.1.4.1.2021.10.1.3.1"
	oidLaLoad5         = ".1.3.6.1.4.1.2021.10.1.3.2"
	oidLaLoad15        = ".1.3.6.1.4.1.2021.10.1.3.3"
	oidMemTotalSwap    = ".1.3.6.1.4.1.2021.4.3.0"
	oidMemAvailSwap    = ".1.3.6.1.4.1.2021.4.4.0"
	oidMemTotalReal    = ".1.3.6.1.4.1.2021.4.5.0"
	oidMemAvailReal    = ".1.3.6.1.4.1.2021.4.6.0"
	oidMemBuffer       = ".1.3.6.1.4.1.2021.4.14.0"
	oidMemCached       = ".1.3.6.1.4.1.2021.4.15.0"
	oidSsCPUIdle       = ".1.3.6.1.4.1.2021.11.11.0"
	oidSsIORawSent     = ".1.3.6.1.4.1.2021.11.57.0"
	oidSsIORawReceived = ".1.3.6.1.4.1.2021.11.58.0"
	oidIPInReceives    = ".1.3.6.1.2.1.4.3.0"
	oidIPOutRequests   = ".1.3.6.1.2.1.4.10.0"
	oidHrMemorySize    = ".1.3.6.1.2.1.25.2.2.0" // KB; memory total where UCD is missing
)

var scalarOIDs = []string{
	oidLaLoad1, oidLaLoad5, oidLaLoad15,
	oidMemTotalSwap, oidMemAvailSwap, oidMemTotalReal, oidMemAvailReal, oidMemBuffer, oidMemCached,
	oidSsCPUIdle, oidSsIORawSent, oidSsIORawReceived, oidIPInReceives, oidIPOutRequests, oidHrMemorySize,
}

// The interface columns (IF-MIB ifTable and ifXTable) and the IP address
// table's interface column, walked together.
var ifColumns = []string{
	colIfDescr:       ".1.3.6.1.2.1.2.2.1.2",
	colIfSpeed:       ".1.3.6.1.2.1.2.2.1.5",
	colIfPhysAddress: ".1.3.6.1.2.1.2.2.1.6",
	colIfInOctets:    ".1.3.6.1.2.1.2.2.1.10",
	colIfOutOctets:   ".1.3.6.1.2.1.2.2.1.16",
	colIfOutErrors:   ".1.3.6.1.2.1.2.2.1.20",
	colIfHCInOctets:  ".1.3.6.1.2.1.31.1.1.1.6",
	colIfHCOutOctets: ".1.3.6.1.2.1.31.1.1.1.10",
	colIfHighSpeed:   ".1.3.6.1.2.1.31.1.1.1.15",
	colIPAdEntIfIdx:  ".1.3.6.1.2.1.4.20.1.2",
}

const (
	colIfDescr = iota
	colIfSpeed
	colIfPhysAddress
	colIfInOctets
	colIfOutOctets
	colIfOutErrors
	colIfHCInOctets
	colIfHCOutOctets
	colIfHighSpeed
	colIPAdEntIfIdx
)

// The UCD-SNMP-MIB disk table columns. dskTotal and dskUsed are Integer32
// KB and saturate at 2 TiB; the Low/High pairs carry the full value.
var dskColumns = []string{
	colDskPath:      ".1.3.6.1.4.1.2021.9.1.2",
	colDskDevice:    ".1.3.6.1.4.1.2021.9.1.3",
	colDskTotal:     ".1.3.6.1.4.1.2021.9.1.6",
	colDskUsed:      ".1.3.6.1.4.1.2021.9.1.8",
	colDskTotalLow:  ".1.3.6.1.4.1.2021.9.1.11",
	colDskTotalHigh: ".1.3.6.1.4.1.2021.9.1.12",
	colDskUsedLow:   ".1.3.6.1.4.1.2021.9.1.15",
	colDskUsedHigh:  ".1.3.6.1.4.1.2021.9.1.16",
}

const (
	colDskPath = iota
	colDskDevice
	colDskTotal
	colDskUsed
	colDskTotalLow
	colDskTotalHigh
	colDskUsedLow
	colDskUsedHigh
)

// The HOST-RESOURCES-MIB storage table, read for disks where the agent has
// no UCD disk table (it lists only the disks its configuration names).
var hrStorageColumns = []string{
	colHrStorageType:  ".1.3.6.1.2.1.25.2.3.1.2",
	colHrStorageDescr: ".1.3.6.1.2.1.25.2.3.1.3",
	colHrStorageUnits: ".1.3.6.1.2.1.25.2.3.1.4",
	colHrStorageSize:  ".1.3.6.1.2.1.25.2.3.1.5",
	colHrStorageUsed:  ".1.3.6.1.2.1.25.2.3.1.6",
}

const (
	colHrStorageType = iota
	colHrStorageDescr
	colHrStorageUnits
	colHrStorageSize
	colHrStorageUsed
)

// hrStorageFixedDisk is the hrStorageType of a local filesystem.
const hrStorageFixedDisk = ".1.3.6.1.2.1.25.2.1.4"
