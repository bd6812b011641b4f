package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// notification is an oslo.messaging 2.0 message as Nova, Cinder, Glance
// and Neutron send them, with the request context flattened.
func notification(eventType, publisher string, payload map[string]any) []byte {
	msg, _ := json.Marshal(map[string]any{
		"message_id": fmt.Sprintf("%08x-0000-4000-8000-%012x", rand.Uint32(), rand.Uint64()&0xffffffffffff),
		"event_type": eventType, "publisher_id": publisher, "priority": "INFO",
		"timestamp":        time.Now().UTC().Format("2006-01-02 15:04:05.000000"),
		"_context_user_id": "1e3ce043029547f1a61c1996d1a531a2", "_context_project_id": "7c150a59fe714e6f9263774af9688f0e",
		"_context_request_id": "req-" + strconv.Itoa(rand.IntN(1e9)),
		"payload":             payload,
	})
	env, _ := json.Marshal(map[string]any{"oslo.version": "2.0", "oslo.message": string(msg)})
	return env
}

// instancePayload is a compute.instance.* payload of the legacy
// notifications, with the flavor the server has at that point.
func instancePayload(id, flavor, flavorID string, memory int, deletedAt string) map[string]any {
	return map[string]any{
		"instance_id": id, "display_name": "web-1", "instance_type": flavor, "instance_type_id": 7, "instance_flavor_id": flavorID,
		"memory_mb": memory, "vcpus": 1, "root_gb": 1, "ephemeral_gb": 0, "disk_gb": 1, "state": "active",
		"host": "compute-7", "tenant_id": "7c150a59fe714e6f9263774af9688f0e", "user_id": "1e3ce043029547f1a61c1996d1a531a2",
		"created_at": "2024-05-08 20:23:41", "launched_at": "2024-05-08 20:23:47.985999", "deleted_at": deletedAt,
		"availability_zone": "nova", "image_ref": "UUID",
		"image_meta": map[string]any{"base_image_ref": "5b8a1e8e-2c3f-4d5e-9f00-1a2b3c4d5e6f"},
		"metadata":   map[string]any{"metering.server_group": "sg-web", "role": "web"},
	}
}

func volumePayload(id string, size int, attachedTo string) map[string]any {
	p := map[string]any{
		"volume_id": id, "size": size, "status": "available", "display_name": "data-1", "availability_zone": "nova",
		"tenant_id": "7ffe17a15c724e2aa79fc839540aec15", "user_id": "bcb7746c7a41472d88a1ffac89ba6a9b",
		"volume_type": "3a9a398b-7e3b-40da-b09e-2115ad8cd68b", "host": "volumes.example.com", "created_at": "2024-05-08 09:31:20",
		"glance_metadata":   []any{map[string]any{"key": "image_id", "value": "dddddddd-dddd-dddd-dddd-dddddddddddd"}},
		"volume_attachment": []any{},
	}
	if attachedTo != "" {
		p["volume_attachment"] = []any{map[string]any{"server_id": attachedTo}}
	}
	return p
}

