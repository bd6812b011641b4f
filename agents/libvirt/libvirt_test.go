//go:build libvirt

package libvirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	lv "libvirt.org/go/libvirt"

	"github.com/vigil-telemetry/vigil/agents/poll"
	"github.com/vigil-telemetry/vigil/pipeline"
)

// The scheduler runs the libvirt pollster and skips it in sources that
// select none of its meters.
var (
	_ poll.Pollster    = (*Pollster)(nil)
	_ poll.MeterLister = (*Pollster)(nil)
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// polled is one Poll's samples by "<resource id> <meter>".
type polled map[string]pipeline.Sample

func pollOnce(t testing.TB, p *Pollster, now time.Time) polled {
	t.Helper()
	got, err := pollErr(t, p, now)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return got
}

func pollErr(t testing.TB, p *Pollster, now time.Time) (polled, error) {
	t.Helper()
	got := polled{}
	listed := map[string]bool{}
	for _, m := range p.Meters() {
		listed[m] = true
	}
	err := p.Poll(context.Background(), now, func(s *pipeline.Sample) {
		if err := s.Validate(); err != nil {
			t.Errorf("invalid sample: %v", err)
		}
		if !listed[s.Name] {
			t.Errorf("%s emitted, but Meters does not list it", s.Name)
		}
		if math.IsNaN(s.Volume) || math.IsInf(s.Volume, 0) || s.Volume < 0 {
			t.Errorf("%s of %s = %v", s.Name, s.ResourceID, s.Volume)
		}
		k := s.ResourceID + " " + s.Name
		if _, dup := got[k]; dup {
			t.Errorf("%s emitted twice in one poll", k)
		}
		got[k] = *s
	})
	return got, err
}

func counterValue(t testing.TB, s *metrics.Set, name string) uint64 {
	t.Helper()
	return s.GetOrCreateCounter(name).Get()
}

// Nova's metadata as its libvirt driver writes it.
func novaMetadata(name, flavor string, disk, ephemeral int, user, project, image string) string {
	return fmt.Sprintf(`<metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
        <nova:package version="26.2.0"/>
        <nova:name>%s</nova:name>
        <nova:creationTime>2026-11-30 10:00:00</nova:creationTime>
        <nova:flavor name="%s">
          <nova:memory>2048</nova:memory>
          <nova:disk>%d</nova:disk>
          <nova:swap>0</nova:swap>
          <nova:ephemeral>%d</nova:ephemeral>
          <nova:vcpus>2</nova:vcpus>
        </nova:flavor>
        <nova:owner>
          <nova:user uuid="%s">alice</nova:user>
          <nova:project uuid="%s">web</nova:project>
        </nova:owner>
        <nova:root type="image" uuid="%s"/>
      </nova:instance>
    </metadata>`, name, flavor, disk, ephemeral, user, project, image)
}

const (
	uuidAlpha = "11111111-2222-3333-4444-555555555501"
	uuidBeta  = "11111111-2222-3333-4444-555555555502"
	uuidGamma = "11111111-2222-3333-4444-555555555503"
	uuidDelta = "11111111-2222-3333-4444-555555555504"
	userID    = "8e1b3a0c9f2d4e5f8a7b6c5d4e3f2a1b"
	projectID = "c0ffee00c0ffee00c0ffee00c0ffee00"
	imageID   = "a1b2c3d4-0000-4000-8000-000000000001"
	filterRef = "nova-instance-instance-00000001-525400000001"
)

// nodeXML is a test driver node with four domains: alpha (Nova metadata,
// two disks, an empty cdrom, two interfaces, a balloon), beta (no Nova
// metadata, no balloon), gamma (Nova metadata, shut off) and delta
// (paused).
func nodeXML() string {
	return `<node>
  <cpu><mhz>2400</mhz><model>i686</model><active>4</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type='test'>
    <name>instance-00000001</name>
    <uuid>` + uuidAlpha + `</uuid>
    ` + novaMetadata("alpha", "m1.small", 20, 5, userID, projectID, imageID) + `
    <memory unit='KiB'>2097152</memory>
    <currentMemory unit='KiB'>2097152</currentMemory>
    <vcpu placement='static'>2</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/guest/alpha-root.img'/><target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><source file='/guest/alpha-eph.img'/><target dev='vdb' bus='virtio'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
      <interface type='bridge'>
        <mac address='52:54:00:00:00:01'/>
        <source bridge='br-int'/>
        <virtualport type='openvswitch'><parameters interfaceid='0d9f6b3e-1111-4a4a-9b9b-000000000001'/></virtualport>
        <target dev='tap0d9f6b3e-11'/>
        <filterref filter='` + filterRef + `'>
          <parameter name='IP' value='10.0.0.5'/>
          <parameter name='DHCPSERVER' value='10.0.0.1'/>
        </filterref>
      </interface>
      <interface type='network'>
        <mac address='52:54:00:00:00:02'/>
        <source network='default'/>
        <target dev='tap-alpha1'/>
      </interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
  <domain type='test'>
    <name>vm-beta</name>
    <uuid>` + uuidBeta + `</uuid>
    <memory unit='KiB'>4194304</memory>
    <currentMemory unit='KiB'>3145728</currentMemory>
    <vcpu placement='static'>4</vcpu>
    <os><type arch='i686'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/guest/beta-root.img'/><target dev='sda' bus='scsi'/></disk>
      <interface type='network'><mac address='52:54:00:00:00:03'/><source network='default'/><target dev='tap-beta0'/></interface>
    </devices>
  </domain>
  <domain type='test'>
    <name>instance-00000003</name>
    <uuid>` + uuidGamma + `</uuid>
    ` + novaMetadata("gamma", "m1.tiny", 1, 0, userID, projectID, imageID) + `
    <memory unit='KiB'>1048576</memory>
    <vcpu placement='static'>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/guest/gamma-root.img'/><target dev='vda' bus='virtio'/></disk>
    </devices>
    <test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>vm-delta</name>
    <uuid>` + uuidDelta + `</uuid>
    <memory unit='KiB'>1048576</memory>
    <vcpu placement='static'>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices/>
    <test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>3</test:runstate>
  </domain>
</node>`
}

func writeNode(t testing.TB, xml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	return "test://" + path
}

// TestTestDriverNode polls a node file of libvirt's test driver, whose
// bulk call fills only the state group: every other meter comes from the
// per-domain calls standing in for it. The values are checked against the
// same calls made directly, the Nova metadata against the XML.
func TestTestDriverNode(t *testing.T) {
	uri := writeNode(t, nodeXML())
	set := metrics.NewSet()
	p, err := New(Config{URI: uri, Host: "compute-1", Metrics: set, XMLRefresh: 1000}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

	// The reference: the test driver loads a fresh copy of the file per
	// connection, so this one sees the same domains in the same state.
	ref, err := lv.NewConnectReadOnly(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	alpha, err := ref.LookupDomainByUUIDString(uuidAlpha)
	if err != nil {
		t.Fatal(err)
	}
	defer alpha.Free()
	before := blockAndNet(t, alpha, []string{"vda", "vdb"}, []string{"tap0d9f6b3e-11", "tap-alpha1"})
	got := pollOnce(t, p, now)
	after := blockAndNet(t, alpha, []string{"vda", "vdb"}, []string{"tap0d9f6b3e-11", "tap-alpha1"})

	if p.groups != lv.DOMAIN_STATS_STATE {
		t.Errorf("bulk groups after probing the test driver = %#x, want state only", p.groups)
	}
	cpu, err := alpha.GetCPUStats(-1, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := alpha.GetInfo()
	if err != nil {
		t.Fatal(err)
	}
	mem := map[int32]uint64{}
	ms, err := alpha.MemoryStats(uint32(lv.DOMAIN_MEMORY_STAT_NR), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		mem[m.Tag] = m.Val
	}
	bi, err := alpha.GetBlockInfo("vda", 0)
	if err != nil {
		t.Fatal(err)
	}
	mib := func(tag lv.DomainMemoryStatTags) float64 { return float64(mem[int32(tag)]) / 1024 }
	want := map[string]float64{
		uuidAlpha + " power.state":                1,
		uuidAlpha + " cpu":                        float64(cpu[0].CpuTime),
		uuidAlpha + " vcpus":                      float64(info.NrVirtCpu),
		uuidAlpha + " memory":                     float64(info.Memory) / 1024,
		uuidAlpha + " memory.usage":               mib(lv.DOMAIN_MEMORY_STAT_AVAILABLE) - mib(lv.DOMAIN_MEMORY_STAT_USABLE),
		uuidAlpha + " memory.resident":            mib(lv.DOMAIN_MEMORY_STAT_RSS),
		uuidAlpha + " memory.swap.in":             mib(lv.DOMAIN_MEMORY_STAT_SWAP_IN),
		uuidAlpha + " memory.swap.out":            mib(lv.DOMAIN_MEMORY_STAT_SWAP_OUT),
		uuidAlpha + " disk.root.size":             20,
		uuidAlpha + " disk.ephemeral.size":        5,
		uuidAlpha + "-vda disk.device.capacity":   float64(max(bi.Capacity, bi.Physical)),
		uuidAlpha + "-vda disk.device.allocation": float64(bi.Allocation),
		uuidAlpha + "-vda disk.device.usage":      float64(bi.Physical),
		uuidBeta + " power.state":                 1,
		uuidBeta + " vcpus":                       4,
		uuidBeta + " memory":                      3145728.0 / 1024,
		uuidGamma + " power.state":                5,
		uuidGamma + " disk.root.size":             1,
		uuidGamma + " disk.ephemeral.size":        0,
		uuidDelta + " power.state":                3,
	}
	for k, v := range want {
		s, ok := got[k]
		if !ok {
			t.Errorf("no sample %s", k)
			continue
		}
		if math.Abs(s.Volume-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, s.Volume, v)
		}
	}
	// The counters the test driver derives from the clock lie between two
	// direct reads around the poll.
	nicA := filterRef
	nicB := "instance-00000001-" + uuidAlpha + "-tap-alpha1"
	for key, i := range map[string]int{
		uuidAlpha + "-vda disk.device.read.bytes": 0, uuidAlpha + "-vda disk.device.read.requests": 1,
		uuidAlpha + "-vda disk.device.write.bytes": 2, uuidAlpha + "-vda disk.device.write.requests": 3,
		uuidAlpha + "-vdb disk.device.read.bytes": 4,
		nicA + " network.incoming.bytes":          8, nicA + " network.incoming.packets": 9,
		nicA + " network.incoming.packets.error": 10, nicA + " network.incoming.packets.drop": 11,
		nicA + " network.outgoing.bytes": 12, nicA + " network.outgoing.packets": 13,
		nicA + " network.outgoing.packets.error": 14, nicA + " network.outgoing.packets.drop": 15,
		nicB + " network.incoming.bytes": 16,
	} {
		s, ok := got[key]
		if !ok {
			t.Errorf("no sample %s", key)
			continue
		}
		if s.Volume < before[i] || s.Volume > after[i] {
			t.Errorf("%s = %v, not within the direct reads %v..%v", key, s.Volume, before[i], after[i])
		}
	}
	for k := range got {
		switch {
		case strings.Contains(k, "-hdc "):
			t.Errorf("the cdrom without media was metered: %s", k)
		case strings.HasPrefix(k, uuidGamma+" ") && !strings.HasSuffix(k, " power.state") && !strings.Contains(k, ".size"):
			t.Errorf("the shut-off domain gave %s", k)
		case strings.HasPrefix(k, uuidBeta+" memory.usage"), strings.HasPrefix(k, uuidBeta+" disk.root.size"):
			t.Errorf("beta has neither balloon stats nor a flavor, yet gave %s", k)
		case strings.HasPrefix(k, uuidAlpha+" perf."):
			t.Errorf("perf events are off on the test driver, yet gave %s", k)
		}
	}

	// Types, units, resource types, owner and metadata.
	s := got[uuidAlpha+" cpu"]
	if s.Type != pipeline.Cumulative || s.Unit != "ns" || s.ResourceType != "instance" || s.UserID != userID ||
		s.ProjectID != projectID || s.Source != "openstack" || !s.Timestamp.Equal(now) {
		t.Errorf("cpu sample %+v", s)
	}
	md := s.Metadata
	wantMD := map[string]any{
		"display_name": "alpha", "name": "instance-00000001", "instance_id": uuidAlpha, "instance_type": "m1.small",
		"instance_host": "compute-1", "host": hostID(projectID, "compute-1"), "status": "active", "state": "running",
		"task_state": "", "image_ref": imageID, "image_ref_url": nil, "os_type": "hvm", "architecture": "x86_64",
		"vcpus": int64(2), "memory_mb": int64(2048), "disk_gb": int64(20), "ephemeral_gb": int64(5), "root_gb": int64(15),
		"user_name": "alice", "project_name": "web", "root_type": "image",
	}
	for k, v := range wantMD {
		if md[k] != v {
			t.Errorf("metadata %s = %#v, want %#v", k, md[k], v)
		}
	}
	if f, _ := md["flavor"].(map[string]any); f == nil || f["name"] != "m1.small" || f["id"] != "m1.small" ||
		f["ram"] != int64(2048) || f["disk"] != int64(20) || f["ephemeral"] != int64(5) || f["swap"] != int64(0) || f["vcpus"] != int64(2) {
		t.Errorf("flavor metadata %#v", md["flavor"])
	}
	if img, _ := md["image"].(map[string]any); img == nil || img["id"] != imageID {
		t.Errorf("image metadata %#v", md["image"])
	}
	for k, typ := range map[string]string{
		uuidAlpha + "-vda disk.device.read.bytes": "instance_disk",
		nicA + " network.incoming.bytes":          "instance_network_interface",
	} {
		if s := got[k]; s.ResourceType != typ || s.UserID != userID || s.Metadata["instance_id"] != uuidAlpha {
			t.Errorf("%s: %+v", k, s)
		}
	}
	if md := got[uuidAlpha+"-vdb disk.device.write.bytes"].Metadata; md["disk_name"] != "vdb" || md["display_name"] != "alpha" {
		t.Errorf("disk metadata %v", md)
	}
	nmd := got[nicA+" network.outgoing.bytes"].Metadata
	params, _ := nmd["parameters"].(map[string]any)
	if nmd["name"] != "tap0d9f6b3e-11" || nmd["mac"] != "52:54:00:00:00:01" || nmd["fref"] != filterRef ||
		nmd["vnic_name"] != filterRef || params["ip"] != "10.0.0.5" || params["dhcpserver"] != "10.0.0.1" ||
		params["interfaceid"] != "0d9f6b3e-1111-4a4a-9b9b-000000000001" || params["bridge"] != "br-int" {
		t.Errorf("interface with a filterref: metadata %v", nmd)
	}
	if nmd := got[nicB+" network.incoming.bytes"].Metadata; nmd["vnic_name"] != "tap-alpha1" || nmd["fref"] != nil {
		t.Errorf("interface without a filterref: metadata %v", nmd)
	}
	if s := got[uuidBeta+" vcpus"]; s.UserID != "" || s.ProjectID != "" || s.Metadata["display_name"] != "vm-beta" {
		t.Errorf("domain without Nova metadata: %+v", s)
	}
	if s := got[uuidGamma+" power.state"]; s.Metadata["status"] != "stopped" || s.Metadata["state"] != "shutdown" {
		t.Errorf("shut-off domain metadata %v", s.Metadata)
	}
	if s := got[uuidDelta+" power.state"]; s.Metadata["status"] != "paused" {
		t.Errorf("paused domain metadata %v", s.Metadata)
	}
	if n := counterValue(t, set, `vigil_libvirt_domains_skipped_total{uri="`+uri+`",reason="inactive"}`); n != 1 {
		t.Errorf("%d domains skipped as inactive, want 1 (gamma)", n)
	}
	if n := counterValue(t, set, `vigil_libvirt_fallback_calls_total{uri="`+uri+`"}`); n == 0 {
		t.Error("no per-domain calls counted on a driver that fills only state")
	}

	// A second poll reads no XML (XMLRefresh is far away) and makes one bulk
	// call, without probing again.
	parses := counterValue(t, set, `vigil_libvirt_xml_parses_total{uri="`+uri+`"}`)
	bulk := counterValue(t, set, `vigil_libvirt_bulk_calls_total{uri="`+uri+`"}`)
	if parses != 4 {
		t.Errorf("%d XML parses for 4 domains", parses)
	}
	second := pollOnce(t, p, now.Add(time.Minute))
	if len(second) != len(got) {
		t.Errorf("second poll: %d samples, first %d", len(second), len(got))
	}
	if n := counterValue(t, set, `vigil_libvirt_xml_parses_total{uri="`+uri+`"}`); n != parses {
		t.Errorf("second poll parsed XML again: %d parses", n)
	}
	if n := counterValue(t, set, `vigil_libvirt_xml_reads_total{uri="`+uri+`"}`); n != 4 {
		t.Errorf("second poll read XML again: %d reads", n)
	}
	if n := counterValue(t, set, `vigil_libvirt_bulk_calls_total{uri="`+uri+`"}`); n != bulk+1 {
		t.Errorf("second poll made %d bulk calls", n-bulk)
	}
	if a, b := got[uuidAlpha+"-vda disk.device.read.bytes"].Volume, second[uuidAlpha+"-vda disk.device.read.bytes"].Volume; b < a {
		t.Errorf("read bytes went from %v to %v", a, b)
	}
}

// blockAndNet reads the test driver's block and interface counters of a
// domain directly: per disk rd bytes, rd reqs, wr bytes, wr reqs, then per
// interface the eight counters.
func blockAndNet(t testing.TB, d *lv.Domain, disks, nics []string) []float64 {
	t.Helper()
	var v []float64
	for _, dev := range disks {
		bs, err := d.BlockStats(dev)
		if err != nil {
			t.Fatal(err)
		}
		v = append(v, float64(bs.RdBytes), float64(bs.RdReq), float64(bs.WrBytes), float64(bs.WrReq))
	}
	for _, dev := range nics {
		is, err := d.InterfaceStats(dev)
		if err != nil {
			t.Fatal(err)
		}
		v = append(v, float64(is.RxBytes), float64(is.RxPackets), float64(is.RxErrs), float64(is.RxDrop),
			float64(is.TxBytes), float64(is.TxPackets), float64(is.TxErrs), float64(is.TxDrop))
	}
	return v
}

// TestNovaOnly leaves out the domains Nova did not create.
func TestNovaOnly(t *testing.T) {
	p, err := New(Config{URI: writeNode(t, nodeXML()), NovaOnly: true}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for k := range pollOnce(t, p, time.Now()) {
		if !strings.HasPrefix(k, uuidAlpha) && !strings.HasPrefix(k, uuidGamma) && !strings.HasPrefix(k, filterRef) &&
			!strings.HasPrefix(k, "instance-00000001-") {
			t.Errorf("NovaOnly poll gave %s", k)
		}
	}
}

// TestDefaultDriver polls test:///default, whose state is shared by the
// process's connections: a domain created through another connection
// appears, and one destroyed between polls, or in the middle of one,
// disappears without failing the poll.
func TestDefaultDriver(t *testing.T) {
	rw, err := lv.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	set := metrics.NewSet()
	const uri = "test:///default"
	p, err := New(Config{URI: uri, Metrics: set}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	got := pollOnce(t, p, time.Now())
	// The default driver's own domain "test".
	if s, ok := got["6695eb01-f6a4-8304-79aa-97f2502e193f cpu"]; !ok || s.Metadata["name"] != "test" {
		t.Fatalf("no cpu sample of the default domain; got %d samples", len(got))
	}
	if _, ok := got["6695eb01-f6a4-8304-79aa-97f2502e193f-vda disk.device.read.bytes"]; !ok {
		t.Error("no disk sample of the default domain")
	}
	if _, ok := got["test-6695eb01-f6a4-8304-79aa-97f2502e193f-testnet0 network.incoming.bytes"]; !ok {
		t.Error("no interface sample of the default domain")
	}

	const (
		eps = "11111111-2222-3333-4444-5555555555e1"
		eta = "11111111-2222-3333-4444-5555555555e2"
	)
	dom, err := rw.DomainCreateXML(`<domain type='test'><name>instance-000000e1</name><uuid>`+eps+`</uuid>`+
		novaMetadata("epsilon", "m1.small", 10, 0, userID, projectID, imageID)+
		`<memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os>
		<devices><disk type='file' device='disk'><source file='/guest/e.img'/><target dev='vda'/></disk></devices></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	got = pollOnce(t, p, time.Now())
	if s, ok := got[eps+" cpu"]; !ok || s.Metadata["display_name"] != "epsilon" || s.ProjectID != projectID {
		t.Fatalf("created domain: cpu sample %+v (present %v)", s, ok)
	}
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	dom.Free()
	got = pollOnce(t, p, time.Now())
	for k := range got {
		if strings.HasPrefix(k, eps) {
			t.Errorf("destroyed domain still polled: %s", k)
		}
	}
	if _, ok := p.doms[eps]; ok {
		t.Error("destroyed domain still cached")
	}

	// Nova changes the metadata of a running domain: the next XML refresh
	// (every 2 polls here) reads and parses it once, and the samples carry
	// the new metadata; unchanged XML is read but not parsed again.
	p.cfg.XMLRefresh = 2
	dom, err = rw.DomainCreateXML(`<domain type='test'><name>instance-000000e2</name><uuid>`+eta+`</uuid>`+
		novaMetadata("eta", "m1.small", 10, 0, userID, projectID, imageID)+
		`<memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		pollOnce(t, p, time.Now())
	}
	parses := counterValue(t, set, `vigil_libvirt_xml_parses_total{uri="`+uri+`"}`)
	reads := counterValue(t, set, `vigil_libvirt_xml_reads_total{uri="`+uri+`"}`)
	for range 3 {
		pollOnce(t, p, time.Now())
	}
	if n := counterValue(t, set, `vigil_libvirt_xml_parses_total{uri="`+uri+`"}`); n != parses {
		t.Errorf("unchanged XML parsed %d more times", n-parses)
	}
	if n := counterValue(t, set, `vigil_libvirt_xml_reads_total{uri="`+uri+`"}`); n == reads {
		t.Error("XML never read again")
	}
	// SetMetadata takes the element without its namespace, as Nova sends it.
	const novaNS = "http://openstack.org/xmlns/libvirt/nova/1.1"
	renamed := `<instance><name>eta-renamed</name><flavor name="m1.small"><memory>2048</memory><disk>10</disk>` +
		`<swap>0</swap><ephemeral>0</ephemeral><vcpus>2</vcpus></flavor><owner><user uuid="` + userID + `">alice</user>` +
		`<project uuid="` + projectID + `">web</project></owner><root type="image" uuid="` + imageID + `"/></instance>`
	if err := dom.SetMetadata(lv.DOMAIN_METADATA_ELEMENT, renamed, "nova", novaNS, lv.DOMAIN_AFFECT_LIVE); err != nil {
		t.Fatal(err)
	}
	var last polled
	for range 2 {
		last = pollOnce(t, p, time.Now())
	}
	if s := last[eta+" vcpus"]; s.Metadata["display_name"] != "eta-renamed" {
		t.Errorf("metadata after Nova changed it: display_name %v", s.Metadata["display_name"])
	}
	if n := counterValue(t, set, `vigil_libvirt_xml_parses_total{uri="`+uri+`"}`); n != parses+1 {
		t.Errorf("%d parses after one change, want 1", n-parses)
	}

	// Metadata nested too deep for the parser: the XML read before stays
	// in use, and the error is counted.
	deep := "<deep>" + strings.Repeat("<a>", maxXMLDepth) + strings.Repeat("</a>", maxXMLDepth) + "</deep>"
	if err := dom.SetMetadata(lv.DOMAIN_METADATA_ELEMENT, deep, "x", "urn:x", lv.DOMAIN_AFFECT_LIVE); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		last = pollOnce(t, p, time.Now())
	}
	if s, ok := last[eta+" vcpus"]; !ok || s.Metadata["display_name"] != "eta-renamed" {
		t.Errorf("domain with unparsable XML: vcpus sample %+v (present %v)", s, ok)
	}
	if n := counterValue(t, set, `vigil_libvirt_stat_errors_total{uri="`+uri+`",group="xml"}`); n == 0 {
		t.Error("the unparsable XML was not counted")
	}
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	dom.Free()

	// Destroyed after the bulk call listed it: its per-domain calls fail
	// with "no domain", and the poll goes on.
	const zeta = "11111111-2222-3333-4444-5555555555f1"

	dom, err = rw.DomainCreateXML(`<domain type='test'><name>vm-zeta</name><uuid>`+zeta+`</uuid>
		<memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	p.afterBulk = func() {
		if err := dom.Destroy(); err != nil {
			t.Errorf("destroy mid-poll: %v", err)
		}
	}
	got = pollOnce(t, p, time.Now())
	p.afterBulk = nil
	for k := range got {
		if strings.HasPrefix(k, zeta) {
			t.Errorf("domain destroyed mid-poll gave %s", k)
		}
	}
	if _, ok := got["6695eb01-f6a4-8304-79aa-97f2502e193f cpu"]; !ok {
		t.Error("the other domain gave no cpu sample in the poll where one vanished")
	}
	if n := counterValue(t, set, `vigil_libvirt_domains_skipped_total{uri="`+uri+`",reason="vanished"}`); n != 1 {
		t.Errorf("%d domains counted as vanished, want 1", n)
	}
}

// TestUnreachable: a URI nothing answers fails the poll at once with
// ErrUnavailable, and the next poll within the backoff does not try again.
func TestUnreachable(t *testing.T) {
	for _, bad := range []string{"not a uri", "://nothing", "/var/run/libvirt"} {
		if _, err := New(Config{URI: bad}, nil); err == nil {
			t.Errorf("New accepted URI %q", bad)
		}
	}
	set := metrics.NewSet()
	uri := "test://" + filepath.Join(t.TempDir(), "missing.xml")
	p, err := New(Config{URI: uri, Metrics: set, MinBackoff: time.Hour, MaxBackoff: time.Hour}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n := 0
	emit := func(*pipeline.Sample) { n++ }
	err = p.Poll(context.Background(), time.Now(), emit)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("poll of %s: %v, want ErrUnavailable", uri, err)
	}
	err = p.Poll(context.Background(), time.Now(), emit)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "next attempt in") {
		t.Errorf("second poll: %v, want an error naming the next attempt", err)
	}
	if n != 0 {
		t.Errorf("%d samples from an unreachable libvirt", n)
	}
	if c := counterValue(t, set, `vigil_libvirt_connect_errors_total{uri="`+uri+`"}`); c != 1 {
		t.Errorf("%d connection attempts within the backoff, want 1", c)
	}
}

// TestPollHonoursContext: a done context fails the poll without samples,
// and a poll whose libvirt work outlives its context returns at the
// deadline, emits nothing afterwards, and leaves the pollster usable.
func TestPollHonoursContext(t *testing.T) {
	p, err := New(Config{URI: writeNode(t, nodeXML())}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	if err := p.Poll(ctx, time.Now(), func(*pipeline.Sample) { n++ }); err == nil || n != 0 {
		t.Errorf("poll on a done context: err %v, %d samples", err, n)
	}

	release := make(chan struct{})
	p.afterBulk = func() { <-release }
	var returned, late atomic.Bool
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.Poll(ctx, time.Now(), func(*pipeline.Sample) {
		if returned.Load() {
			late.Store(true)
		}
	})
	returned.Store(true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("poll blocked in libvirt past its deadline: %v", err)
	}
	// A poll meanwhile waits for the blocked one within its own context.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := p.Poll(ctx2, time.Now(), func(*pipeline.Sample) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("poll during a blocked one: %v", err)
	}
	close(release) // the hook stays, but returns at once from now on
	if got := pollOnce(t, p, time.Now()); len(got) == 0 {
		t.Error("no samples after a blocked poll finished")
	}
	if late.Load() {
		t.Error("a sample was emitted after Poll returned")
	}
}
