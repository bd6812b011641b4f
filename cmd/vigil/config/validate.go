package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

// Validate reports every bad value of c, each as "key.path: reason".
// It reads nothing but c, except that files named by *_file keys must
// exist.
func (c *Config) Validate() error {
	v := &validator{}
	v.intRange("memory_limit_mb", int64(c.MemoryLimitMB), 0, 1<<30)
	if c.GCPercent != -1 && (c.GCPercent < 1 || c.GCPercent > 10000) {
		v.bad("gc_percent", "must be -1 (no collection) or 1..10000, got %d", c.GCPercent)
	}
	if c.DataDir == "" {
		v.bad("data_dir", "must not be empty")
	}
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if _, err := parseLevel(c.Log.Level); err != nil {
		v.bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	c.validateNATS(v)
	c.validateIndex(v)
	v.intRange("storage.memtable_mb", int64(c.Storage.MemtableMB), 1, 1024)
	v.intRange("storage.cache_mb", int64(c.Storage.CacheMB), 1, 65536)
	c.validateProcessor(v)
	c.validateAPI(v)
	c.validateBilling(v)
	v.durRange("retention.resources", c.Retention.Resources, 0, 100*365*24*time.Hour)
	v.durRange("retention.history", c.Retention.History, 0, 100*365*24*time.Hour)
	v.durRange("retention.interval", c.Retention.Interval, time.Second, 24*time.Hour)
	v.durRange("alarms.sweep_interval", c.Alarms.SweepInterval, time.Second, 24*time.Hour)
	v.intRange("alarms.quota_per_project", int64(c.Alarms.QuotaPerProject), 0, 1<<31-1)
	c.validateAgents(v)
	v.file("pipeline.file", c.Pipeline.File)
	v.file("pipeline.resources_file", c.Pipeline.ResourcesFile)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) bad(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		v.bad(key, "must be %s, got %q", orList(allowed), got)
	}
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func (v *validator) intRange(key string, got, lo, hi int64) {
	if got < lo || got > hi {
		v.bad(key, "must be %d..%d, got %d", lo, hi, got)
	}
}

func (v *validator) durRange(key string, got Duration, lo, hi time.Duration) {
	if got.D() < lo || got.D() > hi {
		v.bad(key, "must be %v..%v, got %v", lo, hi, got)
	}
}

func (v *validator) listen(key, addr string) {
	if err := checkHostPort(addr); err != nil {
		v.bad(key, "%q: %v", addr, err)
	}
}

// file checks that a configured file exists; empty means none.
func (v *validator) file(key, path string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.bad(key, "%v", err)
	case st.IsDir():
		v.bad(key, "%q is a directory, want a file", path)
	}
}

// checkHostPort accepts host:port with a numeric port; the host may be
// empty (every address).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// busKeys maps pipeline/bus's keys to the ones of this file.
var busKeys = map[string]string{
	"url":           "nats.url",
	"listen":        "nats.listen",
	"prefix":        "nats.subject_prefix",
	"stream_prefix": "nats.stream_prefix",
	"partitions":    "nats.partitions",
	"replicas":      "nats.replicas",
	"data_dir":      "data_dir",
}

// validateNATS leaves the rules to pipeline/bus and renames its keys.
func (c *Config) validateNATS(v *validator) {
	bc := c.busConfig()
	if err := bc.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			key, reason, ok := strings.Cut(e.Error(), ": ")
			if k, known := busKeys[key]; ok && known {
				v.bad(k, "%s", reason)
			} else {
				v.bad("nats", "%v", e)
			}
		}
	}
	if c.NATS.URL == "" {
		return
	}
	for u := range strings.SplitSeq(c.NATS.URL, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue // the bus reports it
		}
		pu, err := url.Parse(u)
		if err != nil || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, pu.Scheme) || pu.Host == "" {
			v.bad("nats.url", "%q: want nats://host:port (or tls, ws, wss)", redact(u))
		}
	}
}

// redact hides the password of a URL shown in an error.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		return u.Redacted()
	}
	return s
}

// busConfig returns the bus configuration that c describes: the defaults
// of pipeline/bus with the nats.* keys, storing under data_dir/jetstream.
func (c *Config) busConfig() bus.Config {
	b := bus.DefaultConfig()
	b.URL = c.NATS.URL
	b.Listen = c.NATS.Listen
	b.DataDir = filepath.Join(c.DataDir, "jetstream")
	b.Prefix = c.NATS.SubjectPrefix
	b.StreamPrefix = c.NATS.StreamPrefix
	b.Partitions = c.NATS.Partitions
	b.Replicas = c.NATS.Replicas
	return b
}