// TestNotificationsMakeGnocchiResources publishes real-shaped oslo
// notifications on the machine's RabbitMQ and reads, through the Gnocchi
// API, the resources that gnocchi_resources.yaml makes of them: types,
// attributes, metrics, the history of a resize, and the end of a deleted
// server with its disks and interfaces.
func TestNotificationsMakeGnocchiResources(t *testing.T) {
	prefix := "vigiltest" + strconv.Itoa(rand.IntN(1e9))
	nova, cinder, glance, neutron := prefix+".nova", prefix+".cinder", prefix+".glance", prefix+".neutron"
	rt := startWithRabbit(t, prefix, nova, cinder, glance, neutron)
	a, ch, topic := rt.app, rt.ch, rt.topic
	publish := func(exchange string, body []byte) {
		t.Helper()
		if err := ch.PublishWithContext(context.Background(), exchange, topic+".info", false, false,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	resource := func(typ, id string) (map[string]any, error) {
		var r map[string]any
		if code := get(t, a, "/v1/resource/"+typ+"/"+id, &r); code != http.StatusOK {
			return nil, fmt.Errorf("GET /v1/resource/%s/%s: %d", typ, id, code)
		}
		return r, nil
	}
	want := func(r map[string]any, attrs map[string]any) error {
		for k, v := range attrs {
			if r[k] != v {
				return fmt.Errorf("%s = %#v, want %#v (resource %v)", k, r[k], v, r)
			}
		}
		return nil
	}

	const server = "6a1c4d2e-0b5f-4c8e-9a7d-3e2f1b0c9d8a"
	publish(nova, notification("compute.instance.create.end", "compute.compute-7", instancePayload(server, "m1.tiny", "1", 512, "")))
	publish(nova, notification("compute.instance.exists", "compute.compute-7", withAudit(instancePayload(server, "m1.tiny", "1", 512, ""))))
	var created map[string]any
	eventually(t, 20*time.Second, "the server is an instance with its attributes and metrics", func() error {
		r, err := resource("instance", server)
		if err != nil {
			return err
		}
		if err := want(r, map[string]any{"type": "instance", "display_name": "web-1", "flavor_name": "m1.tiny", "flavor_id": "1",
			"host": "compute-7", "image_ref": "5b8a1e8e-2c3f-4d5e-9f00-1a2b3c4d5e6f", "server_group": "sg-web",
			"launched_at": "2024-05-08T20:23:47.985999+00:00", "created_at": "2024-05-08T20:23:41.000000+00:00",
			"project_id": "7c150a59fe714e6f9263774af9688f0e", "user_id": "1e3ce043029547f1a61c1996d1a531a2", "ended_at": nil}); err != nil {
			return err
		}
		metrics, _ := r["metrics"].(map[string]any)
		for _, m := range []string{"memory", "vcpus", "disk.root.size", "disk.ephemeral.size", "compute.instance.booting.time"} {
			if metrics[m] == nil {
				return fmt.Errorf("no metric %s in %v", m, metrics)
			}
		}
		created = r
		return nil
	})
	// The metric has the policy the definitions give the meter.
	var memory map[string]any
	if code := get(t, a, "/v1/metric/"+created["metrics"].(map[string]any)["memory"].(string), &memory); code != http.StatusOK {
		t.Fatalf("GET memory metric: %d", code)
	}
	if ap, _ := memory["archive_policy"].(map[string]any); ap == nil || ap["name"] != "ceilometer-low" {
		t.Errorf("memory's archive policy %v, want ceilometer-low", memory["archive_policy"])
	}

	// A resize: the server's samples now carry the new flavor.
	publish(nova, notification("compute.instance.resize.confirm.end", "compute.compute-7", instancePayload(server, "m1.small", "2", 2048, "")))
	eventually(t, 20*time.Second, "the history shows the resize", func() error {
		var hist []map[string]any
		if code := get(t, a, "/v1/resource/instance/"+server+"/history", &hist); code != http.StatusOK {
			return fmt.Errorf("GET history: %d", code)
		}
		// The create event and the create notification's samples race to
		// make the server (the event's flavor_id is Nova's instance_type_id,
		// the samples' its flavor id, as in Ceilometer's definitions), so
		// the first flavor may span two revisions.
		var flavors []string
		for _, h := range hist {
			if f := fmt.Sprint(h["flavor_name"]); len(flavors) == 0 || flavors[len(flavors)-1] != f {
				flavors = append(flavors, f)
			}
		}
		if !slices.Equal(flavors, []string{"m1.tiny", "m1.small"}) {
			return fmt.Errorf("flavor_name over the history %v, want m1.tiny then m1.small", flavors)
		}
		last, prev := hist[len(hist)-1], hist[len(hist)-2]
		if prev["revision_end"] == nil || last["revision_end"] != nil || last["flavor_id"] != "2" || prev["flavor_id"] != "1" {
			return fmt.Errorf("history %v", hist)
		}
		return nil
	})

	// The server's disk and interface, as the libvirt poller makes them.
	send(t, a, http.MethodPost, "/v1/resource/instance_disk", `{"id": "`+server+`-vda", "name": "vda", "instance_id": "`+server+`"}`, http.StatusCreated)
	send(t, a, http.MethodPost, "/v1/resource/instance_network_interface", `{"id": "tap-web-1", "name": "tap-web-1", "instance_id": "`+server+`"}`, http.StatusCreated)
	send(t, a, http.MethodPost, "/v1/resource/instance_disk", `{"id": "other-vda", "name": "vda", "instance_id": "00000000-0000-4000-8000-000000000001"}`, http.StatusCreated)

	publish(nova, notification("compute.instance.delete.start", "compute.compute-7", instancePayload(server, "m1.small", "2", 2048, "")))
	publish(nova, notification("compute.instance.delete.end", "compute.compute-7", instancePayload(server, "m1.small", "2", 2048, "2024-05-09 10:00:00")))
	eventually(t, 20*time.Second, "the server, its disk and its interface end", func() error {
		r, err := resource("instance", server)
		if err != nil {
			return err
		}
		if r["ended_at"] == nil {
			return fmt.Errorf("instance not ended: %v", r)
		}
		if r["deleted_at"] != "2024-05-09T10:00:00.000000+00:00" {
			return fmt.Errorf("deleted_at %v", r["deleted_at"])
		}
		var found []map[string]any
		if err := json.Unmarshal(send(t, a, http.MethodPost, "/v1/search/resource/generic?details=true", `{"or": [{"=": {"id": "`+server+`-vda"}}, {"=": {"id": "tap-web-1"}}]}`, http.StatusOK), &found); err != nil {
			return err
		}
		if len(found) != 2 {
			return fmt.Errorf("found %v", found)
		}
		for _, f := range found {
			if f["ended_at"] == nil {
				return fmt.Errorf("%s %s not ended", f["type"], f["original_resource_id"])
			}
		}
		return nil
	})
	var otherDisk []map[string]any
	if err := json.Unmarshal(send(t, a, http.MethodPost, "/v1/search/resource/instance_disk", `{"=": {"instance_id": "00000000-0000-4000-8000-000000000001"}}`, http.StatusOK), &otherDisk); err != nil {
		t.Fatal(err)
	}
	if len(otherDisk) != 1 || otherDisk[0]["ended_at"] != nil {
		t.Errorf("another server's disk: %v", otherDisk)
	}

	const volume = "c3c3c3c3-cccc-4ccc-8ccc-cccccccccccc"
	const image = "e5e5e5e5-eeee-4eee-8eee-eeeeeeeeeeee"
	const port = "f6f6f6f6-0000-4111-8222-333333333333"
	publish(cinder, notification("volume.create.end", "volume.cinder-host", volumePayload(volume, 1, "")))
	publish(neutron, notification("port.create.end", "network.neutron-host", map[string]any{"port": map[string]any{
		"id": port, "name": "", "network_id": "aaaaaaaa-0000-1111-2222-333333333333", "tenant_id": "p-net", "project_id": "p-net",
		"mac_address": "fa:16:3e:00:00:01", "status": "DOWN", "device_owner": "compute:nova", "device_id": server}}))
	publish(glance, notification("image.upload", "images.example.com", map[string]any{
		"id": image, "name": "cirros-0.6", "status": "active", "size": 21430272, "owner": "7c150a59fe714e6f9263774af9688f0e",
		"container_format": "bare", "disk_format": "qcow2", "created_at": "2024-05-08T10:13:44.571370", "deleted_at": nil,
		"is_public": false, "min_disk": 0, "min_ram": 0, "properties": map[string]any{}}))
	eventually(t, 20*time.Second, "the volume and the image have their types and attributes", func() error {
		v, err := resource("volume", volume)
		if err != nil {
			return err
		}
		if err := want(v, map[string]any{"display_name": "data-1", "volume_type": "3a9a398b-7e3b-40da-b09e-2115ad8cd68b",
			"image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd", "instance_id": nil, "project_id": "7ffe17a15c724e2aa79fc839540aec15"}); err != nil {
			return err
		}
		img, err := resource("image", image)
		if err != nil {
			return err
		}
		if err := want(img, map[string]any{"name": "cirros-0.6", "container_format": "bare", "disk_format": "qcow2"}); err != nil {
			return err
		}
		if m, _ := img["metrics"].(map[string]any); m["image.size"] == nil {
			return fmt.Errorf("image metrics %v", img["metrics"])
		}
		return nil
	})
	publish(cinder, notification("volume.resize.end", "volume.cinder-host", volumePayload(volume, 5, server)))
	eventually(t, 20*time.Second, "the resized volume is attached to the server", func() error {
		v, err := resource("volume", volume)
		if err != nil {
			return err
		}
		return want(v, map[string]any{"instance_id": server})
	})
	// A port is no resource of Gnocchi's: its notification makes an event
	// and nothing in the index.
	if code := get(t, a, "/v1/resource/generic/"+port, nil); code != http.StatusNotFound {
		t.Errorf("GET the port's resource: %d, want 404", code)
	}

	publish(cinder, notification("volume.delete.end", "volume.cinder-host", volumePayload(volume, 5, "")))
	eventually(t, 20*time.Second, "the deleted volume ends", func() error {
		v, err := resource("volume", volume)
		if err != nil {
			return err
		}
		if v["ended_at"] == nil {
			return fmt.Errorf("volume not ended: %v", v)
		}
		return nil
	})
}

func withAudit(p map[string]any) map[string]any {
	p["audit_period_beginning"] = "2024-05-08 15:00:00"
	p["audit_period_ending"] = "2024-05-08 16:00:00"
	p["bandwidth"] = map[string]any{}
	return p
}
