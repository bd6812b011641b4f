package ingest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/index"
)

func openTestIndex(t *testing.T) *index.Index { return openTestIndexB(t) }

func openTestIndexB(t testing.TB) *index.Index {
	t.Helper()
	idx, err := index.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx
}

// resolveSamples builds one wire batch of samples and resolves its series
// as a processor does, returning the first error.
func resolveSamples(t *testing.T, r *Resolver, samples ...pipeline.Sample) error {
	t.Helper()
	bld := wire.NewBuilder("test", "svc:svc")
	for i := range samples {
		if err := bld.Add(&samples[i]); err != nil {
			t.Fatal(err)
		}
	}
	b := bld.Batch()
	for _, s := range b.Series {
		if _, err := r.Resolve(context.Background(), b, s); err != nil {
			return err
		}
	}
	return nil
}

var t0 = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// sample is a notification's sample: no resource type, as the
// notification agent makes them.
func sample(meter, id string, md map[string]any) pipeline.Sample {
	return pipeline.Sample{Name: meter, Type: pipeline.Gauge, Unit: "1", Volume: 1, ResourceID: id,
		UserID: "u1", ProjectID: "p1", Timestamp: t0, Source: "openstack", Metadata: md}
}

func novaMetadata(flavor string) map[string]any {
	return map[string]any{"host": "compute-1", "flavor_id": "1", "flavor_name": flavor, "display_name": "vm-1",
		"image_ref": "5b8a1e8e-2c3f-4d5e-9f00-1a2b3c4d5e6f", "launched_at": "2012-05-08 20:23:47.985999",
		"created_at": "2012-05-08 20:23:41", "user_metadata": map[string]any{"server_group": "sg1"}}
}

const (
	inst = "9f9d01b9-4a58-4271-9e27-398b21ab20d1"
	vol  = "cccccccc-cccc-cccc-cccc-cccccccccccc"
)

