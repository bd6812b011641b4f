package cadvisor

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// benchContainers is the size of the node the benchmark polls.
const benchContainers = 200

// kubeletReply replicates the recorded /comptest container (its latest
// sample) n times under kubelet-style cgroup paths and labels, as a
// daemon on a node running n containers would reply.
func kubeletReply(b *testing.B, n int, shift time.Duration, cpuStep uint64) []byte {
	var all map[string]map[string]any
	if err := json.Unmarshal(testdata(b, "v2.1-stats-comptest-count3.json"), &all); err != nil {
		b.Fatal(err)
	}
	ci := all["/comptest"]
	stats := ci["stats"].([]any)
	last := stats[len(stats)-1].(map[string]any)
	ts, _ := time.Parse(time.RFC3339Nano, last["timestamp"].(string))
	out := make(map[string]any, n)
	for i := range n {
		s := make(map[string]any, len(last))
		for k, v := range last {
			s[k] = v
		}
		s["timestamp"] = ts.Add(shift).Format(time.RFC3339Nano)
		cpu := last["cpu"].(map[string]any)
		usage := cpu["usage"].(map[string]any)
		s["cpu"] = map[string]any{"usage": map[string]any{"total": uint64(usage["total"].(float64)) + cpuStep + uint64(i)}}
		spec := make(map[string]any)
		for k, v := range ci["spec"].(map[string]any) {
			spec[k] = v
		}
		pod := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		spec["labels"] = map[string]string{
			labelPodName: fmt.Sprintf("app-%d-5d8f7", i), labelPodNamespace: "default", labelPodUID: pod,
			labelContainerName: "app", "io.kubernetes.container.restartCount": "0",
		}
		spec["image"] = "registry.example/app:1.0"
		name := fmt.Sprintf("/kubepods/burstable/pod%s/%064x", pod, i)
		out[name] = map[string]any{"spec": spec, "stats": []any{s}}
	}
	body, err := json.Marshal(out)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPollRemote200 polls a daemon reply of 200 containers (the
// recorded data, replicated) plus the recorded machine statistics: one
// full cycle of a node's containers, decoding included. cpu-ms/cycle is
// the process's CPU time (user+system, the test server's share included)
// per cycle; the target is under 100 ms.
func BenchmarkPollRemote200(b *testing.B) {
	d := newDaemon(b)
	replies := [2][]byte{kubeletReply(b, benchContainers, 0, 0), kubeletReply(b, benchContainers, 10*time.Second, 1e9)}
	p := newRemoteForTest(b, d, nil)
	n := 0
	emit := func(*pipeline.Sample) { n++ }
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		b.StopTimer()
		d.set("/api/v2.1/stats/", replies[i%2])
		i++
		b.StartTimer()
		if err := p.Poll(ctx, time.Now(), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/cycle")
	b.ReportMetric(float64(n)/float64(b.N), "samples/op")
	b.ReportMetric(float64(len(replies[0])), "reply-bytes")
}

// BenchmarkPollEmbedded polls this machine's real cgroups through the
// embedded manager, refreshing every container's statistics at each poll.
func BenchmarkPollEmbedded(b *testing.B) {
	p, err := New(Config{Mode: ModeEmbedded, MaxAge: time.Nanosecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	emit := func(*pipeline.Sample) { n++ }
	ctx := context.Background()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if err := p.Poll(ctx, time.Now(), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/cycle")
	b.ReportMetric(float64(n)/float64(b.N), "samples/op")
}
