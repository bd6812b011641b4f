package notify

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// fixture reads a bare notification from testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelope wraps a bare message in oslo.messaging's 2.0 envelope.
func envelope(t testing.TB, bare []byte) []byte {
	t.Helper()
	var compact strings.Builder
	var v any
	if err := json.Unmarshal(bare, &v); err != nil {
		t.Fatal(err)
	}
	inner, _ := json.Marshal(v)
	compact.Write(inner)
	out, _ := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": compact.String()})
	return out
}

func parse(t testing.TB, data []byte) *Notification {
	t.Helper()
	n, err := ParseNotification(data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func defaultMeters(t testing.TB) *MeterDefinitions {
	t.Helper()
	m, err := LoadMeters("")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type skipRec map[string]int

func (s skipRec) fn(meter, reason string) { s[meter+":"+reason]++ }

func byName(ss []pipeline.Sample) map[string]pipeline.Sample {
	out := map[string]pipeline.Sample{}
	for _, s := range ss {
		out[s.Name] = s
	}
	return out
}

func names(ss []pipeline.Sample) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func TestDefaultMetersInstance(t *testing.T) {
	m := defaultMeters(t)
	n := parse(t, envelope(t, fixture(t, "instance_create_end")))
	skips := skipRec{}
	got, matched := m.Samples(nil, n, "openstack", skips.fn)
	if matched != 5 || names(got) != "compute.instance.booting.time,disk.ephemeral.size,disk.root.size,memory,vcpus" {
		t.Fatalf("%d definitions matched, samples %s, skips %v", matched, names(got), skips)
	}
	s := byName(got)
	mem := s["memory"]
	if mem.Volume != 512 || mem.Unit != "MB" || mem.Type != pipeline.Gauge || mem.ResourceID != "9f9d01b9-4a58-4271-9e27-398b21ab20d1" ||
		mem.UserID != "1e3ce043029547f1a61c1996d1a531a2" || mem.ProjectID != "7c150a59fe714e6f9263774af9688f0e" || mem.Source != "openstack" {
		t.Errorf("memory: %+v", mem)
	}
	if want := time.Date(2012, 5, 8, 20, 23, 48, 28195000, time.UTC); !mem.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", mem.Timestamp, want)
	}
	wantMD := map[string]any{
		"host": "compute-host-name", "flavor_id": "1", "flavor_name": "m1.tiny", "display_name": "testme",
		"image_ref": "5b8a1e8e-2c3f-4d5e-9f00-1a2b3c4d5e6f", "launched_at": "2012-05-08 20:23:47.985999",
		"created_at": "2012-05-08 20:23:41", "user_metadata": map[string]any{"stack": "st1"},
	}
	if fmt.Sprint(mem.Metadata) != fmt.Sprint(wantMD) {
		t.Errorf("metadata\n got %v\nwant %v", mem.Metadata, wantMD)
	}
	bt := s["compute.instance.booting.time"]
	if math.Abs(bt.Volume-6.985999) > 1e-9 || bt.Unit != "sec" || bt.UserID != "" {
		t.Errorf("booting time: %+v", bt)
	}
	if s["vcpus"].Volume != 1 || s["vcpus"].Unit != "vcpu" || s["disk.root.size"].Unit != "GB" {
		t.Errorf("vcpus %+v, disk.root.size %+v", s["vcpus"], s["disk.root.size"])
	}

	exists, _ := m.Samples(nil, parse(t, fixture(t, "instance_exists")), "openstack", nil)
	if names(exists) != "disk.ephemeral.size,disk.root.size,memory,vcpus" {
		t.Errorf("exists gives %s", names(exists))
	}
	for _, et := range []string{"compute.instance.create.start", "compute.instance.update"} {
		var b map[string]any
		json.Unmarshal(fixture(t, "instance_create_end"), &b)
		b["event_type"] = et
		raw, _ := json.Marshal(b)
		if got, matched := m.Samples(nil, parse(t, raw), "openstack", nil); matched != 0 || len(got) != 0 {
			t.Errorf("%s gives %s", et, names(got))
		}
	}
}

func TestDefaultMetersVolumeImage(t *testing.T) {
	m := defaultMeters(t)
	got, _ := m.Samples(nil, parse(t, envelope(t, fixture(t, "volume_create_end"))), "openstack", nil)
	if len(got) != 1 {
		t.Fatalf("volume.create.end gives %s", names(got))
	}
	v := got[0]
	want := map[string]any{"display_name": "vol-2", "volume_type": "3a9a398b-7e3b-40da-b09e-2115ad8cd68b", "image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd"}
	if v.Name != "volume.size" || v.Volume != 1 || v.Unit != "GB" || v.ResourceID != "cccccccc-cccc-cccc-cccc-cccccccccccc" ||
		v.ProjectID != "7ffe17a15c724e2aa79fc839540aec15" || fmt.Sprint(v.Metadata) != fmt.Sprint(want) {
		t.Errorf("volume.size: %+v", v)
	}
	got, _ = m.Samples(nil, parse(t, envelope(t, fixture(t, "volume_resize_end"))), "openstack", nil)
	if len(got) != 1 || got[0].Volume != 5 || got[0].Metadata["instance_id"] != "9f9d01b9-4a58-4271-9e27-398b21ab20d1" {
		t.Errorf("volume.resize.end: %+v", got)
	}
	got, _ = m.Samples(nil, parse(t, envelope(t, fixture(t, "image_upload"))), "openstack", nil)
	if len(got) != 1 {
		t.Fatalf("image.upload gives %s", names(got))
	}
	img := got[0]
	if img.Name != "image.size" || img.Volume != 19 || img.Unit != "B" || img.ProjectID != "fake" || img.UserID != "" ||
		img.Metadata["event_type"] != "image.upload" || img.Metadata["host"] != "images.example.com" || img.Metadata["name"] != "fake image #3" {
		t.Errorf("image.size: %+v", img)
	}
	if _, matched := m.Samples(nil, parse(t, envelope(t, fixture(t, "port_create_end"))), "openstack", nil); matched != 0 {
		t.Errorf("port.create.end matched %d meter definitions", matched)
	}
}

func notif(t testing.TB, eventType string, payload string) *Notification {
	t.Helper()
	return parse(t, []byte(fmt.Sprintf(`{"event_type": %q, "publisher_id": "compute.host1", "message_id": "m-1", "timestamp": "2026-11-22 02:30:00.5",
	  "priority": "INFO", "_context_user": "ctx-user", "payload": %s}`, eventType, payload)))
}

func TestDefaultMetersOthers(t *testing.T) {
	m := defaultMeters(t)
	for _, tc := range []struct {
		event, payload string
		want           map[string]float64 // name → volume
		check          func(t *testing.T, s map[string]pipeline.Sample)
	}{
		{"compute.metrics.update", `{"host": "h1", "nodename": "n1", "metrics": [
			{"name": "cpu.frequency", "value": 1600, "source": "libvirt.LibvirtDriver", "timestamp": "2026-11-22T02:29:59.000000"},
			{"name": "cpu.user.time", "value": 17421440000000}, {"name": "cpu.kernel.time", "value": 7852600000000},
			{"name": "cpu.idle.time", "value": 1307374400000000}, {"name": "cpu.iowait.time", "value": 11697470000000},
			{"name": "cpu.user.percent", "value": 0.012959045637294348}, {"name": "cpu.kernel.percent", "value": 0.005841204961898534},
			{"name": "cpu.idle.percent", "value": 0.9724985141658965}, {"name": "cpu.iowait.percent", "value": 0.008701235234910634},
			{"name": "cpu.percent", "value": 0.027501485834103515}]}`,
			map[string]float64{"compute.node.cpu.frequency": 1600, "compute.node.cpu.user.time": 17421440000000, "compute.node.cpu.kernel.time": 7852600000000,
				"compute.node.cpu.idle.time": 1307374400000000, "compute.node.cpu.iowait.time": 11697470000000,
				"compute.node.cpu.user.percent": 1.2959045637294348, "compute.node.cpu.kernel.percent": 0.5841204961898534,
				"compute.node.cpu.idle.percent": 97.24985141658965, "compute.node.cpu.iowait.percent": 0.8701235234910634, "compute.node.cpu.percent": 2.7501485834103515},
			func(t *testing.T, s map[string]pipeline.Sample) {
				f := s["compute.node.cpu.frequency"]
				if f.ResourceID != "h1_n1" || f.Metadata["source"] != "libvirt.LibvirtDriver" || f.Metadata["host"] != "compute.host1" ||
					!f.Timestamp.Equal(time.Date(2026, 11, 22, 2, 29, 59, 0, time.UTC)) {
					t.Errorf("frequency: %+v", f)
				}
				if u := s["compute.node.cpu.user.time"]; u.Type != pipeline.Cumulative || !u.Timestamp.Equal(time.Date(2026, 11, 22, 2, 30, 0, 5e8, time.UTC)) {
					t.Errorf("user time: %+v", u)
				}
			}},
		{"identity.authenticate", `{"outcome": "success", "initiator": {"id": "user-7"}}`,
			map[string]float64{"identity.authenticate.success": 1},
			func(t *testing.T, s map[string]pipeline.Sample) {
				if a := s["identity.authenticate.success"]; a.ResourceID != "user-7" || a.UserID != "user-7" || a.Unit != "user" || a.Type != pipeline.Delta {
					t.Errorf("%+v", a)
				}
			}},
		{"magnum.bay.metrics.update", `{"user_id": "u", "project_id": "p", "resource_id": "bay-1", "metrics": [
			{"name": "memory.usage", "unit": "B", "value": 1024}, {"name": "cpu.util", "unit": "%", "value": 12.5}]}`,
			map[string]float64{"memory.usage": 1024, "cpu.util": 12.5},
			func(t *testing.T, s map[string]pipeline.Sample) {
				if c := s["cpu.util"]; c.Unit != "%" || c.ResourceID != "bay-1" || c.ProjectID != "p" {
					t.Errorf("%+v", c)
				}
			}},
		{"objectstore.http.request", `{"target": {"id": "AUTH_p"}, "initiator": {"id": "u", "project_id": "p"}, "measurements": [
			{"metric": {"name": "storage.objects.outgoing.bytes", "unit": "B"}, "result": 28},
			{"metric": {"name": "storage.api.request", "unit": "request"}, "result": 1}]}`,
			map[string]float64{"storage.objects.outgoing.bytes": 28, "storage.api.request": 1}, nil},
		{"capacity.pool.info", `{"name_to_id": "host@lvm#pool1", "total": 100, "free": 40, "allocated": 60, "provisioned": 70, "virtual_free": 30}`,
			map[string]float64{"volume.provider.pool.capacity.total": 100, "volume.provider.pool.capacity.free": 40, "volume.provider.pool.capacity.allocated": 60,
				"volume.provider.pool.capacity.provisioned": 70, "volume.provider.pool.capacity.virtual_free": 30},
			func(t *testing.T, s map[string]pipeline.Sample) {
				if p := s["volume.provider.pool.capacity.total"]; p.Metadata["provider"] != "host@lvm" || p.ResourceID != "host@lvm#pool1" {
					t.Errorf("%+v", p)
				}
			}},
		{"capacity.backend.info", `{"name_to_id": "host@lvm", "total": 100, "free": 40, "allocated": 60, "provisioned": 70, "virtual_free": 30}`,
			map[string]float64{"volume.provider.capacity.total": 100, "volume.provider.capacity.free": 40, "volume.provider.capacity.allocated": 60,
				"volume.provider.capacity.provisioned": 70, "volume.provider.capacity.virtual_free": 30}, nil},
		{"dns.domain.exists", `{"id": "d1", "tenant_id": "p", "status": "ACTIVE", "pool_id": "pool", "audit_period_beginning": "2026-11-22T01:00:00", "audit_period_ending": "2026-11-22T02:00:00"}`,
			map[string]float64{"dns.domain.exists": 3600},
			func(t *testing.T, s map[string]pipeline.Sample) {
				if d := s["dns.domain.exists"]; d.UserID != "ctx-user" || d.Metadata["host"] != "compute.host1" {
					t.Errorf("%+v", d)
				}
			}},
		{"trove.instance.exists", `{"instance_id": "t1", "tenant_id": "p", "user_id": "u", "audit_period_beginning": "2026-11-22 01:00:00", "audit_period_ending": "2026-11-22 01:30:00", "state": "active"}`,
			map[string]float64{"trove.instance.exists": 1800}, nil},
		{"share.create.end", `{"share_id": "sh1", "size": 10, "user_id": "u", "project_id": "p", "name": "s", "host": "h", "status": "available", "availability_zone": "nova", "proto": "NFS"}`,
			map[string]float64{"manila.share.size": 10},
			func(t *testing.T, s map[string]pipeline.Sample) {
				if s["manila.share.size"].Metadata["protocol"] != "NFS" {
					t.Errorf("%+v", s["manila.share.size"])
				}
			}},
		{"l3.meter", `{"label_id": "l1", "tenant_id": "p", "bytes": 4096}`, map[string]float64{"bandwidth": 4096}, nil},
		{"image.send", `{"image_id": "i1", "bytes_sent": 100, "receiver_user_id": "ru", "receiver_tenant_id": "rp", "owner_id": "o"}`,
			map[string]float64{"image.download": 100, "image.serve": 100},
			func(t *testing.T, s map[string]pipeline.Sample) {
				if d, sv := s["image.download"], s["image.serve"]; d.ProjectID != "rp" || d.UserID != "ru" || sv.ProjectID != "o" || sv.UserID != "" {
					t.Errorf("download %+v serve %+v", d, sv)
				}
			}},
		{"snapshot.create.end", `{"snapshot_id": "s1", "volume_size": 3, "user_id": "u", "tenant_id": "p", "display_name": "snap"}`, map[string]float64{"snapshot.size": 3}, nil},
		{"backup.create.end", `{"backup_id": "b1", "size": 7, "user_id": "u", "tenant_id": "p", "display_name": "bk"}`, map[string]float64{"backup.size": 7}, nil},
	} {
		t.Run(tc.event, func(t *testing.T) {
			skips := skipRec{}
			got, _ := m.Samples(nil, notif(t, tc.event, tc.payload), "openstack", skips.fn)
			if len(skips) > 0 {
				t.Errorf("skipped %v", skips)
			}
			s := byName(got)
			if len(s) != len(tc.want) || len(got) != len(tc.want) {
				t.Errorf("samples %s, want %d", names(got), len(tc.want))
			}
			for name, v := range tc.want {
				if g, ok := s[name]; !ok || math.Abs(g.Volume-v) > 1e-9*math.Abs(v) {
					t.Errorf("%s = %v (present %v), want %v", name, g.Volume, ok, v)
				}
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestMetersSkipMissingFields(t *testing.T) {
	m := defaultMeters(t)
	skips := skipRec{}
	// memory_mb missing: memory skipped, the other instance meters stay.
	got, _ := m.Samples(nil, notif(t, "compute.instance.exists", `{"instance_id": "i", "vcpus": 2, "root_gb": 1, "ephemeral_gb": 0, "tenant_id": "p"}`), "openstack", skips.fn)
	if names(got) != "disk.ephemeral.size,disk.root.size,vcpus" || skips["memory:no_volume"] != 1 {
		t.Errorf("samples %s, skips %v", names(got), skips)
	}
	skips = skipRec{}
	got, _ = m.Samples(nil, notif(t, "volume.exists", `{"size": 1}`), "openstack", skips.fn)
	if len(got) != 0 || skips["volume.size:no_resource_id"] != 1 {
		t.Errorf("samples %s, skips %v", names(got), skips)
	}
	skips = skipRec{}
	got, _ = m.Samples(nil, notif(t, "volume.exists", `{"size": "big", "volume_id": "v"}`), "openstack", skips.fn)
	if len(got) != 0 || skips["volume.size:volume_not_a_number"] != 1 {
		t.Errorf("samples %s, skips %v", names(got), skips)
	}
	skips = skipRec{}
	got, _ = m.Samples(nil, notif(t, "compute.instance.create.end", `{"instance_id": "i", "memory_mb": 1, "vcpus": 1, "root_gb": 1, "ephemeral_gb": 1, "created_at": "2026-11-22 01:00:00"}`), "openstack", skips.fn)
	if len(got) != 4 || skips["compute.instance.booting.time:no_volume"] != 1 {
		t.Errorf("samples %s, skips %v", names(got), skips)
	}
	skips = skipRec{}
	got, _ = m.Samples(nil, notif(t, "magnum.bay.metrics.update", `{"resource_id": "b", "metrics": [{"name": "a", "value": 1, "unit": "x"}, {"name": "b", "value": 2}]}`), "openstack", skips.fn)
	// As Ceilometer: a looked-up attribute missing from one entry skips
	// the definition.
	if len(got) != 0 || skips["$.payload.metrics.[*].name:lookup_mismatch"] != 1 {
		t.Errorf("lookup with a missing unit: %s, skips %v", names(got), skips)
	}
	skips = skipRec{}
	got, _ = m.Samples(nil, notif(t, "magnum.bay.metrics.update", `{"resource_id": "b", "metrics": []}`), "openstack", skips.fn)
	if len(got) != 0 || skips["$.payload.metrics.[*].name:no_values"] != 1 {
		t.Errorf("samples %s, skips %v", names(got), skips)
	}
}

func TestParseMetersErrors(t *testing.T) {
	base := "metric:\n  - name: m\n    event_type: e\n    type: gauge\n    unit: B\n    volume: $.payload.v\n    resource_id: $.payload.id\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"no metric", "meters: []", `unknown key "meters"`},
		{"not a list", "metric: {}", "want a list"},
		{"missing fields", "metric:\n  - name: m\n    event_type: e\n", `line 2: metric[0] ("m"): required field(s) type, unit, volume, resource_id not specified`},
		{"bad type", strings.Replace(base, "gauge", "counter", 1), `line 4: metric[0] ("m").type: invalid type "counter"`},
		{"bad expression", strings.Replace(base, "$.payload.v", "$.payload[?(@.a = ]", 1), `line 6: metric[0] ("m").volume: cannot parse field expression`},
		{"bad metadata expression", base + "    metadata:\n      a: $.payload.a +\n", `line 9: metric[0] ("m").metadata.a: cannot parse field expression`},
		{"bad event type", strings.Replace(base, "event_type: e", "event_type: 'a(?<=b)'", 1), `line 3: metric[0] ("m").event_type: cannot compile`},
		{"unknown key", base + "    resource: x\n", `line 8: metric[0] ("m"): unknown key "resource"`},
		{"unknown plugin", strings.Replace(base, "volume: $.payload.v", "volume: {fields: [$.a, $.b], plugin: elapsed}", 1), `no plugin named "elapsed"`},
		{"plugin without fields", strings.Replace(base, "volume: $.payload.v", "volume: {plugin: timedelta}", 1), `volume.fields: required`},
		{"bad lookup", base + "    lookup: [color]\n", `"color" is not a sample attribute`},
		{"one-value plugin in lookup", strings.Replace(base, "volume: $.payload.v", "volume: {fields: [$.a, $.b], plugin: timedelta}", 1) + "    lookup: [volume]\n", "gives one value"},
		{"field type outside lookup", strings.Replace(base, "type: gauge", "type: $.payload.type", 1), "must be in lookup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMeters([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadMetersOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meters.yaml")
	own := `
metric:
  - name: memory
    event_type: compute.instance.exists
    type: gauge
    unit: GiB
    volume: $.payload.memory_mb
    resource_id: $.payload.instance_id
  - name: custom.meter
    event_type: my.event
    type: delta
    unit: thing
    volume: 1
    resource_id: $.publisher_id
  - name: custom.meter
    event_type: my.event
    type: delta
    unit: things
    volume: 2
    resource_id: $.publisher_id
`
	if err := os.WriteFile(path, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMeters(path)
	if err != nil {
		t.Fatal(err)
	}
	def := defaultMeters(t)
	if m.Len() != def.Len()+1 {
		t.Errorf("%d definitions, defaults have %d", m.Len(), def.Len())
	}
	got, _ := m.Samples(nil, parse(t, fixture(t, "instance_exists")), "openstack", nil)
	if s := byName(got)["memory"]; s.Unit != "GiB" {
		t.Errorf("memory not overridden: %+v", s)
	}
	got, _ = m.Samples(nil, notif(t, "my.event", `{}`), "openstack", nil)
	if len(got) != 1 || got[0].Volume != 2 || got[0].Unit != "things" || got[0].ResourceID != "compute.host1" {
		t.Errorf("the last definition of a name does not win: %+v", got)
	}
	if _, err := LoadMeters(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

func FuzzParseMeters(f *testing.F) {
	f.Add(DefaultMetersYAML)
	f.Add([]byte("metric:\n  - &a {name: m, event_type: [e, 'x(?!y).*'], type: gauge, unit: B, volume: {fields: [$.a, $.b], plugin: timedelta}, resource_id: $.id}\n  - {<<: *a, name: n, lookup: [name]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMeters(data)
		if err != nil {
			return
		}
		n := notif(t, "compute.instance.exists", `{"instance_id": "i", "memory_mb": 1, "a": "2026-01-01", "b": "2026-01-02"}`)
		m.Samples(nil, n, "openstack", nil)
	})
}
