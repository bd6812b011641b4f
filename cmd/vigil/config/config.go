// Package config is vigil's one configuration: the Config struct with its
// defaults, the strict loading of the YAML file and of VIGIL_* environment
// overrides, and the validation that names the key of every bad value.
//
// The struct tags are the single source of the file's keys (yaml) and of
// their documentation (doc): DefaultYAML and reference.md are generated
// from them and from Default.
//
//go:generate go test -run ^TestReference$ . -update
package config

import (
	"os"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

// Config is the whole configuration of a vigil process. Its zero value is
// not usable: start from Default or Load.
type Config struct {
	DataDir       string          `yaml:"data_dir" doc:"Directory of the local state: the embedded NATS server's JetStream store (jetstream/), the SQLite index (index.db) and the series storage (series/)."`
	GCPercent     int             `yaml:"gc_percent" doc:"How far in percent the Go heap may grow over its live data before a collection (as GOGC). Most of vigil's heap is long-lived caches of open windows and indexes, so the runtime's default of 100 mostly buys garbage; 50 keeps vigil all near 120 MB of RSS through a million-measure load for a few percent more CPU. -1 turns the collector off (then set memory_limit_mb); GOGC in the environment wins."`
	MemoryLimitMB int             `yaml:"memory_limit_mb" doc:"Soft limit in MiB of the Go heap (as GOMEMLIMIT): the collector works harder near it instead of letting garbage grow the heap by gc_percent. 0 sets none; GOMEMLIMIT in the environment wins. Leave room for the live heap, which grows with the active metrics (about 600 MB of RSS at 100,000 of them)."`
	Log           LogConfig       `yaml:"log" doc:"Logging of the process (to standard error)."`
	NATS          NATSConfig      `yaml:"nats" doc:"The NATS JetStream bus that carries samples from agents and the API to processors."`
	Index         IndexConfig     `yaml:"index" doc:"The SQL index of resources, metrics and archive policies."`
	Storage       StorageConfig   `yaml:"storage" doc:"The embedded series storage (Pebble) under data_dir/series."`
	Processor     ProcessorConfig `yaml:"processor" doc:"The processor that aggregates the sample stream into the series storage."`
	API           APIConfig       `yaml:"api" doc:"The REST API: Gnocchi v1 and Aodh v2, /metrics and /healthz."`
	Agents        AgentsConfig    `yaml:"agents" doc:"The agents: pollers and notification listeners."`
	Pipeline      PipelineConfig  `yaml:"pipeline" doc:"The sample pipeline of sources, transformers and publishers."`
	Retention     RetentionConfig `yaml:"retention" doc:"How long the store keeps ended resources and superseded revisions; series retention is the archive policies'."`
	Alarms        AlarmsConfig    `yaml:"alarms" doc:"The alarm evaluator and the Aodh v2 API (/v2/alarms)."`
	Billing       BillingConfig   `yaml:"billing" doc:"Rating of metered usage and its exports (GET /v1/billing/..., vigil billing export, scheduled files)."`
}

// LogConfig configures logging.
type LogConfig struct {
	Format string `yaml:"format" doc:"Log line format: text or json."`
	Level  string `yaml:"level" doc:"Lowest level logged: debug, info, warn or error."`
}

// NATSConfig configures the bus; pipeline/bus owns what the values mean.
type NATSConfig struct {
	URL           string `yaml:"url" doc:"URL of an external NATS server, or a comma-separated list of a cluster's URLs (nats://host:4222). Empty starts an embedded server in the process, storing under data_dir/jetstream."`
	Listen        string `yaml:"listen" doc:"host:port on which the embedded server also accepts NATS clients. Empty opens no port, so the embedded server never collides with a NATS server of the machine."`
	SubjectPrefix string `yaml:"subject_prefix" doc:"First token(s) of every subject: <subject_prefix>.samples.<partition>."`
	StreamPrefix  string `yaml:"stream_prefix" doc:"Start of every JetStream stream and bucket name: <stream_prefix>_SAMPLES."`
	Partitions    int    `yaml:"partitions" doc:"Number of sample partitions (1..1024). Fixed for the life of the streams: changing it moves resources between partitions."`
	Replicas      int    `yaml:"replicas" doc:"Replicas of each stream: 1 for one server (the embedded one holds one), 3 for a cluster."`
}

// IndexConfig configures the SQL index.
type IndexConfig struct {
	URL          string `yaml:"url" doc:"Index database: sqlite:///path/to/index.db or postgres://user@host:5432/db?sslmode=disable. Empty is SQLite in data_dir/index.db."`
	MaxOpenConns int    `yaml:"max_open_conns" doc:"Most open database connections; 0 keeps the index's own default for its dialect."`
}

// StorageConfig configures the series storage.
type StorageConfig struct {
	MemtableMB int `yaml:"memtable_mb" doc:"Size in MiB of one memtable of the storage engine (1..1024); two may be in memory at once. Larger ones absorb more rewrites of a split before they reach disk."`
	CacheMB    int `yaml:"cache_mb" doc:"Size in MiB of the block cache of recently read series data (1..65536)."`
}

// ProcessorConfig configures the processor.
type ProcessorConfig struct {
	ID            string   `yaml:"id" machine:"the host name" doc:"Name of this processor among those sharing the partitions; it must be unique. Empty is the host name."`
	BatchMax      int      `yaml:"batch_max" doc:"Most bus messages taken from a partition per commit to storage (1..10000)."`
	FlushInterval Duration `yaml:"flush_interval" doc:"Longest wait for more messages before what was fetched is aggregated, committed and acknowledged (1ms..1m)."`
}

// APIConfig configures the REST API.
type APIConfig struct {
	Listen       string     `yaml:"listen" doc:"host:port of the API. Port 0 picks a free port."`
	AuthMode     string     `yaml:"auth_mode" doc:"Authentication: basic (Gnocchi's basic mode: the HTTP basic user name is the user and its project, the password is not checked, admin is the admin) or noauth (trusts the X-User-Id, X-Project-Id and X-Roles headers; for development and trusted networks)."`
	MaxBodyBytes int64      `yaml:"max_body_bytes" doc:"Largest request body in bytes (1024..1073741824); a larger one is answered 413."`
	ReadTimeout  Duration   `yaml:"read_timeout" doc:"Longest time to read a whole request, body included; 0 waits forever."`
	WriteTimeout Duration   `yaml:"write_timeout" doc:"Longest time to write a response from the end of the request headers; 0 waits forever."`
	IdleTimeout  Duration   `yaml:"idle_timeout" doc:"How long an idle keep-alive connection stays open; 0 uses read_timeout."`
	CORS         CORSConfig `yaml:"cors" doc:"Cross-origin requests, for browser clients such as Grafana's direct mode."`
}

// CORSConfig configures cross-origin requests.
type CORSConfig struct {
	AllowedOrigins []string `yaml:"allowed_origins" doc:"Origins allowed to call the API from a browser (https://grafana.example.com), or * for any. Empty allows none."`
}

// AgentsConfig configures the agents.
type AgentsConfig struct {
	Creator      string         `yaml:"creator" doc:"user_id:project_id of the agents' service account: the creator of the resources they create, from which non-UUID resource ids get their UUID. Empty creates them without a creator."`
	PublishBatch int            `yaml:"publish_batch" doc:"Most samples in one message published on the bus (1..100000)."`
	PollingFile  string         `yaml:"polling_file" doc:"Ceilometer polling.yaml selecting meters and intervals per source. Empty polls every meter of the enabled pollers at their interval."`
	Host         HostConfig     `yaml:"host" doc:"The poller of this machine's own CPU, memory, load, disks and network (Ceilometer's hardware.* meters)."`
	Libvirt      LibvirtConfig  `yaml:"libvirt" doc:"The poller of libvirt domains (Ceilometer's compute agent meters)."`
	CAdvisor     CAdvisorConfig `yaml:"cadvisor" doc:"The poller of containers through cAdvisor."`
	SNMP         SNMPConfig     `yaml:"snmp" doc:"The poller of SNMP agents (Ceilometer's hardware.* meters over SNMP)."`
	IPMI         IPMIConfig     `yaml:"ipmi" doc:"The poller of IPMI baseboard controllers (Ceilometer's hardware.ipmi.* meters)."`
	Notify       NotifyConfig   `yaml:"notify" doc:"The notification listeners that turn OpenStack services' notifications into samples and events."`
}

// HostConfig configures the host poller.
type HostConfig struct {
	Enabled  bool     `yaml:"enabled" doc:"Poll this machine."`
	Interval Duration `yaml:"interval" doc:"Polling interval (1s..24h)."`
	ProcFS   string   `yaml:"proc_fs" doc:"Mount point of procfs; another path reads another root's (a container's /host/proc)."`
	SysFS    string   `yaml:"sys_fs" doc:"Mount point of sysfs."`
}

// LibvirtConfig configures the libvirt poller.
type LibvirtConfig struct {
	Enabled bool   `yaml:"enabled" doc:"Poll the domains of the libvirt daemon at uri."`
	URI     string `yaml:"uri" doc:"libvirt connection URI: qemu:///system, qemu+ssh://host/system, test:///default."`
}

// CAdvisorConfig configures the cAdvisor poller.
type CAdvisorConfig struct {
	Enabled bool   `yaml:"enabled" doc:"Poll containers."`
	Mode    string `yaml:"mode" doc:"embedded (cAdvisor's collectors run in this process, reading the machine's cgroups) or remote (the REST API of a cAdvisor at url)."`
	URL     string `yaml:"url" doc:"Base URL of a remote cAdvisor (http://host:8080); only with mode remote."`
}

// SNMPConfig configures the SNMP poller.
type SNMPConfig struct {
	Targets []SNMPTarget `yaml:"targets" doc:"SNMP agents to poll."`
}

// SNMPTarget is one SNMP agent.
type SNMPTarget struct {
	Address      string `yaml:"address" doc:"host:port of the agent (port 161 usually)."`
	Version      string `yaml:"version" doc:"SNMP version: 2c or 3."`
	Community    string `yaml:"community" doc:"Community string (version 2c)."`
	User         string `yaml:"user" doc:"Security name (version 3)."`
	AuthProtocol string `yaml:"auth_protocol" doc:"Authentication protocol (version 3): MD5, SHA, SHA224, SHA256, SHA384 or SHA512; empty for none."`
	AuthPassword string `yaml:"auth_password" doc:"Authentication passphrase, at least 8 characters (version 3)."`
	PrivProtocol string `yaml:"priv_protocol" doc:"Privacy protocol (version 3, needs authentication): DES, AES, AES192, AES256, AES192C or AES256C; empty for none."`
	PrivPassword string `yaml:"priv_password" doc:"Privacy passphrase, at least 8 characters (version 3)."`
}

// IPMIConfig configures the IPMI poller.
type IPMIConfig struct {
	Targets []IPMITarget `yaml:"targets" doc:"Baseboard management controllers to poll over IPMI v2.0 (lanplus)."`
}

// IPMITarget is one baseboard management controller.
type IPMITarget struct {
	Address  string `yaml:"address" doc:"host:port of the controller (port 623 usually)."`
	User     string `yaml:"user" doc:"User name; empty for an anonymous session."`
	Password string `yaml:"password" doc:"Password."`
}

// NotifyConfig configures the notification listeners.
type NotifyConfig struct {
	AMQP       AMQPConfig       `yaml:"amqp" doc:"Listening to oslo.messaging notifications on RabbitMQ."`
	NATS       NotifyNATSConfig `yaml:"nats" doc:"Listening to notifications published on the bus."`
	MetersFile string           `yaml:"meters_file" doc:"Ceilometer meters.yaml turning notifications into samples. Empty uses the built-in definitions."`
	EventsFile string           `yaml:"events_file" doc:"Ceilometer event_definitions.yaml turning notifications into events. Empty uses the built-in definitions."`
}

// AMQPConfig configures the AMQP notification listener.
type AMQPConfig struct {
	URL       string   `yaml:"url" doc:"RabbitMQ URL (amqp://user:password@host:5672/vhost). Empty listens to no AMQP broker."`
	Exchanges []string `yaml:"exchanges" doc:"Control exchanges whose notifications topic is consumed, as Ceilometer's notification_control_exchanges."`
	Topics    []string `yaml:"topics" doc:"Notification topics consumed on each exchange, as the services' [oslo_messaging_notifications] topics; each topic.priority (info, sample, ...) is a durable queue."`
}

// NotifyNATSConfig configures the NATS notification listener.
type NotifyNATSConfig struct {
	Enabled bool `yaml:"enabled" doc:"Consume notifications from the bus's notifications subjects."`
}

// PipelineConfig configures the sample pipeline.
type PipelineConfig struct {
	File          string `yaml:"file" doc:"Ceilometer pipeline.yaml of sources, transformers and publishers. Empty publishes every sample unchanged to the bus."`
	ResourcesFile string `yaml:"resources_file" doc:"Ceilometer gnocchi_resources.yaml mapping meters to resource types, archive policies and attributes, and events to resource creations, updates and ends; the processor applies it. Empty uses the built-in definitions."`
}

// RetentionConfig configures the store's janitor.
type RetentionConfig struct {
	Resources Duration `yaml:"resources" doc:"How long a resource is kept after its ended_at; then it is deleted with its metrics and their series. 0 keeps ended resources forever."`
	History   Duration `yaml:"history" doc:"How long a superseded revision of a resource is kept in its history; 0 keeps history forever."`
	Interval  Duration `yaml:"interval" doc:"Time between two passes of the janitor, which also frees the series of deleted metrics."`
}

// AlarmsConfig configures the alarm evaluator.
type AlarmsConfig struct {
	SweepInterval   Duration `yaml:"sweep_interval" doc:"How often every alarm is evaluated whatever the data (Aodh's evaluation_interval); alarms are also evaluated as soon as ingest updates their series."`
	QuotaPerProject int      `yaml:"quota_per_project" doc:"Most alarms one project may have; 0 is unlimited."`
}

// BillingConfig configures rating and exports.
type BillingConfig struct {
	ConfigFile string   `yaml:"config_file" doc:"Rating configuration (services, units, price lists; see api/billing/FORMAT.md). Empty turns billing off: its endpoints answer 501."`
	Schedule   string   `yaml:"schedule" doc:"Period of the scheduled exports: hourly, daily or monthly; empty writes none."`
	Dir        string   `yaml:"dir" doc:"Existing directory that receives the scheduled exports, one file per closed period and format."`
	Formats    []string `yaml:"formats" doc:"Formats of the scheduled exports: csv, json and focus."`
	Delay      Duration `yaml:"delay" doc:"How long after a period closes it is exported, so that measures arriving late are in."`
	Since      string   `yaml:"since" doc:"First period to export (RFC 3339 or a date), missing periods from it on are written; empty starts after the newest file in dir."`
	Project    string   `yaml:"project" doc:"Restricts the scheduled exports to one project; empty exports all."`
}

// Default returns the configuration of a single-machine install: the
// embedded NATS server without a TCP port, SQLite and the series storage
// under ./data, the API on 127.0.0.1:8041 and the host poller every 10 s.
func Default() Config {
	b := bus.DefaultConfig()
	return Config{
		DataDir:   "./data",
		GCPercent: 50,
		Log:       LogConfig{Format: "text", Level: "info"},
		NATS: NATSConfig{
			URL:           b.URL,
			Listen:        b.Listen,
			SubjectPrefix: b.Prefix,
			StreamPrefix:  b.StreamPrefix,
			Partitions:    b.Partitions,
			Replicas:      b.Replicas,
		},
		Storage:   StorageConfig{MemtableMB: 16, CacheMB: 16},
		Alarms:    AlarmsConfig{SweepInterval: Duration(60e9)},
		Retention: RetentionConfig{Interval: Duration(10 * 60e9)},
		Billing:   BillingConfig{Formats: []string{"focus"}, Delay: Duration(15 * 60e9)},
		Processor: ProcessorConfig{ID: hostname(), BatchMax: 256, FlushInterval: Duration(100e6)},
		API: APIConfig{
			Listen:       "127.0.0.1:8041",
			AuthMode:     "basic",
			MaxBodyBytes: 16 << 20,
			ReadTimeout:  Duration(60e9),
			WriteTimeout: Duration(60e9),
			IdleTimeout:  Duration(120e9),
		},
		Agents: AgentsConfig{
			PublishBatch: 1000,
			Host:         HostConfig{Enabled: true, Interval: Duration(10e9), ProcFS: "/proc", SysFS: "/sys"},
			Libvirt:      LibvirtConfig{URI: "qemu:///system"},
			CAdvisor:     CAdvisorConfig{Mode: "embedded"},
			Notify: NotifyConfig{AMQP: AMQPConfig{Exchanges: []string{
				"nova", "glance", "neutron", "cinder", "heat", "keystone", "sahara", "trove",
				"zaqar", "swift", "ceilometer", "magnum", "dns", "ironic", "aodh",
			}, Topics: []string{"notifications"}}},
		},
	}
}

// hostname is the default processor id.
func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "vigil"
}
