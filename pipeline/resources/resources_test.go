package resources

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDefaultMapsEveryType checks the default file against the table of
// Ceilometer's mapping: a few meters of every type, their policies, and
// the meters Gnocchi does not handle.
func TestDefaultMapsEveryType(t *testing.T) {
	d := Default()
	for meter, want := range map[string]struct{ typ, policy string }{
		"memory":                              {"instance", "ceilometer-low"},
		"cpu":                                 {"instance", "ceilometer-low-rate"},
		"vcpus":                               {"instance", "ceilometer-low"},
		"compute.instance.booting.time":       {"instance", "ceilometer-low"},
		"perf.cache.misses":                   {"instance", "ceilometer-low"},
		"network.incoming.bytes":              {"instance_network_interface", "ceilometer-low-rate"},
		"network.outgoing.packets.drop":       {"instance_network_interface", "ceilometer-low-rate"},
		"disk.device.read.bytes":              {"instance_disk", "ceilometer-low-rate"},
		"disk.device.usage":                   {"instance_disk", "ceilometer-low"},
		"image.size":                          {"image", "ceilometer-low"},
		"volume.size":                         {"volume", "ceilometer-low"},
		"backup.size":                         {"volume", "ceilometer-low"},
		"volume.manage_existing_snapshot.end": {"volume", "ceilometer-low"},
		"volume.provider.capacity.free":       {"volume_provider", "ceilometer-low"},
		"volume.provider.pool.capacity.free":  {"volume_provider_pool", "ceilometer-low"},
		"hardware.ipmi.node.power":            {"ipmi", "ceilometer-low"},
		"hardware.ipmi.voltage":               {"ipmi_sensor", "ceilometer-low"},
		"bandwidth":                           {"network", "ceilometer-low"},
		"ip.floating":                         {"network", "ceilometer-low"},
		"identity.authenticate.success":       {"identity", "ceilometer-low"},
		"identity.role_assignment.deleted":    {"identity", "ceilometer-low"},
		"radosgw.objects.size":                {"ceph_account", "ceilometer-low"},
		"storage.objects":                     {"swift_account", "ceilometer-low"},
		"stack.create":                        {"stack", "ceilometer-low"},
		"compute.node.cpu.percent":            {"nova_compute", "ceilometer-low"},
		"manila.share.size":                   {"manila_share", "ceilometer-low"},
		"switch.ports":                        {"switch", "ceilometer-low"},
		"switch.port.receive.bytes":           {"switch_port", "ceilometer-low"},
		"port.uptime":                         {"port", "ceilometer-low"},
		"switch.table.active.entries":         {"switch_table", "ceilometer-low"},
	} {
		r := d.ForMeter(meter)
		if r == nil {
			t.Errorf("%s: not mapped, want %s", meter, want.typ)
			continue
		}
		if p, _ := r.Policy(meter); r.Type != want.typ || p != want.policy {
			t.Errorf("%s: type %s policy %s, want %s %s", meter, r.Type, p, want.typ, want.policy)
		}
	}
	for _, meter := range []string{"cpu_util", "network.incoming.bytes.delta", "network.outgoing.bytes.rate",
		"network.outgoing.packets.delta", "hardware.ipmi.fan", "no.such.meter", ""} {
		if r := d.ForMeter(meter); r != nil {
			t.Errorf("%s: mapped to %s, want not handled", meter, r.Type)
		}
	}
	if len(d.ArchivePolicies) != 4 || d.ArchivePolicyDefault != "ceilometer-low" {
		t.Errorf("policies %+v default %s", d.ArchivePolicies, d.ArchivePolicyDefault)
	}
	if hr := d.ArchivePolicies[3]; hr.Name != "ceilometer-high-rate" ||
		!reflect.DeepEqual(hr.AggregationMethods, []string{"mean", "rate:mean"}) ||
		hr.Definitions[2] != (PolicyDefinition{Granularity: time.Hour, Timespan: 365 * 24 * time.Hour}) {
		t.Errorf("ceilometer-high-rate %+v", hr)
	}
}

