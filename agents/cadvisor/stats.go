package cadvisor

import (
	"time"

	v2 "github.com/google/cadvisor/info/v2"
	"github.com/google/cadvisor/lib/model"
)

// reading is one container's latest statistics, whichever mode read them.
// The spec fields (labels, image, aliases) are shared with the decoded
// cAdvisor value and must not be changed.
type reading struct {
	name    string    // cAdvisor's container name: the cgroup path
	created time.Time // a new creation time is a new container under the same name
	labels  map[string]string
	image   string
	aliases []string
	runtime string    // cAdvisor's namespace of the container ("docker", "containerd", "")
	at      time.Time // when cAdvisor read the counters

	hasCPU, hasMem, hasNet, hasFS, hasFSLimit bool

	cpuTotal                          uint64
	memUsage, memWS, memRSS, memCache uint64
	net                               netTotals
	fsUsage, fsLimit                  uint64
}

// netTotals are a container's interface counters summed over its
// interfaces.
type netTotals struct {
	rxBytes, rxPackets, rxErrors, rxDropped uint64
	txBytes, txPackets, txErrors, txDropped uint64
}

func (n *netTotals) add(i *model.InterfaceStats) {
	n.rxBytes += i.RxBytes
	n.rxPackets += i.RxPackets
	n.rxErrors += i.RxErrors
	n.rxDropped += i.RxDropped
	n.txBytes += i.TxBytes
	n.txPackets += i.TxPackets
	n.txErrors += i.TxErrors
	n.txDropped += i.TxDropped
}

func (r *reading) setCPU(c *model.CpuStats) {
	if c != nil {
		r.hasCPU, r.cpuTotal = true, c.Usage.Total
	}
}

func (r *reading) setMemory(m *model.MemoryStats) {
	if m != nil {
		r.hasMem = true
		r.memUsage, r.memWS, r.memRSS, r.memCache = m.Usage, m.WorkingSet, m.RSS, m.Cache
	}
}

func (r *reading) setInterfaces(ifs []model.InterfaceStats) {
	if len(ifs) == 0 {
		return
	}
	r.hasNet = true
	for i := range ifs {
		r.net.add(&ifs[i])
	}
}

// fromModel fills r from the latest statistics of an embedded manager's
// container and reports whether there were any.
func (r *reading) fromModel(name string, ci *model.ContainerInfo) bool {
	s := lastStats(ci.Stats)
	if s == nil {
		return false
	}
	*r = reading{
		name: name, created: ci.Spec.CreationTime, labels: ci.Spec.Labels, image: ci.Spec.Image,
		aliases: ci.Aliases, runtime: ci.Namespace, at: s.Timestamp,
	}
	if ci.Spec.HasCpu {
		r.setCPU(s.Cpu)
	}
	if ci.Spec.HasMemory {
		r.setMemory(s.Memory)
	}
	if ci.Spec.HasNetwork && s.Network != nil {
		if len(s.Network.Interfaces) > 0 {
			r.setInterfaces(s.Network.Interfaces)
		} else if s.Network.Name != "" {
			// Old handlers fill only the inline first interface.
			r.hasNet = true
			r.net.add(&s.Network.InterfaceStats)
		}
	}
	if ci.Spec.HasFilesystem && len(s.Filesystem) > 0 {
		r.hasFS, r.hasFSLimit = true, true
		for i := range s.Filesystem {
			r.fsUsage += s.Filesystem[i].Usage
			r.fsLimit += s.Filesystem[i].Limit
		}
	}
	return true
}

// fromV2 fills r from the latest statistics of a container in a v2.1
// stats response and reports whether there were any.
func (r *reading) fromV2(name string, ci *v2.ContainerInfo) bool {
	s := lastStats(ci.Stats)
	if s == nil {
		return false
	}
	*r = reading{
		name: name, created: ci.Spec.CreationTime, labels: ci.Spec.Labels, image: ci.Spec.Image,
		aliases: ci.Spec.Aliases, runtime: ci.Spec.Namespace, at: s.Timestamp,
	}
	if ci.Spec.HasCpu {
		r.setCPU(s.Cpu)
	}
	if ci.Spec.HasMemory {
		r.setMemory(s.Memory)
	}
	if ci.Spec.HasNetwork && s.Network != nil {
		r.setInterfaces(s.Network.Interfaces)
	}
	if ci.Spec.HasFilesystem && s.Filesystem != nil && s.Filesystem.TotalUsageBytes != nil {
		r.hasFS, r.fsUsage = true, *s.Filesystem.TotalUsageBytes
	}
	return true
}

// fromMachine fills r with the root container ("/") from the latest of a
// daemon's machine statistics, the only place its REST API reports the
// root cgroup, and reports whether there were any.
func (r *reading) fromMachine(ms []v2.MachineStats) bool {
	if len(ms) == 0 {
		return false
	}
	s := &ms[len(ms)-1]
	*r = reading{name: "/", at: s.Timestamp}
	r.setCPU(s.Cpu)
	r.setMemory(s.Memory)
	if s.Network != nil {
		r.setInterfaces(s.Network.Interfaces)
	}
	for i := range s.Filesystem {
		f := &s.Filesystem[i]
		if f.Usage != nil {
			r.hasFS = true
			r.fsUsage += *f.Usage
		}
		if f.Capacity != nil {
			r.hasFSLimit = true
			r.fsLimit += *f.Capacity
		}
	}
	return true
}

// lastStats returns the newest non-nil element of stats, which cAdvisor
// orders oldest first, or nil.
func lastStats[T any](stats []*T) *T {
	for i := len(stats) - 1; i >= 0; i-- {
		if stats[i] != nil {
			return stats[i]
		}
	}
	return nil
}
