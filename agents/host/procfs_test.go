package host

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTable runs a parser over recorded files and inline inputs and
// compares its result, or checks that its error mentions want.
func checkTable[T any](t *testing.T, parse func([]byte) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tt := range tests {
		in := []byte(tt.in)
		if tt.file != "" {
			in = testdata(t, tt.file)
		}
		got, err := parse(in)
		name := tt.file
		if name == "" {
			name = strings.ReplaceAll(tt.in, "\n", `\n`)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, tt.want)
		}
	}
}

type parseCase[T any] struct {
	file    string // in testdata, or
	in      string
	want    T
	wantErr string
}

func TestParseStat(t *testing.T) {
	checkTable(t, parseStat, []parseCase[cpuTimes]{
		{file: "stat", want: cpuTimes{User: 25323, System: 10026, Idle: 201867, IOWait: 1238, SoftIRQ: 267, Steal: 2650}},
		{file: "stat_2.4", want: cpuTimes{User: 100, Nice: 2, System: 30, Idle: 400}},
		{in: "cpu0 1 2 3 4\n", wantErr: "no aggregate cpu line"},
		{in: "cpu  1 2 3\n", wantErr: "3 columns"},
		{in: "cpu  1 2 x 4\n", wantErr: "cpu column 3"},
		{in: "cpu  1 2 3 99999999999999999999\n", wantErr: "overflows"},
		{in: "", wantErr: "no aggregate cpu line"},
	})
}

func TestParseLoadavg(t *testing.T) {
	checkTable(t, parseLoadavg, []parseCase[loadAvg]{
		{file: "loadavg", want: loadAvg{0.46, 0.59, 0.40}},
		{in: "12.50 3.00 0.01 5/900 1\n", want: loadAvg{12.5, 3, 0.01}},
		{in: "0.1 0.2\n", wantErr: "2 load averages"},
		{in: "0.1 NaN 0.3\n", wantErr: "not a load"},
		{in: "-1 0 0\n", wantErr: "not a load"},
	})
}

func TestParseMeminfo(t *testing.T) {
	checkTable(t, parseMeminfo, []parseCase[memInfo]{
		{file: "meminfo", want: memInfo{TotalKB: 24684084, FreeKB: 23648948, AvailableKB: 23990264, BuffersKB: 4764,
			CachedKB: 547444, HasAvailable: true}},
		{file: "meminfo_3.10", want: memInfo{TotalKB: 2048000, FreeKB: 512000, BuffersKB: 128000, CachedKB: 256000,
			SwapTotalKB: 1048572, SwapFreeKB: 1000000}},
		{in: "MemFree: 1 kB\n", wantErr: "no MemTotal"},
		{in: "MemTotal: lots kB\n", wantErr: "line 1 (MemTotal)"},
	})
	m, _ := parseMeminfo(testdata(t, "meminfo_3.10"))
	if got := m.availKB(); got != 512000+128000+256000 {
		t.Errorf("available without MemAvailable = %d, want free+buffers+cached", got)
	}
}

func TestParseVmstat(t *testing.T) {
	checkTable(t, parseVmstat, []parseCase[vmStat]{
		{file: "vmstat", want: vmStat{PgpgIn: 1366445, PgpgOut: 2025836}},
		{in: "pgpgin 5\n", wantErr: "no pgpgin and pgpgout"},
		{in: "pgpgin 5\npgpgout -1\n", wantErr: "line 2 (pgpgout)"},
	})
}

func TestParseNetSNMP(t *testing.T) {
	checkTable(t, parseNetSNMP, []parseCase[ipStats]{
		{file: "net_snmp", want: ipStats{InReceives: 6495, OutRequests: 3874}},
		{in: "Ip: OutRequests Forwarding InReceives\nIp: 7 1 9\n", want: ipStats{InReceives: 9, OutRequests: 7}},
		{in: "Ip: Forwarding InReceives\nIp: 1 2\n", wantErr: "no InReceives and OutRequests"},
		{in: "Ip: InReceives OutRequests\nIp: 1\n", wantErr: "no Ip InReceives and OutRequests values"},
		{in: "Ip: InReceives OutRequests\n", wantErr: "no Ip header and value lines"},
		{in: "Ip: InReceives OutRequests\nIp: x 1\n", wantErr: "Ip column 1"},
	})
}

func TestParseNetDev(t *testing.T) {
	parse := func(b []byte) ([]netDev, error) { return parseNetDev(nil, b) }
	checkTable(t, parse, []parseCase[[]netDev]{
		{file: "net_dev", want: []netDev{
			{Name: "lo", RxBytes: 68986, TxBytes: 68986},
			{Name: "ifb0"}, {Name: "ifb1"},
			{Name: "eth0", RxBytes: 201870758, TxBytes: 359154},
		}},
		{file: "net_dev_glued", want: []netDev{
			{Name: "lo", RxBytes: 60978, TxBytes: 60978},
			{Name: "bond0", RxBytes: 1<<64 - 1, TxBytes: 355077, TxErrors: 7},
		}},
		{in: "h1\nh2\n  eth0 1 2 3\n", wantErr: "line 3: no interface name"},
		{in: "h1\nh2\n  eth0: 1 2 3\n", wantErr: "3 columns, want 16"},
		{in: "h1\nh2\n  eth0: 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16\n", wantErr: "column 9"},
	})
}

