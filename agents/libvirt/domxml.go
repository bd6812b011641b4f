package libvirt

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on a domain's XML. libvirt writes the XML, but its <metadata> and
// names come from whoever may define domains, so parsing is bounded.
const (
	// maxXMLBytes is the largest domain XML parsed; a real one is a few KiB.
	maxXMLBytes = 4 << 20
	// maxXMLDepth bounds element nesting.
	maxXMLDepth = 64
	// maxDevices bounds the disks and the interfaces kept per domain.
	maxDevices = 256
	// maxParams bounds the filterref parameters kept per interface.
	maxParams = 32
	// maxText is the longest text or attribute value kept; longer values are
	// cut at a character boundary (Gnocchi's strings hold 255).
	maxText = 255
)

// novaNSPrefix starts every namespace Nova has written its instance
// metadata in (1.0, 1.1 and later).
const novaNSPrefix = "http://openstack.org/xmlns/libvirt/nova/"

// domainXML is what the pollster needs from a domain's XML description.
type domainXML struct {
	Name   string
	UUID   string
	Type   string // hypervisor: kvm, qemu, test
	OSType string // <os><type>: hvm, linux
	Arch   string
	Disks  []diskXML
	NICs   []nicXML
	Nova   *novaXML // nil without a <nova:instance> block
	// Truncated reports that devices or parameters beyond the limits were
	// left out.
	Truncated bool
}

// diskXML is a <devices><disk>.
type diskXML struct {
	Dev       string // <target dev>: the name the stats use
	Bus       string
	Device    string // disk, cdrom, floppy, lun
	HasSource bool   // a cdrom without media has no <source>
}

// nicXML is a <devices><interface>.
type nicXML struct {
	Dev         string // <target dev>: the tap, the name the stats use
	MAC         string
	Type        string // bridge, network, ethernet, user...
	Model       string
	FilterRef   string // <filterref filter>: Nova's nwfilter name
	Params      []param
	InterfaceID string // <virtualport><parameters interfaceid>: the Neutron port
	Bridge      string // <source bridge>
}

type param struct{ name, value string }

// novaXML is Nova's <nova:instance> metadata.
type novaXML struct {
	Name         string // the server's display name
	CreationTime string
	Package      string
	Flavor       flavorXML
	UserID       string
	UserName     string
	ProjectID    string
	ProjectName  string
	RootType     string // image or volume
	RootUUID     string
}

type flavorXML struct {
	ID        string
	Name      string
	Memory    int64 // MB
	Disk      int64 // GB
	Swap      int64 // MB
	Ephemeral int64 // GB
	VCPUs     int64
}

// parseDomainXML parses a domain's XML description. It returns an error
// for input that is not one well-formed <domain> element within the limits;
// unknown elements are ignored.
func parseDomainXML(data string) (*domainXML, error) {
	if len(data) > maxXMLBytes {
		return nil, fmt.Errorf("cannot parse domain XML: %d bytes, more than %d", len(data), maxXMLBytes)
	}
	p := domainParser{d: &domainXML{}, disk: -1, nic: -1}
	dec := xml.NewDecoder(strings.NewReader(data))
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot parse domain XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(p.path) == 0 {
				if sawRoot {
					return nil, errors.New("cannot parse domain XML: more than one root element")
				}
				if t.Name.Local != "domain" {
					return nil, fmt.Errorf("cannot parse domain XML: root element <%s>, want <domain>", clip(t.Name.Local))
				}
				sawRoot = true
			}
			if len(p.path) == maxXMLDepth {
				return nil, fmt.Errorf("cannot parse domain XML: elements nested deeper than %d", maxXMLDepth)
			}
			p.path = append(p.path, t.Name)
			p.text.Reset()
			p.start(&t)
		case xml.EndElement:
			p.end()
			p.path = p.path[:len(p.path)-1]
			p.text.Reset()
		case xml.CharData:
			if p.text.Len() < maxText*4 {
				p.text.Write(t[:min(len(t), maxText*4-p.text.Len())])
			}
		}
	}
	if !sawRoot {
		return nil, errors.New("cannot parse domain XML: no <domain> element")
	}
	return p.d, nil
}

// domainParser walks the token stream, keeping the element path.
type domainParser struct {
	d    *domainXML
	path []xml.Name
	text strings.Builder
	nova bool // inside <metadata><nova:instance>
	// disk and nic index the device being parsed in d.Disks and d.NICs,
	// or are -1 outside one and inside one left out by the limit.
	disk, nic int
}

// at reports whether the current path, below <domain>, is names.
func (p *domainParser) at(names ...string) bool {
	if len(p.path) != len(names)+1 {
		return false
	}
	for i, n := range names {
		if p.path[i+1].Local != n {
			return false
		}
	}
	return true
}