// TestDefaultAttributes extracts the attributes of real-shaped samples:
// a compute notification's, a libvirt poll's, a volume's and an image's.
func TestDefaultAttributes(t *testing.T) {
	d := Default()
	cases := []struct {
		name, meter string
		md          map[string]any
		want        map[string]any
	}{{
		name: "nova notification", meter: "memory",
		md: map[string]any{"host": "compute-1", "flavor_id": "1", "flavor_name": "m1.tiny", "display_name": "vm",
			"image_ref": "img", "launched_at": "2012-05-08 20:23:47.985999", "created_at": "2012-05-08 20:23:41",
			"user_metadata": map[string]any{"server_group": "sg1"}},
		want: map[string]any{"host": "compute-1", "flavor_id": "1", "flavor_name": "m1.tiny", "display_name": "vm",
			"image_ref": "img", "launched_at": "2012-05-08 20:23:47.985999", "created_at": "2012-05-08 20:23:41",
			"server_group": "sg1"},
	}, {
		name: "libvirt poll", meter: "cpu",
		md: map[string]any{"instance_host": "compute-2", "host": "hashed-host-id", "instance_type": "m1.small",
			"flavor": map[string]any{"id": "2", "name": "m1.small"}, "display_name": "vm2", "deleted_at": nil},
		want: map[string]any{"host": "compute-2", "flavor_id": "2", "flavor_name": "m1.small", "display_name": "vm2"},
	}, {
		name: "nested flavor only", meter: "vcpus",
		md:   map[string]any{"flavor": map[string]any{"id": "3", "name": "m1.large"}, "instance_type": nil},
		want: map[string]any{"flavor_id": "3", "flavor_name": "m1.large"},
	}, {
		name: "volume named by name", meter: "volume.size",
		md:   map[string]any{"name": "vol", "volume_type": "ssd", "image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd"},
		want: map[string]any{"display_name": "vol", "volume_type": "ssd", "image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd"},
	}, {
		name: "image payload", meter: "image.size",
		md:   map[string]any{"name": "cirros", "container_format": "bare", "disk_format": "qcow2", "size": 19.0},
		want: map[string]any{"name": "cirros", "container_format": "bare", "disk_format": "qcow2"},
	}, {
		name: "nothing to take", meter: "memory", md: map[string]any{"other": 1.0}, want: nil,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.ForMeter(c.meter)
			sample := map[string]any{"name": c.meter, "resource_id": "r", "resource_metadata": c.md}
			if got := r.Extract(sample, nil); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestPath(t *testing.T) {
	sample := map[string]any{
		"resource_id": "r1", "user_id": nil,
		"resource_metadata": map[string]any{
			"a": map[string]any{"b": "ab", "c": map[string]any{"d": "acd"}},
			"x": nil, "y": "y", "n": 3.0, "odd.key": "odd",
			"list": []any{"l0", map[string]any{"k": "l1k"}, "l2"},
		},
	}
	cases := []struct {
		path string
		want any // nil: nothing found
	}{
		{"resource_id", "r1"},
		{"$.resource_id", "r1"},
		{"user_id", nil},
		{"resource_metadata.y", "y"},
		{"resource_metadata.n", 3.0},
		{"resource_metadata.(x|y)", "y"},
		{"resource_metadata.x|y", "y"}, // '|' binds tighter than '.'
		{"resource_metadata.(missing|a.b)", "ab"},
		{"resource_metadata.(missing|(a.c.d)|y)", "acd"},
		{"resource_metadata.a.(c|b).d", "acd"},
		{"resource_metadata.a.b.c", nil},
		{"resource_metadata.'odd.key'", "odd"},
		{`resource_metadata."odd.key"`, "odd"},
		{"resource_metadata.list[0]", "l0"},
		{"resource_metadata.list[1].k", "l1k"},
		{"resource_metadata.list[-1]", "l2"},
		{"resource_metadata.list[3]", nil},
		{"resource_metadata.y[0]", nil},
		{"(resource_metadata.missing)|(resource_id)", "r1"},
		{" resource_metadata . y ", "y"},
	}
	for _, c := range cases {
		p, err := ParsePath(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		got, ok := p.First(sample)
		if !reflect.DeepEqual(got, c.want) || ok != (c.want != nil) {
			t.Errorf("%s: %v %v, want %v", c.path, got, ok, c.want)
		}
		if p.String() != c.path {
			t.Errorf("String() = %q, want %q", p.String(), c.path)
		}
	}
	for path, want := range map[string]string{
		"":                        "want a name",
		"a.":                      "want a name",
		"a..b":                    "recursive descent",
		"a.*":                     `'*' is not supported`,
		"a[*]":                    "[*] is not supported",
		"a[?(@.x=1)]":             "is not supported",
		"(a|b":                    "want ')'",
		"a|b)":                    `unexpected ")"`,
		"a.'b":                    "unterminated quoted name",
		"a[0":                     "unterminated '['",
		"a b":                     `unexpected name "b"`,
		strings.Repeat("a", 2000): "the most is 1024",
	} {
		_, err := ParsePath(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", path, err, want)
		}
	}
}

func TestForEvent(t *testing.T) {
	d := Default()
	for et, want := range map[string]struct {
		typ string
		op  EventOp
	}{
		"compute.instance.create.end":   {"instance", EventCreate},
		"compute.instance.delete.start": {"instance", EventDelete},
		"compute.instance.delete.end":   {"", EventNone},
		"image.delete":                  {"image", EventDelete},
		"volume.delete.end":             {"volume", EventDelete},
		"snapshot.delete.end":           {"volume", EventDelete},
		"volume.transfer.accept.end":    {"volume", EventUpdate},
		"floatingip.delete.end":         {"network", EventDelete},
		"port.create.end":               {"", EventNone},
	} {
		for range 2 { // the second lookup is the cached one
			r, op := d.ForEvent(et)
			typ := ""
			if r != nil {
				typ = r.Type
			}
			if typ != want.typ || op != want.op {
				t.Errorf("%s: %s %s, want %s %s", et, typ, op, want.typ, want.op)
			}
		}
	}
	inst := d.ForType("instance")
	got := inst.EventValues(map[string]any{"instance_id": "i1", "display_name": "vm", "instance_type_id": int64(2),
		"instance_type": "m1.tiny", "project_id": "p", "user_id": nil, "state": "active"})
	want := map[string]any{"id": "i1", "display_name": "vm", "flavor_id": int64(2), "flavor_name": "m1.tiny", "project_id": "p"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event values %v, want %v", got, want)
	}
	if len(inst.Associated) != 2 {
		t.Fatalf("associated %v", inst.Associated)
	}
	for _, a := range inst.Associated {
		var f map[string]any
		if err := json.Unmarshal(a.Filter(`i"1`), &f); err != nil {
			t.Fatalf("%s: %s: %v", a.Type, a.Filter(`i"1`), err)
		}
		if eq := f["="].(map[string]any); eq["instance_id"] != `i"1` {
			t.Errorf("%s: filter %v", a.Type, f)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gnocchi_resources.yaml")
	if err := os.WriteFile(path, []byte("resources:\n  - resource_type: generic\n    metrics: [my.meter]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.ForMeter("my.meter"); r == nil || r.Type != "generic" || r.Metrics["my.meter"] != DefaultArchivePolicy {
		t.Errorf("loaded %+v", r)
	}
	if d.ForMeter("memory") != nil {
		t.Error("an operator's file replaces the defaults, as in Ceilometer")
	}
	if d, err := Load(""); err != nil || d.ForMeter("memory") == nil {
		t.Errorf("Load(\"\") = %v, %v: want the defaults", d, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file loads")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("resources:\n  - resource_type: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v: want the file and the line", err)
	}
}

func TestParseAccepts(t *testing.T) {
	d, err := Parse([]byte(`
archive_policy_default: low
resources:
  - resource_type: t1
    archive_policy: medium
    metrics: {a: , b: {archive_policy_name: high}}
  - resource_type: t2
    metrics:
      c:
      d: {archive_policy_name: high}
    attributes:
      one: {fields: resource_metadata.one}
      two: {fields: [resource_metadata.x, resource_metadata.two]}
      three: [resource_metadata.x, resource_metadata.three]
      four: 4
      five: 5.5
    event_delete: [t2.gone, "t2.*.end"]
    event_attributes: {id: resource_id, project_id: tenant}
`))
	if err != nil {
		t.Fatal(err)
	}
	for meter, want := range map[string]string{"a": "medium", "b": "medium", "c": "low", "d": "high"} {
		if r := d.ForMeter(meter); r == nil || r.Metrics[meter] != want {
			t.Errorf("%s: %+v, want policy %s", meter, r, want)
		}
	}
	got := d.ForType("t2").Extract(map[string]any{"resource_metadata": map[string]any{"one": "1", "two": "2", "three": "3"}}, nil)
	if want := map[string]any{"one": "1", "two": "2", "three": "3", "four": int64(4), "five": 5.5}; !reflect.DeepEqual(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	if r, op := d.ForEvent("t2.resize.end"); r == nil || r.Type != "t2" || op != EventDelete {
		t.Errorf("t2.resize.end: %v %s", r, op)
	}
}

// TestParseRejects names the line and the reason of every kind of bad
// definition.
func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "the file is empty"},
		{"not a mapping", "[1]", "want a mapping"},
		{"no resources", "archive_policy_default: low\n", "resources: required"},
		{"unknown top key", "resources: []\nresource: []\n", `line 2: gnocchi_resources: unknown key "resource"`},
		{"resources not a list", "resources: {a: 1}\n", "line 1: resources: want a list"},
		{"no type", "resources:\n  - metrics: [a]\n", "line 2: resources[0]: required field resource_type"},
		{"no metrics", "resources:\n  - resource_type: t\n", "line 2: resources[0] (t): required field metrics"},
		{"unknown key", "resources:\n  - resource_type: t\n    metrics: [a]\n    attribute: {}\n", `line 4: resources[0] (t): unknown key "attribute"`},
		{"bad type name", "resources:\n  - resource_type: 'a b'\n    metrics: [a]\n", `line 2: resources[0] (a b).resource_type: resource type name "a b"`},
		{"type twice", "resources:\n  - resource_type: t\n    metrics: [a]\n  - resource_type: t\n    metrics: [b]\n", "line 4: resources[1] (t): resource type t is already defined at line 2"},
		{"meter twice", "resources:\n  - resource_type: t\n    metrics: [a]\n  - resource_type: u\n    metrics:\n      a:\n", "line 6: resources[1] (u).metrics: meter a is already mapped to resource type t (line 2)"},
		{"metrics null", "resources:\n  - resource_type: t\n    metrics:\n", "resources[0] (t).metrics: want a mapping of meters or a list"},
		{"metric extra key", "resources:\n  - resource_type: t\n    metrics:\n      a: {policy: low}\n", `line 4: resources[0] (t).metrics.a: unknown key "policy"`},
		{"metric empty policy", "resources:\n  - resource_type: t\n    metrics:\n      a: {archive_policy_name: ''}\n", "line 4: resources[0] (t).metrics.a.archive_policy_name: must not be empty"},
		{"bad path", "resources:\n  - resource_type: t\n    metrics: [a]\n    attributes:\n      x: resource_metadata.*\n", `line 5: resources[0] (t).attributes.x: path "resource_metadata.*", at byte 18: '*' is not supported`},
		{"reserved attribute", "resources:\n  - resource_type: t\n    metrics: [a]\n    attributes:\n      ended_at: resource_metadata.x\n", `line 5: resources[0] (t).attributes.ended_at: attribute name "ended_at" is a field of every resource`},
		{"bad attribute name", "resources:\n  - resource_type: t\n    metrics: [a]\n    attributes:\n      _x: resource_metadata.x\n", `attribute name "_x": only letters`},
		{"attribute plugin", "resources:\n  - resource_type: t\n    metrics: [a]\n    attributes:\n      x: {fields: a, plugin: split}\n", "line 5: resources[0] (t).attributes.x: trait plugins are not supported"},
		{"attribute null", "resources:\n  - resource_type: t\n    metrics: [a]\n    attributes:\n      x:\n", "resources[0] (t).attributes.x: want a path into the sample, got null"},
		{"attribute no fields", "resources:\n  - resource_type: t\n    metrics: [a]\n    attributes:\n      x: {}\n", "line 5: resources[0] (t).attributes.x: required: fields"},
		{"events without id", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_delete: t.delete\n", "line 2: resources[0] (t).event_attributes: required: a resource type that handles events needs event_attributes with id"},
		{"events id missing", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_delete: t.delete\n    event_attributes: {name: n}\n", "line 5: resources[0] (t).event_attributes: required"},
		{"event pattern !", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_delete: ['!t']\n    event_attributes: {id: i}\n", `line 4: resources[0] (t).event_delete[0]: event type pattern "!t"`},
		{"event pattern empty", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_update: ''\n    event_attributes: {id: i}\n", "event_update[0]: an event type pattern must not be empty"},
		{"event pattern mapping", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_create: {a: b}\n", "line 4: resources[0] (t).event_create: want a string or a list of strings"},
		{"associated no %s", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_associated_resources: {u: '{\"=\": {\"x\": 1}}'}\n", "line 4: resources[0] (t).event_associated_resources.u: the query must hold the id as %s exactly once, not 0 times"},
		{"associated %d", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_associated_resources: {u: '%d'}\n", "%d is not supported"},
		{"associated not JSON", "resources:\n  - resource_type: t\n    metrics: [a]\n    event_associated_resources: {u: '{=: %s}'}\n", "not a JSON search filter"},
		{"policy without name", "archive_policies:\n  - definition: [{granularity: 1s, points: 3}]\nresources: []\n", "line 2: archive_policies[0]: required field name"},
		{"policy twice", "archive_policies:\n  - {name: p, definition: [{granularity: 1s, points: 3}]}\n  - {name: p, definition: [{granularity: 1s, points: 3}]}\nresources: []\n", "line 3: archive_policies[1]: archive policy p is already defined at line 2"},
		{"policy no definition", "archive_policies:\n  - name: p\nresources: []\n", "line 2: archive_policies[0] (p).definition: required"},
		{"policy bad span", "archive_policies:\n  - name: p\n    definition:\n      - {granularity: 5 fortnights, points: 3}\nresources: []\n", `line 4: archive_policies[0] (p).definition[0].granularity: timespan "5 fortnights": unknown unit "fortnights"`},
		{"policy one of three", "archive_policies:\n  - name: p\n    definition:\n      - {granularity: 5 minutes}\nresources: []\n", "line 4: archive_policies[0] (p).definition[0]: two of granularity, timespan and points are needed"},
		{"policy negative back window", "archive_policies:\n  - {name: p, back_window: -1, definition: [{granularity: 1s, points: 3}]}\nresources: []\n", "back_window: must not be negative"},
		{"policy unknown key", "archive_policies:\n  - {name: p, points: 3}\nresources: []\n", `line 2: archive_policies[0]: unknown key "points"`},
		{"invalid YAML", "resources: [\n", "invalid YAML"},
		{"key twice", "resources: []\nresources: []\n", `key "resources" given twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
}

func TestParseTimespan(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"300": 5 * time.Minute, "0.5": 500 * time.Millisecond, "5 minutes": 5 * time.Minute, "1h": time.Hour,
		"1 hour": time.Hour, "30 days": 30 * 24 * time.Hour, "1 second": time.Second, "2 weeks": 14 * 24 * time.Hour,
		" 10min ": 10 * time.Minute,
	} {
		if got, err := ParseTimespan(s); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "minutes", "5 fortnights", "0", "-1", "1e3", "200 weeks weeks", "10000 weeks"} {
		if got, err := ParseTimespan(s); err == nil {
			t.Errorf("%q: %v, want an error", s, got)
		}
	}
}

// TestPathBoundsWork walks alternatives that double at every level over
// data as deep as the path: the walk gives up instead of taking 2^40
// steps.
func TestPathBoundsWork(t *testing.T) {
	var data any
	for range 40 {
		data = map[string]any{"a": data}
	}
	p, err := ParsePath(strings.TrimSuffix(strings.Repeat("(a|a).", 40), ".") + ".z")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if v, ok := p.First(data); ok {
		t.Errorf("found %v", v)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}