// TestResolveMapsResources is the table of Ceilometer's mapping as the
// processor applies it: each case resolves batches of samples in turn
// and checks the resource it leaves.
func TestResolveMapsResources(t *testing.T) {
	custom := `
resources:
  - resource_type: my_type
    metrics: [my.meter]
  - resource_type: generic
    metrics: {odd.meter: {archive_policy_name: no-such-policy}}
`
	cases := []struct {
		name    string
		defs    string // empty: the default
		batches [][]pipeline.Sample
		id      string
		err     error // of the last batch
		typ     string
		attrs   map[string]any
		// revisions of the resource, and the flavor_name of each
		revisions []string
		metric    string // a metric of the resource, and its policy
		policy    string
		counters  map[string]uint64
	}{{
		name:    "nova notification",
		batches: [][]pipeline.Sample{{sample("memory", inst, novaMetadata("m1.tiny")), sample("vcpus", inst, novaMetadata("m1.tiny"))}},
		id:      inst, typ: "instance",
		attrs: map[string]any{"host": "compute-1", "flavor_id": "1", "flavor_name": "m1.tiny", "display_name": "vm-1",
			"image_ref": "5b8a1e8e-2c3f-4d5e-9f00-1a2b3c4d5e6f", "launched_at": "2012-05-08T20:23:47.985999+00:00",
			"created_at": "2012-05-08T20:23:41.000000+00:00", "deleted_at": nil, "server_group": "sg1"},
		revisions: []string{"m1.tiny"},
		metric:    "memory", policy: "ceilometer-low",
	}, {
		name: "resize makes history",
		batches: [][]pipeline.Sample{
			{sample("memory", inst, novaMetadata("m1.tiny"))},
			{sample("memory", inst, novaMetadata("m1.tiny"))}, // same again: nothing new
			{sample("memory", inst, novaMetadata("m1.small"))},
		},
		id: inst, typ: "instance", attrs: map[string]any{"flavor_name": "m1.small"},
		revisions: []string{"m1.tiny", "m1.small"},
	}, {
		name: "metadata the definitions do not read changes no revision",
		batches: [][]pipeline.Sample{
			{sample("memory", inst, withKeys(novaMetadata("m1.tiny"), map[string]any{"audit_period_ending": "2012-05-08 16:00:00"}))},
			{sample("memory", inst, withKeys(novaMetadata("m1.tiny"), map[string]any{"audit_period_ending": "2012-05-08 17:00:00"}))},
		},
		id: inst, typ: "instance", revisions: []string{"m1.tiny"},
	}, {
		name: "libvirt's spelling of the flavor",
		batches: [][]pipeline.Sample{{func() pipeline.Sample {
			s := sample("cpu", inst, map[string]any{"instance_host": "compute-2", "host": "hashed", "display_name": "vm-2",
				"flavor": map[string]any{"id": 2.0, "name": "m1.small"}, "launched_at": ""})
			s.ResourceType, s.Type = "instance", pipeline.Cumulative
			return s
		}()}},
		id: inst, typ: "instance",
		attrs:  map[string]any{"host": "compute-2", "flavor_id": "2", "flavor_name": "m1.small", "display_name": "vm-2", "launched_at": nil},
		metric: "cpu", policy: "ceilometer-low-rate",
		counters: map[string]uint64{`vigil_ingest_resource_attributes_total{outcome="dropped"}`: 1},
	}, {
		name:    "missing required attributes are filled",
		batches: [][]pipeline.Sample{{sample("memory", inst, map[string]any{"state": "building"})}},
		id:      inst, typ: "instance",
		attrs:    map[string]any{"host": "", "flavor_id": "", "flavor_name": "", "display_name": "", "image_ref": nil},
		counters: map[string]uint64{`vigil_ingest_resource_attributes_total{outcome="filled"}`: 4},
	}, {
		name:    "a required uuid that is missing makes a generic resource",
		batches: [][]pipeline.Sample{{sample("disk.device.read.bytes", inst+"-vda", map[string]any{"disk_name": "vda"})}},
		id:      inst + "-vda", typ: "generic",
		metric: "disk.device.read.bytes", policy: "ceilometer-low-rate",
		counters: map[string]uint64{`vigil_ingest_resource_type_fallbacks_total`: 1},
	}, {
		name: "instance disk",
		batches: [][]pipeline.Sample{{sample("disk.device.read.bytes", inst+"-vda",
			map[string]any{"disk_name": "vda", "instance_id": strings.ToUpper(inst)})}},
		id: inst + "-vda", typ: "instance_disk", attrs: map[string]any{"name": "vda", "instance_id": inst},
	}, {
		name: "volume",
		batches: [][]pipeline.Sample{{sample("volume.size", vol, map[string]any{"display_name": "vol-2", "volume_type": "ssd",
			"image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd", "instance_id": "not-a-uuid"})}},
		id: vol, typ: "volume",
		attrs: map[string]any{"display_name": "vol-2", "volume_type": "ssd", "image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd", "instance_id": nil},
	}, {
		name: "image from the payload",
		batches: [][]pipeline.Sample{{sample("image.size", "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee",
			map[string]any{"name": strings.Repeat("n", 300), "container_format": "ovf", "disk_format": "vhd", "size": 19.0})}},
		id: "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee", typ: "image",
		attrs:    map[string]any{"name": strings.Repeat("n", 255), "container_format": "ovf", "disk_format": "vhd"},
		counters: map[string]uint64{`vigil_ingest_resource_attributes_total{outcome="truncated"}`: 1},
	}, {
		name: "a type of vigil's own takes metadata keys by name",
		batches: [][]pipeline.Sample{{func() pipeline.Sample {
			s := sample("hardware.cpu.util", "host-1", map[string]any{"host_name": "node-1", "device_name": "x"})
			s.ResourceType = "host"
			return s
		}()}},
		id: "host-1", typ: "host", attrs: map[string]any{"host_name": "node-1"},
	}, {
		name:    "not handled by Gnocchi",
		batches: [][]pipeline.Sample{{sample("cpu_util", inst, novaMetadata("m1.tiny"))}},
		err:     ErrNotMapped,
	}, {
		name:    "a slash in the resource id",
		batches: [][]pipeline.Sample{{sample("volume.size", "a/b", nil)}},
		err:     ErrUnstorable,
	}, {
		name:    "a type the index lacks makes a generic resource",
		defs:    custom,
		batches: [][]pipeline.Sample{{sample("my.meter", "r-1", map[string]any{"x": "y"})}},
		id:      "r-1", typ: "generic", metric: "my.meter", policy: "ceilometer-low",
	}, {
		name:    "a policy the index lacks falls back to the rules",
		defs:    custom,
		batches: [][]pipeline.Sample{{sample("odd.meter", "r-2", nil)}},
		id:      "r-2", typ: "generic", metric: "odd.meter", policy: "low",
		counters: map[string]uint64{`vigil_ingest_archive_policy_fallbacks_total`: 1},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			idx := openTestIndex(t)
			defs := resources.Default()
			if c.defs != "" {
				var err error
				if defs, err = resources.Parse([]byte(c.defs)); err != nil {
					t.Fatal(err)
				}
			}
			set := metrics.NewSet()
			r := NewResolver(idx, defs, set, discardLogger())
			var err error
			for _, b := range c.batches {
				err = resolveSamples(t, r, b...)
				if c.err == nil && err != nil {
					t.Fatal(err)
				}
			}
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				return
			}
			rid, err := pipeline.ResourceUUID(c.id, "svc:svc")
			if err != nil {
				t.Fatal(err)
			}
			res, err := idx.Resource(ctx, "generic", rid)
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != c.typ || res.OriginalResourceID != c.id || *res.ProjectID != "p1" || *res.UserID != "u1" {
				t.Errorf("resource %+v, want type %s", res, c.typ)
			}
			for k, v := range c.attrs {
				if got, ok := res.Attributes[k]; !ok || got != v {
					t.Errorf("attribute %s = %#v, want %#v", k, got, v)
				}
			}
			if c.revisions != nil {
				hist, err := idx.ResourceHistory(ctx, "generic", rid, index.ListOptions{Details: true})
				if err != nil {
					t.Fatal(err)
				}
				var flavors []string
				for _, h := range hist {
					flavors = append(flavors, h.Attributes["flavor_name"].(string))
				}
				if strings.Join(flavors, ",") != strings.Join(c.revisions, ",") {
					t.Errorf("history of flavor_name %v, want %v", flavors, c.revisions)
				}
			}
			if c.metric != "" {
				m, err := idx.Metric(ctx, res.Metrics[c.metric])
				if err != nil {
					t.Fatalf("metric %s: %v (metrics %v)", c.metric, err, res.Metrics)
				}
				if m.ArchivePolicyName != c.policy {
					t.Errorf("metric %s has policy %s, want %s", c.metric, m.ArchivePolicyName, c.policy)
				}
			}
			for name, want := range c.counters {
				if got := set.GetOrCreateCounter(name).Get(); got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
		})
	}
}

