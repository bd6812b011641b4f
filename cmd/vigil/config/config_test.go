package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite reference.md")

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultRoundTrip(t *testing.T) {
	want := Default()
	if err := want.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	got, err := Load(writeFile(t, string(DefaultYAML())), nil)
	if err != nil {
		t.Fatalf("load the default file: %v\n%s", err, DefaultYAML())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default → DefaultYAML → Load differs:\n got %+v\nwant %+v", got, want)
	}
	// No file at all is the defaults too.
	if got, err := Load("", nil); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Load without a file: %+v, %v", got, err)
	}
	// An empty file and a file of comments only as well.
	for _, text := range []string{"", "# nothing\n", "---\n"} {
		if got, err := Load(writeFile(t, text), nil); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Load of %q: %+v, %v", text, got, err)
		}
	}
}

// TestDefaultYAMLDocumentsEveryKey checks that the default file holds
// every key of Config, each under a comment, and nothing else.
func TestDefaultYAMLDocumentsEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(DefaultYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	var found []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if strings.TrimSpace(k.HeadComment) == "" {
				t.Errorf("key %s has no comment above it", p)
			}
			if v.Kind == yaml.MappingNode {
				walk(v, p)
				continue
			}
			found = append(found, p)
		}
	}
	walk(doc.Content[0], "")
	var want []string
	for _, l := range leaves() {
		want = append(want, l.path)
	}
	if !slices.Equal(found, want) {
		t.Errorf("the default file holds the keys\n%v\nwant\n%v", found, want)
	}
}

func TestEveryKeyDocumented(t *testing.T) {
	var check func(typ reflect.Type, path string)
	check = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			p := join(path, yamlKey(f))
			if yamlKey(f) == "" || f.Tag.Get("doc") == "" {
				t.Errorf("%s (%s) lacks a yaml key or a doc tag", p, f.Name)
			}
			switch {
			case isSection(f.Type):
				check(f.Type, p)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				check(f.Type.Elem(), p+"[]")
			}
		}
	}
	check(reflect.TypeFor[Config](), "")
}

func TestEnvNamesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, l := range leaves() {
		if other, dup := seen[l.env]; dup {
			t.Errorf("%s and %s are both set by %s", other, l.path, l.env)
		}
		seen[l.env] = l.path
	}
}