func (c *Config) validateIndex(v *validator) {
	if u := c.Index.URL; u != "" {
		scheme, rest, ok := strings.Cut(u, "://")
		switch {
		case !ok:
			v.bad("index.url", "%q: want sqlite:///path/to/index.db or postgres://...", redact(u))
		case scheme == "sqlite":
			if p, _, _ := strings.Cut(rest, "?"); p == "" {
				v.bad("index.url", "%q: want a file path after sqlite://", redact(u))
			}
		case scheme == "postgres" || scheme == "postgresql":
			if _, err := url.Parse(u); err != nil {
				v.bad("index.url", "not a valid URL: %v", errors.Unwrap(err))
			}
		default:
			v.bad("index.url", "%q: scheme %q: want sqlite or postgres", redact(u), scheme)
		}
	}
	v.intRange("index.max_open_conns", int64(c.Index.MaxOpenConns), 0, 1000)
}

func (c *Config) validateProcessor(v *validator) {
	id := c.Processor.ID
	switch {
	case id == "":
		v.bad("processor.id", "must not be empty")
	case len(id) > 128:
		v.bad("processor.id", "%q is longer than 128 characters", id)
	case strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '*' || r == '>' }):
		v.bad("processor.id", "%q holds a space, a control character, '*' or '>'", id)
	}
	v.intRange("processor.batch_max", int64(c.Processor.BatchMax), 1, 10000)
	v.durRange("processor.flush_interval", c.Processor.FlushInterval, time.Millisecond, time.Minute)
}

func (c *Config) validateAPI(v *validator) {
	v.listen("api.listen", c.API.Listen)
	v.oneOf("api.auth_mode", c.API.AuthMode, "basic", "noauth")
	v.intRange("api.max_body_bytes", c.API.MaxBodyBytes, 1<<10, 1<<30)
	v.durRange("api.read_timeout", c.API.ReadTimeout, 0, 24*time.Hour)
	v.durRange("api.write_timeout", c.API.WriteTimeout, 0, 24*time.Hour)
	v.durRange("api.idle_timeout", c.API.IdleTimeout, 0, 24*time.Hour)
	for i, o := range c.API.CORS.AllowedOrigins {
		key := fmt.Sprintf("api.cors.allowed_origins[%d]", i)
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.bad(key, "%q: want * or an origin such as https://grafana.example.com (scheme, host, optional port)", o)
		}
	}
}

func (c *Config) validateAgents(v *validator) {
	a := &c.Agents
	if a.Creator != "" {
		if u, p, ok := strings.Cut(a.Creator, ":"); !ok || u == "" || p == "" {
			v.bad("agents.creator", "%q: want user_id:project_id", a.Creator)
		}
	}
	v.intRange("agents.publish_batch", int64(a.PublishBatch), 1, 100000)
	v.file("agents.polling_file", a.PollingFile)

	v.durRange("agents.host.interval", a.Host.Interval, time.Second, 24*time.Hour)
	if a.Host.ProcFS == "" {
		v.bad("agents.host.proc_fs", "must not be empty")
	}
	if a.Host.SysFS == "" {
		v.bad("agents.host.sys_fs", "must not be empty")
	}

	if u, err := url.Parse(a.Libvirt.URI); err != nil || u.Scheme == "" {
		v.bad("agents.libvirt.uri", "%q: want a libvirt URI such as qemu:///system", a.Libvirt.URI)
	}

	v.oneOf("agents.cadvisor.mode", a.CAdvisor.Mode, "embedded", "remote")
	switch {
	case a.CAdvisor.Mode == "remote" && a.CAdvisor.URL == "":
		v.bad("agents.cadvisor.url", "required with agents.cadvisor.mode remote")
	case a.CAdvisor.Mode != "remote" && a.CAdvisor.URL != "":
		v.bad("agents.cadvisor.url", "%q: only used with agents.cadvisor.mode remote", redact(a.CAdvisor.URL))
	case a.CAdvisor.URL != "":
		if u, err := url.Parse(a.CAdvisor.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.bad("agents.cadvisor.url", "%q: want http://host:port", redact(a.CAdvisor.URL))
		}
	}

	seen := map[string]int{}
	for i, t := range a.SNMP.Targets {
		validateSNMPTarget(v, fmt.Sprintf("agents.snmp.targets[%d]", i), t)
		if j, dup := seen[t.Address]; dup && t.Address != "" {
			v.bad(fmt.Sprintf("agents.snmp.targets[%d].address", i), "%q is also target %d", t.Address, j)
		}
		seen[t.Address] = i
	}
	clear(seen)
	for i, t := range a.IPMI.Targets {
		key := fmt.Sprintf("agents.ipmi.targets[%d]", i)
		v.listen(key+".address", t.Address)
		if j, dup := seen[t.Address]; dup && t.Address != "" {
			v.bad(key+".address", "%q is also target %d", t.Address, j)
		}
		seen[t.Address] = i
	}

	n := &a.Notify
	if n.AMQP.URL != "" {
		if u, err := url.Parse(n.AMQP.URL); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			v.bad("agents.notify.amqp.url", "want amqp://user:password@host:5672/vhost (or amqps)")
		}
		if len(n.AMQP.Exchanges) == 0 {
			v.bad("agents.notify.amqp.exchanges", "must not be empty when agents.notify.amqp.url is set")
		}
		if len(n.AMQP.Topics) == 0 {
			v.bad("agents.notify.amqp.topics", "must not be empty when agents.notify.amqp.url is set")
		}
	}
	v.amqpNames("agents.notify.amqp.exchanges", n.AMQP.Exchanges)
	v.amqpNames("agents.notify.amqp.topics", n.AMQP.Topics)
	v.file("agents.notify.meters_file", n.MetersFile)
	v.file("agents.notify.events_file", n.EventsFile)
}

