package plugin

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ChooseGranularity picks the granularity of a policy to read a range
// with: the coarsest one that is still at least as fine as the resolution
// the panel asks for (its interval, and the range over maxDataPoints),
// among those whose retention reaches back to the range's start. When none
// is fine enough the finest retained one is taken; when none retains the
// start, the one that reaches furthest back.
func ChooseGranularity(defs []Definition, from, to, now time.Time, interval time.Duration, maxDataPoints int64) (time.Duration, error) {
	if len(defs) == 0 {
		return 0, fmt.Errorf("the archive policy has no definitions")
	}
	step := interval
	if maxDataPoints > 0 && to.After(from) {
		if s := to.Sub(from) / time.Duration(maxDataPoints); s > step {
			step = s
		}
	}
	age := now.Sub(from)
	var best, finestRetained, longest *Definition
	for i := range defs {
		d := &defs[i]
		if longest == nil || (longest.Timespan != 0 && (d.Timespan == 0 || d.Timespan > longest.Timespan)) {
			longest = d
		}
		if !retains(d, age) {
			continue
		}
		if finestRetained == nil || d.Granularity < finestRetained.Granularity {
			finestRetained = d
		}
		if d.Granularity <= step && (best == nil || d.Granularity > best.Granularity) {
			best = d
		}
	}
	switch {
	case best != nil:
		return best.Granularity, nil
	case finestRetained != nil:
		return finestRetained.Granularity, nil
	}
	return longest.Granularity, nil
}

// retains tells whether a definition keeps points as old as age; a
// timespan of 0 keeps everything.
func retains(d *Definition, age time.Duration) bool {
	return d.Timespan == 0 || d.Timespan >= age
}

// parseGranularity reads a granularity a query names: seconds ("60",
// "0.5") or a Go or Grafana duration ("5m", "1h", "1d").
func parseGranularity(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "auto" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > 1e9 {
			return 0, fmt.Errorf("granularity %q is out of range", s)
		}
		return time.Duration(f * 1e9), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if f, err := strconv.ParseFloat(n, 64); err == nil && f > 0 && f < 1e5 {
			return time.Duration(f * 24 * float64(time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("granularity %q is neither seconds nor a duration like 5m", s)
	}
	return d, nil
}
