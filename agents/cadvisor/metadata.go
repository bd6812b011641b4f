package cadvisor

import (
	"maps"
	"slices"
	"strings"
)

// The Kubernetes labels the kubelet puts on every container.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Bounds on what a container's labels put into its metadata: the store
// keeps attribute strings up to Gnocchi's 255 characters, and an image
// with thousands of labels must not make every sample heavy.
const (
	maxLabels   = 64
	maxAttrLen  = 255
	maxIDLength = 128
)

// resourceID returns a container's resource id: "<host>:<name>" with '/'
// replaced by '_'.
func resourceID(host, name string) string {
	return host + ":" + strings.ReplaceAll(name, "/", "_")
}

// metadata builds the resource metadata of a container. Empty attributes
// are left out.
func metadata(host string, r *reading) map[string]any {
	md := map[string]any{"host": host, "name": clip(r.name)}
	set := func(k, v string) {
		if v != "" {
			md[k] = clip(v)
		}
	}
	podUID, containerID := fromCgroupPath(r.name)
	if l := r.labels[labelPodUID]; l != "" {
		podUID = l
	}
	if id := idAlias(r.aliases); id != "" {
		containerID = id
	}
	set("container_id", containerID)
	set("container_name", containerName(r))
	set("pod_name", r.labels[labelPodName])
	set("pod_uid", podUID)
	set("namespace", r.labels[labelPodNamespace])
	set("image", r.image)
	set("runtime", r.runtime)
	if len(r.labels) > 0 {
		keys := slices.Sorted(maps.Keys(r.labels))
		// Beyond the bound keep the first keys in order, so that the
		// attributes do not change from one poll to the next.
		keys = keys[:min(len(keys), maxLabels)]
		labels := make(map[string]any, len(keys))
		for _, k := range keys {
			labels[clip(k)] = clip(r.labels[k])
		}
		md["labels"] = labels
	}
	return md
}

// containerName is the Kubernetes container name, else the runtime's name
// of the container (the alias that is not its id).
func containerName(r *reading) string {
	if n := r.labels[labelContainerName]; n != "" {
		return n
	}
	for _, a := range r.aliases {
		if !isHexID(a) {
			return a
		}
	}
	return ""
}

// idAlias returns the alias that is a runtime's container id (64 hex
// digits), if any.
func idAlias(aliases []string) string {
	for _, a := range aliases {
		if isHexID(a) {
			return a
		}
	}
	return ""
}

// fromCgroupPath reads the pod uid and the container id out of a
// kubelet-made cgroup path, in its cgroupfs form
// (/kubepods/burstable/pod<uid>/<id>) or its systemd form
// (/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with
// '_' for '-'>.slice/cri-containerd-<id>.scope). Either is empty when the
// path does not hold it.
func fromCgroupPath(name string) (podUID, containerID string) {
	if !strings.Contains(name, "kubepods") {
		// Plain Docker and systemd units carry a container id too.
		last := name[strings.LastIndexByte(name, '/')+1:]
		return "", scopeID(last)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" {
			continue
		}
		if uid, ok := podSegment(seg); ok {
			podUID = uid
			continue
		}
		if podUID != "" {
			if id := scopeID(seg); id != "" {
				containerID = id
			}
		}
	}
	return podUID, containerID
}

// podSegment recognises "pod<uid>" and "kubepods-<qos>-pod<uid>.slice".
func podSegment(seg string) (string, bool) {
	if s, ok := strings.CutSuffix(seg, ".slice"); ok {
		i := strings.LastIndex(s, "-pod")
		if i < 0 {
			return "", false
		}
		uid := strings.ReplaceAll(s[i+len("-pod"):], "_", "-")
		return uid, uid != "" && len(uid) <= maxIDLength
	}
	uid, ok := strings.CutPrefix(seg, "pod")
	return uid, ok && uid != "" && len(uid) <= maxIDLength
}

// scopeID returns the container id in a cgroup directory name: the bare
// id, or "<runtime>-<id>.scope" (docker, cri-containerd, crio, libpod).
func scopeID(seg string) string {
	if s, ok := strings.CutSuffix(seg, ".scope"); ok {
		seg = s[strings.LastIndexByte(s, '-')+1:]
	}
	if isHexID(seg) {
		return seg
	}
	return ""
}

// isHexID reports whether s is a 64-hex-digit container id.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip bounds an attribute string to maxAttrLen bytes without splitting a
// UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxAttrLen {
		return s
	}
	i := maxAttrLen
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
