package libvirt

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// DefaultURI is the libvirt connection the pollster opens when Config.URI is
// empty: the system QEMU/KVM driver, as Ceilometer's compute agent uses.
const DefaultURI = "qemu:///system"

// Config says which libvirt to poll and how.
type Config struct {
	// URI is the libvirt connection URI (config key agents.libvirt.uri;
	// default qemu:///system). test:///default and test:///abs/file.xml
	// select libvirt's test driver.
	URI string
	// Host is the compute host's name: the instance_host metadata and the
	// input of Nova's hostId in host (default: the machine's hostname).
	Host string
	// NovaOnly polls only domains carrying Nova's instance metadata, as
	// Ceilometer's libvirt_metadata discovery does. Otherwise a domain
	// without it is an instance named after the domain, with no user or
	// project.
	NovaOnly bool
	// XMLRefresh is how many polls pass before a domain's XML is read again
	// to catch changed metadata or devices (default 10). It is also read
	// again whenever the domain restarts, changes state or reports a device
	// the cached XML does not have; it is parsed again only when it changed.
	XMLRefresh int
	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// once libvirt is unreachable (defaults 1s and 2m); it doubles with
	// each failed attempt.
	MinBackoff, MaxBackoff time.Duration
	// Metrics receives the pollster's vigil_libvirt_* metrics (default: a
	// private set nobody exports).
	Metrics *metrics.Set
}

// withDefaults fills the zero fields and checks the others.
func (c Config) withDefaults() (Config, error) {
	if c.URI == "" {
		c.URI = DefaultURI
	}
	if u, err := url.Parse(c.URI); err != nil || u.Scheme == "" {
		return c, fmt.Errorf("invalid libvirt URI %q: want driver[+transport]://[host]/path, e.g. %s", c.URI, DefaultURI)
	}
	if c.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("cannot name the compute host: %w", err)
		}
		c.Host = h
	}
	if c.XMLRefresh == 0 {
		c.XMLRefresh = 10
	}
	if c.XMLRefresh < 0 {
		return c, fmt.Errorf("invalid libvirt XMLRefresh %d: want a positive number of polls", c.XMLRefresh)
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 2 * time.Minute
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		return c, fmt.Errorf("invalid libvirt backoff %s..%s: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewSet()
	}
	return c, nil
}
