package snmp

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gosnmp/gosnmp"
)

// Config lists the agents to poll and how.
type Config struct {
	Targets []Target
	// Timeout bounds the poll of one target, all its requests together
	// (default 10 s); the poll's context bounds it too.
	Timeout time.Duration
	// RequestTimeout bounds one request (default 2 s).
	RequestTimeout time.Duration
	// Retries is how often a request without an answer is sent again
	// (default 1; negative for none).
	Retries int
	// Concurrency bounds the targets polled at once (default 8).
	Concurrency int
	// MaxRepetitions is the GetBulk max-repetitions (default 20).
	MaxRepetitions uint32
	// MaxRows bounds the rows of one table column (default 10000).
	MaxRows int
	// Metrics receives the pollster's counters (default: a set of its
	// own): vigil_agent_snmp_values_skipped_total{target="..."} counts
	// values of the wrong type, vigil_agent_snmp_target_errors_total
	// polls of a target that failed.
	Metrics *metrics.Set
}

// Defaults of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultRequestTimeout = 2 * time.Second
	DefaultRetries        = 1
	DefaultConcurrency    = 8
	DefaultMaxRepetitions = 20
	DefaultMaxRows        = 10000
)

// Target is one SNMP agent.
type Target struct {
	// Address is "host" or "host:port" (default port 161; an IPv6
	// address in brackets with a port).
	Address string
	// Name is the host resource's id and host_name (default: the host of
	// Address, as Ceilometer took it from the resource URL).
	Name string
	// Version is "2c" (default) or "3".
	Version string
	// Community is the v2c community (default "public").
	Community string
	// User is the v3 USM user name.
	User string
	// AuthProtocol is the v3 authentication: "" (none), MD5, SHA,
	// SHA224, SHA256, SHA384 or SHA512.
	AuthProtocol string
	AuthPassword string
	// PrivProtocol is the v3 privacy: "" (none), DES, AES, AES192,
	// AES256, AES192C or AES256C; it needs authentication.
	PrivProtocol string
	PrivPassword string
	// ContextName is the v3 context (default none).
	ContextName string
}

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256,
	"SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
	"AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
}

// minPassphrase is USM's shortest passphrase (RFC 3414 section 11.2).
const minPassphrase = 8

// client returns an unconnected gosnmp client for t, or the reason t is
// unusable.
func (t *Target) client(cfg *Config) (*gosnmp.GoSNMP, string, error) {
	host, port := t.Address, uint16(161)
	if h, p, err := net.SplitHostPort(t.Address); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("SNMP target %q: bad port %q", t.Address, p)
		}
		host, port = h, uint16(n)
	} else if strings.Count(t.Address, ":") == 1 {
		return nil, "", fmt.Errorf("SNMP target %q: %w", t.Address, err)
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return nil, "", fmt.Errorf("SNMP target %q: no host", t.Address)
	}
	name := t.Name
	if name == "" {
		name = host
	}
	retries := cfg.Retries
	if retries < 0 {
		retries = 0
	}
	g := &gosnmp.GoSNMP{
		Target: host, Port: port, Transport: "udp",
		Timeout: cfg.RequestTimeout, Retries: retries,
		MaxOids: gosnmp.MaxOids, MaxRepetitions: cfg.MaxRepetitions,
	}
	switch t.Version {
	case "", "2c", "v2c":
		g.Version = gosnmp.Version2c
		g.Community = t.Community
		if g.Community == "" {
			g.Community = "public"
		}
	case "3", "v3":
		if err := t.v3(g); err != nil {
			return nil, "", fmt.Errorf("SNMP target %q: %w", t.Address, err)
		}
	default:
		return nil, "", fmt.Errorf("SNMP target %q: unknown version %q: want 2c or 3", t.Address, t.Version)
	}
	return g, name, nil
}

func (t *Target) v3(g *gosnmp.GoSNMP) error {
	if t.User == "" {
		return fmt.Errorf("SNMPv3 needs a user")
	}
	usm := &gosnmp.UsmSecurityParameters{UserName: t.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	g.Version, g.SecurityModel, g.MsgFlags, g.ContextName = gosnmp.Version3, gosnmp.UserSecurityModel, gosnmp.NoAuthNoPriv, t.ContextName
	if t.AuthProtocol != "" {
		p, ok := authProtocols[strings.ToUpper(t.AuthProtocol)]
		if !ok {
			return fmt.Errorf("unknown SNMPv3 auth protocol %q", t.AuthProtocol)
		}
		if len(t.AuthPassword) < minPassphrase {
			return fmt.Errorf("SNMPv3 auth password shorter than %d characters", minPassphrase)
		}
		usm.AuthenticationProtocol, usm.AuthenticationPassphrase = p, t.AuthPassword
		g.MsgFlags = gosnmp.AuthNoPriv
	}
	if t.PrivProtocol != "" {
		if t.AuthProtocol == "" {
			return fmt.Errorf("SNMPv3 privacy needs authentication")
		}
		p, ok := privProtocols[strings.ToUpper(t.PrivProtocol)]
		if !ok {
			return fmt.Errorf("unknown SNMPv3 privacy protocol %q", t.PrivProtocol)
		}
		if len(t.PrivPassword) < minPassphrase {
			return fmt.Errorf("SNMPv3 privacy password shorter than %d characters", minPassphrase)
		}
		usm.PrivacyProtocol, usm.PrivacyPassphrase = p, t.PrivPassword
		g.MsgFlags = gosnmp.AuthPriv
	}
	g.SecurityParameters = usm
	return nil
}
