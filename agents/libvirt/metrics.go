//go:build libvirt

package libvirt

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// skipReason says why a domain gave fewer samples than a running one.
type skipReason int

const (
	skipInactive skipReason = iota // shut off: power.state and flavor sizes only
	skipVanished                   // undefined or destroyed while it was polled
	skipError                      // its XML or state could not be read
	skipNotNova                    // no Nova metadata and Config.NovaOnly
	nSkipReasons
)

var skipNames = [nSkipReasons]string{"inactive", "vanished", "error", "not_nova"}

// group is a stat group of the bulk call, and the per-domain calls that
// stand in for it where a driver does not fill it.
type group int

const (
	gState group = iota
	gCPU
	gBalloon
	gVCPU
	gInterface
	gBlock
	gPerf
	gXML // the domain XML, read per domain
	nGroups
)

var groupNames = [nGroups]string{"state", "cpu-total", "balloon", "vcpu", "interface", "block", "perf", "xml"}

// pollMetrics are the pollster's vigil_libvirt_* metrics, labelled with the
// URI so that pollsters of several connections can share a Set.
type pollMetrics struct {
	domains       *metrics.Gauge   // domains the last cycle listed
	connected     *metrics.Gauge   // 1 while a connection is open
	polled        *metrics.Counter // domains that gave samples
	skipped       [nSkipReasons]*metrics.Counter
	statErrors    [nGroups]*metrics.Counter
	resets        *metrics.Counter // cumulative values that went down
	connects      *metrics.Counter
	connectErrors *metrics.Counter
	disconnects   *metrics.Counter
	bulkCalls     *metrics.Counter
	fallbackCalls *metrics.Counter // per-domain calls standing in for a group
	xmlReads      *metrics.Counter
	xmlParses     *metrics.Counter
	bulkDuration  *metrics.Histogram
}

func newPollMetrics(s *metrics.Set, uri string) *pollMetrics {
	l := fmt.Sprintf("uri=%q", uri)
	m := &pollMetrics{
		domains:       s.GetOrCreateGauge(`vigil_libvirt_domains{`+l+`}`, nil),
		connected:     s.GetOrCreateGauge(`vigil_libvirt_connected{`+l+`}`, nil),
		polled:        s.GetOrCreateCounter(`vigil_libvirt_domains_polled_total{` + l + `}`),
		resets:        s.GetOrCreateCounter(`vigil_libvirt_counter_resets_total{` + l + `}`),
		connects:      s.GetOrCreateCounter(`vigil_libvirt_connects_total{` + l + `}`),
		connectErrors: s.GetOrCreateCounter(`vigil_libvirt_connect_errors_total{` + l + `}`),
		disconnects:   s.GetOrCreateCounter(`vigil_libvirt_disconnects_total{` + l + `}`),
		bulkCalls:     s.GetOrCreateCounter(`vigil_libvirt_bulk_calls_total{` + l + `}`),
		fallbackCalls: s.GetOrCreateCounter(`vigil_libvirt_fallback_calls_total{` + l + `}`),
		xmlReads:      s.GetOrCreateCounter(`vigil_libvirt_xml_reads_total{` + l + `}`),
		xmlParses:     s.GetOrCreateCounter(`vigil_libvirt_xml_parses_total{` + l + `}`),
		bulkDuration:  s.GetOrCreateHistogram(`vigil_libvirt_bulk_call_duration_seconds{` + l + `}`),
	}
	for r := range m.skipped {
		m.skipped[r] = s.GetOrCreateCounter(fmt.Sprintf(`vigil_libvirt_domains_skipped_total{%s,reason=%q}`, l, skipNames[r]))
	}
	for g := range m.statErrors {
		m.statErrors[g] = s.GetOrCreateCounter(fmt.Sprintf(`vigil_libvirt_stat_errors_total{%s,group=%q}`, l, groupNames[g]))
	}
	return m
}
