// Package evaluator evaluates alarms with Aodh's semantics, when the data
// they watch changes rather than once a minute: ingest announces updated
// series on NATS (<prefix>.updates.<partition>), a watch index maps each
// series to the alarms that read it, and those alarms are evaluated at
// most once per granularity step. A periodic sweep evaluates everything
// (silence becomes insufficient data; time constraints open and close).
// Event alarms follow <prefix>.events.<event_type>. Several evaluators
// share the alarms by partition through leases in a JetStream key-value
// bucket. State changes are stored in batches and then handed to the
// notifier. ../SUBJECTS.md lists the subjects and messages.
package evaluator

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config is the evaluator configuration; start from DefaultConfig.
type Config struct {
	// Prefix starts every subject (<Prefix>.updates.<p>).
	Prefix string `yaml:"prefix"`
	// SweepInterval is how often every alarm is evaluated regardless of
	// data (Aodh's evaluation_interval).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// Workers evaluate alarms in parallel; 0 means four per CPU.
	Workers int `yaml:"workers"`
	// Partitions split the alarms among evaluators (by alarm id).
	Partitions int `yaml:"partitions"`
	// Leases makes evaluators share partitions through the lease bucket;
	// off, this evaluator owns every partition.
	Leases bool `yaml:"leases"`
	// LeaseBucket is the JetStream key-value bucket of the leases.
	LeaseBucket string `yaml:"lease_bucket"`
	// LeaseTTL is how long a lease or heartbeat lives without renewal.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// LeaseRenew is how often leases are renewed; at most LeaseTTL/2.
	LeaseRenew time.Duration `yaml:"lease_renew"`
	// Owner names this evaluator among those sharing partitions.
	Owner string `yaml:"owner"`
	// IngestionLag extends the evaluation window back (Aodh's
	// additional_ingestion_lag).
	IngestionLag time.Duration `yaml:"additional_ingestion_lag"`
	// EvaluationTimeout bounds the reads of one evaluation; a store that
	// does not answer in time makes the alarm insufficient data.
	EvaluationTimeout time.Duration `yaml:"evaluation_timeout"`
	// CommitBatch bounds the state changes stored in one transaction.
	CommitBatch int `yaml:"commit_batch"`
	// ServiceUserID and ServiceProjectID are who the history says made
	// the evaluator's state transitions.
	ServiceUserID    string `yaml:"service_user_id"`
	ServiceProjectID string `yaml:"service_project_id"`
}

// DefaultConfig returns the single-process defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "evaluator"
	}
	return Config{
		Prefix:            "vigil",
		SweepInterval:     60 * time.Second,
		Partitions:        16,
		LeaseBucket:       "VIGIL_ALARM_LEASES",
		LeaseTTL:          10 * time.Second,
		LeaseRenew:        3 * time.Second,
		Owner:             sanitizeOwner(host) + "-" + strconv.Itoa(os.Getpid()),
		CommitBatch:       512,
		EvaluationTimeout: 10 * time.Second,
	}
}

func sanitizeOwner(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Prefix == "" {
		bad("prefix: empty")
	}
	if c.SweepInterval < time.Second {
		bad("sweep_interval: %v is below 1s", c.SweepInterval)
	}
	if c.Workers < 0 || c.Workers > 1024 {
		bad("workers: %d is out of range [0, 1024]", c.Workers)
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		bad("partitions: %d is out of range [1, 1024]", c.Partitions)
	}
	if c.EvaluationTimeout <= 0 {
		bad("evaluation_timeout: %v must be positive", c.EvaluationTimeout)
	}
	if c.CommitBatch < 1 {
		bad("commit_batch: %d must be positive", c.CommitBatch)
	}
	if c.IngestionLag < 0 {
		bad("additional_ingestion_lag: %v is negative", c.IngestionLag)
	}
	if c.Leases {
		if c.LeaseBucket == "" {
			bad("lease_bucket: empty")
		}
		if c.LeaseTTL <= 0 || c.LeaseRenew <= 0 || 2*c.LeaseRenew > c.LeaseTTL {
			bad("lease_renew: %v must be positive and at most half of lease_ttl (%v)", c.LeaseRenew, c.LeaseTTL)
		}
		if c.Owner == "" || sanitizeOwner(c.Owner) != c.Owner {
			bad("owner: %q: want letters, digits, '-' or '_'", c.Owner)
		}
	}
	return errors.Join(errs...)
}
