package bus

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"external", func(c *Config) { c.URL = "nats://a:4222,nats://b:4222"; c.DataDir = ""; c.Replicas = 3 }, ""},
		{"listen", func(c *Config) { c.Listen = "127.0.0.1:4333" }, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"bad listen", func(c *Config) { c.Listen = "4222" }, "listen"},
		{"bad listen port", func(c *Config) { c.Listen = ":99999" }, "listen"},
		{"listen with url", func(c *Config) { c.URL = "nats://a:4222"; c.Listen = ":4222" }, "listen"},
		{"empty url entry", func(c *Config) { c.URL = "nats://a:4222,," }, "url"},
		{"embedded replicas", func(c *Config) { c.Replicas = 3 }, "replicas"},
		{"wildcard prefix", func(c *Config) { c.Prefix = "vigil.*" }, "prefix"},
		{"empty prefix token", func(c *Config) { c.Prefix = "a..b" }, "prefix"},
		{"dotted stream prefix", func(c *Config) { c.StreamPrefix = "A.B" }, "stream_prefix"},
		{"zero partitions", func(c *Config) { c.Partitions = 0 }, "partitions"},
		{"too many partitions", func(c *Config) { c.Partitions = maxPartitions + 1 }, "partitions"},
		{"tiny payload", func(c *Config) { c.MaxPayload = 10 }, "max_payload"},
		{"zero ack wait", func(c *Config) { c.AckWait = 0 }, "ack_wait"},
		{"zero max deliver", func(c *Config) { c.MaxDeliver = 0 }, "max_deliver"},
		{"zero max ack pending", func(c *Config) { c.MaxAckPending = 0 }, "max_ack_pending"},
		{"slow renew", func(c *Config) { c.LeaseRenew = 6 * time.Second }, "lease_renew"},
		{"negative ttl", func(c *Config) { c.LeaseTTL = -1 }, "lease_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("nil error, want one naming %s", tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), tc.want+":"):
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "embedded",
		"nats://127.0.0.1:4222":             "nats://127.0.0.1:4222",
		"nats://u:secret@h:4222":            "nats://u:xxxxx@h:4222",
		"nats://a:4222, nats://u:pw@b:4222": "nats://a:4222,nats://u:xxxxx@b:4222",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 100 {
		d := backoff(attempt)
		if d < reconnectMin/2 || d > reconnectMax {
			t.Fatalf("backoff(%d) = %v, outside [%v, %v]", attempt, d, reconnectMin/2, reconnectMax)
		}
	}
	if d := backoff(50); d < reconnectMax/2 {
		t.Errorf("backoff(50) = %v, want at least %v", d, reconnectMax/2)
	}
}
