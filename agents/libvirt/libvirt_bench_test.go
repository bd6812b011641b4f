//go:build libvirt

package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	lv "libvirt.org/go/libvirt"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// benchDomains is the host the performance target names: 500 domains,
// each with two disks, two interfaces, a balloon and Nova metadata.
const benchDomains = 500

func benchNode(n int) string {
	var b strings.Builder
	b.WriteString("<node><cpu><mhz>2400</mhz><model>i686</model><active>64</active><nodes>1</nodes><sockets>2</sockets>" +
		"<cores>16</cores><threads>2</threads></cpu><memory>1073741824</memory>\n")
	for i := range n {
		fmt.Fprintf(&b, `<domain type='test'><name>instance-%08x</name><uuid>0b0e0000-0000-4000-8000-%012d</uuid>
%s
<memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>2097152</currentMemory><vcpu>2</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><source file='/var/lib/nova/instances/%d/disk'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/var/lib/nova/instances/%d/disk.eph0'/><target dev='vdb' bus='virtio'/></disk>
<interface type='bridge'><mac address='fa:16:3e:00:%02x:%02x'/><source bridge='br-int'/><target dev='tap%08xa'/><model type='virtio'/></interface>
<interface type='bridge'><mac address='fa:16:3e:01:%02x:%02x'/><source bridge='br-int'/><target dev='tap%08xb'/><model type='virtio'/></interface>
<memballoon model='virtio'/></devices></domain>
`, i, i, novaMetadata(fmt.Sprintf("server-%d", i), "m1.small", 20, 0, userID, projectID, imageID),
			i, i, i/256, i%256, i, i/256, i%256, i)
	}
	b.WriteString("</node>")
	return b.String()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMB reads the process's resident set from procfs.
func rssMB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkPoll500 is one full poll cycle of 500 domains on libvirt's test
// driver, which fills only the state group of the bulk call: every other
// meter comes from per-domain calls (about 4,500 a cycle), the costlier
// path. cpu-ms/cycle is user+system CPU of the whole process per cycle,
// libvirt's in-process driver included; cold-cpu-ms is the first cycle
// (connect, probe, every domain's XML read and parsed). rss-MB includes
// the test driver's copy of the 500 domains, which libvirtd holds in
// production.
func BenchmarkPoll500(b *testing.B) {
	benchPoll(b, writeNode(b, benchNode(benchDomains)))
}

// BenchmarkPoll500Remote is BenchmarkPoll500 through a libvirtd of the
// benchmark's own serving the same test driver node over its Unix socket,
// as an agent talks to libvirtd in production: cpu-ms/cycle and rss-MB
// are then the agent's alone, and every per-domain call is a round trip.
func BenchmarkPoll500Remote(b *testing.B) {
	requireLibvirtd(b)
	dir, err := os.MkdirTemp("", "vlvb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	node := filepath.Join(dir, "node.xml")
	if err := os.WriteFile(node, []byte(benchNode(benchDomains)), 0o644); err != nil {
		b.Fatal(err)
	}
	d := startDaemon(b, filepath.Join(dir, "lv"))
	benchPoll(b, d.driverURI("test", node))
}

func benchPoll(b *testing.B, uri string) {
	p, err := New(Config{URI: uri, Host: "compute-1"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	n := 0
	emit := func(*pipeline.Sample) { n++ }
	ctx := context.Background()
	c0 := cpuTime()
	if err := p.Poll(ctx, time.Now(), emit); err != nil {
		b.Fatal(err)
	}
	cold := cpuTime() - c0
	if n < benchDomains*40 {
		b.Fatalf("%d samples from %d domains", n, benchDomains)
	}
	n = 0
	b.ReportAllocs()
	b.ResetTimer()
	c0 = cpuTime()
	for b.Loop() {
		if err := p.Poll(ctx, time.Now(), emit); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - c0
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/cycle")
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-cpu-ms")
	b.ReportMetric(float64(n)/float64(b.N), "samples/cycle")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(rssMB(b), "rss-MB")
}

// BenchmarkPollQEMU polls one real guest under QEMU through its libvirtd:
// the bulk path end to end. cpu-us/cycle is the agent's CPU per cycle of
// this one-domain host. To scale it to the target's 500 domains, the parts
// are timed alone on the same guest: the bulk call for every group
// (bulk-us) and for the state group only (state-us), whose difference is
// what one domain's full record adds to the call (record-us); the
// pollster's parsing and emitting of one record (parse-emit-us); and one
// XML read (xml-us), which a domain needs once every XMLRefresh polls.
// est-cpu-ms/500-domains is one call's fixed cost plus 500 times a
// domain's share.
func BenchmarkPollQEMU(b *testing.B) {
	g := newGuest(b)
	p, err := New(Config{URI: g.d.uri, Host: "compute-1"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	n := 0
	emit := func(*pipeline.Sample) { n++ }
	ctx := context.Background()
	if err := p.Poll(ctx, time.Now(), emit); err != nil {
		b.Fatal(err)
	}
	if p.groups != allGroups || n < 30 {
		b.Fatalf("bulk groups %#x, %d samples", p.groups, n)
	}
	n = 0
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if err := p.Poll(ctx, time.Now(), emit); err != nil {
			b.Fatal(err)
		}
	}
	cycle := float64((cpuTime() - c0).Nanoseconds()) / float64(b.N)
	samples := float64(n) / float64(b.N)
	b.StopTimer()

	raw, err := rawConn(g.rw)
	if err != nil {
		b.Fatal(err)
	}
	defer closeRaw(raw)
	const calls = 500
	timed := func(f func()) float64 {
		c := cpuTime()
		for range calls {
			f()
		}
		return float64((cpuTime() - c).Nanoseconds()) / calls
	}
	bulkCall := func(groups lv.DomainStatsTypes) func() {
		return func() {
			recs, err := allStats(raw, groups, 0)
			if err != nil || recs.n != 1 {
				b.Fatalf("bulk call: %d records, %v", recs.n, err)
			}
			recs.free()
		}
	}
	all, state := timed(bulkCall(allGroups)), timed(bulkCall(lv.DOMAIN_STATS_STATE))

	recs, err := allStats(raw, allGroups, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer recs.free()
	rec := recs.at(0)
	x, err := rec.xml()
	if err != nil {
		b.Fatal(err)
	}
	d := &domain{uuid: g.uuid, name: g.name}
	if d.xml, err = parseDomainXML(x); err != nil {
		b.Fatal(err)
	}
	d.build("compute-1", stateRunning)
	var (
		e     emitter
		st    domStats
		vcpus []vcpuAcc
		tl    tally
	)
	e.start(time.Now(), func(*pipeline.Sample) {}, &tl, newPollMetrics(metrics.NewSet(), "bench"))
	allocs := testing.AllocsPerRun(calls, func() {
		st.reset()
		rec.parse(&st, d, &vcpus)
		e.domain(d, &st)
	})
	parseEmit := timed(func() {
		st.reset()
		rec.parse(&st, d, &vcpus)
		e.domain(d, &st)
	})
	xmlRead := timed(func() {
		if _, err := rec.xml(); err != nil {
			b.Fatal(err)
		}
	})
	record := max(all-state, 0)
	perDomain := record + parseEmit + xmlRead/float64(p.cfg.XMLRefresh)
	b.ReportMetric(cycle/1e3, "cpu-us/cycle")
	b.ReportMetric(all/1e3, "bulk-us")
	b.ReportMetric(state/1e3, "state-us")
	b.ReportMetric(record/1e3, "record-us")
	b.ReportMetric(parseEmit/1e3, "parse-emit-us")
	b.ReportMetric(allocs, "parse-emit-allocs")
	b.ReportMetric(xmlRead/1e3, "xml-us")
	b.ReportMetric((state+benchDomains*perDomain)/1e6, "est-cpu-ms/500-domains")
	b.ReportMetric(samples, "samples/cycle")
}
