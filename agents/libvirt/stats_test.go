//go:build libvirt

package libvirt

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// testDomain is a running domain with Nova metadata, disks vda (with a
// source) and hdc (without), and one interface.
func testDomain(t *testing.T) *domain {
	t.Helper()
	x, err := parseDomainXML(novaDomainXML)
	if err != nil {
		t.Fatal(err)
	}
	d := &domain{uuid: x.UUID, name: x.Name, xml: x}
	d.build("compute-1", stateRunning)
	return d
}

func emitAll(t *testing.T, d *domain, s *domStats, tl *tally) map[string]pipeline.Sample {
	t.Helper()
	got := map[string]pipeline.Sample{}
	var e emitter
	e.start(time.Unix(1, 0), func(s *pipeline.Sample) { got[s.ResourceID+" "+s.Name] = *s }, tl,
		newPollMetrics(metrics.NewSet(), "test:///x"))
	e.domain(d, s)
	return got
}

// TestEmitDomain checks the arithmetic that turns libvirt's readings into
// Ceilometer's meters, one rule per case.
func TestEmitDomain(t *testing.T) {
	const u = "9f9d01b9-5b2a-4a5e-8f9a-3c0c6e1d2f11"
	nic := "nova-instance-instance-0000002a-fa163e112233"
	for _, tc := range []struct {
		name   string
		fill   func(*domStats)
		want   map[string]float64 // volume per "<resource> <meter>"
		absent []string
	}{
		{"vcpu time + wait beats cpu.time", func(s *domStats) {
			s.set(vCPUTime, 100)
			s.set(vVCPUTime, 90)
			s.set(vVCPUs, 2)
		}, map[string]float64{u + " cpu": 90, u + " vcpus": 2}, nil},
		{"cpu.time when a vcpu lacks wait", func(s *domStats) { s.set(vCPUTime, 100) },
			map[string]float64{u + " cpu": 100}, []string{u + " vcpus"}},
		{"memory.usage from available and usable", func(s *domStats) {
			s.set(vAvailable, 4096)
			s.set(vUsable, 1024)
			s.set(vUnused, 2048)
		}, map[string]float64{u + " memory.usage": 3}, nil},
		{"memory.usage from available and unused", func(s *domStats) {
			s.set(vAvailable, 4096)
			s.set(vUnused, 2048)
			s.set(vBalCurrent, 8192)
			s.set(vRSS, 512)
		}, map[string]float64{u + " memory.usage": 2, u + " memory": 8, u + " memory.resident": 0.5}, nil},
		{"no memory.usage without available", func(s *domStats) { s.set(vUnused, 2048) },
			nil, []string{u + " memory.usage"}},
		{"swap needs both", func(s *domStats) { s.set(vSwapIn, 2048) }, nil, []string{u + " memory.swap.in"}},
		{"swap in MB", func(s *domStats) {
			s.set(vSwapIn, 2048)
			s.set(vSwapOut, 1024)
		}, map[string]float64{u + " memory.swap.in": 2, u + " memory.swap.out": 1}, nil},
		{"perf", func(s *domStats) {
			s.set(vCycles, 5)
			s.set(vCacheMisses, 7)
			s.set(vCmt, 9)
		}, map[string]float64{u + " perf.cpu.cycles": 5, u + " perf.cache.misses": 7, u + " cpu_l3_cache": 9},
			[]string{u + " perf.instructions"}},
		{"capacity is the larger of capacity and physical", func(s *domStats) {
			d := s.disk("vda")
			d.set(dCapacity, 10)
			d.set(dPhysical, 20)
			d.set(dAllocation, 5)
			d.set(dRdBytes, 99)
		}, map[string]float64{u + "-vda disk.device.capacity": 20, u + "-vda disk.device.usage": 20,
			u + "-vda disk.device.allocation": 5, u + "-vda disk.device.read.bytes": 99}, nil},
		{"a disk without a source gives nothing", func(s *domStats) { s.disk("sda").set(dRdBytes, 1) },
			nil, []string{u + "-sda disk.device.read.bytes"}},
		{"interface counters", func(s *domStats) {
			n := s.nic("tap1a2b3c4d-5e")
			n.set(nRxBytes, 1)
			n.set(nTxDrop, 2)
		}, map[string]float64{nic + " network.incoming.bytes": 1, nic + " network.outgoing.packets.drop": 2},
			[]string{nic + " network.outgoing.bytes"}},
		{"a shut-off domain: power state and flavor sizes only", func(s *domStats) {
			s.set(vState, stateShutoff)
			s.set(vCPUTime, 100)
			s.disk("vda").set(dRdBytes, 1)
		}, map[string]float64{u + " power.state": 5, u + " disk.root.size": 80, u + " disk.ephemeral.size": 20},
			[]string{u + " cpu", u + "-vda disk.device.read.bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDomain(t)
			var s domStats
			tc.fill(&s)
			got := emitAll(t, d, &s, &tally{})
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || math.Abs(g.Volume-v) > 1e-12 {
					t.Errorf("%s = %v (present %v), want %v", k, g.Volume, ok, v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s emitted", k)
				}
			}
			for k, s := range got {
				if s.UserID != "u-42" || s.ProjectID != "p-7" || s.Source != "openstack" {
					t.Errorf("%s: %+v", k, s)
				}
				if want := map[bool]string{true: "instance_disk", false: "instance"}[strings.Contains(k, "-vda ")]; !strings.HasPrefix(k, nic) && s.ResourceType != want {
					t.Errorf("%s has resource type %s", k, s.ResourceType)
				}
			}
		})
	}
}

