package sink

import (
	"context"
	"strings"
	"testing"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func TestLoadDefault(t *testing.T) {
	c := &capture{}
	p, err := Load([]byte(DefaultPipelineYAML), Options{Bus: nopBus{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sinks) != 1 || !p.sinks[0].all {
		t.Fatalf("default pipeline: %+v", p.sinks)
	}
	p.sinks[0].stage = c
	if _, err := p.Process(context.Background(), nil, samples(smp{name: "cpu"}, smp{name: "memory"})); err != nil {
		t.Fatal(err)
	}
	if len(c.got) != 2 {
		t.Fatalf("got %d samples", len(c.got))
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"empty", ``, "empty"},
		{"not a mapping", `[1, 2]`, "want a mapping"},
		{"unknown top key", "sources: []\nsinks: []\nsink: []", `line 3: pipeline: unknown key "sink"`},
		{"no sources", "sinks: [{name: s, publishers: [gnocchi://]}]", "sources: required"},
		{"no sinks", "sources: [{name: a, meters: ['*'], sinks: [s]}]", "sinks: required"},
		{"dangling sink", `
sources:
  - name: a
    meters: ["*"]
    sinks: [missing]
sinks:
  - name: s
    publishers: [gnocchi://]
`, `line 3: sources[0] ("a").sinks[0]: dangling sink "missing"`},
		{"duplicated source", `
sources:
  - {name: a, meters: ["*"], sinks: [s]}
  - {name: a, meters: ["*"], sinks: [s]}
sinks: [{name: s, publishers: [gnocchi://]}]
`, `line 4: sources[1] ("a").name: duplicated source name`},
		{"duplicated sink", `
sources: [{name: a, meters: ["*"], sinks: [s]}]
sinks:
  - {name: s, publishers: [gnocchi://]}
  - {name: s, publishers: [gnocchi://]}
`, `line 5: sinks[1] ("s").name: duplicated sink name`},
		{"no meters", "sources: [{name: a, sinks: [s]}]\nsinks: [{name: s, publishers: [gnocchi://]}]", `meters: no meter specified`},
		{"mixed meters", "sources: [{name: a, meters: [cpu, '!disk.*'], sinks: [s]}]\nsinks: [{name: s, publishers: [gnocchi://]}]", `both included and excluded`},
		{"no publisher", "sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s}]", `("s").publishers: no publisher specified`},
		{"unknown transformer", `
sources: [{name: a, meters: ['*'], sinks: [s]}]
sinks:
  - name: s
    transformers:
      - name: rate_of_chnage
    publishers: [gnocchi://]
`, `line 6: sinks[0] ("s").transformers[0].name: unknown transformer "rate_of_chnage"`},
		{"bad transformer parameter", `
sources: [{name: a, meters: ['*'], sinks: [s]}]
sinks:
  - name: s
    transformers:
      - name: rate_of_change
        parameters:
          target:
            scale: "1 +"
    publishers: [gnocchi://]
`, `line 9: sinks[0] ("s").transformers[0].parameters.target.scale: cannot compile expression`},
		{"unknown publisher", "sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: [udp://x]}]", `unknown publisher "udp://x"`},
		{"unknown publisher option", "sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: ['http://h/p?timout=3']}]", `unknown option(s) timout`},
		{"events source", "sources: [{name: a, events: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: [gnocchi://]}]", `events belong in event_pipeline.yaml`},
		{"key twice", "sources: [{name: a, name: b, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: [gnocchi://]}]", `key "name" given twice`},
		{"two documents", "sources: []\n---\nsinks: []", "more than one YAML document"},
		{"nats without a connection", "sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: ['nats://x.y']}]", "no NATS connection"},
		{"gnocchi without a bus", "sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: [gnocchi]}]", "no sample bus"},
		{"bad timeout", "sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, publishers: ['http://h/?timeout=-1']}]", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if !strings.Contains(tc.name, "without a bus") {
				opts.Bus = nopBus{}
			}
			_, err := Load([]byte(tc.yaml), opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

// TestCeilometerPipeline loads a pipeline.yaml of Ceilometer's transformer
// era, with anchors, legacy polling keys and several sinks per source.
func TestCeilometerPipeline(t *testing.T) {
	const file = `
---
sources:
    - name: meter_source
      interval: 600
      meters:
          - "*"
      sinks:
          - meter_sink
    - name: cpu_source
      interval: 600
      meters:
          - "cpu"
      sinks:
          - cpu_sink
          - cpu_delta_sink
    - name: network_source
      meters:
          - "network.incoming.bytes"
          - "network.outgoing.bytes"
      sinks:
          - network_sink
sinks:
    - name: meter_sink
      transformers:
      publishers:
          - gnocchi://
    - name: cpu_sink
      transformers:
          - name: "rate_of_change"
            parameters: &cpu_util
                target:
                    name: "cpu_util"
                    unit: "%"
                    type: "gauge"
                    max: 100
                    scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"
      publishers:
          - gnocchi://
    - name: cpu_delta_sink
      transformers:
          - name: "delta"
            parameters:
                target:
                    name: "cpu.delta"
                growth_only: True
      publishers:
          - gnocchi://
    - name: network_sink
      transformers:
          - name: "rate_of_change"
            parameters:
                source:
                   map_from:
                       name: "network\\.(incoming|outgoing)\\.bytes"
                       unit: "(B)"
                target:
                    map_to:
                        name: "network.\\1.bytes.rate"
                        unit: "\\1/s"
                    type: "gauge"
      publishers:
          - gnocchi://
`
	bus := &recordingBus{}
	p, err := Load([]byte(file), Options{Bus: bus, Producer: "test", Creator: "u:p"})
	if err != nil {
		t.Fatal(err)
	}
	in := samples(
		smp{name: "cpu", v: 0, meta: map[string]any{"cpu_number": 1}},
		smp{name: "network.incoming.bytes", unit: "B", v: 0},
	)
	later := samples(
		smp{name: "cpu", v: 5e9, at: 10e9, meta: map[string]any{"cpu_number": 1}},
		smp{name: "network.incoming.bytes", unit: "B", v: 1000, at: 10e9},
	)
	for _, b := range [][]pipeline.Sample{in, later} {
		if _, err := p.Process(context.Background(), nil, b); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	units := map[string]string{}
	for _, s := range bus.samples() {
		got[s.Name] = s.Volume
		units[s.Name] = s.Unit
	}
	want := map[string]float64{"cpu": 5e9, "network.incoming.bytes": 1000, "cpu_util": 50, "cpu.delta": 5e9, "network.incoming.bytes.rate": 100}
	for n, v := range want {
		if got[n] != v {
			t.Errorf("%s = %v, want %v (all: %v)", n, got[n], v, got)
		}
	}
	if units["network.incoming.bytes.rate"] != "B/s" {
		t.Errorf("rate unit %q", units["network.incoming.bytes.rate"])
	}
}

func TestSourceRouting(t *testing.T) {
	const file = `
sources:
  - {name: all_but_disk, meters: ["*", "!disk.*"], sinks: [a]}
  - {name: disk, meters: ["disk.*"], sinks: [b]}
  - {name: cpu_too, meters: ["cpu", "disk.read"], sinks: [a]}
sinks:
  - {name: a, publishers: [gnocchi://]}
  - {name: b, publishers: [gnocchi://]}
`
	p, err := Load([]byte(file), Options{Bus: nopBus{}})
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := &capture{}, &capture{}
	for _, sk := range p.sinks {
		sk.stage = map[string]Stage{"a": ca, "b": cb}[sk.name]
	}
	if _, err := p.Process(context.Background(), nil, samples(smp{name: "cpu"}, smp{name: "disk.read"}, smp{name: "disk.write"}, smp{name: "mem"})); err != nil {
		t.Fatal(err)
	}
	names := func(c *capture) string {
		var n []string
		for _, s := range c.got {
			n = append(n, s.Name)
		}
		return strings.Join(n, ",")
	}
	// cpu reaches a once although two sources of a take it.
	if got := names(ca); got != "cpu,disk.read,mem" {
		t.Errorf("sink a got %s", got)
	}
	if got := names(cb); got != "disk.read,disk.write" {
		t.Errorf("sink b got %s", got)
	}
}

func FuzzParsePipeline(f *testing.F) {
	f.Add([]byte(DefaultPipelineYAML))
	f.Add([]byte("sources: [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, transformers: [{name: arithmetic, parameters: {target: {name: x, expr: '$(a)/$(b)'}}}], publishers: [gnocchi://]}]"))
	f.Add([]byte("sources: &a [{name: a, meters: ['*'], sinks: [s]}]\nsinks: [{name: s, <<: {publishers: [gnocchi://]}, transformers: [{name: rate_of_change, parameters: {target: {scale: 'volume or 1'}}}]}]"))
	f.Add([]byte("sinks: [{name: s, transformers: [{name: aggregator, parameters: {size: 3, user_id: last}}], publishers: ['file:///dev/null?max_bytes=5&backup_count=1']}]\nsources: [{name: a, meters: [x], sinks: [s]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load(data, Options{Bus: nopBus{}})
		if err == nil {
			p.Close()
		}
	})
}