func TestParseDiskstats(t *testing.T) {
	parse := func(b []byte) ([]diskStat, error) { return parseDiskstats(nil, b) }
	recorded, err := parse(testdata(t, "diskstats"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 10 || recorded[8] != (diskStat{Name: "vda", Reads: 72586, SectorsRead: 2732890, Writes: 42147, SectorsWritten: 4051672}) {
		t.Errorf("recorded diskstats parsed as %+v", recorded)
	}
	checkTable(t, parse, []parseCase[[]diskStat]{
		// Kernels before 4.18 have 14 columns, no discard or flush ones.
		{in: "   8       0 sda 10 1 200 5 20 2 400 6 0 7 8\n\n", want: []diskStat{{Name: "sda", Reads: 10, SectorsRead: 200, Writes: 20, SectorsWritten: 400}}},
		{in: "   8       0 sda 10 1 200\n", wantErr: "6 columns, want at least 14"},
		{in: "   8       0 sda 10 1 x 5 20 2 400 6 0 7 8\n", wantErr: "column 6"},
	})
}

func TestParseMounts(t *testing.T) {
	parse := func(b []byte) ([]mount, error) { return parseMounts(nil, b) }
	ms, err := parse(testdata(t, "mounts"))
	if err != nil {
		t.Fatal(err)
	}
	var real []mount
	for _, m := range ms {
		if realFS(&m) {
			real = append(real, m)
		}
	}
	want := []mount{
		{"/dev/nvme0n1p2", "/", "ext4"},
		{"/dev/nvme0n1p1", "/boot/efi", "vfat"},
		{"/dev/mapper/vg0-data", "/srv/data volume", "xfs"},
		{"/dev/nvme0n1p2", "/var/lib/docker", "ext4"},
	}
	if !reflect.DeepEqual(real, want) {
		t.Errorf("real filesystems:\n got %+v\nwant %+v", real, want)
	}
	checkTable(t, parse, []parseCase[[]mount]{
		{in: `a\134b /x\011y ext4 rw 0 0` + "\n", want: []mount{{`a\b`, "/x\ty", "ext4"}}},
		{in: `bad\04 /x ext4 rw 0 0` + "\n", want: []mount{{`bad\04`, "/x", "ext4"}}},
		{in: "only two\n", wantErr: "2 columns"},
	})
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"0-1\n", []int{0, 1}, ""},
		{"0,2-4,7", []int{0, 2, 3, 4, 7}, ""},
		{"", nil, ""},
		{"3-1", nil, "out of"},
		{"0-99999", nil, "out of"},
		{"a", nil, "not a counter"},
	}
	for _, tt := range tests {
		got, err := parseCPUList([]byte(tt.in), 64)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseCPUList(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCPUList(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

// fuzzParser seeds f with recorded files and checks that parse never
// panics; the fuzzing engine reports hangs.
func fuzzParser[T any](f *testing.F, parse func([]byte) (T, error), seeds ...string) {
	for _, s := range seeds {
		f.Add(testdata(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parse(data)
	})
}

func FuzzParseStat(f *testing.F)    { fuzzParser(f, parseStat, "stat", "stat_2.4") }
func FuzzParseLoadavg(f *testing.F) { fuzzParser(f, parseLoadavg, "loadavg") }
func FuzzParseMeminfo(f *testing.F) { fuzzParser(f, parseMeminfo, "meminfo", "meminfo_3.10") }
func FuzzParseVmstat(f *testing.F)  { fuzzParser(f, parseVmstat, "vmstat") }
func FuzzParseNetSNMP(f *testing.F) { fuzzParser(f, parseNetSNMP, "net_snmp") }
func FuzzParseNetDev(f *testing.F) {
	fuzzParser(f, func(b []byte) ([]netDev, error) { return parseNetDev(nil, b) }, "net_dev", "net_dev_glued")
}
func FuzzParseDiskstats(f *testing.F) {
	fuzzParser(f, func(b []byte) ([]diskStat, error) { return parseDiskstats(nil, b) }, "diskstats")
}
func FuzzParseMounts(f *testing.F) {
	fuzzParser(f, func(b []byte) ([]mount, error) { return parseMounts(nil, b) }, "mounts")
}
func FuzzParseCPUList(f *testing.F) {
	f.Add([]byte("0-3,8,10-11\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cpus, err := parseCPUList(data, maxCPUs)
		if err == nil && len(cpus) > maxCPUs {
			t.Fatalf("%d CPUs, bound is %d", len(cpus), maxCPUs)
		}
	})
}
