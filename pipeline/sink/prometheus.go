package sink

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// buildPrometheus builds the prometheus:// publisher: an HTTP POST of the
// samples in the Prometheus text format to a Pushgateway at
// http://host:port/path (for example /metrics/job/vigil), as Ceilometer's
// does: one `# TYPE` line per meter (counter for cumulative, gauge for
// gauge, none for delta), then `name{resource_id="…", project_id="…"}
// value` with the meter's dots and other characters Prometheus refuses
// turned to underscores, and no timestamp. A push holds one value per
// series, the last one given, since a Pushgateway refuses a series twice.
// It takes the http(s):// options timeout, max_retries and verify_ssl.
func buildPrometheus(u *url.URL, _ string, env *buildEnv) (Stage, error) {
	target := *u
	target.Scheme = "http"
	p, err := newHTTPPublisher(&target, env.publishCounters("prometheus"), false)
	if err != nil {
		return nil, err
	}
	p.contentType = "text/plain; version=0.0.4; charset=utf-8"
	p.body = AppendPrometheusText
	return p, nil
}

// AppendPrometheusText appends samples in the Prometheus text exposition
// format as the prometheus:// publisher sends them.
func AppendPrometheusText(dst []byte, samples []pipeline.Sample) []byte {
	type seriesKey struct{ name, resource, project string }
	last := make(map[seriesKey]int, len(samples))
	for i := range samples {
		s := &samples[i]
		last[seriesKey{s.Name, s.ResourceID, s.ProjectID}] = i
	}
	typed := make(map[string]bool)
	for i := range samples {
		s := &samples[i]
		if last[seriesKey{s.Name, s.ResourceID, s.ProjectID}] != i {
			continue
		}
		name := promName(s.Name)
		if !typed[name] {
			typed[name] = true
			switch s.Type {
			case pipeline.Cumulative:
				dst = append(dst, "# TYPE "+name+" counter\n"...)
			case pipeline.Gauge:
				dst = append(dst, "# TYPE "+name+" gauge\n"...)
			}
		}
		dst = append(dst, name...)
		dst = append(dst, `{resource_id="`...)
		dst = appendPromLabel(dst, s.ResourceID)
		dst = append(dst, `", project_id="`...)
		dst = appendPromLabel(dst, s.ProjectID)
		dst = append(dst, `"} `...)
		dst = strconv.AppendFloat(dst, s.Volume, 'g', -1, 64)
		dst = append(dst, '\n')
	}
	return dst
}

// promName maps a meter name to a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func promName(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
			b.WriteByte(c)
		case c >= '0' && c <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

func appendPromLabel(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