// TestCounterResets: a cumulative value that goes down is emitted as it
// is and counted once per value; one that stays or grows is not counted.
func TestCounterResets(t *testing.T) {
	d := testDomain(t)
	fill := func(cpu, rd, rx uint64) *domStats {
		s := &domStats{}
		s.set(vCPUTime, cpu)
		s.disk("vda").set(dRdBytes, rd)
		s.nic("tap1a2b3c4d-5e").set(nRxBytes, rx)
		return s
	}
	var tl tally
	emitAll(t, d, fill(100, 100, 100), &tl)
	emitAll(t, d, fill(100, 200, 300), &tl)
	if tl.resets != 0 {
		t.Fatalf("%d resets while counters grew", tl.resets)
	}
	got := emitAll(t, d, fill(5, 10, 300), &tl)
	if tl.resets != 2 {
		t.Errorf("%d resets, want 2 (cpu and vda reads)", tl.resets)
	}
	if v := got["9f9d01b9-5b2a-4a5e-8f9a-3c0c6e1d2f11 cpu"].Volume; v != 5 {
		t.Errorf("cpu after the reset = %v, want the raw 5", v)
	}
	// The counters survive a rebuild from a new XML (a device added).
	d.build("compute-1", stateRunning)
	emitAll(t, d, fill(4, 10, 300), &tl)
	if tl.resets != 3 {
		t.Errorf("%d resets after a rebuild and a lower cpu, want 3", tl.resets)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.URI != DefaultURI || c.Host == "" || c.XMLRefresh != 10 || c.MinBackoff != time.Second ||
		c.MaxBackoff != 2*time.Minute || c.Metrics == nil {
		t.Errorf("defaults %+v", c)
	}
	for _, bad := range []Config{
		{URI: "no scheme"}, {URI: "://x"}, {XMLRefresh: -1},
		{MinBackoff: time.Minute, MaxBackoff: time.Second}, {MinBackoff: -time.Second},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestHostID(t *testing.T) {
	// Nova's hostId: sha224 of project id and host, hex.
	if got := hostID("p", "h"); len(got) != 56 || got != hostID("p", "h") || got == hostID("p", "h2") {
		t.Errorf("hostID = %q", got)
	}
	if got := hostID("", ""); got != "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f" {
		t.Errorf("sha224 of nothing = %s", got)
	}
}

func TestIndexed(t *testing.T) {
	for _, tc := range []struct {
		in    string
		idx   int
		field string
		ok    bool
	}{
		{"0.name", 0, "name", true}, {"12.rd.reqs", 12, "rd.reqs", true}, {"255.x", 255, "x", true},
		{"256.x", 0, "", false}, {"99999999999999999999.x", 0, "", false},
		{"count", 0, "", false}, {".name", 0, "", false}, {"3", 0, "", false}, {"3x.name", 0, "", false},
	} {
		idx, field, ok := indexed([]byte(tc.in), maxDevices)
		if idx != tc.idx || string(field) != tc.field || ok != tc.ok {
			t.Errorf("indexed(%q) = %d, %q, %v; want %d, %q, %v", tc.in, idx, field, ok, tc.idx, tc.field, tc.ok)
		}
	}
}
