package poll

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// upstreamPolling is modelled on Ceilometer 19.0.0's etc/ceilometer/polling.yaml.
const upstreamPolling = `---
sources:
    - name: some_pollsters
      interval: 300
      meters:
        - cpu
        - cpu_l3_cache
        - memory.usage
        - network.incoming.bytes
        - network.incoming.packets
        - network.outgoing.bytes
        - network.outgoing.packets
        - disk.device.read.bytes
        - disk.device.read.requests
        - disk.device.write.bytes
        - disk.device.write.requests
        - hardware.cpu.util
        - hardware.cpu.user
        - hardware.cpu.nice
        - hardware.cpu.system
        - hardware.cpu.idle
        - hardware.cpu.wait
        - hardware.cpu.kernel
        - hardware.cpu.interrupt
        - hardware.memory.used
        - hardware.memory.total
        - hardware.memory.buffer
        - hardware.memory.cached
        - hardware.memory.swap.avail
        - hardware.memory.swap.total
        - hardware.system_stats.io.outgoing.blocks
        - hardware.system_stats.io.incoming.blocks
        - hardware.network.ip.incoming.datagrams
        - hardware.network.ip.outgoing.datagrams
`

func TestParsePollingYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []SourceSpec
	}{
		{"all", "sources:\n  - name: all_pollsters\n    interval: 300\n    meters: ['*']\n",
			[]SourceSpec{{Name: "all_pollsters", Interval: 300 * time.Second, Meters: []string{"*"}}}},
		{"string interval, resources and discovery", `
sources:
  - name: snmp
    interval: "60"
    meters: ["*", "!hardware.ipmi.*"]
    resources: [snmp://10.0.0.1, "snmp://10.0.0.2:1161"]
    discovery: [tripleo_overcloud_nodes]
  - name: fast
    interval: 10
    meters: [cpu]
`, []SourceSpec{
			{Name: "snmp", Interval: time.Minute, Meters: []string{"*", "!hardware.ipmi.*"},
				Resources: []string{"snmp://10.0.0.1", "snmp://10.0.0.2:1161"}, Discovery: []string{"tripleo_overcloud_nodes"}},
			{Name: "fast", Interval: 10 * time.Second, Meters: []string{"cpu"}},
		}},
	}
	for _, tt := range tests {
		got, err := ParsePollingYAML([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	got, err := ParsePollingYAML([]byte(upstreamPolling))
	if err != nil {
		t.Fatalf("upstream polling.yaml: %v", err)
	}
	if len(got) != 1 || got[0].Interval != 5*time.Minute || len(got[0].Meters) != 29 {
		t.Errorf("upstream polling.yaml parsed as %+v", got)
	}
}

func TestParsePollingYAMLErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "no sources"},
		{"sources: []", "no sources"},
		{"sources:\n  - interval: 10\n    meters: [cpu]\n", "sources[0].name: required"},
		{"sources:\n  - name: a\n    meters: [cpu]\n", `sources[0] ("a").interval: required`},
		{"sources:\n  - name: a\n    interval: 0\n    meters: [cpu]\n", "interval value should be > 0"},
		{"sources:\n  - name: a\n    interval: -5\n    meters: [cpu]\n", "interval value should be > 0"},
		{"sources:\n  - name: a\n    interval: 2.5\n    meters: [cpu]\n", "whole number of seconds"},
		{"sources:\n  - name: a\n    interval: ten\n    meters: [cpu]\n", "whole number of seconds"},
		{"sources:\n  - name: a\n    interval: [1]\n    meters: [cpu]\n", "got a list"},
		{"sources:\n  - name: a\n    interval: 99999999999\n    meters: [cpu]\n", "at most"},
		{"sources:\n  - name: a\n    interval: 10\n", "no meter specified"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: []\n", "no meter specified"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: [cpu, '!disk.*']\n", "both included and excluded"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: ['*', cpu]\n", "with wildcard"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: [cpu]\n  - name: a\n    interval: 10\n    meters: [cpu]\n", "duplicated source name"},
		{"sources:\n  - name: a\n    interval: 10\n    meter: [cpu]\n", "field meter not found"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: cpu\n", "cannot unmarshal"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: [cpu]\n    resources: snmp://x\n", "cannot unmarshal"},
		{"sources: [\n", "cannot parse polling file"},
		{"sources:\n  - name: a\n    interval: 10\n    meters: [cpu]\n---\nsources: []\n", "more than one YAML document"},
		{strings.Repeat(" ", MaxPollingFileBytes+1), "limit"},
	}
	for _, tt := range tests {
		_, err := ParsePollingYAML([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePollingYAML(%q) = %v, want an error containing %q", trim(tt.in), err, tt.want)
		}
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func FuzzParsePollingYAML(f *testing.F) {
	f.Add([]byte(upstreamPolling))
	f.Add([]byte("sources:\n  - name: a\n    interval: '10'\n    meters: ['*', '!perf.*']\n    resources: [snmp://h]\n"))
	f.Add([]byte("a: &a [*a, *a]\nsources: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := ParsePollingYAML(data)
		if err != nil {
			return
		}
		for _, sp := range specs {
			if sp.Name == "" || sp.Interval <= 0 || len(sp.Meters) == 0 {
				t.Fatalf("accepted an invalid source %+v", sp)
			}
			if _, err := pipeline.NewMeterFilter(sp.Meters); err != nil {
				t.Fatalf("accepted invalid meters %q: %v", sp.Meters, err)
			}
		}
	})
}
