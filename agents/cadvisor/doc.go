// Package cadvisor is the pollster of containers: it reads cAdvisor, either
// embedded (cAdvisor's manager running in this process over the machine's
// cgroups) or remote (a cAdvisor daemon's REST API, v2.1), and reports each
// container as a resource of type "container".
//
// Ceilometer has no container meters, so the names follow its instance
// meters with a "container." prefix, and keep cAdvisor's units (bytes, not
// Ceilometer's MB for memory) so that no precision is lost:
//
//	meter                                       type        unit    from cAdvisor
//	container.cpu                               cumulative  ns      cpu.usage.total
//	container.cpu.util                          gauge       %       rate of container.cpu between two polls; 100 = one CPU busy
//	container.memory.usage                      gauge       B       memory.usage
//	container.memory.working_set                gauge       B       memory.working_set
//	container.memory.rss                        gauge       B       memory.rss
//	container.memory.cache                      gauge       B       memory.cache
//	container.network.incoming.bytes            cumulative  B       network rx_bytes, summed over interfaces
//	container.network.incoming.packets          cumulative  packet  rx_packets
//	container.network.incoming.packets.error    cumulative  packet  rx_errors
//	container.network.incoming.packets.drop     cumulative  packet  rx_dropped
//	container.network.outgoing.bytes            cumulative  B       tx_bytes
//	container.network.outgoing.packets          cumulative  packet  tx_packets
//	container.network.outgoing.packets.error    cumulative  packet  tx_errors
//	container.network.outgoing.packets.drop     cumulative  packet  tx_dropped
//	container.filesystem.usage                  gauge       B       filesystem usage, summed over the container's filesystems
//	container.filesystem.limit                  gauge       B       filesystem capacity, summed likewise
//
// A meter is emitted only when cAdvisor has the statistic for the
// container: cgroups without their own network namespace have no network
// meters, and the remote API gives no filesystem limit for sub-containers.
//
// The resource id of a container is "<host>:<container name>" with every
// '/' of cAdvisor's container name (the cgroup path) replaced by '_', as
// Ceilometer's Gnocchi publisher rewrites ids: "node-1:_kubepods_burstable_
// pod1234_abcd" and "node-1:_" for the root cgroup (the whole machine,
// whose network and filesystems are the host's). The resource metadata holds
// host, name (the cgroup path), container_id, container_name, pod_name,
// pod_uid, namespace, image, runtime and the container's labels (among
// them Kubernetes's io.kubernetes.* labels) under "labels". Pod uid and
// container id are read from the cgroup path when the runtime gives no
// labels, as for containers seen through the raw cgroup handler.
package cadvisor
