package host

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// polled is one Poll's samples by "<resource id> <meter>".
type polled map[string]pipeline.Sample

func pollOnce(t testing.TB, p *Pollster, now time.Time) polled {
	t.Helper()
	got := polled{}
	err := p.Poll(context.Background(), now, func(s *pipeline.Sample) {
		if err := s.Validate(); err != nil {
			t.Errorf("invalid sample: %v", err)
		}
		k := s.ResourceID + " " + s.Name
		if _, dup := got[k]; dup {
			t.Errorf("%s emitted twice in one poll", k)
		}
		got[k] = *s
	})
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return got
}

// TestPollThisMachine polls the real procfs and sysfs of the machine the
// test runs on.
func TestPollThisMachine(t *testing.T) {
	p, err := New(Config{}, testLogger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer p.Close()
	host, _ := os.Hostname()
	t0 := time.Now().UTC()
	first := pollOnce(t, p, t0)
	if _, ok := first[host+" hardware.cpu.util"]; ok {
		t.Error("first poll emitted hardware.cpu.util; it needs two /proc/stat readings")
	}
	// Burn CPU so that the kernel counts ticks between the polls.
	for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
	}
	second := pollOnce(t, p, t0.Add(time.Second))

	for _, m := range []meter{mLoad1, mLoad5, mLoad15, mCPUUtil, mCPUUser, mCPUIdle, mMemTotal, mMemUsed, mMemAvail,
		mMemBuffer, mMemCached, mSwapTotal, mSwapAvail, mSysCPUIdle, mSysIOIn, mSysIOOut, mIPInDgrams, mIPOutDgrams} {
		s, ok := second[host+" "+m.name]
		if !ok {
			t.Errorf("no %s sample for the host", m.name)
			continue
		}
		if s.Unit != m.unit || s.Type != m.typ || s.ResourceType != "host" || s.Source != "hardware" ||
			s.Metadata["host_name"] != host || !s.Timestamp.Equal(t0.Add(time.Second)) {
			t.Errorf("%s: %+v", m.name, s)
		}
		if s.Volume < 0 || math.IsNaN(s.Volume) {
			t.Errorf("%s = %v", m.name, s.Volume)
		}
	}
	total, used := second[host+" hardware.memory.total"].Volume, second[host+" hardware.memory.used"].Volume
	if total <= 0 || used <= 0 || used > total {
		t.Errorf("memory used %v of total %v KB", used, total)
	}
	if u := second[host+" hardware.cpu.util"].Volume; u < 0 || u > 100 {
		t.Errorf("cpu.util = %v, want within [0, 100]", u)
	}
	if u, i := second[host+" hardware.cpu.util"].Volume, second[host+" hardware.system_stats.cpu.idle"].Volume; u+i > 100.0001 {
		t.Errorf("cpu.util %v + idle %v > 100", u, i)
	}
	var nics, fs int
	for _, s := range second {
		switch {
		case s.Name == "hardware.network.incoming.bytes":
			nics++
			if s.ResourceType != "host_network_interface" || s.ResourceID != host+"."+s.Metadata["name"].(string) {
				t.Errorf("interface sample %+v", s)
			}
		case s.Name == "hardware.disk.size.total":
			fs++
			used := second[s.ResourceID+" hardware.disk.size.used"]
			if s.ResourceType != "host_disk" || s.Volume <= 0 || used.Volume > s.Volume || s.Metadata["path"] == nil {
				t.Errorf("filesystem sample %+v, used %v", s, used.Volume)
			}
		}
	}
	if nics == 0 || fs == 0 {
		t.Errorf("%d interfaces and %d filesystems reported; want at least one of each (lo, the root fs)", nics, fs)
	}
	if _, ok := second[host+" lo hardware.network.incoming.bytes"]; ok {
		t.Error("resource id joined with a space")
	}
	if p.perf != nil {
		if v := second[host+" perf.cpu.cycles"].Volume; v <= 0 {
			t.Errorf("perf counters open but perf.cpu.cycles = %v", v)
		}
	} else {
		t.Log("perf_event_open unavailable on this machine; perf.* meters off")
	}
}

