package libvirt

import (
	"fmt"
	"html"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// A domain XML as Nova's libvirt driver defines it, trimmed.
const novaDomainXML = `<domain type='kvm' id='3'>
  <name>instance-0000002a</name>
  <uuid>9f9d01b9-5b2a-4a5e-8f9a-3c0c6e1d2f11</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="26.2.0"/>
      <nova:name>web-1</nova:name>
      <nova:creationTime>2026-11-30 10:00:00</nova:creationTime>
      <nova:flavor name="m1.large">
        <nova:memory>8192</nova:memory>
        <nova:disk>80</nova:disk>
        <nova:swap>1024</nova:swap>
        <nova:ephemeral>20</nova:ephemeral>
        <nova:vcpus>4</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="u-42">alice</nova:user>
        <nova:project uuid="p-7">shop</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="img-9"/>
      <nova:ports><nova:port uuid="port-1"><nova:ip type="fixed" address="10.0.0.5" ipVersion="4"/></nova:port></nova:ports>
    </nova:instance>
    <other:stuff xmlns:other="urn:other"><other:name>not nova</other:name></other:stuff>
  </metadata>
  <memory unit='KiB'>8388608</memory>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/nova/instances/9f9d/disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='bridge'>
      <mac address='fa:16:3e:11:22:33'/>
      <source bridge='qbr1a2b3c4d-5e'/>
      <virtualport type='openvswitch'><parameters interfaceid='1a2b3c4d-5e6f-7a8b-9c0d-112233445566'/></virtualport>
      <target dev='tap1a2b3c4d-5e'/>
      <model type='virtio'/>
      <filterref filter='nova-instance-instance-0000002a-fa163e112233'>
        <parameter name='IP' value='10.0.0.5'/>
        <parameter name='PROJNET' value='10.0.0.0'/>
      </filterref>
    </interface>
    <interface type='user'><mac address='52:54:00:00:00:09'/></interface>
  </devices>
</domain>`

func TestParseDomainXML(t *testing.T) {
	got, err := parseDomainXML(novaDomainXML)
	if err != nil {
		t.Fatal(err)
	}
	want := &domainXML{
		Name: "instance-0000002a", UUID: "9f9d01b9-5b2a-4a5e-8f9a-3c0c6e1d2f11", Type: "kvm", OSType: "hvm", Arch: "x86_64",
		Disks: []diskXML{
			{Dev: "vda", Bus: "virtio", Device: "disk", HasSource: true},
			{Dev: "sda", Bus: "sata", Device: "cdrom"},
		},
		NICs: []nicXML{
			{Dev: "tap1a2b3c4d-5e", MAC: "fa:16:3e:11:22:33", Type: "bridge", Model: "virtio",
				FilterRef:   "nova-instance-instance-0000002a-fa163e112233",
				Params:      []param{{"ip", "10.0.0.5"}, {"projnet", "10.0.0.0"}},
				InterfaceID: "1a2b3c4d-5e6f-7a8b-9c0d-112233445566", Bridge: "qbr1a2b3c4d-5e"},
			{MAC: "52:54:00:00:00:09", Type: "user"},
		},
		Nova: &novaXML{
			Name: "web-1", CreationTime: "2026-11-30 10:00:00", Package: "26.2.0",
			Flavor: flavorXML{Name: "m1.large", Memory: 8192, Disk: 80, Swap: 1024, Ephemeral: 20, VCPUs: 4},
			UserID: "u-42", UserName: "alice", ProjectID: "p-7", ProjectName: "shop", RootType: "image", RootUUID: "img-9",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nnova %+v\nwant\n%+v\nnova %+v", got, got.Nova, want, want.Nova)
	}
}

func TestParseDomainXMLCases(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		err       string // substring; empty for success
		check     func(*domainXML) string
	}{
		{name: "empty", xml: "", err: "no <domain>"},
		{name: "not xml", xml: "{\"domain\": 1}", err: "no <domain>"},
		{name: "wrong root", xml: "<network/>", err: "root element <network>"},
		{name: "two roots", xml: "<domain/><domain/>", err: "more than one root"},
		{name: "unclosed", xml: "<domain><name>x</name>", err: "cannot parse"},
		{name: "bad utf-8", xml: "<domain><name>\xff</name></domain>", err: "cannot parse"},
		{name: "unknown entity", xml: "<domain><name>&bogus;</name></domain>", err: "cannot parse"},
		{name: "too deep", xml: strings.Repeat("<a>", maxXMLDepth+1) + strings.Repeat("</a>", maxXMLDepth+1), err: "root element"},
		{name: "too deep under domain", xml: "<domain>" + strings.Repeat("<a>", maxXMLDepth) + strings.Repeat("</a>", maxXMLDepth) + "</domain>", err: "nested deeper"},
		{name: "too large", xml: "<domain>" + strings.Repeat(" ", maxXMLBytes) + "</domain>", err: "more than"},
		{name: "minimal", xml: "<domain><name>a</name></domain>", check: func(d *domainXML) string {
			if d.Name != "a" || d.Nova != nil || len(d.Disks) != 0 {
				return fmt.Sprintf("%+v", d)
			}
			return ""
		}},
		{name: "nova 1.0 namespace", xml: `<domain><metadata><instance xmlns="http://openstack.org/xmlns/libvirt/nova/1.0"><name>old</name></instance></metadata></domain>`,
			check: func(d *domainXML) string {
				if d.Nova == nil || d.Nova.Name != "old" {
					return fmt.Sprintf("nova %+v", d.Nova)
				}
				return ""
			}},
		{name: "instance of another namespace", xml: `<domain><metadata><x:instance xmlns:x="urn:x"><x:name>no</x:name></x:instance></metadata></domain>`,
			check: func(d *domainXML) string {
				if d.Nova != nil {
					return fmt.Sprintf("nova %+v", d.Nova)
				}
				return ""
			}},
		{name: "bad flavor numbers", xml: `<domain><metadata><n:instance xmlns:n="http://openstack.org/xmlns/libvirt/nova/1.1">
			<n:flavor name="f"><n:memory>lots</n:memory><n:disk>-5</n:disk><n:vcpus>99999999999999999999</n:vcpus></n:flavor></n:instance></metadata></domain>`,
			check: func(d *domainXML) string {
				if f := d.Nova.Flavor; f.Memory != 0 || f.Disk != 0 || f.VCPUs != 0 || f.Name != "f" {
					return fmt.Sprintf("flavor %+v", f)
				}
				return ""
			}},
		{name: "long name cut", xml: "<domain><name>" + strings.Repeat("é", 300) + "</name></domain>", check: func(d *domainXML) string {
			if len(d.Name) > maxText || !utf8.ValidString(d.Name) || !strings.HasPrefix(d.Name, "éé") {
				return fmt.Sprintf("name of %d bytes, valid %v", len(d.Name), utf8.ValidString(d.Name))
			}
			return ""
		}},
		{name: "too many disks", xml: "<domain><devices>" + strings.Repeat("<disk><source/><target dev='x'/></disk>", maxDevices+3) +
			"<interface><target dev='t'/><mac address='m'/></interface></devices></domain>", check: func(d *domainXML) string {
			if len(d.Disks) != maxDevices || !d.Truncated || len(d.NICs) != 1 || d.NICs[0].Dev != "t" {
				return fmt.Sprintf("%d disks, truncated %v, nics %+v", len(d.Disks), d.Truncated, d.NICs)
			}
			return ""
		}},
		{name: "skipped disk's target does not leak", xml: "<domain><devices>" + strings.Repeat("<disk><target dev='a'/></disk>", maxDevices) +
			"<disk><target dev='b'/></disk></devices></domain>", check: func(d *domainXML) string {
			if last := d.Disks[len(d.Disks)-1]; last.Dev != "a" {
				return fmt.Sprintf("last kept disk %+v", last)
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseDomainXML(tc.xml)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(d); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestParseDomainXMLRoundTrip renders random domains as XML and parses
// them back: the parser must return what was rendered.
func TestParseDomainXMLRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		const chars = "abcdefghijklmnopqrstuvwxyz0123456789-_.:/ <>&'\"é"
		b := make([]rune, 1+r.IntN(12))
		for i := range b {
			b[i] = []rune(chars)[r.IntN(len([]rune(chars)))]
		}
		return strings.TrimSpace(string(b)) + "x"
	}
	esc := html.EscapeString
	for range 500 {
		want := &domainXML{Name: word(), UUID: word(), Type: "kvm", OSType: "hvm", Arch: word()}
		var b strings.Builder
		fmt.Fprintf(&b, "<domain type='kvm'><name>%s</name><uuid>%s</uuid><os><type arch='%s'>hvm</type></os><devices>",
			esc(want.Name), esc(want.UUID), esc(want.Arch))
		for range r.IntN(4) {
			d := diskXML{Dev: word(), Bus: "virtio", Device: "disk", HasSource: r.IntN(2) == 0}
			src := ""
			if d.HasSource {
				src = "<source file='" + esc(word()) + "'/>"
			}
			fmt.Fprintf(&b, "<disk type='file' device='disk'>%s<target dev='%s' bus='virtio'/></disk>", src, esc(d.Dev))
			want.Disks = append(want.Disks, d)
		}
		for range r.IntN(4) {
			n := nicXML{Dev: word(), MAC: word(), Type: "bridge", Bridge: word()}
			fmt.Fprintf(&b, "<interface type='bridge'><mac address='%s'/><source bridge='%s'/><target dev='%s'/>",
				esc(n.MAC), esc(n.Bridge), esc(n.Dev))
			if r.IntN(2) == 0 {
				n.FilterRef = word()
				fmt.Fprintf(&b, "<filterref filter='%s'>", esc(n.FilterRef))
				for range r.IntN(3) {
					p := param{strings.ToLower(word()), word()}
					n.Params = append(n.Params, p)
					fmt.Fprintf(&b, "<parameter name='%s' value='%s'/>", esc(p.name), esc(p.value))
				}
				b.WriteString("</filterref>")
			}
			b.WriteString("</interface>")
			want.NICs = append(want.NICs, n)
		}
		b.WriteString("</devices>")
		if r.IntN(2) == 0 {
			n := &novaXML{Name: word(), UserID: word(), UserName: word(), ProjectID: word(), ProjectName: word(),
				Flavor: flavorXML{Name: word(), Memory: r.Int64N(1 << 20), Disk: r.Int64N(1000), VCPUs: r.Int64N(128)}}
			want.Nova = n
			fmt.Fprintf(&b, `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>%s</nova:name>`+
				`<nova:flavor name="%s"><nova:memory>%d</nova:memory><nova:disk>%d</nova:disk><nova:vcpus>%d</nova:vcpus></nova:flavor>`+
				`<nova:owner><nova:user uuid="%s">%s</nova:user><nova:project uuid="%s">%s</nova:project></nova:owner></nova:instance></metadata>`,
				esc(n.Name), esc(n.Flavor.Name), n.Flavor.Memory, n.Flavor.Disk, n.Flavor.VCPUs,
				esc(n.UserID), esc(n.UserName), esc(n.ProjectID), esc(n.ProjectName))
		}
		b.WriteString("</domain>")
		got, err := parseDomainXML(b.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parsed %+v (nova %+v)\nrendered %+v (nova %+v)\nfrom %s", got, got.Nova, want, want.Nova, b.String())
		}
	}
}

// FuzzParseDomainXML: no input panics or breaks the limits.
func FuzzParseDomainXML(f *testing.F) {
	f.Add(novaDomainXML)
	f.Add("<domain><devices><disk><source/><target dev='vda'/></disk></devices></domain>")
	f.Add("<domain><metadata><n:instance xmlns:n='http://openstack.org/xmlns/libvirt/nova/1.1'><n:flavor name='x'><n:disk>1</n:disk></n:flavor></n:instance></metadata></domain>")
	f.Fuzz(func(t *testing.T, data string) {
		d, err := parseDomainXML(data)
		if err != nil {
			return
		}
		if len(d.Disks) > maxDevices || len(d.NICs) > maxDevices {
			t.Fatalf("%d disks, %d interfaces", len(d.Disks), len(d.NICs))
		}
		strs := []string{d.Name, d.UUID, d.Type, d.OSType, d.Arch}
		for _, n := range d.NICs {
			if len(n.Params) > maxParams {
				t.Fatalf("%d parameters", len(n.Params))
			}
			strs = append(strs, n.Dev, n.MAC, n.FilterRef, n.Bridge, n.InterfaceID)
		}
		for _, s := range strs {
			if len(s) > maxText || !utf8.ValidString(s) {
				t.Fatalf("value of %d bytes (valid UTF-8: %v)", len(s), utf8.ValidString(s))
			}
		}
		if n := d.Nova; n != nil && (n.Flavor.Disk < 0 || n.Flavor.Memory < 0 || n.Flavor.Ephemeral < 0) {
			t.Fatalf("negative flavor %+v", n.Flavor)
		}
	})
}