func attr(t *xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return clip(a.Value)
		}
	}
	return ""
}

func (p *domainParser) start(t *xml.StartElement) {
	d := p.d
	switch {
	case len(p.path) == 1:
		d.Type = attr(t, "type")
	case p.at("os", "type"):
		d.Arch = attr(t, "arch")
	case p.at("devices", "disk"):
		if len(d.Disks) == maxDevices {
			d.Truncated = true
			return
		}
		p.disk = len(d.Disks)
		d.Disks = append(d.Disks, diskXML{Device: attr(t, "device")})
	case p.at("devices", "interface"):
		if len(d.NICs) == maxDevices {
			d.Truncated = true
			return
		}
		p.nic = len(d.NICs)
		d.NICs = append(d.NICs, nicXML{Type: attr(t, "type")})
	case p.at("metadata", "instance") && strings.HasPrefix(t.Name.Space, novaNSPrefix) && d.Nova == nil:
		d.Nova = &novaXML{}
		p.nova = true
	}
	if p.disk >= 0 {
		disk := &d.Disks[p.disk]
		switch {
		case p.at("devices", "disk", "target"):
			disk.Dev, disk.Bus = attr(t, "dev"), attr(t, "bus")
		case p.at("devices", "disk", "source"):
			disk.HasSource = true
		}
	}
	if p.nic >= 0 {
		nic := &d.NICs[p.nic]
		switch {
		case p.at("devices", "interface", "target"):
			nic.Dev = attr(t, "dev")
		case p.at("devices", "interface", "mac"):
			nic.MAC = attr(t, "address")
		case p.at("devices", "interface", "model"):
			nic.Model = attr(t, "type")
		case p.at("devices", "interface", "source"):
			nic.Bridge = attr(t, "bridge")
		case p.at("devices", "interface", "filterref"):
			nic.FilterRef = attr(t, "filter")
		case p.at("devices", "interface", "filterref", "parameter"):
			if len(nic.Params) == maxParams {
				p.d.Truncated = true
				break
			}
			nic.Params = append(nic.Params, param{strings.ToLower(attr(t, "name")), attr(t, "value")})
		case p.at("devices", "interface", "virtualport", "parameters"):
			if id := attr(t, "interfaceid"); id != "" {
				nic.InterfaceID = id
			}
		}
	}
	if p.nova {
		n := d.Nova
		switch {
		case p.at("metadata", "instance", "flavor"):
			n.Flavor.Name, n.Flavor.ID = attr(t, "name"), attr(t, "id")
		case p.at("metadata", "instance", "owner", "user"):
			n.UserID = attr(t, "uuid")
		case p.at("metadata", "instance", "owner", "project"):
			n.ProjectID = attr(t, "uuid")
		case p.at("metadata", "instance", "root"):
			n.RootType, n.RootUUID = attr(t, "type"), attr(t, "uuid")
		case p.at("metadata", "instance", "package"):
			n.Package = attr(t, "version")
		}
	}
}

func (p *domainParser) end() {
	text := func() string { return clip(strings.TrimSpace(p.text.String())) }
	d := p.d
	switch {
	case p.at("devices", "disk"):
		p.disk = -1
	case p.at("devices", "interface"):
		p.nic = -1
	case p.at("name"):
		d.Name = text()
	case p.at("uuid"):
		d.UUID = text()
	case p.at("os", "type"):
		d.OSType = text()
	}
	if !p.nova {
		return
	}
	n := d.Nova
	switch {
	case p.at("metadata", "instance"):
		p.nova = false
	case p.at("metadata", "instance", "name"):
		n.Name = text()
	case p.at("metadata", "instance", "creationTime"):
		n.CreationTime = text()
	case p.at("metadata", "instance", "owner", "user"):
		n.UserName = text()
	case p.at("metadata", "instance", "owner", "project"):
		n.ProjectName = text()
	case p.at("metadata", "instance", "flavor", "memory"):
		n.Flavor.Memory = atoi(text())
	case p.at("metadata", "instance", "flavor", "disk"):
		n.Flavor.Disk = atoi(text())
	case p.at("metadata", "instance", "flavor", "swap"):
		n.Flavor.Swap = atoi(text())
	case p.at("metadata", "instance", "flavor", "ephemeral"):
		n.Flavor.Ephemeral = atoi(text())
	case p.at("metadata", "instance", "flavor", "vcpus"):
		n.Flavor.VCPUs = atoi(text())
	}
}

// atoi parses a flavor size; like Ceilometer's discovery, a missing value
// is 0, and so is one that is not a non-negative integer.
func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// clip cuts s to at most maxText bytes at a character boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
