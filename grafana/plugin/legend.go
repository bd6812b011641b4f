package plugin

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var legendVar = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}`)

// renderLegend fills a legend template: each {{name}} is replaced by
// lookup(name); a name lookup does not know stays as written, so that a
// typo shows in the legend rather than vanishing.
func renderLegend(tmpl string, lookup func(string) (string, bool)) string {
	return legendVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := legendVar.FindStringSubmatch(m)[1]
		if v, ok := lookup(name); ok {
			return v
		}
		return m
	})
}

// resourceLookup resolves legend names against a resource: its attributes,
// "display" (DisplayName) and "metric" and "aggregation".
func resourceLookup(r *Resource, metric, aggregation string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		switch name {
		case "metric":
			return metric, true
		case "aggregation":
			return aggregation, true
		case "display":
			if r != nil {
				return r.DisplayName(), true
			}
		}
		if r == nil {
			return "", false
		}
		if name == "id" {
			return r.ID, true
		}
		v, ok := r.Attributes[name]
		if !ok {
			return "", false
		}
		return attrText(v), true
	}
}

// grafanaUnit maps a Ceilometer/Gnocchi unit to Grafana's unit id, or to a
// custom suffix when Grafana has no such unit.
func grafanaUnit(u string) string {
	switch strings.TrimSpace(u) {
	case "":
		return ""
	case "%":
		return "percent"
	case "B":
		return "bytes"
	case "KB", "KiB", "kB":
		return "kbytes"
	case "MB", "MiB":
		return "mbytes"
	case "GB", "GiB":
		return "gbytes"
	case "B/s":
		return "Bps"
	case "KB/s":
		return "KBs"
	case "ns":
		return "ns"
	case "us", "µs":
		return "µs"
	case "ms":
		return "ms"
	case "s":
		return "s"
	case "packet/s", "packets/s":
		return "pps"
	case "request/s", "requests/s":
		return "reqps"
	case "W":
		return "watt"
	case "C", "°C":
		return "celsius"
	case "RPM", "rpm":
		return "rotrpm"
	case "Hz":
		return "hertz"
	case "V":
		return "volt"
	case "A":
		return "amp"
	}
	return "suffix: " + u
}

// macros are the values of Grafana's global variables for a query, which
// the frontend interpolates but server-side (alerting) queries carry as
// written.
type macros struct {
	from, to time.Time
	interval time.Duration
}

var macroRe = regexp.MustCompile(`\$\{?(__interval_ms|__interval|__range_ms|__range_s|__range|__from|__to|__rate_interval)\}?`)

// expand replaces $__interval (seconds), $__interval_ms, $__range
// (seconds), $__range_s, $__range_ms, $__from and $__to (ISO 8601) in s.
func (m macros) expand(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return macroRe.ReplaceAllStringFunc(s, func(x string) string {
		name := macroRe.FindStringSubmatch(x)[1]
		rng := m.to.Sub(m.from)
		switch name {
		case "__interval", "__rate_interval":
			return seconds(m.interval)
		case "__interval_ms":
			return strconv.FormatInt(m.interval.Milliseconds(), 10)
		case "__range", "__range_s":
			return seconds(rng)
		case "__range_ms":
			return strconv.FormatInt(rng.Milliseconds(), 10)
		case "__from":
			return m.from.UTC().Format(time.RFC3339)
		case "__to":
			return m.to.UTC().Format(time.RFC3339)
		}
		return x
	})
}

func seconds(d time.Duration) string {
	s := d.Seconds()
	if s == math.Trunc(s) {
		return strconv.FormatInt(int64(s), 10)
	}
	return strconv.FormatFloat(s, 'f', -1, 64)
}

// groupLabel renders a group as "k=v, k2=v2", keys sorted.
func groupLabel(keys []string, g map[string]any) string {
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%s", k, attrText(g[k])))
	}
	return strings.Join(parts, ", ")
}
