package snmp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// polled is one Poll's samples by "<resource id> <meter>".
type polled map[string]pipeline.Sample

func pollOnce(t testing.TB, p *Pollster) (polled, error) {
	t.Helper()
	got := polled{}
	var mu sync.Mutex // emit runs on the targets' goroutines
	err := p.Poll(context.Background(), time.Now(), func(s *pipeline.Sample) {
		mu.Lock()
		defer mu.Unlock()
		if err := s.Validate(); err != nil {
			t.Errorf("invalid sample: %v", err)
		}
		k := s.ResourceID + " " + s.Name
		if _, dup := got[k]; dup {
			t.Errorf("%s emitted twice in one poll", k)
		}
		got[k] = *s
	})
	return got, err
}

// procFields reads "key: value ..." lines of a procfs file.
func procFields(t testing.TB, path string) map[string]uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(strings.Replace(sc.Text(), ":", " ", 1))
		if len(f) >= 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}

// netSNMP returns a field of the Ip lines of /proc/net/snmp.
func netSNMP(t testing.TB, field string) uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Ip: ")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		for i, v := range strings.Fields(rest) {
			if i < len(names) && names[i] == field {
				n, _ := strconv.ParseUint(v, 10, 64)
				return n
			}
		}
	}
	t.Fatalf("no Ip %s in /proc/net/snmp", field)
	return 0
}

