package api

import (
	"strconv"
	"strings"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// Gnocchi spells a percentile method "95pct" (and "rate:95pct"); package
// archive spells it "p95". The API speaks Gnocchi's spelling both ways.

// parseMethod reads an aggregation method as Gnocchi spells it; the
// archive package's spelling is accepted too.
func parseMethod(s string) (archive.Method, error) {
	name := s
	prefix := ""
	if rest, ok := strings.CutPrefix(name, "rate:"); ok {
		prefix, name = "rate:", rest
	}
	if n, ok := strings.CutSuffix(name, "pct"); ok && n != "" && n[0] >= '0' && n[0] <= '9' {
		name = "p" + n
	}
	return archive.ParseMethod(prefix + name)
}

// methodName writes m as Gnocchi does.
func methodName(m archive.Method) string {
	s := m.String()
	if m.Kind != archive.Percentile {
		return s
	}
	prefix := ""
	if m.Rate {
		prefix = "rate:"
	}
	return prefix + strconv.FormatFloat(m.Percentile, 'f', -1, 64) + "pct"
}

func methodNames(ms []archive.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = methodName(m)
	}
	return out
}

// capabilityMethods are the methods Gnocchi's /v1/capabilities lists: the
// basic ones, the percentiles 1pct to 99pct, and the rate: variant of each.
func capabilityMethods() []string {
	var out []string
	for _, rate := range []string{"", "rate:"} {
		for _, m := range archive.AllMethods() {
			if !m.Rate {
				out = append(out, rate+methodName(m))
			}
		}
		for p := 1; p <= 99; p++ {
			out = append(out, rate+strconv.Itoa(p)+"pct")
		}
	}
	return out
}

// archiveName turns a policy's aggregation_methods entry ("+95pct",
// "rate:mean", "*") into the spelling archive.ExpandMethods reads.
func archiveName(s string) string {
	sign := ""
	if s != "" && (s[0] == '+' || s[0] == '-') {
		sign, s = s[:1], s[1:]
	}
	if s == "*" {
		return sign + s
	}
	if m, err := parseMethod(s); err == nil {
		return sign + m.String()
	}
	return sign + s
}

// opsMethod is the reducing method of the operations language that
// resamples a series of an archive method: the method itself, a
// percentile as "NNpct", the base method of a rate: one.
func opsMethod(name string) string {
	m, err := parseMethod(name)
	if err != nil {
		return name
	}
	m.Rate = false
	return methodName(m)
}
