//go:build libvirt

package libvirt

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
)

// Resource types, as ceilometer-upgrade creates them in Gnocchi.
const (
	typeInstance = "instance"
	typeDisk     = "instance_disk"
	typeNIC      = "instance_network_interface"
)

// domain is the pollster's memory of one domain between polls: its parsed
// XML, the resources and metadata built from it, and the last value of each
// cumulative counter (to detect resets). The metadata maps are replaced,
// never changed, once emitted.
type domain struct {
	uuid    string
	name    string // the libvirt name, Nova's instance_name
	id      int64  // libvirt id; -1 while inactive
	seen    int    // last poll that listed it
	xml     *domainXML
	xmlHash uint64
	xmlAt   int // poll at which the XML is read again
	mdState int // the state the metadata's status and state describe

	userID, projectID string
	md                map[string]any
	disks             []diskRes // disks with a source, as Ceilometer meters them
	nics              []nicRes  // interfaces with a target and a MAC

	prev    [nDomValues]uint64
	prevHas uint32
}

type diskRes struct {
	dev     string
	id      string
	md      map[string]any
	prev    [nDiskValues]uint64
	prevHas uint32
}

type nicRes struct {
	dev     string
	id      string
	md      map[string]any
	prev    [nNICValues]uint64
	prevHas uint32
}

// The libvirt domain states (virDomainState), which power.state reports.
const (
	stateNoState  = 0
	stateRunning  = 1
	stateShutoff  = 5
	stateCrashed  = 6
	nDomainStates = 8
)

// powerStates and statuses are Nova's names for the libvirt states, as
// Ceilometer's libvirt_metadata discovery guesses them for the state and
// status metadata.
var (
	powerStates = [nDomainStates]string{"pending", "running", "running", "paused", "shutdown", "shutdown", "crashed", "suspended"}
	statuses    = [nDomainStates]string{"building", "active", "active", "paused", "stopped", "stopped", "error", "suspended"}
)

func stateName(names *[nDomainStates]string, state int) any {
	if state < 0 || state >= nDomainStates {
		return nil
	}
	return names[state]
}

// build (re)builds the domain's resources and metadata from its XML,
// keeping the counters of devices that stay.
func (d *domain) build(host string, state int) {
	x := d.xml
	d.mdState = state
	d.md = instanceMetadata(x, d.uuid, d.name, state, host)
	d.userID, d.projectID = "", ""
	if x.Nova != nil {
		d.userID, d.projectID = x.Nova.UserID, x.Nova.ProjectID
	}
	oldDisks, oldNICs := d.disks, d.nics
	d.disks, d.nics = nil, nil
	for i := range x.Disks {
		xd := &x.Disks[i]
		if !xd.HasSource || xd.Dev == "" {
			continue
		}
		r := diskRes{dev: xd.Dev, id: resourceID(d.uuid + "-" + xd.Dev), md: maps.Clone(d.md)}
		r.md["disk_name"] = xd.Dev
		for j := range oldDisks {
			if oldDisks[j].dev == r.dev {
				r.prev, r.prevHas = oldDisks[j].prev, oldDisks[j].prevHas
			}
		}
		d.disks = append(d.disks, r)
	}
	for i := range x.NICs {
		xn := &x.NICs[i]
		if xn.Dev == "" || xn.MAC == "" {
			continue
		}
		r := nicRes{dev: xn.Dev, md: maps.Clone(d.md)}
		params := make(map[string]any, len(xn.Params)+2)
		for _, p := range xn.Params {
			params[p.name] = p.value
		}
		params["interfaceid"] = orNil(xn.InterfaceID)
		params["bridge"] = orNil(xn.Bridge)
		r.md["name"] = xn.Dev
		r.md["mac"] = xn.MAC
		r.md["fref"] = orNil(xn.FilterRef)
		r.md["parameters"] = params
		if xn.FilterRef != "" {
			r.id = resourceID(xn.FilterRef)
			r.md["vnic_name"] = xn.FilterRef
		} else {
			r.id = resourceID(d.name + "-" + d.uuid + "-" + xn.Dev)
			r.md["vnic_name"] = xn.Dev
		}
		for j := range oldNICs {
			if oldNICs[j].dev == r.dev {
				r.prev, r.prevHas = oldNICs[j].prev, oldNICs[j].prevHas
			}
		}
		d.nics = append(d.nics, r)
	}
}

// resourceID replaces '/', which Gnocchi refuses in resource ids, as
// Ceilometer's Gnocchi publisher does.
func resourceID(s string) string { return strings.ReplaceAll(s, "/", "_") }

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// instanceMetadata is the resource metadata Ceilometer's compute pollsters
// attach to every sample of an instance when they discover instances from
// libvirt metadata, plus the owner names and root type Nova records. The
// flavor id is the one Nova wrote, or else its name: Ceilometer asks Nova's
// API for the id, which an agent reading libvirt alone cannot.
func instanceMetadata(x *domainXML, uuid, name string, state int, host string) map[string]any {
	md := map[string]any{
		"display_name":  name,
		"name":          name,
		"instance_id":   uuid,
		"instance_host": host,
		"status":        stateName(&statuses, state),
		"state":         stateName(&powerStates, state),
		"task_state":    "",
		"image":         nil,
		"image_ref":     nil,
		"image_ref_url": nil,
		"os_type":       orNil(x.OSType),
		"architecture":  orNil(x.Arch),
	}
	n := x.Nova
	if n == nil {
		return md
	}
	if n.Name != "" {
		md["display_name"] = n.Name
	}
	f := &n.Flavor
	id := f.ID
	if id == "" {
		id = f.Name
	}
	md["instance_type"] = orNil(f.Name)
	md["flavor"] = map[string]any{
		"id": orNil(id), "name": orNil(f.Name), "vcpus": f.VCPUs, "ram": f.Memory,
		"disk": f.Disk, "ephemeral": f.Ephemeral, "swap": f.Swap,
	}
	md["vcpus"] = f.VCPUs
	md["memory_mb"] = f.Memory
	md["disk_gb"] = f.Disk
	md["ephemeral_gb"] = f.Ephemeral
	md["root_gb"] = f.Disk - f.Ephemeral // Ceilometer's arithmetic, kept for compatibility
	if n.ProjectID != "" {
		md["host"] = hostID(n.ProjectID, host)
	}
	md["user_name"] = orNil(n.UserName)
	md["project_name"] = orNil(n.ProjectName)
	md["root_type"] = orNil(n.RootType)
	if n.RootType == "image" && n.RootUUID != "" {
		md["image"] = map[string]any{"id": n.RootUUID}
		md["image_ref"] = n.RootUUID
	}
	return md
}

// hostID is Nova's hostId: the host as a project sees it.
func hostID(project, host string) string {
	h := sha256.Sum224([]byte(project + host))
	return hex.EncodeToString(h[:])
}
