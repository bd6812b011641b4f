package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/tsdb/index"
)

const testEventsStream = "TEST_EVENTS"

// eventJSON is an event as the notification agents write it (Ceilometer's
// Event.serialize()).
func eventJSON(t *testing.T, id, eventType string, generated time.Time, traits map[string]any) []byte {
	t.Helper()
	var ts [][3]any
	for k, v := range traits {
		typ := 1
		if _, ok := v.(int); ok {
			typ = 2
		}
		ts = append(ts, [3]any{k, typ, v})
	}
	b, err := json.Marshal(map[string]any{"message_id": id, "event_type": eventType,
		"generated": generated.UTC().Format("2006-01-02T15:04:05.000000"), "traits": ts, "raw": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLifecycleAppliesResourceEvents publishes events on a real events
// stream and checks what the processor's lifecycle makes of them in the
// index: ends (with the instance's disks and interfaces), creations,
// updates, and deletions that arrive before their resource.
func TestLifecycleAppliesResourceEvents(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, busConfig(filepath.Join(t.TempDir(), "nats")), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	js := b.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: testEventsStream, Subjects: []string{"vigil.events.>"}}); err != nil {
		t.Fatal(err)
	}
	idx := openTestIndex(t)
	set := metrics.NewSet()
	r := NewResolver(idx, nil, set, discardLogger())

	// An instance with two disks and an interface, and a disk of another
	// instance, as samples make them.
	other := "0b8bd2c2-9df0-4f41-9d4a-3b6a4c1d2e3f"
	disk := func(id, owner string) pipeline.Sample {
		return sample("disk.device.read.bytes", id, map[string]any{"disk_name": "vda", "instance_id": owner})
	}
	nic := sample("network.incoming.bytes", "tap-1", map[string]any{"vnic_name": "tap-1", "instance_id": inst})
	if err := resolveSamples(t, r, sample("memory", inst, novaMetadata("m1.tiny")), disk(inst+"-vda", inst), disk(inst+"-vdb", inst),
		nic, disk(other+"-vda", other), sample("image.size", "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee",
			map[string]any{"name": "img", "container_format": "bare", "disk_format": "raw"}),
		sample("volume.size", vol, map[string]any{"display_name": "v"})); err != nil {
		t.Fatal(err)
	}

	lc := newLifecycle(js, testEventsStream, r, idx, "svc:svc", set, discardLogger())
	lc.wait, lc.retry = 50*time.Millisecond, 100*time.Millisecond
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); lc.run(rctx) }()
	defer func() { cancel(); <-done }()

	deleted := time.Now().UTC().Add(time.Minute).Truncate(time.Microsecond)
	late := "11111111-2222-4333-8444-555555555555"
	newInst := "22222222-3333-4444-8555-666666666666"
	for i, ev := range [][]byte{
		eventJSON(t, "m1", "compute.instance.delete.start", deleted, map[string]any{"instance_id": inst, "state": "active"}),
		eventJSON(t, "m2", "image.delete", deleted, map[string]any{"resource_id": "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"}),
		eventJSON(t, "m3", "volume.transfer.accept.end", deleted, map[string]any{"resource_id": vol, "project_id": "p2"}),
		eventJSON(t, "m4", "volume.delete.end", deleted, map[string]any{"resource_id": late}),
		eventJSON(t, "m5", "compute.instance.create.end", deleted, map[string]any{"instance_id": newInst, "display_name": "new",
			"host": "compute-9", "instance_type_id": 5, "instance_type": "m1.large", "project_id": "p9", "user_id": "u9"}),
		eventJSON(t, "m6", "port.create.end", deleted, map[string]any{"resource_id": "x"}),
		eventJSON(t, "m7", "floatingip.delete.end", deleted, map[string]any{}),
		[]byte(`{"not": "an event"`),
	} {
		if _, err := js.Publish(ctx, fmt.Sprintf("vigil.events.e%d", i), ev); err != nil {
			t.Fatal(err)
		}
	}
	res := func(id string) index.Resource {
		t.Helper()
		rid, err := pipeline.ResourceUUID(id, "svc:svc")
		if err != nil {
			t.Fatal(err)
		}
		got, err := idx.Resource(ctx, "generic", rid)
		if err != nil {
			t.Fatalf("resource %s: %v", id, err)
		}
		return got
	}
	ended := func(id string) bool {
		e := res(id).EndedAt
		return e != nil && e.Equal(deleted)
	}
	eventually(t, 10*time.Second, "the instance, its disks and its interface end", func() bool {
		return ended(inst) && ended(inst+"-vda") && ended(inst+"-vdb") && ended("tap-1")
	})
	if e := res(other + "-vda").EndedAt; e != nil {
		t.Errorf("another instance's disk ended at %v", e)
	}
	eventually(t, 10*time.Second, "the image ends and the volume moves to p2", func() bool {
		return ended("eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee") && *res(vol).ProjectID == "p2"
	})
	eventually(t, 10*time.Second, "the create event makes the instance", func() bool {
		_, err := idx.Resource(ctx, "generic", uuid.MustParse(newInst))
		return err == nil
	})
	n := res(newInst)
	for k, v := range map[string]any{"display_name": "new", "host": "compute-9", "flavor_id": "5", "flavor_name": "m1.large"} {
		if n.Attributes[k] != v {
			t.Errorf("created instance: %s = %#v, want %#v", k, n.Attributes[k], v)
		}
	}
	if n.Type != "instance" || *n.ProjectID != "p9" || *n.UserID != "u9" {
		t.Errorf("created instance %+v", n)
	}

	// The volume whose deletion came first appears: the retried event ends it.
	if err := resolveSamples(t, r, sample("volume.size", late, map[string]any{"display_name": "late"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the late volume ends", func() bool { return res(late).EndedAt != nil })

	hist, err := idx.ResourceHistory(ctx, "generic", uuid.MustParse(inst), index.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].EndedAt != nil || hist[1].EndedAt == nil {
		t.Errorf("history of the instance %+v: want a revision before its end and one after", hist)
	}
	eventually(t, 5*time.Second, "the bad events are counted", func() bool {
		return set.GetOrCreateCounter(`vigil_ingest_resource_events_total{outcome="invalid"}`).Get() == 2
	})
	if got := set.GetOrCreateCounter(`vigil_ingest_resource_events_total{outcome="applied",op="delete"}`).Get(); got != 3 {
		t.Errorf("%d deletions applied, want 3", got)
	}
}

// TestLifecycleWaitsForTheStream starts the lifecycle before the events
// stream exists, as a processor that starts before any notification agent
// does, and checks that an event published then is applied.
func TestLifecycleWaitsForTheStream(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, busConfig(filepath.Join(t.TempDir(), "nats")), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	idx := openTestIndex(t)
	r := NewResolver(idx, nil, nil, discardLogger())
	if err := resolveSamples(t, r, sample("volume.size", vol, nil)); err != nil {
		t.Fatal(err)
	}
	lc := newLifecycle(b.JetStream(), testEventsStream, r, idx, "svc:svc", metrics.NewSet(), discardLogger())
	lc.wait = 50 * time.Millisecond
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); lc.run(rctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond)
	js := b.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: testEventsStream, Subjects: []string{"vigil.events.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "vigil.events.volume.delete.end", eventJSON(t, "m1", "volume.delete.end", time.Now(), map[string]any{"resource_id": vol})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the volume ends", func() bool {
		got, err := idx.Resource(ctx, "generic", uuid.MustParse(vol))
		return err == nil && got.EndedAt != nil
	})
}

func TestDecodeEvent(t *testing.T) {
	e, traits, err := decodeEvent([]byte(`{"message_id": "m", "event_type": "x.y", "generated": "2012-05-08T20:23:48.028195",
		"traits": [["a", 1, "s"], ["n", 2, 5], {"name": "o", "type": "float", "value": 1.5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.EventType != "x.y" || traits["a"] != "s" || traits["n"] != 5.0 || traits["o"] != 1.5 {
		t.Errorf("%+v %v", e, traits)
	}
	for _, bad := range []string{`[]`, `{"event_type": ""}`, `{"event_type": "x", "traits": [["a", 1]]}`,
		`{"event_type": "x", "traits": [[1, 1, 1]]}`, `{"event_type": "x", "traits": [3]}`} {
		if _, _, err := decodeEvent([]byte(bad)); err == nil {
			t.Errorf("%s decodes", bad)
		}
	}
}
