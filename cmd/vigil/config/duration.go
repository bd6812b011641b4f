package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that YAML and the environment write as a Go
// duration ("10s", "1m30s", "250ms") or as a number of seconds (10, 0.5).
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns the Go form of d ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d in the Go form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a scalar in either form.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 10s or a number of seconds, got a %s", kindName(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// parseDuration reads "1m30s" or a number of seconds.
func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if v, err := time.ParseDuration(s); err == nil {
		return Duration(v), nil
	}
	sec, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXpP_") {
		return 0, fmt.Errorf("%q is not a duration: want a Go duration such as 10s, 1m30s, 250ms, or a number of seconds", s)
	}
	ns := sec * 1e9
	if math.IsNaN(ns) || math.IsInf(ns, 0) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("%q seconds is out of the range of a duration (about ±292 years)", s)
	}
	return Duration(math.Round(ns)), nil
}