// fakeRoot writes a procfs tree from testdata with the given /proc/stat.
func fakeRoot(t testing.TB, stat string, skip ...string) (procfs string) {
	dir := t.TempDir()
	files := map[string]string{"loadavg": "loadavg", "meminfo": "meminfo_3.10", "vmstat": "vmstat",
		"net/snmp": "net_snmp", "net/dev": "net_dev_glued", "diskstats": "diskstats"}
	for _, s := range skip {
		delete(files, s)
	}
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	for dst, src := range files {
		if err := os.WriteFile(filepath.Join(dir, dst), testdata(t, src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPollRecordedHost checks the computed meters against hand-worked
// values on a procfs tree of recorded files.
func TestPollRecordedHost(t *testing.T) {
	// No mounts file: filesystem meters are off, which is no error.
	proc := fakeRoot(t, "cpu  100 0 50 800 50 0 0 0 0 0\n", "mounts")
	p, err := New(Config{ProcFS: proc, SysFS: t.TempDir(), Hostname: "node-1"}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := pollOnce(t, p, now)
	if _, ok := first["node-1 hardware.cpu.util"]; ok {
		t.Error("first poll emitted cpu.util")
	}
	// 200 ticks later: 60 user, 20 system, 100 idle, 20 iowait.
	if err := os.WriteFile(filepath.Join(proc, "stat"), []byte("cpu  160 0 70 900 70 0 0 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := pollOnce(t, p, now.Add(10*time.Second))
	want := map[string]float64{
		"node-1 hardware.cpu.util":                        40, // (60+20)/200
		"node-1 hardware.system_stats.cpu.idle":           50,
		"node-1 hardware.cpu.user":                        160,
		"node-1 hardware.cpu.system":                      70,
		"node-1 hardware.cpu.wait":                        70,
		"node-1 hardware.cpu.load.5min":                   0.59,
		"node-1 hardware.memory.total":                    2048000,
		"node-1 hardware.memory.avail":                    896000, // free+buffers+cached, no MemAvailable
		"node-1 hardware.memory.used":                     2048000 - 896000,
		"node-1 hardware.memory.swap.avail":               1000000,
		"node-1 hardware.system_stats.io.incoming.blocks": 1366445,
		"node-1 hardware.network.ip.outgoing.datagrams":   3874,
		"node-1.bond0 hardware.network.outgoing.bytes":    355077,
		"node-1.bond0 hardware.network.outgoing.errors":   7,
		"node-1.vda hardware.disk.read.bytes":             2732890 * 512,
		"node-1.vda hardware.disk.write.requests":         42147,
	}
	for k, v := range want {
		if s, ok := got[k]; !ok || math.Abs(s.Volume-v) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, s.Volume, ok, v)
		}
	}
	for k, s := range got {
		if s.Name == "hardware.disk.size.total" {
			t.Errorf("filesystem sample %s without a mounts file", k)
		}
		if s.ResourceID == "node-1.loop0" {
			t.Errorf("loop device reported: %s", k)
		}
	}
	bond := got["node-1.bond0 hardware.network.incoming.bytes"]
	if bond.ResourceType != "host_network_interface" || bond.Metadata["device_name"] != "bond0" ||
		bond.Metadata["host_name"] != "node-1" || bond.Type != pipeline.Cumulative || bond.Unit != "B" {
		t.Errorf("bond0 sample %+v", bond)
	}
	if n := len(got); n != 7+2+3+7+2+2+2*3+4 {
		t.Errorf("%d samples in the second poll", n)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{ProcFS: t.TempDir()}, nil); err == nil {
		t.Error("New succeeded on an empty procfs")
	}
}

func TestPollHonoursContext(t *testing.T) {
	p, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	if err := p.Poll(ctx, time.Now(), func(*pipeline.Sample) { n++ }); err == nil || n != 0 {
		t.Errorf("Poll on a done context: err %v, %d samples", err, n)
	}
}

func TestMetersListsEverything(t *testing.T) {
	p, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	listed := map[string]bool{}
	for _, m := range p.Meters() {
		listed[m] = true
	}
	for i := range 2 {
		err := p.Poll(context.Background(), time.Now(), func(s *pipeline.Sample) {
			if !listed[s.Name] {
				t.Errorf("poll %d emitted %s, which Meters does not list", i, s.Name)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
