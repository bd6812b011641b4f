package ipmi

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

func simTarget(s *sim) Target {
	return Target{Address: s.addr, Name: "node-1", User: simUser, Password: simPassword}
}

// ipmitoolSamples applies Ceilometer's IPMI sensor pollster to ipmitool's
// `sdr -v` output for the same BMC: the reference the pollster must match.
func ipmitoolSamples(t *testing.T, s *sim, node string) map[string][2]string {
	t.Helper()
	if _, err := exec.LookPath("ipmitool"); err != nil {
		t.Fatalf("ipmitool not found (install the Debian package ipmitool): %v", err)
	}
	host, port, _ := strings.Cut(s.addr, ":")
	out, err := exec.Command("ipmitool", "-I", "lanplus", "-C", "3", "-H", host, "-p", port,
		"-U", simUser, "-P", simPassword, "sdr", "-v").Output()
	if err != nil {
		t.Fatalf("ipmitool sdr -v: %v", err)
	}
	want := map[string][2]string{} // "<resource id> <meter>" -> value, unit
	for block := range strings.SplitSeq(string(out), "\n\n") {
		fields := map[string]string{}
		for line := range strings.SplitSeq(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.Count(line, ":") == 1 {
				fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		typ, _, _ := strings.Cut(fields["Sensor Type (Threshold)"], " ")
		reading, id := fields["Sensor Reading"], fields["Sensor ID"]
		if typ == "" || id == "" || reading == "" || reading == "Disabled" {
			continue
		}
		switch typ {
		case "Temperature", "Fan", "Voltage", "Current":
		default:
			continue
		}
		volume, unit, ok := strings.Cut(reading, " ")
		if _, err := strconv.ParseFloat(volume, 64); !ok || err != nil {
			continue
		}
		unit = unit[strings.LastIndexByte(unit, ' ')+1:]
		if si, ok := map[string]string{"Watts": "W", "Volts": "V"}[unit]; ok {
			unit = si
		}
		rid := node + "-" + strings.ReplaceAll(strings.ToLower(id), " ", "_")
		want[rid+" hardware.ipmi."+strings.ToLower(typ)] = [2]string{volume, unit}
	}
	if len(want) == 0 {
		t.Fatalf("no sensors in ipmitool's output:\n%s", out)
	}
	return want
}

func TestPollSimulator(t *testing.T) {
	s := startSim(t)
	set := metrics.NewSet()
	p, err := New(Config{Targets: []Target{simTarget(s)}, Metrics: set}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	got, err := pollOnce(t, p)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	want := map[string]struct {
		v    float64
		unit string
	}{
		"node-1-cpu_temp_(0x1) hardware.ipmi.temperature":    {45, "C"},
		"node-1-fan_1_(0x2) hardware.ipmi.fan":               {4800, "RPM"},
		"node-1-psu1_power_(0x3) hardware.ipmi.current":      {200, "W"},
		"node-1-12v_rail_(0x4) hardware.ipmi.voltage":        {12, "V"},
		"node-1-inlet_temp_(0x5) hardware.ipmi.temperature":  {22, "C"},
		"node-1-outlet_temp_(0x6) hardware.ipmi.temperature": {35, "C"},
		"node-1 hardware.ipmi.node.power":                    {200, "W"},
		"node-1 hardware.ipmi.node.temperature":              {22, "C"},
		"node-1 hardware.ipmi.node.outlet_temperature":       {35, "C"},
	}
	for k, w := range want {
		s, ok := got[k]
		if !ok {
			t.Errorf("no %s; got %v", k, keys(got))
			continue
		}
		if s.Volume != w.v || s.Unit != w.unit || s.Type != pipeline.Gauge || s.Metadata["node"] != "node-1" || s.Source != "openstack" {
			t.Errorf("%s = %+v, want %v %s", k, s, w.v, w.unit)
		}
		wantType := "ipmi_sensor"
		if strings.HasPrefix(k, "node-1 ") {
			wantType = "ipmi"
		}
		if s.ResourceType != wantType {
			t.Errorf("%s: resource type %q, want %q", k, s.ResourceType, wantType)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d samples, want %d: %v", len(got), len(want), keys(got))
	}
	// The ghost fan has an SDR and no sensor: skipped and counted.
	skipped := set.GetOrCreateCounter(`vigil_agent_ipmi_sensors_skipped_total{target="node-1"}`)
	if n := skipped.Get(); n != 1 {
		t.Errorf("%d sensors skipped, want 1 (the ghost fan)", n)
	}

	// Ceilometer's pollster over ipmitool's view of the same BMC.
	for k, w := range ipmitoolSamples(t, s, "node-1") {
		g, ok := got[k]
		if !ok {
			t.Errorf("ipmitool has %s, the pollster not", k)
			continue
		}
		if v, _ := strconv.ParseFloat(w[0], 64); g.Volume != v || g.Unit != w[1] {
			t.Errorf("%s: pollster %v %s, ipmitool %s %s", k, g.Volume, g.Unit, w[0], w[1])
		}
	}

	// A reading changed at runtime shows in the next poll, without the
	// SDRs read again.
	loaded := p.targets[0].loaded
	s.command(t, "sensor_set_value 0x20 0 1 0x50 0") // CPU Temp: 80 C
	const z = "000000000000000"
	s.command(t, "sensor_set_event_support 0x20 0 2 enable false per-state "+strings.Repeat(z+" ", 3)+z) // Fan 1: scanning off
	got, err = pollOnce(t, p)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if v := got["node-1-cpu_temp_(0x1) hardware.ipmi.temperature"].Volume; v != 80 {
		t.Errorf("CPU Temp after the change = %v, want 80", v)
	}
	if _, ok := got["node-1-fan_1_(0x2) hardware.ipmi.fan"]; ok {
		t.Error("fan with scanning disabled reported")
	}
	if n := skipped.Get(); n != 1+2 {
		t.Errorf("%d sensors skipped after two polls, want 3", n)
	}
	if !p.targets[0].loaded.Equal(loaded) {
		t.Error("SDR repository read again")
	}
}

func TestSDRRefresh(t *testing.T) {
	s := startSim(t)
	p, err := New(Config{Targets: []Target{simTarget(s)}, SDRRefresh: time.Minute}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	tg := p.targets[0]
	clock := time.Now()
	tg.now = func() time.Time { return clock }
	if _, err := pollOnce(t, p); err != nil {
		t.Fatal(err)
	}
	first := tg.loaded
	clock = clock.Add(30 * time.Second)
	if _, err := pollOnce(t, p); err != nil || !tg.loaded.Equal(first) {
		t.Errorf("SDRs read again before the refresh: %v", err)
	}
	clock = clock.Add(time.Minute)
	got, err := pollOnce(t, p)
	if err != nil || !tg.loaded.Equal(clock) || len(got) == 0 {
		t.Errorf("SDRs not read again after the refresh: %v, %d samples", err, len(got))
	}
}

func TestIPMIv15(t *testing.T) {
	s := startSim(t)
	tgt := simTarget(s)
	tgt.Interface = "lan"
	p, err := New(Config{Targets: []Target{tgt}}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	got, err := pollOnce(t, p)
	if err != nil {
		t.Fatalf("Poll over IPMI 1.5: %v", err)
	}
	if v := got["node-1-12v_rail_(0x4) hardware.ipmi.voltage"].Volume; v != 12 {
		t.Errorf("12V Rail over IPMI 1.5 = %v", v)
	}
}

// TestTargetFaults: a wrong password and a BMC that does not answer fail
// their own target only, within the timeout.
func TestTargetFaults(t *testing.T) {
	s := startSim(t)
	wrong := simTarget(s)
	wrong.Name, wrong.Password = "wrong-password", "not-it"
	dead := Target{Address: fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")), Name: "dead", User: simUser, Password: simPassword}
	set := metrics.NewSet()
	p, err := New(Config{Targets: []Target{wrong, dead, simTarget(s)}, RequestTimeout: 200 * time.Millisecond,
		Retries: -1, Timeout: 2 * time.Second, Metrics: set}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := pollOnce(t, p)
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("poll took %v", el)
	}
	if err == nil || !strings.Contains(err.Error(), "wrong-password") || !strings.Contains(err.Error(), "dead") || strings.Contains(err.Error(), "node-1") {
		t.Errorf("Poll error %v, want one naming wrong-password and dead", err)
	}
	if _, ok := got["node-1 hardware.ipmi.node.power"]; !ok {
		t.Errorf("the good target's samples are missing: %v", keys(got))
	}
	for k := range got {
		if strings.HasPrefix(k, "dead") || strings.HasPrefix(k, "wrong") {
			t.Errorf("sample of a failed target: %s", k)
		}
	}
	for _, n := range []string{"dead", "wrong-password"} {
		if c := set.GetOrCreateCounter(fmt.Sprintf(`vigil_agent_ipmi_target_errors_total{target=%q}`, n)).Get(); c != 1 {
			t.Errorf("%s: %d errors counted", n, c)
		}
	}
}

func TestMetersListsEverything(t *testing.T) {
	s := startSim(t)
	p, err := New(Config{Targets: []Target{simTarget(s)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
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
		tgt  Target
		want string
	}{
		{Target{Address: "h:x"}, "bad port"},
		{Target{Address: "h:0"}, "bad port"},
		{Target{Address: ":623"}, "no host"},
		{Target{Address: "h", Interface: "serial"}, "unknown interface"},
		{Target{Address: "h", User: strings.Repeat("u", 17)}, "user name longer"},
		{Target{Address: "h", CipherSuite: 42}, "cipher suite"},
	} {
		_, err := New(Config{Targets: []Target{good, tc.tgt}}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "targets[1]") {
			t.Errorf("New(%+v): %v, want an error about %q on targets[1]", tc.tgt, err, tc.want)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without targets succeeded")
	}
	if _, err := New(Config{Targets: []Target{good, {Address: "127.0.0.1:623"}}}, nil); err == nil {
		t.Error("two targets of one node accepted")
	}
}

func keys(p polled) []string {
	var out []string
	for k := range p {
		out = append(out, k)
	}
	return out
}
