// Package libvirt is the pollster of the virtual machines of a compute
// node: it reads libvirt's domains and reports Ceilometer's compute meters,
// with Ceilometer's names, types, units, resource ids and metadata, so that
// what was built on Ceilometer's data keeps working.
//
// # Cost
//
// A poll makes one virConnectGetAllDomainStats call for every domain and
// the stat groups state, cpu-total, balloon, vcpu, interface, block and
// perf, and reads the records in one pass over their parameters. A
// domain's XML (for its disks, interfaces and Nova metadata) is read when
// the domain is first seen, restarts, starts, stops or shows a device the
// XML lacks, and otherwise every Config.XMLRefresh polls; it is parsed
// only when it changed. Ceilometer's agent, by contrast, makes calls per
// instance and per meter family, every cycle: its discovery reads each
// domain's metadata, XML and state; the instance family looks the domain
// up, reads its info, its memory stats and a one-domain stats call; the
// disk, disk-info and interface families each look it up again, read and
// parse its XML, and call once per device (twice per disk for latency):
// about two dozen calls and five XML parses per instance with two disks
// and two interfaces.
//
// Where a driver leaves groups out of the bulk call (libvirt's test driver
// fills only state), per-domain calls stand in for those groups alone:
// virDomainGetCPUStats, virDomainGetInfo, virDomainMemoryStats,
// virDomainBlockStats, virDomainGetBlockInfo and virDomainInterfaceStats.
// Which groups are missing is found once per connection with
// ENFORCE_STATS. Perf events have no per-domain call; their meters appear
// only where the bulk call reports them (events enabled on a host with a
// PMU).
//
// # Meters
//
// On the instance (resource type instance, id the domain's UUID):
//
//	cpu                     cumulative ns   Σ vcpu.N.time+vcpu.N.wait when every online vCPU has both, else cpu.time
//	vcpus                   gauge vcpu      vcpu.current
//	memory                  gauge MB        balloon.current: the memory the guest has now
//	memory.usage            gauge MB        balloon available−usable, else available−unused
//	memory.resident         gauge MB        balloon.rss
//	memory.swap.in/.out     cumulative MB   balloon swap_in, swap_out (both or neither)
//	power.state             gauge           libvirt's virDomainState: 0 nostate, 1 running, 2 blocked,
//	                                        3 paused, 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended
//	disk.root.size          gauge GB        the Nova flavor's disk
//	disk.ephemeral.size     gauge GB        the Nova flavor's ephemeral disk
//	perf.cpu.cycles, perf.instructions, perf.cache.references, perf.cache.misses   gauge
//	cpu_l3_cache (B), memory.bandwidth.total and .local (B/s)                      gauge, from perf
//
// On each disk with a source (instance_disk, id "<uuid>-<target dev>",
// metadata disk_name): disk.device.read/write.requests (request) and
// .bytes (B), disk.device.read/write.latency (ns), all cumulative;
// disk.device.capacity (the larger of capacity and physical, as
// Ceilometer), disk.device.allocation and disk.device.usage (physical),
// gauges in B. An empty cdrom has no source and no meters.
//
// On each interface with a target and a MAC (instance_network_interface):
// network.incoming/outgoing.bytes (B), .packets, .packets.error and
// .packets.drop (packet), all cumulative. The id is the interface's
// nwfilter name when it has a <filterref>, else
// "<domain name>-<uuid>-<tap>", and the metadata adds name (the tap), mac,
// fref, parameters (the filterref's, lower-cased, plus interfaceid and
// bridge) and vnic_name, as Ceilometer's.
//
// A shut-off or crashed domain has no guest to read: it gives power.state
// and its flavor's disk sizes, which billing wants while the instance
// exists, and is counted as inactive.
//
// # Metadata
//
// Every sample carries the metadata Ceilometer's libvirt_metadata
// discovery builds from the domain and Nova's <nova:instance> block:
// display_name, name, instance_id, instance_type, flavor (id, name, vcpus,
// ram, disk, ephemeral, swap), host (Nova's hostId, sha224 of project and
// host), instance_host, status and state (guessed from the libvirt state),
// task_state, image, image_ref, image_ref_url, os_type, architecture,
// vcpus, memory_mb, disk_gb, ephemeral_gb and root_gb (disk − ephemeral,
// Ceilometer's arithmetic), plus user_name, project_name and root_type;
// UserID and ProjectID are the owner's. The flavor id is Nova's when the
// metadata has it and the flavor name otherwise: Ceilometer asks Nova's API
// for it, which an agent reading only libvirt cannot. A domain without Nova
// metadata is an instance named after the domain, with no owner, unless
// Config.NovaOnly leaves it out as Ceilometer does.
//
// # Faults
//
// A domain that vanishes during a poll, a stat that fails and a domain
// whose XML cannot be read are skipped, counted in
// vigil_libvirt_domains_skipped_total and vigil_libvirt_stat_errors_total,
// and logged in one line per poll; the poll goes on. A connection that
// breaks is reopened at once, then with exponential backoff between
// Config.MinBackoff and MaxBackoff; meanwhile polls fail at once with
// ErrUnavailable.
//
// Cumulative values are emitted as libvirt reports them, also when they go
// down because the domain restarted, as Ceilometer does: the store's rate
// aggregates see the drop as Gnocchi's do, and dropping or offsetting the
// value would make the stored counter disagree with the hypervisor's. Each
// value that went down is counted in vigil_libvirt_counter_resets_total.
//
// The package needs cgo and libvirt's headers; files that use them carry
// the build tag libvirt, and without it New returns ErrNotBuilt.
package libvirt
