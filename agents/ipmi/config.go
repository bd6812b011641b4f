package ipmi

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Config lists the BMCs to poll and how.
type Config struct {
	Targets []Target
	// Timeout bounds the poll of one target, session and every reading
	// together (default 20 s); the poll's context bounds it too.
	Timeout time.Duration
	// RequestTimeout bounds one request (default 2 s).
	RequestTimeout time.Duration
	// Retries is how often a request without an answer is sent again
	// (default 1; negative for none).
	Retries int
	// Concurrency bounds the targets polled at once (default 4).
	Concurrency int
	// SDRRefresh is how long a target's SDR repository is kept before it
	// is read again (default 1 h).
	SDRRefresh time.Duration
	// MaxRecords bounds the SDR records read from one BMC (default 1024).
	MaxRecords int
	// Metrics receives the pollster's counters (default: a set of its
	// own): vigil_agent_ipmi_sensors_skipped_total{target="..."} counts
	// sensors without a reading, vigil_agent_ipmi_target_errors_total
	// polls of a target that failed.
	Metrics *metrics.Set
}

// Defaults of Config.
const (
	DefaultTimeout        = 20 * time.Second
	DefaultRequestTimeout = 2 * time.Second
	DefaultRetries        = 1
	DefaultConcurrency    = 4
	DefaultSDRRefresh     = time.Hour
	DefaultMaxRecords     = 1024
)

// Target is one BMC.
type Target struct {
	// Address is "host" or "host:port" (default port 623).
	Address string
	// Name is the node the BMC belongs to: the node resource's id, the
	// prefix of its sensors' ids and their "node" (default: the host of
	// Address).
	Name     string
	User     string
	Password string
	// Interface is "lanplus" (IPMI v2.0 RMCP+, default) or "lan" (v1.5).
	Interface string
	// CipherSuite is the RMCP+ cipher suite, 1 to 19 (default 3:
	// HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128, which IPMI 2.0 requires of
	// every BMC; 17 is the SHA-256 one). Naming it spares the cipher
	// suite discovery, which some BMCs do not implement.
	CipherSuite int
}

// maxUserLen is the longest user name RMCP+ carries (RAKP message 1).
const maxUserLen = 16

// parse checks t and returns its host, port and node name.
func (t *Target) parse() (host string, port int, name string, err error) {
	host, port = t.Address, 623
	if h, p, splitErr := net.SplitHostPort(t.Address); splitErr == nil {
		n, perr := strconv.ParseUint(p, 10, 16)
		if perr != nil || n == 0 {
			return "", 0, "", fmt.Errorf("IPMI target %q: bad port %q", t.Address, p)
		}
		host, port = h, int(n)
	} else if strings.Count(t.Address, ":") == 1 {
		return "", 0, "", fmt.Errorf("IPMI target %q: %w", t.Address, splitErr)
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return "", 0, "", fmt.Errorf("IPMI target %q: no host", t.Address)
	}
	switch t.Interface {
	case "", "lanplus", "lan":
	default:
		return "", 0, "", fmt.Errorf("IPMI target %q: unknown interface %q: want lanplus or lan", t.Address, t.Interface)
	}
	if len(t.User) > maxUserLen {
		return "", 0, "", fmt.Errorf("IPMI target %q: user name longer than %d bytes", t.Address, maxUserLen)
	}
	if t.CipherSuite < 0 || t.CipherSuite > 19 {
		return "", 0, "", fmt.Errorf("IPMI target %q: cipher suite %d not in 1..19", t.Address, t.CipherSuite)
	}
	name = t.Name
	if name == "" {
		name = host
	}
	return host, port, name, nil
}
