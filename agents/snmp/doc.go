// Package snmp is the pollster of hosts through their SNMP agents (v2c,
// and v3 with USM authentication and privacy): Ceilometer's hardware.*
// meters from UCD-SNMP-MIB, IF-MIB, IP-MIB and HOST-RESOURCES-MIB, with the
// names, types, units and resource ids its SNMP pollsters (snmp.yaml) had.
//
//	meter                                     type        unit       source
//	hardware.cpu.load.1min / 5min / 15min     gauge       process    UCD laLoad.1/2/3 (a decimal string)
//	hardware.memory.total                     gauge       KB         UCD memTotalReal (HOST-RESOURCES hrMemorySize without UCD)
//	hardware.memory.avail                     gauge       KB         UCD memAvailReal
//	hardware.memory.used                      gauge       KB         total - avail, as Ceilometer computed it
//	hardware.memory.buffer / cached           gauge       KB         UCD memBuffer / memCached
//	hardware.memory.swap.total / swap.avail   gauge       KB         UCD memTotalSwap / memAvailSwap
//	hardware.system_stats.cpu.idle            gauge       %          UCD ssCpuIdle (the agent's last minute)
//	hardware.system_stats.io.incoming.blocks  cumulative  blocks     UCD ssIORawReceived
//	hardware.system_stats.io.outgoing.blocks  cumulative  blocks     UCD ssIORawSent
//	hardware.network.ip.incoming.datagrams    cumulative  datagrams  IP-MIB ipInReceives
//	hardware.network.ip.outgoing.datagrams    cumulative  datagrams  IP-MIB ipOutRequests
//	hardware.disk.size.total / size.used      gauge       KB         UCD dskTable per disk (HOST-RESOURCES
//	                                                                 hrStorageTable fixed disks without it)
//	hardware.network.incoming.bytes           cumulative  B          IF-MIB ifHCInOctets (ifInOctets without it)
//	hardware.network.outgoing.bytes           cumulative  B          IF-MIB ifHCOutOctets (ifOutOctets without it)
//	hardware.network.outgoing.errors          cumulative  packet     IF-MIB ifOutErrors
//
// Resources: the target host (type host, id the target's name), each disk
// (host_disk, "<host>.<dskDevice>", or the mount point where the device
// is shared, as tmpfs is) and each interface (host_network_interface,
// "<host>.<ifDescr>"), with '/' replaced by '_' as Ceilometer's Gnocchi
// publisher did. Interface metadata holds name, mac (bare hex), speed
// (bytes/s) and ip, as Ceilometer's did; disk metadata device and path.
//
// A poll of a target is one Get of the scalars and GetBulk walks of the
// interface and disk tables, their columns side by side. A value of the
// wrong type (a string where a counter belongs, a negative size) is
// skipped and counted; a value the agent does not have is left out.
package snmp