func withKeys(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestResolveSkipsUnchangedMetadata checks the hot path: a batch whose
// resource metadata is the one already applied makes no index write.
func TestResolveSkipsUnchangedMetadata(t *testing.T) {
	idx := openTestIndex(t)
	r := NewResolver(idx, nil, nil, discardLogger())
	s := sample("memory", inst, novaMetadata("m1.tiny"))
	if err := resolveSamples(t, r, s); err != nil {
		t.Fatal(err)
	}
	rid := uuid.MustParse(inst)
	before, err := idx.Resource(context.Background(), "generic", rid)
	if err != nil {
		t.Fatal(err)
	}
	// Another process changes the resource: the resolver, which saw this
	// metadata already, does not write it back.
	if _, err := idx.UpdateResource(context.Background(), "instance", rid, index.ResourcePatch{Attributes: map[string]any{"display_name": "renamed"}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := resolveSamples(t, r, s); err != nil {
		t.Fatal(err)
	}
	after, err := idx.Resource(context.Background(), "generic", rid)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision+1 || after.Attributes["display_name"] != "renamed" {
		t.Errorf("revision %d → %d, display_name %v", before.Revision, after.Revision, after.Attributes["display_name"])
	}
}

func TestConform(t *testing.T) {
	str := func(req bool, minLen int) index.AttributeSpec {
		mn, mx := minLen, 8
		return index.AttributeSpec{Type: index.TypeString, Required: req, MinLength: &mn, MaxLength: &mx}
	}
	lo, hi := 0.0, 10.0
	rt := &index.ResourceType{Name: "t", Attributes: map[string]index.AttributeSpec{
		"s": str(true, 0), "s2": str(true, 2), "o": str(false, 0),
		"u": {Type: index.TypeUUID}, "n": {Type: index.TypeNumber, Min: &lo, Max: &hi}, "b": {Type: index.TypeBool},
		"d": {Type: index.TypeDatetime},
	}}
	cases := []struct {
		in         map[string]any
		full       bool
		want       map[string]any
		unfillable string
	}{
		{in: map[string]any{"s": "x", "s2": "yy", "o": 2.5, "u": "DDDDDDDD-DDDD-DDDD-DDDD-DDDDDDDDDDDD", "n": "3", "b": "True",
			"d": "2012-05-08 20:23:47.985999", "other": 1},
			want: map[string]any{"s": "x", "s2": "yy", "o": "2.5", "u": "dddddddd-dddd-dddd-dddd-dddddddddddd", "n": 3.0, "b": true,
				"d": "2012-05-08T20:23:47.985999+00:00"}},
		{in: map[string]any{"s": "123456789", "s2": "zz", "o": map[string]any{}, "u": "x", "n": 11.0, "b": 1.0, "d": ""},
			want: map[string]any{"s": "12345678", "s2": "zz"}},
		{in: map[string]any{"d": 0.0, "o": true}, full: true, want: map[string]any{"s": "", "d": "1970-01-01T00:00:00.000000+00:00", "o": "True"}, unfillable: "s2"},
		{in: map[string]any{"d": "2012-05-08T20:23:48+02:00", "s": nil}, want: map[string]any{"d": "2012-05-08T18:23:48.000000+00:00"}},
	}
	for i, c := range cases {
		got, notes := conform(rt, c.in, c.full)
		if len(got) != len(c.want) {
			t.Errorf("%d: got %v, want %v", i, got, c.want)
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%d: %s = %#v, want %#v", i, k, got[k], v)
			}
		}
		if notes.unfillable != c.unfillable {
			t.Errorf("%d: unfillable %q, want %q", i, notes.unfillable, c.unfillable)
		}
	}
}