// loRxBytes returns lo's received bytes from /proc/net/dev.
func loRxBytes(t testing.TB) uint64 {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "lo" {
			n, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	t.Fatal("no lo in /proc/net/dev")
	return 0
}

func v2cTarget(a *agent) Target {
	return Target{Address: a.addr, Name: "node-1", Community: testCommunity}
}

func v3Target(a *agent) Target {
	return Target{Address: a.addr, Name: "node-1", Version: "3", User: testUser,
		AuthProtocol: "SHA", AuthPassword: testAuthPass, PrivProtocol: "AES", PrivPassword: testPrivPass}
}

// checkThisMachine checks one poll of the agent against what the machine
// reports itself.
func checkThisMachine(t *testing.T, tgt Target) polled {
	p, err := New(Config{Targets: []Target{tgt}}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ipIn, loRx := netSNMP(t, "InReceives"), loRxBytes(t)
	got, err := pollOnce(t, p)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	mem := procFields(t, "/proc/meminfo")
	host := func(m meter) pipeline.Sample {
		t.Helper()
		s, ok := got["node-1 "+m.name]
		if !ok {
			t.Errorf("no %s of the host", m.name)
		}
		if s.ResourceType != "host" || s.Source != "hardware" || s.Unit != m.unit || s.Type != m.typ || s.Metadata["host_name"] != "node-1" {
			t.Errorf("%s: %+v", m.name, s)
		}
		return s
	}
	if v := host(mMemTotal).Volume; v != float64(mem["MemTotal"]) {
		t.Errorf("memory.total = %v KB, /proc/meminfo says %d", v, mem["MemTotal"])
	}
	if v := host(mSwapTotal).Volume; v != float64(mem["SwapTotal"]) {
		t.Errorf("memory.swap.total = %v KB, /proc/meminfo says %d", v, mem["SwapTotal"])
	}
	// net-snmp's memAvailReal is MemFree, which moves; 5% of the total.
	if v := host(mMemAvail).Volume; math.Abs(v-float64(mem["MemFree"])) > 0.05*float64(mem["MemTotal"]) {
		t.Errorf("memory.avail = %v KB, MemFree %d", v, mem["MemFree"])
	}
	if tot, used, avail := host(mMemTotal).Volume, host(mMemUsed).Volume, host(mMemAvail).Volume; used != tot-avail {
		t.Errorf("memory.used %v != total %v - avail %v", used, tot, avail)
	}
	if v := host(mMemBuffer).Volume; math.Abs(v-float64(mem["Buffers"])) > 0.05*float64(mem["MemTotal"]) {
		t.Errorf("memory.buffer = %v KB, Buffers %d", v, mem["Buffers"])
	}
	if v := host(mMemCached).Volume; v <= 0 || v > float64(mem["MemTotal"]) {
		t.Errorf("memory.cached = %v KB", v)
	}
	host(mSwapAvail)
	la, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []meter{mLoad1, mLoad5, mLoad15} {
		want, _ := strconv.ParseFloat(strings.Fields(string(la))[i], 64)
		if v := host(m).Volume; math.Abs(v-want) > 0.5+0.3*want {
			t.Errorf("%s = %v, /proc/loadavg says %v", m.name, v, want)
		}
	}
	ipInAfter, loRxAfter := netSNMP(t, "InReceives"), loRxBytes(t)
	if v := host(mIPInDgrams).Volume; !counterNear(v, ipIn, ipInAfter) {
		t.Errorf("ip.incoming.datagrams = %v; /proc/net/snmp had %d before the poll, %d after", v, ipIn, ipInAfter)
	}
	host(mIPOutDgrams)
	host(mSysIOIn)
	host(mSysIOOut)

	lo, ok := got["node-1.lo hardware.network.incoming.bytes"]
	if !ok {
		t.Fatalf("no lo interface; samples: %v", keys(got))
	}
	if !counterNear(lo.Volume, loRx, loRxAfter) || lo.ResourceType != "host_network_interface" || lo.Unit != "B" || lo.Type != pipeline.Cumulative {
		t.Errorf("lo incoming bytes %+v; /proc/net/dev had %d before, %d after", lo, loRx, loRxAfter)
	}
	if md := lo.Metadata; md["name"] != "lo" || md["host_name"] != "node-1" || md["ip"] != "127.0.0.1" {
		t.Errorf("lo metadata %v", md)
	}
	for _, m := range []string{"outgoing.bytes", "outgoing.errors"} {
		if _, ok := got["node-1.lo hardware.network."+m]; !ok {
			t.Errorf("no lo %s", m)
		}
	}

	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	wantKB := float64(st.Blocks) * float64(st.Bsize) / 1024
	found := false
	for k, s := range got {
		if s.Name != "hardware.disk.size.total" || s.Metadata["path"] != "/" {
			continue
		}
		found = true
		if math.Abs(s.Volume-wantKB) > 0.01*wantKB || s.ResourceType != "host_disk" || s.Unit != "KB" {
			t.Errorf("%s = %+v; statfs says %v KB", k, s, wantKB)
		}
		used := got[s.ResourceID+" hardware.disk.size.used"]
		if used.Volume <= 0 || used.Volume > s.Volume {
			t.Errorf("disk used %v of %v", used.Volume, s.Volume)
		}
		if dev, _ := s.Metadata["device"].(string); s.ResourceID != "node-1."+strings.ReplaceAll(dev, "/", "_") {
			t.Errorf("root disk resource id %q, device %q", s.ResourceID, dev)
		}
	}
	if !found {
		t.Errorf("no disk mounted on /; samples: %v", keys(got))
	}
	return got
}

// counterNear reports whether an agent's counter fits the machine's
// readings before and after the poll. snmpd serves counters from caches
// a few seconds old, so it may lag the reading before by a little.
func counterNear(v float64, before, after uint64) bool {
	slack := max(0.05*float64(before), 1000)
	return v >= float64(before)-slack && v <= float64(after)
}

func keys(p polled) []string {
	var out []string
	for k := range p {
		out = append(out, k)
	}
	return out
}

func TestV2cThisMachine(t *testing.T) {
	checkThisMachine(t, v2cTarget(sharedAgent(t)))
}

func TestV3AuthPrivThisMachine(t *testing.T) {
	a := sharedAgent(t)
	v3 := checkThisMachine(t, v3Target(a))
	v2 := checkThisMachine(t, v2cTarget(a))
	for k := range v2 {
		if _, ok := v3[k]; !ok {
			t.Errorf("%s over v2c, not over v3", k)
		}
	}
}

func TestV3WrongPassword(t *testing.T) {
	a := sharedAgent(t)
	tgt := v3Target(a)
	tgt.AuthPassword = "not-the-password"
	p, err := New(Config{Targets: []Target{tgt}, RequestTimeout: 300 * time.Millisecond, Retries: -1}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := pollOnce(t, p)
	if err == nil || len(got) != 0 || !strings.Contains(err.Error(), "node-1") {
		t.Errorf("wrong password: %d samples, error %v", len(got), err)
	}
}

// TestGarbageValues runs an agent that sends strings and negative numbers
// where counters and gauges belong: those values are skipped and counted,
// everything else comes through.
func TestGarbageValues(t *testing.T) {
	a, err := startAgent(t, t.TempDir(), agentConfig(
		`override .1.3.6.1.4.1.2021.4.14.0 octet_str "lots"`,   // memBuffer
		`override .1.3.6.1.4.1.2021.10.1.3.1 octet_str "high"`, // laLoad.1
		`override .1.3.6.1.4.1.2021.4.3.0 integer -5`,          // memTotalSwap
		`override .1.3.6.1.2.1.2.2.1.20.1 octet_str "x"`,       // ifOutErrors of lo
	))
	if err != nil {
		t.Fatalf("cannot run the test SNMP agent: %v", err)
	}
	defer a.stop()
	set := metrics.NewSet()
	p, err := New(Config{Targets: []Target{v2cTarget(a)}, Metrics: set}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for poll := range 2 {
		got, err := pollOnce(t, p)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		for _, k := range []string{"node-1 hardware.memory.buffer", "node-1 hardware.cpu.load.1min",
			"node-1 hardware.memory.swap.total", "node-1.lo hardware.network.outgoing.errors"} {
			if s, ok := got[k]; ok {
				t.Errorf("garbage came through: %s = %v", k, s.Volume)
			}
		}
		for _, k := range []string{"node-1 hardware.memory.total", "node-1 hardware.cpu.load.5min",
			"node-1.lo hardware.network.incoming.bytes", "node-1.lo hardware.network.outgoing.bytes"} {
			if _, ok := got[k]; !ok {
				t.Errorf("no %s beside the garbage", k)
			}
		}
		if n := set.GetOrCreateCounter(`vigil_agent_snmp_values_skipped_total{target="node-1"}`).Get(); n != uint64(4*(poll+1)) {
			t.Errorf("poll %d: %d values skipped, want %d", poll, n, 4*(poll+1))
		}
	}
}

// TestHostResourcesDisks runs an agent whose configuration names no disks,
// so that its UCD disk table is empty: the disks come from
// HOST-RESOURCES-MIB's storage table, in allocation units.
func TestHostResourcesDisks(t *testing.T) {
	var conf []string
	for _, l := range agentConfig() {
		if !strings.HasPrefix(l, "includeAllDisks") {
			conf = append(conf, l)
		}
	}
	a, err := startAgent(t, t.TempDir(), conf)
	if err != nil {
		t.Fatalf("cannot run the test SNMP agent: %v", err)
	}
	defer a.stop()
	p, err := New(Config{Targets: []Target{v2cTarget(a)}}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := pollOnce(t, p)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	wantKB := float64(st.Blocks) * float64(st.Bsize) / 1024
	root, ok := got["node-1._ hardware.disk.size.total"]
	if !ok {
		t.Fatalf("no root filesystem from hrStorageTable; samples %v", keys(got))
	}
	if math.Abs(root.Volume-wantKB) > 0.01*wantKB || root.Metadata["path"] != "/" || root.ResourceType != "host_disk" {
		t.Errorf("root filesystem %+v; statfs says %v KB", root, wantKB)
	}
	for k, s := range got {
		if s.Name == "hardware.disk.size.total" && strings.Contains(strings.ToLower(fmt.Sprint(s.Metadata["path"])), "memory") {
			t.Errorf("memory storage reported as a disk: %s", k)
		}
	}
}

// TestUnreachableTarget: a target that does not answer fails alone, within
// its timeout, and the other target's samples come through.
func TestUnreachableTarget(t *testing.T) {
	a := sharedAgent(t)
	dead := Target{Address: fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t)), Name: "dead", Community: testCommunity}
	set := metrics.NewSet()
	p, err := New(Config{Targets: []Target{dead, v2cTarget(a)}, RequestTimeout: 200 * time.Millisecond, Retries: -1,
		Timeout: time.Second, Concurrency: 1, Metrics: set}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	got, err := pollOnce(t, p)
	if err == nil || !strings.Contains(err.Error(), "dead") || strings.Contains(err.Error(), "node-1") {
		t.Errorf("Poll error %v, want one naming the dead target only", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("poll took %v", el)
	}
	if _, ok := got["node-1 hardware.memory.total"]; !ok {
		t.Errorf("live target's samples missing: %d samples", len(got))
	}
	for k := range got {
		if strings.HasPrefix(k, "dead") {
			t.Errorf("sample from the dead target: %s", k)
		}
	}
	if n := set.GetOrCreateCounter(`vigil_agent_snmp_target_errors_total{target="dead"}`).Get(); n != 1 {
		t.Errorf("%d errors counted for the dead target", n)
	}
	// A done context stops the poll.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Poll(ctx, time.Now(), func(*pipeline.Sample) {}); err == nil {
		t.Error("Poll on a done context succeeded")
	}
}

// TestCPUIdleAndIO waits for the agent's CPU and I/O statistics, which
// net-snmp computes over its first minute, and checks them against
// /proc/vmstat: ssIORaw* count 512-byte sectors, /proc/vmstat KB.
func TestCPUIdleAndIO(t *testing.T) {
	t.Parallel()
	a := sharedAgent(t)
	p, err := New(Config{Targets: []Target{v2cTarget(a)}}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	deadline := time.Now().Add(100 * time.Second)
	for {
		before := procFields(t, "/proc/vmstat")
		got, err := pollOnce(t, p)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		after := procFields(t, "/proc/vmstat")
		idle, ok := got["node-1 hardware.system_stats.cpu.idle"]
		if !ok {
			if time.Now().After(deadline) {
				t.Fatal("no hardware.system_stats.cpu.idle 100 s after snmpd started")
			}
			time.Sleep(2 * time.Second)
			continue
		}
		if idle.Volume < 0 || idle.Volume > 100 || idle.Unit != "%" {
			t.Errorf("system_stats.cpu.idle %+v", idle)
		}
		in := got["node-1 hardware.system_stats.io.incoming.blocks"].Volume
		lo, hi := float64(2*before["pgpgin"]%(1<<32)), float64(2*after["pgpgin"]%(1<<32))
		if in < 0.9*lo || in > 1.1*hi {
			t.Errorf("io.incoming.blocks = %v; 2 x pgpgin was %v..%v", in, lo, hi)
		}
		if out := got["node-1 hardware.system_stats.io.outgoing.blocks"].Volume; out <= 0 {
			t.Errorf("io.outgoing.blocks = %v", out)
		}
		return
	}
}

func TestMetersListsEverything(t *testing.T) {
	a := sharedAgent(t)
	p, err := New(Config{Targets: []Target{v2cTarget(a)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	listed := map[string]bool{}
	for _, m := range p.Meters() {
		listed[m] = true
	}
	got, err := pollOnce(t, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		if !listed[s.Name] {
			t.Errorf("emitted %s, which Meters does not list", s.Name)
		}
	}
}

func TestNewErrors(t *testing.T) {
	good := Target{Address: "127.0.0.1"}
	for _, tc := range []struct {
		name string
		tgt  Target
		want string
	}{
		{"bad port", Target{Address: "host:port"}, "bad port"},
		{"zero port", Target{Address: "host:0"}, "bad port"},
		{"no host", Target{Address: ":161"}, "no host"},
		{"version", Target{Address: "h", Version: "1"}, "unknown version"},
		{"v3 without user", Target{Address: "h", Version: "3"}, "needs a user"},
		{"auth protocol", Target{Address: "h", Version: "3", User: "u", AuthProtocol: "CRC", AuthPassword: "12345678"}, "auth protocol"},
		{"short auth password", Target{Address: "h", Version: "3", User: "u", AuthProtocol: "SHA", AuthPassword: "short"}, "shorter"},
		{"priv without auth", Target{Address: "h", Version: "3", User: "u", PrivProtocol: "AES", PrivPassword: "12345678"}, "needs authentication"},
		{"priv protocol", Target{Address: "h", Version: "3", User: "u", AuthProtocol: "SHA", AuthPassword: "12345678", PrivProtocol: "ROT13", PrivPassword: "12345678"}, "privacy protocol"},
		{"short priv password", Target{Address: "h", Version: "3", User: "u", AuthProtocol: "SHA", AuthPassword: "12345678", PrivProtocol: "AES", PrivPassword: "x"}, "shorter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Targets: []Target{good, tc.tgt}}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "targets[1]") {
				t.Errorf("New: %v, want an error about %q on targets[1]", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without targets succeeded")
	}
	if _, err := New(Config{Targets: []Target{good, {Address: "127.0.0.1:161"}}}, nil); err == nil {
		t.Error("two targets of one name accepted")
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:1161", "[::1]:161", "::1", "agent.example"} {
		if _, err := New(Config{Targets: []Target{{Address: addr}}}, nil); err != nil {
			t.Errorf("New(%q): %v", addr, err)
		}
	}
}
