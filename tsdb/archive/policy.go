package archive

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"time"
)

// Definition is one granularity of a policy and how long it is kept.
// Timespan is always Granularity × Points once normalised.
type Definition struct {
	Granularity time.Duration
	Points      int64
	Timespan    time.Duration
}

// Policy is an archive policy: which aggregation methods are computed, at
// which granularities, for how long, and how many coarsest-granularity
// periods of late points are still accepted (BackWindow).
type Policy struct {
	Name        string
	BackWindow  int64
	Methods     []Method
	Definitions []Definition
}

// ErrInvalid marks a policy or definition that Gnocchi would refuse.
var ErrInvalid = errors.New("invalid archive policy")

// NormaliseDefinition derives the missing one of points and timespan, as
// Gnocchi does, and checks the three agree.
func NormaliseDefinition(d Definition) (Definition, error) {
	if d.Granularity <= 0 {
		return d, fmt.Errorf("%w: granularity must be positive, got %v", ErrInvalid, d.Granularity)
	}
	if d.Points < 0 {
		return d, fmt.Errorf("%w: points must be positive, got %d", ErrInvalid, d.Points)
	}
	switch {
	case d.Points == 0 && d.Timespan == 0:
		return d, fmt.Errorf("%w: two of granularity, points and timespan are needed", ErrInvalid)
	case d.Points == 0:
		if d.Timespan%d.Granularity != 0 {
			return d, fmt.Errorf("%w: timespan %v is not a multiple of granularity %v", ErrInvalid, d.Timespan, d.Granularity)
		}
		d.Points = int64(d.Timespan / d.Granularity)
	case d.Timespan == 0:
		d.Timespan = time.Duration(d.Points) * d.Granularity
	case time.Duration(d.Points)*d.Granularity != d.Timespan:
		return d, fmt.Errorf("%w: timespan %v ≠ granularity %v × points %d", ErrInvalid, d.Timespan, d.Granularity, d.Points)
	}
	if d.Points <= 0 {
		return d, fmt.Errorf("%w: timespan %v is shorter than granularity %v", ErrInvalid, d.Timespan, d.Granularity)
	}
	return d, nil
}

// Validate normalises p's definitions in place and checks the policy.
func (p *Policy) Validate() error {
	if p.Name == "" {
		return fmt.Errorf("%w: name is required", ErrInvalid)
	}
	if p.BackWindow < 0 {
		return fmt.Errorf("%w: back_window must be ≥ 0, got %d", ErrInvalid, p.BackWindow)
	}
	if len(p.Definitions) == 0 {
		return fmt.Errorf("%w: at least one definition is required", ErrInvalid)
	}
	if len(p.Methods) == 0 {
		return fmt.Errorf("%w: at least one aggregation method is required", ErrInvalid)
	}
	seen := make(map[time.Duration]bool, len(p.Definitions))
	for i, d := range p.Definitions {
		nd, err := NormaliseDefinition(d)
		if err != nil {
			return fmt.Errorf("definition %d: %w", i, err)
		}
		if seen[nd.Granularity] {
			return fmt.Errorf("%w: more than one definition has granularity %v", ErrInvalid, nd.Granularity)
		}
		seen[nd.Granularity] = true
		p.Definitions[i] = nd
	}
	return nil
}

// MaxGranularity returns the coarsest granularity of p.
func (p *Policy) MaxGranularity() time.Duration {
	var g time.Duration
	for _, d := range p.Definitions {
		g = max(g, d.Granularity)
	}
	return g
}

// Granularities returns p's granularities, finest first.
func (p *Policy) Granularities() []time.Duration {
	out := make([]time.Duration, len(p.Definitions))
	for i, d := range p.Definitions {
		out[i] = d.Granularity
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// CheckUpdate reports whether the definitions of old may be replaced by
// those of next: Gnocchi lets the retention change but not the set of
// granularities.
func CheckUpdate(old, next []Definition) error {
	if len(old) != len(next) {
		return fmt.Errorf("%w: cannot add or drop granularities (have %d, got %d)", ErrInvalid, len(old), len(next))
	}
	have := make(map[time.Duration]bool, len(old))
	for _, d := range old {
		have[d.Granularity] = true
	}
	for _, d := range next {
		if !have[d.Granularity] {
			return fmt.Errorf("%w: cannot change granularities: %v is not in the policy", ErrInvalid, d.Granularity)
		}
	}
	return nil
}

// DefaultMethods are Gnocchi's default_aggregation_methods.
func DefaultMethods() []Method {
	return []Method{{Kind: Mean}, {Kind: Min}, {Kind: Max}, {Kind: Sum}, {Kind: Std}, {Kind: Count}}
}

// Builtins returns the policies a new index is created with: Gnocchi's
// bool, low, medium and high, and Ceilometer's ceilometer-* policies.
func Builtins() []Policy {
	const day = 24 * time.Hour
	def := func(g, span time.Duration) Definition {
		return Definition{Granularity: g, Points: int64(span / g), Timespan: span}
	}
	mean := []Method{{Kind: Mean}}
	meanRate := []Method{{Kind: Mean}, {Kind: Mean, Rate: true}}
	high := []Definition{def(time.Second, time.Hour), def(time.Minute, day), def(time.Hour, 365*day)}
	low := []Definition{def(5*time.Minute, 30*day)}
	return []Policy{
		{Name: "bool", BackWindow: 3600, Methods: []Method{{Kind: Last}}, Definitions: []Definition{def(time.Second, 365*day)}},
		{Name: "low", Methods: DefaultMethods(), Definitions: []Definition{def(5*time.Minute, 30*day)}},
		{Name: "medium", Methods: DefaultMethods(), Definitions: []Definition{def(time.Minute, 7*day), def(time.Hour, 365*day)}},
		{Name: "high", Methods: DefaultMethods(), Definitions: []Definition{def(time.Second, time.Hour), def(time.Minute, 7*day), def(time.Hour, 365*day)}},
		{Name: "ceilometer-low", Methods: mean, Definitions: low},
		{Name: "ceilometer-low-rate", Methods: meanRate, Definitions: low},
		{Name: "ceilometer-high", Methods: mean, Definitions: high},
		{Name: "ceilometer-high-rate", Methods: meanRate, Definitions: high},
	}
}

// Rule maps metric names matching a glob pattern to a policy.
type Rule struct {
	Name          string
	MetricPattern string
	PolicyName    string
}

// DefaultRule is the rule a new index is created with, as gnocchi-upgrade
// does.
func DefaultRule() Rule { return Rule{Name: "default", MetricPattern: "*", PolicyName: "low"} }

// ValidatePattern checks that pattern is a well-formed glob.
func ValidatePattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("%w: metric_pattern is empty", ErrInvalid)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("%w: metric_pattern %q: %w", ErrInvalid, pattern, err)
	}
	return nil
}

// MatchRule returns the rule whose pattern matches name, the longest
// pattern winning as in Gnocchi; ties go to the name that sorts first so
// that the choice does not depend on the order of rules.
func MatchRule(rules []Rule, name string) (Rule, bool) {
	var best Rule
	found := false
	for _, r := range rules {
		ok, err := path.Match(r.MetricPattern, name)
		if err != nil || !ok {
			continue
		}
		if !found || len(r.MetricPattern) > len(best.MetricPattern) ||
			(len(r.MetricPattern) == len(best.MetricPattern) && r.Name < best.Name) {
			best, found = r, true
		}
	}
	return best, found
}
