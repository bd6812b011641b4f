package cadvisor

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	idA = "4f1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
	idB = "0000000000000000000000000000000000000000000000000000000000000abc"
)

func TestFromCgroupPath(t *testing.T) {
	for _, tc := range []struct {
		path, pod, id string
	}{
		{"/", "", ""},
		{"/comptest", "", ""},
		{"/kubepods/burstable/pod6b1c2d3e-aaaa-bbbb-cccc-000000000001/" + idA, "6b1c2d3e-aaaa-bbbb-cccc-000000000001", idA},
		{"/kubepods/pod11-22/" + idA, "11-22", idA},
		{"/kubepods/burstable/pod6b1c", "6b1c", ""}, // the pod's own cgroup
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b1c2d3e_aaaa_bbbb.slice/cri-containerd-" + idA + ".scope",
			"6b1c2d3e-aaaa-bbbb", idA},
		{"/kubepods.slice/kubepods-pod77_88.slice/crio-" + idB + ".scope", "77-88", idB},
		{"/kubepods.slice/kubepods-besteffort.slice", "", ""},
		{"/docker/" + idA, "", idA},
		{"/system.slice/docker-" + idA + ".scope", "", idA},
		{"/system.slice/sshd.service", "", ""},
		{"/kubepods/pod/" + idA, "", ""}, // "pod" with no uid
		{"/docker/" + strings.ToUpper(idA), "", ""},
		{"/kubepods/pod" + strings.Repeat("x", 200) + "/" + idA, "", ""},
	} {
		pod, id := fromCgroupPath(tc.path)
		if pod != tc.pod || id != tc.id {
			t.Errorf("fromCgroupPath(%q) = %q, %q; want %q, %q", tc.path, pod, id, tc.pod, tc.id)
		}
	}
}

func TestMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    reading
		want map[string]any
	}{
		{"raw cgroup", reading{name: "/comptest"}, map[string]any{"host": "h", "name": "/comptest"}},
		{"docker", reading{name: "/docker/" + idA, aliases: []string{"web", idA}, image: "nginx:1", runtime: "docker"},
			map[string]any{"host": "h", "name": "/docker/" + idA, "container_id": idA, "container_name": "web",
				"image": "nginx:1", "runtime": "docker"}},
		{"kubelet path, no labels", reading{name: "/kubepods/besteffort/pod1-2/" + idA},
			map[string]any{"host": "h", "name": "/kubepods/besteffort/pod1-2/" + idA, "container_id": idA, "pod_uid": "1-2"}},
		{"kubernetes labels win over the path", reading{name: "/kubepods/pod1-2/" + idA, labels: map[string]string{
			labelPodName: "p", labelPodNamespace: "ns", labelPodUID: "9-9", labelContainerName: "c"}},
			map[string]any{"host": "h", "name": "/kubepods/pod1-2/" + idA, "container_id": idA, "pod_uid": "9-9",
				"pod_name": "p", "namespace": "ns", "container_name": "c",
				"labels": map[string]any{labelPodName: "p", labelPodNamespace: "ns", labelPodUID: "9-9", labelContainerName: "c"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := metadata("h", &tc.r)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("metadata:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestMetadataBounds(t *testing.T) {
	labels := map[string]string{}
	for i := range 1000 {
		labels[fmt.Sprintf("l%04d", i)] = strings.Repeat("é", 300)
	}
	labels[labelPodName] = strings.Repeat("p", 1000)
	r := reading{name: "/" + strings.Repeat("a", 1000), labels: labels}
	md := metadata("h", &r)
	l := md["labels"].(map[string]any)
	if len(l) != maxLabels {
		t.Errorf("%d labels kept, want %d", len(l), maxLabels)
	}
	// The same labels every time, the first in order.
	if _, ok := l["l0000"]; !ok {
		t.Errorf("first label not kept: %v", l)
	}
	for k, v := range md {
		if s, ok := v.(string); ok && (len(s) > maxAttrLen || !utf8.ValidString(s)) {
			t.Errorf("%s: %d bytes", k, len(s))
		}
	}
	for k, v := range l {
		if s := v.(string); len(s) > maxAttrLen || !utf8.ValidString(s) {
			t.Errorf("label %s: %d bytes, valid %v", k, len(s), utf8.ValidString(s))
		}
	}
}

func TestResourceID(t *testing.T) {
	for in, want := range map[string]string{
		"/":                 "node:_",
		"/comptest":         "node:_comptest",
		"/kubepods/pod1/ab": "node:_kubepods_pod1_ab",
	} {
		if got := resourceID("node", in); got != want {
			t.Errorf("resourceID(%q) = %q, want %q", in, got, want)
		}
	}
}