// amqpNames checks names of exchanges or topics, which become parts of
// queue names and routing keys.
func (v *validator) amqpNames(key string, list []string) {
	names := map[string]bool{}
	for i, e := range list {
		key := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case e == "" || len(e) > 255 || strings.ContainsFunc(e, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r))
		}):
			v.bad(key, "%q: want 1 to 255 letters, digits, '-', '_', '.' or ':'", e)
		case names[e]:
			v.bad(key, "%q is listed twice", e)
		}
		names[e] = true
	}
}

var (
	snmpAuth = []string{"MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}
	snmpPriv = []string{"DES", "AES", "AES192", "AES256", "AES192C", "AES256C"}
)

func validateSNMPTarget(v *validator, key string, t SNMPTarget) {
	v.listen(key+".address", t.Address)
	switch t.Version {
	case "2c":
		if t.Community == "" {
			v.bad(key+".community", "required with version 2c")
		}
		for _, f := range []struct{ k, val string }{
			{"user", t.User}, {"auth_protocol", t.AuthProtocol}, {"auth_password", t.AuthPassword},
			{"priv_protocol", t.PrivProtocol}, {"priv_password", t.PrivPassword},
		} {
			if f.val != "" {
				v.bad(key+"."+f.k, "only used with version 3")
			}
		}
	case "3":
		if t.User == "" {
			v.bad(key+".user", "required with version 3")
		}
		if t.Community != "" {
			v.bad(key+".community", "only used with version 2c")
		}
		if t.AuthProtocol != "" {
			v.oneOf(key+".auth_protocol", t.AuthProtocol, snmpAuth...)
			if len(t.AuthPassword) < 8 {
				v.bad(key+".auth_password", "must be at least 8 characters with an auth_protocol")
			}
		} else if t.AuthPassword != "" {
			v.bad(key+".auth_password", "set without an auth_protocol")
		}
		if t.PrivProtocol != "" {
			v.oneOf(key+".priv_protocol", t.PrivProtocol, snmpPriv...)
			if t.AuthProtocol == "" {
				v.bad(key+".priv_protocol", "needs an auth_protocol: SNMP has no privacy without authentication")
			}
			if len(t.PrivPassword) < 8 {
				v.bad(key+".priv_password", "must be at least 8 characters with a priv_protocol")
			}
		} else if t.PrivPassword != "" {
			v.bad(key+".priv_password", "set without a priv_protocol")
		}
	default:
		v.bad(key+".version", "must be 2c or 3, got %q", t.Version)
	}
}

// parseLevel reads log.level as slog does ("info", "WARN", "debug-4").
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func (c *Config) validateBilling(v *validator) {
	b := &c.Billing
	if b.ConfigFile != "" {
		v.file("billing.config_file", b.ConfigFile)
	}
	if b.Schedule != "" {
		v.oneOf("billing.schedule", b.Schedule, "hourly", "daily", "monthly")
		if b.ConfigFile == "" {
			v.bad("billing.schedule", "needs billing.config_file")
		}
		if b.Dir == "" {
			v.bad("billing.dir", "must be set when billing.schedule is")
		} else if st, err := os.Stat(b.Dir); err != nil || !st.IsDir() {
			v.bad("billing.dir", "%q is not an existing directory", b.Dir)
		}
	}
	for i, f := range b.Formats {
		v.oneOf(fmt.Sprintf("billing.formats[%d]", i), f, "csv", "json", "focus")
	}
	v.durRange("billing.delay", b.Delay, 0, 31*24*time.Hour)
	if b.Since != "" {
		if _, err := time.Parse(time.RFC3339, b.Since); err != nil {
			if _, err := time.Parse(time.DateOnly, b.Since); err != nil {
				v.bad("billing.since", "must be RFC 3339 or a date (2006-01-02), got %q", b.Since)
			}
		}
	}
}