// TestReference fails when reference.md is not what the tags and defaults
// say; `go generate` (go test -run TestReference -update) rewrites it.
func TestReference(t *testing.T) {
	want := reference()
	if *update {
		if err := os.WriteFile("reference.md", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("reference.md")
	if err != nil {
		t.Fatalf("%v; run go generate ./cmd/vigil/config", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("reference.md is stale; run go generate ./cmd/vigil/config")
	}
	for _, l := range leaves() {
		if !bytes.Contains(got, []byte("`"+l.path+"`")) {
			t.Errorf("reference.md lacks %s", l.path)
		}
	}
	if bytes.Contains(want, []byte(hostname())) && hostname() != "vigil" && !bytes.Contains(want, []byte("the host name")) {
		t.Errorf("reference.md holds this machine's host name")
	}
}

func TestFileOverrides(t *testing.T) {
	file := writeFile(t, `
data_dir: /var/lib/vigil
log: {format: json, level: debug}
nats:
  url: nats://10.0.0.1:4222,nats://10.0.0.2:4222
  partitions: 64
  replicas: 3
index:
  url: postgres://vigil@db:5432/vigil?sslmode=disable
  max_open_conns: 20
processor:
  id: proc-1
  flush_interval: 0.25
api:
  listen: ":8041"
  read_timeout: 1m30s
  cors:
    allowed_origins: ["https://grafana.example.com", "*"]
agents:
  host:
    enabled: false
    interval: 30
  snmp:
    targets:
      - address: 192.0.2.1:161
        version: 2c
        community: public
      - address: "[2001:db8::1]:161"
        version: 3
        user: monitor
        auth_protocol: SHA256
        auth_password: secret-passphrase
        priv_protocol: AES
        priv_password: other-passphrase
  ipmi:
    targets: [{address: "192.0.2.9:623", user: admin, password: pw}]
  notify:
    amqp:
      url: amqp://guest:guest@127.0.0.1:5672/
      exchanges: [nova]
`)
	cfg, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	want := Default()
	want.DataDir = "/var/lib/vigil"
	want.Log = LogConfig{Format: "json", Level: "debug"}
	want.NATS.URL = "nats://10.0.0.1:4222,nats://10.0.0.2:4222"
	want.NATS.Partitions, want.NATS.Replicas = 64, 3
	want.Index = IndexConfig{URL: "postgres://vigil@db:5432/vigil?sslmode=disable", MaxOpenConns: 20}
	want.Processor.ID = "proc-1"
	want.Processor.FlushInterval = Duration(250 * time.Millisecond)
	want.API.Listen = ":8041"
	want.API.ReadTimeout = Duration(90 * time.Second)
	want.API.CORS.AllowedOrigins = []string{"https://grafana.example.com", "*"}
	want.Agents.Host.Enabled = false
	want.Agents.Host.Interval = Duration(30 * time.Second)
	want.Agents.SNMP.Targets = []SNMPTarget{
		{Address: "192.0.2.1:161", Version: "2c", Community: "public"},
		{Address: "[2001:db8::1]:161", Version: "3", User: "monitor", AuthProtocol: "SHA256", AuthPassword: "secret-passphrase", PrivProtocol: "AES", PrivPassword: "other-passphrase"},
	}
	want.Agents.IPMI.Targets = []IPMITarget{{Address: "192.0.2.9:623", User: "admin", Password: "pw"}}
	want.Agents.Notify.AMQP = AMQPConfig{URL: "amqp://guest:guest@127.0.0.1:5672/", Exchanges: []string{"nova"}, Topics: []string{"notifications"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	// A null value keeps the default.
	cfg, err = Load(writeFile(t, "api:\n  listen:\nagents:\n  notify:\n    amqp:\n      exchanges: ~\n"), nil)
	if err != nil || cfg.API.Listen != Default().API.Listen || len(cfg.Agents.Notify.AMQP.Exchanges) != 15 {
		t.Errorf("null values: %+v, %v", cfg.API, err)
	}
	// An empty list empties the default.
	cfg, err = Load(writeFile(t, "agents: {notify: {amqp: {exchanges: []}}}"), nil)
	if err != nil || len(cfg.Agents.Notify.AMQP.Exchanges) != 0 {
		t.Errorf("empty list: %v, %v", cfg.Agents.Notify.AMQP.Exchanges, err)
	}
}

func TestEnvOverrides(t *testing.T) {
	file := writeFile(t, "api:\n  listen: 0.0.0.0:9000\nnats:\n  partitions: 8\n")
	for _, c := range []struct {
		name string
		env  []string
		got  func(Config) any
		want any
	}{
		{"string", []string{"VIGIL_API_LISTEN=127.0.0.1:1234"}, func(c Config) any { return c.API.Listen }, "127.0.0.1:1234"},
		{"string empty", []string{"VIGIL_DATA_DIR="}, func(c Config) any { return c.DataDir }, ""},
		{"file value kept without env", nil, func(c Config) any { return c.API.Listen }, "0.0.0.0:9000"},
		{"int", []string{"VIGIL_NATS_PARTITIONS=32"}, func(c Config) any { return c.NATS.Partitions }, 32},
		{"int64", []string{"VIGIL_API_MAX_BODY_BYTES= 1048576 "}, func(c Config) any { return c.API.MaxBodyBytes }, int64(1 << 20)},
		{"bool", []string{"VIGIL_AGENTS_HOST_ENABLED=false"}, func(c Config) any { return c.Agents.Host.Enabled }, false},
		{"bool 1", []string{"VIGIL_AGENTS_LIBVIRT_ENABLED=1"}, func(c Config) any { return c.Agents.Libvirt.Enabled }, true},
		{"duration", []string{"VIGIL_AGENTS_HOST_INTERVAL=1m30s"}, func(c Config) any { return c.Agents.Host.Interval }, Duration(90 * time.Second)},
		{"duration seconds", []string{"VIGIL_PROCESSOR_FLUSH_INTERVAL=0.5"}, func(c Config) any { return c.Processor.FlushInterval }, Duration(500 * time.Millisecond)},
		{"list", []string{"VIGIL_API_CORS_ALLOWED_ORIGINS=https://a.example, https://b.example,"}, func(c Config) any { return c.API.CORS.AllowedOrigins }, []string{"https://a.example", "https://b.example"}},
		{"list emptied", []string{"VIGIL_AGENTS_NOTIFY_AMQP_EXCHANGES="}, func(c Config) any { return len(c.Agents.Notify.AMQP.Exchanges) }, 0},
		{"targets", []string{`VIGIL_AGENTS_SNMP_TARGETS=[{address: "192.0.2.1:161", version: 2c, community: public}]`}, func(c Config) any { return c.Agents.SNMP.Targets },
			[]SNMPTarget{{Address: "192.0.2.1:161", Version: "2c", Community: "public"}}},
		{"the last of two wins", []string{"VIGIL_LOG_LEVEL=debug", "VIGIL_LOG_LEVEL=warn"}, func(c Config) any { return c.Log.Level }, "warn"},
		{"other variables ignored", []string{"PATH=/bin", "VIGILANT=1", "vigil_log_level=debug", "NOEQUALS"}, func(c Config) any { return c.Log.Level }, "info"},
		{"processor id empty is the host name", []string{"VIGIL_PROCESSOR_ID="}, func(c Config) any { return c.Processor.ID }, hostname()},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(file, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.got(cfg); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

// TestInvalid runs every kind of bad input through Load and Validate; the
// error must name the key (and the line, for the file's errors).
func TestInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		file string   // YAML, or "" for no file
		env  []string // VIGIL_ variables
		want []string // substrings of the error
	}{
		// Decoding the file.
		{"unknown key", "foo: 1\n", nil, []string{"line 1: foo: unknown key"}},
		{"unknown nested key", "api:\n  lisen: x\n", nil, []string{"line 2: api.lisen: unknown key"}},
		{"unknown key in a target", "agents:\n  snmp:\n    targets:\n      - address: h:161\n        comunity: x\n", nil, []string{"line 5: agents.snmp.targets[0].comunity: unknown key"}},
		{"wrong type int", "nats:\n  partitions: many\n", nil, []string{"line 2: nats.partitions: want an integer, got \"many\""}},
		{"quoted int", "nats:\n  partitions: \"16\"\n", nil, []string{"nats.partitions: want an integer"}},
		{"float for int", "storage:\n  cache_mb: 1.5\n", nil, []string{"storage.cache_mb: want an integer"}},
		{"int overflow", "nats:\n  partitions: 99999999999999999999\n", nil, []string{"nats.partitions: want an integer"}},
		{"wrong type bool", "agents:\n  host:\n    enabled: yes\n", nil, []string{"line 3: agents.host.enabled: want true or false"}},
		{"section as scalar", "api: 3\n", nil, []string{"line 1: api: want a mapping"}},
		{"list for string", "data_dir: [a, b]\n", nil, []string{"line 1: data_dir: want a string, got a list"}},
		{"scalar for list", "api:\n  cors:\n    allowed_origins: https://x\n", nil, []string{"line 3: api.cors.allowed_origins: want a list"}},
		{"mapping in a string list", "agents: {notify: {amqp: {exchanges: [{a: 1}]}}}\n", nil, []string{"agents.notify.amqp.exchanges[0]: want a string"}},
		{"top level not a mapping", "- a\n- b\n", nil, []string{"line 1: (top level): want a mapping"}},
		{"bad duration", "processor:\n  flush_interval: 10 parsecs\n", nil, []string{"line 2: processor.flush_interval:", `"10 parsecs" is not a duration`}},
		{"duration as a list", "agents:\n  host:\n    interval: [1]\n", nil, []string{"agents.host.interval: want a duration"}},
		{"huge duration", "api:\n  idle_timeout: 1e300\n", nil, []string{"api.idle_timeout:", "out of the range"}},
		{"duplicate key", "log:\n  format: text\n  format: json\n", nil, []string{"log.format: set twice (first on line 2)"}},
		{"merge key", "base: &b {format: json}\nlog:\n  <<: *b\n", nil, []string{"base: unknown key"}},
		{"merge key only", "log:\n  <<: {format: json}\n", nil, []string{"log.<<: merge keys are not supported"}},
		{"second document", "log: {format: text}\n---\nlog: {format: json}\n", nil, []string{"line 3: a second YAML document"}},
		{"malformed", "api: [\n", nil, []string{"cannot parse", "line"}},
		{"malformed indentation", "api:\n  listen: a\n bad: b\n", nil, []string{"cannot parse", "line "}},
		{"tab indentation", "api:\n\tlisten: a\n", nil, []string{"cannot parse", "line 2"}},
		// Validation.
		{"bad enum log.format", "log: {format: xml}\n", nil, []string{`log.format: must be text or json, got "xml"`}},
		{"bad log.level", "log: {level: loud}\n", nil, []string{`log.level: must be debug, info, warn or error, got "loud"`}},
		{"bad auth mode", "api: {auth_mode: keystone}\n", nil, []string{`api.auth_mode: must be basic or noauth, got "keystone"`}},
		{"listen without port", "api: {listen: foo}\n", nil, []string{`api.listen: "foo": missing port in address`}},
		{"listen bad port", "api: {listen: \"127.0.0.1:http\"}\n", nil, []string{`api.listen: "127.0.0.1:http": port "http" is not a number`}},
		{"listen port too big", "api: {listen: \":70000\"}\n", nil, []string{`api.listen: ":70000"`}},
		{"nats listen bad", "nats: {listen: nope}\n", nil, []string{`nats.listen: "nope"`}},
		{"nats listen with url", "nats: {url: \"nats://h:4222\", listen: \":4222\"}\n", nil, []string{"nats.listen:", "only the embedded server listens"}},
		{"nats url scheme", "nats: {url: \"http://h:4222\"}\n", nil, []string{`nats.url: "http://h:4222"`}},
		{"nats url empty entry", "nats: {url: \"nats://h:4222,\"}\n", nil, []string{"nats.url:", "empty server address"}},
		{"partitions 0", "nats: {partitions: 0}\n", nil, []string{"nats.partitions: 0 is out of range [1, 1024]"}},
		{"partitions too many", "nats: {partitions: 2000}\n", nil, []string{"nats.partitions: 2000 is out of range"}},
		{"replicas embedded", "nats: {replicas: 3}\n", nil, []string{"nats.replicas: 3: the embedded server holds one replica"}},
		{"subject prefix", "nats: {subject_prefix: \"a..b\"}\n", nil, []string{"nats.subject_prefix:", "empty token"}},
		{"stream prefix", "nats: {stream_prefix: \"A B\"}\n", nil, []string{"nats.stream_prefix:"}},
		{"index url scheme", "index: {url: \"mysql://db/vigil\"}\n", nil, []string{`index.url: "mysql://db/vigil": scheme "mysql": want sqlite or postgres`}},
		{"index url no scheme", "index: {url: /var/lib/index.db}\n", nil, []string{`index.url: "/var/lib/index.db": want sqlite`}},
		{"index url sqlite without path", "index: {url: \"sqlite://\"}\n", nil, []string{"index.url:", "want a file path"}},
		{"index url bad postgres", "index: {url: \"postgres://u:hunter2@h:port/db\"}\n", nil, []string{"index.url: not a valid URL"}},
		{"max open conns", "index: {max_open_conns: -1}\n", nil, []string{"index.max_open_conns: must be 0..1000, got -1"}},
		{"memtable 0", "storage: {memtable_mb: 0}\n", nil, []string{"storage.memtable_mb: must be 1..1024, got 0"}},
		{"cache too big", "storage: {cache_mb: 100000}\n", nil, []string{"storage.cache_mb: must be 1..65536, got 100000"}},
		{"processor id space", "processor: {id: \"a b\"}\n", nil, []string{"processor.id:", "space"}},
		{"batch max", "processor: {batch_max: 0}\n", nil, []string{"processor.batch_max: must be 1..10000, got 0"}},
		{"flush interval", "processor: {flush_interval: 0s}\n", nil, []string{"processor.flush_interval: must be 1ms..1m0s, got 0s"}},
		{"max body", "api: {max_body_bytes: 10}\n", nil, []string{"api.max_body_bytes: must be 1024..1073741824, got 10"}},
		{"negative timeout", "api: {read_timeout: -1s}\n", nil, []string{"api.read_timeout: must be 0s..24h0m0s, got -1s"}},
		{"cors scheme", "api: {cors: {allowed_origins: [\"ftp://x\"]}}\n", nil, []string{`api.cors.allowed_origins[0]: "ftp://x"`}},
		{"cors path", "api: {cors: {allowed_origins: [\"*\", \"https://x/dash\"]}}\n", nil, []string{`api.cors.allowed_origins[1]: "https://x/dash"`}},
		{"creator", "agents: {creator: admin}\n", nil, []string{`agents.creator: "admin": want user_id:project_id`}},
		{"publish batch", "agents: {publish_batch: 0}\n", nil, []string{"agents.publish_batch: must be 1..100000, got 0"}},
		{"polling file missing", "agents: {polling_file: /nonexistent/polling.yaml}\n", nil, []string{"agents.polling_file:", "no such file"}},
		{"pipeline file is a directory", "pipeline: {file: /}\n", nil, []string{"pipeline.file:", "is a directory"}},
		{"meters file missing", "agents: {notify: {meters_file: /nonexistent}}\n", nil, []string{"agents.notify.meters_file:"}},
		{"host interval", "agents: {host: {interval: 100ms}}\n", nil, []string{"agents.host.interval: must be 1s..24h0m0s, got 100ms"}},
		{"proc fs empty", "agents: {host: {proc_fs: \"\"}}\n", nil, []string{"agents.host.proc_fs: must not be empty"}},
		{"libvirt uri", "agents: {libvirt: {uri: \"\"}}\n", nil, []string{`agents.libvirt.uri: "": want a libvirt URI`}},
		{"billing schedule", "billing: {schedule: weekly}\n", nil, []string{`billing.schedule: must be hourly, daily or monthly, got "weekly"`, "billing.schedule: needs billing.config_file", "billing.dir: must be set"}},
		{"billing format", "billing: {formats: [xlsx]}\n", nil, []string{`billing.formats[0]: must be csv, json or focus, got "xlsx"`}},
		{"billing since", "billing: {since: yesterday}\n", nil, []string{`billing.since: must be RFC 3339 or a date`}},
		{"billing config missing", "billing: {config_file: /nonexistent/rating.yaml}\n", nil, []string{"billing.config_file"}},
		{"memory limit", "memory_limit_mb: -1\n", nil, []string{"memory_limit_mb"}},
		{"gc percent zero", "gc_percent: 0\n", nil, []string{"gc_percent: must be -1 (no collection) or 1..10000, got 0"}},
		{"cadvisor mode", "agents: {cadvisor: {mode: sidecar}}\n", nil, []string{`agents.cadvisor.mode: must be embedded or remote, got "sidecar"`}},
		{"cadvisor remote without url", "agents: {cadvisor: {mode: remote}}\n", nil, []string{"agents.cadvisor.url: required with agents.cadvisor.mode remote"}},
		{"cadvisor url when embedded", "agents: {cadvisor: {url: \"http://h:8080\"}}\n", nil, []string{"agents.cadvisor.url:", "only used with"}},
		{"cadvisor url scheme", "agents: {cadvisor: {mode: remote, url: \"h:8080\"}}\n", nil, []string{`agents.cadvisor.url: "h:8080": want http`}},
		{"snmp address", "agents: {snmp: {targets: [{address: h, version: 2c, community: c}]}}\n", nil, []string{`agents.snmp.targets[0].address: "h": missing port`}},
		{"snmp version", "agents: {snmp: {targets: [{address: \"h:161\", version: 1}]}}\n", nil, []string{`agents.snmp.targets[0].version: must be 2c or 3, got "1"`}},
		{"snmp 2c community", "agents: {snmp: {targets: [{address: \"h:161\", version: 2c}]}}\n", nil, []string{"agents.snmp.targets[0].community: required with version 2c"}},
		{"snmp 2c with v3 keys", "agents: {snmp: {targets: [{address: \"h:161\", version: 2c, community: c, user: u}]}}\n", nil, []string{"agents.snmp.targets[0].user: only used with version 3"}},
		{"snmp 3 user", "agents: {snmp: {targets: [{address: \"h:161\", version: 3}]}}\n", nil, []string{"agents.snmp.targets[0].user: required with version 3"}},
		{"snmp auth protocol", "agents: {snmp: {targets: [{address: \"h:161\", version: 3, user: u, auth_protocol: SHA1, auth_password: 12345678}]}}\n", nil, []string{`agents.snmp.targets[0].auth_protocol: must be MD5, SHA, SHA224, SHA256, SHA384 or SHA512, got "SHA1"`}},
		{"snmp short password", "agents: {snmp: {targets: [{address: \"h:161\", version: 3, user: u, auth_protocol: SHA, auth_password: short}]}}\n", nil, []string{"agents.snmp.targets[0].auth_password: must be at least 8 characters"}},
		{"snmp priv without auth", "agents: {snmp: {targets: [{address: \"h:161\", version: 3, user: u, priv_protocol: AES, priv_password: 12345678}]}}\n", nil, []string{"agents.snmp.targets[0].priv_protocol: needs an auth_protocol"}},
		{"snmp duplicate", "agents: {snmp: {targets: [{address: \"h:161\", version: 2c, community: c}, {address: \"h:161\", version: 2c, community: c}]}}\n", nil, []string{`agents.snmp.targets[1].address: "h:161" is also target 0`}},
		{"ipmi address", "agents: {ipmi: {targets: [{address: \"\"}]}}\n", nil, []string{`agents.ipmi.targets[0].address: "": missing port`}},
		{"amqp url", "agents: {notify: {amqp: {url: \"http://h\"}}}\n", nil, []string{"agents.notify.amqp.url: want amqp://"}},
		{"amqp url hides its password", "agents: {notify: {amqp: {url: \"http://u:hunter2@h\"}}}\n", nil, []string{"agents.notify.amqp.url:"}},
		{"amqp without exchanges", "agents: {notify: {amqp: {url: \"amqp://h\", exchanges: []}}}\n", nil, []string{"agents.notify.amqp.exchanges: must not be empty"}},
		{"exchange name", "agents: {notify: {amqp: {exchanges: [nova, \"a b\"]}}}\n", nil, []string{`agents.notify.amqp.exchanges[1]: "a b"`}},
		{"exchange twice", "agents: {notify: {amqp: {exchanges: [nova, nova]}}}\n", nil, []string{`agents.notify.amqp.exchanges[1]: "nova" is listed twice`}},
		{"amqp without topics", "agents: {notify: {amqp: {url: \"amqp://h\", topics: []}}}\n", nil, []string{"agents.notify.amqp.topics: must not be empty"}},
		{"topic name", "agents: {notify: {amqp: {topics: [notifications, \"a#\"]}}}\n", nil, []string{`agents.notify.amqp.topics[1]: "a#"`}},
		{"data dir empty", "data_dir: \"\"\n", nil, []string{"data_dir: must not be empty"}},
		// The environment.
		{"unknown variable", "", []string{"VIGIL_API_LISTN=x"}, []string{"VIGIL_API_LISTN: no configuration key"}},
		{"variable of a section", "", []string{"VIGIL_API=x"}, []string{"VIGIL_API: no configuration key"}},
		{"env int", "", []string{"VIGIL_NATS_PARTITIONS=abc"}, []string{`VIGIL_NATS_PARTITIONS: nats.partitions: want an integer, got "abc"`}},
		{"env int out of range", "", []string{"VIGIL_NATS_PARTITIONS=0"}, []string{"nats.partitions: 0 is out of range"}},
		{"env bool", "", []string{"VIGIL_AGENTS_HOST_ENABLED=maybe"}, []string{`VIGIL_AGENTS_HOST_ENABLED: agents.host.enabled: want true or false, got "maybe"`}},
		{"env duration", "", []string{"VIGIL_API_READ_TIMEOUT=soon"}, []string{"VIGIL_API_READ_TIMEOUT: api.read_timeout:", `"soon" is not a duration`}},
		{"env targets", "", []string{"VIGIL_AGENTS_IPMI_TARGETS=[{adress: x}]"}, []string{"VIGIL_AGENTS_IPMI_TARGETS: agents.ipmi.targets:", "agents.ipmi.targets[0].adress: unknown key"}},
		{"env targets malformed", "", []string{"VIGIL_AGENTS_IPMI_TARGETS=[{"}, []string{"VIGIL_AGENTS_IPMI_TARGETS: agents.ipmi.targets: want a YAML list"}},
		{"env value invalid", "", []string{"VIGIL_LOG_FORMAT=xml"}, []string{`log.format: must be text or json, got "xml"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := ""
			if c.file != "" {
				file = writeFile(t, c.file)
			}
			cfg, err := Load(file, c.env)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatalf("no error for\n%s%v", c.file, c.env)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

func TestManyErrorsBounded(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + ": 1\n")
	}
	_, err := Load(writeFile(t, b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "more errors") || len(err.Error()) > 4096 {
		t.Fatalf("1000 unknown keys: %d bytes of error: %.200v", len(fmtErr(err)), err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestFileErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), nil); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: %v", err)
	}
	big := writeFile(t, "# "+strings.Repeat("x", maxFileBytes)+"\n")
	if _, err := Load(big, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
	// The file's name starts every error of its content.
	p := writeFile(t, "foo: 1\n")
	if _, err := Load(p, nil); err == nil || !strings.HasPrefix(err.Error(), p+": line 1: foo") {
		t.Errorf("error %v does not start with the file name and line", err)
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10s", 10 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"250ms", 250 * time.Millisecond, true},
		{"10", 10 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"-2", -2 * time.Second, true},
		{"0", 0, true},
		{" 3s ", 3 * time.Second, true},
		{"", 0, false},
		{"10 s", 0, false},
		{"1d", 0, false},
		{"NaN", 0, false},
		{"inf", 0, false},
		{"0x10", 0, false},
		{"1e10", 0, false},
		{"1_0", 0, false},
	} {
		got, err := parseDuration(c.in)
		if (err == nil) != c.ok || got.D() != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
	// YAML writes the Go form and reads both.
	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("marshal: %q, %v", out, err)
	}
	var in struct{ A, B Duration }
	if err := yaml.Unmarshal([]byte("a: 1m30s\nb: 2.5\n"), &in); err != nil || in.A.D() != 90*time.Second || in.B.D() != 2500*time.Millisecond {
		t.Errorf("unmarshal: %+v, %v", in, err)
	}
}

func TestIndexURL(t *testing.T) {
	c := Default()
	c.DataDir = "/var/lib/vigil"
	if got := c.IndexURL(); got != "sqlite:///var/lib/vigil/index.db" {
		t.Errorf("default index URL %q", got)
	}
	c.Index.URL = "postgres://h/db"
	if got := c.IndexURL(); got != "postgres://h/db" {
		t.Errorf("index URL %q", got)
	}
}

func TestLogger(t *testing.T) {
	for _, c := range []struct {
		format, level string
		wantJSON      bool
		wantDebug     bool
	}{
		{"text", "info", false, false},
		{"json", "debug", true, true},
		{"json", "warn", true, false},
	} {
		var b bytes.Buffer
		cfg := Default()
		cfg.Log = LogConfig{Format: c.format, Level: c.level}
		log := cfg.Logger(&b)
		log.Debug("debug line")
		log.Warn("warn line", "k", "v")
		out := b.String()
		if got := strings.HasPrefix(out, "{"); got != c.wantJSON {
			t.Errorf("%s/%s: JSON %v: %q", c.format, c.level, got, out)
		}
		if got := strings.Contains(out, "debug line"); got != c.wantDebug {
			t.Errorf("%s/%s: debug logged %v: %q", c.format, c.level, got, out)
		}
		if !strings.Contains(out, "warn line") {
			t.Errorf("%s/%s: no warn line: %q", c.format, c.level, out)
		}
	}
}
