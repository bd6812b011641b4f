package config

import "testing"

// FuzzLoad feeds arbitrary files to the decoder and the validator: they
// return errors, never panic, and a file that decodes names its errors by
// key.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultYAML())
	for _, s := range []string{
		"", "---\n", "foo: 1\n", "api: [\n", "a: &a [*a]\n", "log: {format: json}\n---\nx: 1\n",
		"agents: {snmp: {targets: [{address: \"h:161\", version: 3, user: u}]}}\n",
		"nats: {partitions: 99999999999999999999}\n", "api: {read_timeout: 1e308}\n",
		"x: &x {a: *x}\n", "agents:\n  ipmi:\n    targets:\n      - &t {address: \"h:623\"}\n      - *t\n",
		"? [a, b]\n: c\n", "!!binary aGVsbG8=: 1\n", "api: !!str {listen: x}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Default()
		err := decodeYAML(data, &cfg)
		if err != nil && len(err.Error()) > 64<<10 {
			t.Fatalf("a %d-byte input gives a %d-byte error", len(data), len(err.Error()))
		}
		_ = cfg.Validate()
		_ = DefaultYAML()
	})
}
