// Package bus is the NATS JetStream bus that carries sample batches from
// producers (agents, the REST API) to processors (tsdb ingest): the
// connection (to an external server, or to one embedded in the process), the
// streams, the partitioning of batches by resource, the pull consumers with
// dead-lettering, and the partition leases that let several processors share
// the partitions. SUBJECTS.md beside this file lists the subjects, streams,
// consumers, headers and lease keys; change both together.
package bus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// Config is the bus configuration. The zero value is not usable: start from
// DefaultConfig and change what differs.
type Config struct {
	// URL of an external NATS server (or a comma-separated list of cluster
	// URLs). Empty starts an embedded server in the process.
	URL string `yaml:"url"`
	// DataDir is where the embedded server keeps its JetStream store.
	DataDir string `yaml:"data_dir"`
	// Listen is "host:port" on which the embedded server also accepts TCP
	// clients. Empty opens no port at all, so the embedded server never
	// collides with a NATS server already listening on the machine.
	Listen string `yaml:"listen"`
	// Prefix starts every subject: <Prefix>.samples.<partition>.
	Prefix string `yaml:"prefix"`
	// StreamPrefix starts every stream and bucket name: <StreamPrefix>_SAMPLES.
	StreamPrefix string `yaml:"stream_prefix"`
	// Partitions is the number of sample partitions. It is fixed for the
	// life of the streams: changing it moves resources between partitions.
	Partitions int `yaml:"partitions"`
	// Replicas of each stream and of the lease bucket (1 for one server,
	// 3 for a cluster).
	Replicas int `yaml:"replicas"`
	// MaxPayload bounds one message in bytes; the embedded server is
	// configured with it and Publish refuses larger partition batches.
	MaxPayload int `yaml:"max_payload"`
	// DuplicateWindow is how long the samples stream remembers message ids
	// to drop duplicates.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// DeadLetterMaxAge is how long dead letters are kept.
	DeadLetterMaxAge time.Duration `yaml:"dead_letter_max_age"`
	// AckWait is how long a fetched message may stay unacknowledged before
	// JetStream redelivers it.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxAckPending bounds the unacknowledged messages of one consumer.
	MaxAckPending int `yaml:"max_ack_pending"`
	// MaxDeliver is how many times a message is handed to processors before
	// Fetch dead-letters it instead.
	MaxDeliver int `yaml:"max_deliver"`
	// LeaseTTL is how long a partition lease or a processor heartbeat lives
	// without renewal.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// LeaseRenew is how often leases and heartbeats are renewed; at most
	// half of LeaseTTL.
	LeaseRenew time.Duration `yaml:"lease_renew"`
	// PublishTimeout bounds the wait for one publish acknowledgement.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// DrainTimeout bounds Close.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// DefaultConfig returns the configuration of a single-machine install: an
// embedded server without a TCP port and 16 partitions.
func DefaultConfig() Config {
	return Config{
		DataDir:          "/var/lib/vigil/nats",
		Prefix:           "vigil",
		StreamPrefix:     "VIGIL",
		Partitions:       16,
		Replicas:         1,
		MaxPayload:       wire.MaxBatchBytes,
		DuplicateWindow:  2 * time.Minute,
		DeadLetterMaxAge: 7 * 24 * time.Hour,
		AckWait:          30 * time.Second,
		MaxAckPending:    10000,
		MaxDeliver:       10,
		LeaseTTL:         10 * time.Second,
		LeaseRenew:       3 * time.Second,
		PublishTimeout:   30 * time.Second,
		DrainTimeout:     5 * time.Second,
	}
}

// Limits that Validate enforces.
const (
	maxPartitions = 1024
	// maxPayloadLimit is the largest payload nats-server accepts.
	maxPayloadLimit = 64 << 20
)

// Embedded reports whether the configuration asks for an embedded server.
func (c *Config) Embedded() bool { return c.URL == "" }

// Validate reports every problem of c, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Embedded() {
		if c.DataDir == "" {
			bad("data_dir: required for the embedded server (url is empty)")
		}
		if c.Listen != "" {
			if err := checkListen(c.Listen); err != nil {
				bad("listen: %w", err)
			}
		}
		if c.Replicas != 1 {
			bad("replicas: %d: the embedded server holds one replica", c.Replicas)
		}
	} else {
		if c.Listen != "" {
			bad("listen: %q: only the embedded server listens (url is set)", c.Listen)
		}
		for u := range strings.SplitSeq(c.URL, ",") {
			if strings.TrimSpace(u) == "" {
				bad("url: %q has an empty server address", c.URL)
				break
			}
		}
	}
	if err := checkSubjectPrefix(c.Prefix); err != nil {
		bad("prefix: %w", err)
	}
	if err := checkName(c.StreamPrefix); err != nil {
		bad("stream_prefix: %w", err)
	}
	if c.Partitions < 1 || c.Partitions > maxPartitions {
		bad("partitions: %d is out of range [1, %d]", c.Partitions, maxPartitions)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas: %d is out of range [1, 5]", c.Replicas)
	}
	if c.MaxPayload < 1024 || c.MaxPayload > maxPayloadLimit {
		bad("max_payload: %d is out of range [1024, %d]", c.MaxPayload, maxPayloadLimit)
	}
	if c.MaxAckPending < 1 {
		bad("max_ack_pending: %d must be positive", c.MaxAckPending)
	}
	if c.MaxDeliver < 1 {
		bad("max_deliver: %d must be positive", c.MaxDeliver)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"duplicate_window", c.DuplicateWindow}, {"dead_letter_max_age", c.DeadLetterMaxAge},
		{"ack_wait", c.AckWait}, {"lease_ttl", c.LeaseTTL}, {"lease_renew", c.LeaseRenew},
		{"publish_timeout", c.PublishTimeout}, {"drain_timeout", c.DrainTimeout},
	} {
		if d.v <= 0 {
			bad("%s: %v must be positive", d.key, d.v)
		}
	}
	if c.LeaseRenew > 0 && c.LeaseTTL > 0 && 2*c.LeaseRenew > c.LeaseTTL {
		bad("lease_renew: %v must be at most half of lease_ttl (%v)", c.LeaseRenew, c.LeaseTTL)
	}
	return errors.Join(errs...)
}

func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number in [0, 65535]", addr, port)
	}
	return nil
}

// checkSubjectPrefix accepts dot-separated tokens of letters, digits, '-'
// and '_': no wildcard, no empty token, nothing a subject cannot hold.
func checkSubjectPrefix(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return fmt.Errorf("%q has an empty token", p)
		}
		if err := checkName(tok); err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
	}
	return nil
}

// checkName accepts the characters JetStream allows in stream and bucket
// names and that are also safe in a subject token.
func checkName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 64 {
		return fmt.Errorf("%q is longer than 64 characters", s)
	}
	for _, r := range s {
		if !isNameRune(r) {
			return fmt.Errorf("%q holds %q: want letters, digits, '-' or '_'", s, r)
		}
	}
	return nil
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
