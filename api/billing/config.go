package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// MaxConfigSize bounds a rating configuration file.
const MaxConfigSize = 4 << 20

// Config is a validated rating configuration: what is billed, how it is
// measured and what it costs when. It is immutable once loaded and safe
// for concurrent use. FORMAT.md describes the file.
type Config struct {
	Currency string
	Rounding Rounding
	Provider Provider
	// Flavors give the vCPUs and memory of instance flavors, by the value
	// of the services' flavor attribute.
	Flavors map[string]Flavor
	// Services in the order of the file.
	Services []*Service
	// PriceLists by ascending From; each holds the rates of every service
	// in effect from its From until the next list's.
	PriceLists []*PriceList
	// Hash is "sha256:" and the hex SHA-256 of the file's bytes, which the
	// exports carry so that a bill can be traced to its prices.
	Hash string
}

// Rounding is how costs and quantities are rounded: once per line, cost
// to Places decimal places, quantity to QuantityPlaces, with Mode.
type Rounding struct {
	Mode           apd.Rounder
	Places         int32
	QuantityPlaces int32
}

// Provider names who issues the bill, for FOCUS's provider and account
// columns.
type Provider struct {
	Name               string
	BillingAccountID   string
	BillingAccountName string
	Region             string
}

// Flavor is the size of an instance flavor.
type Flavor struct {
	VCPUs apd.Decimal
	RAMMB apd.Decimal
}

// Service is one billed service.
type Service struct {
	Name         string
	Description  string
	Category     string
	Measure      Measure
	ResourceType string
	// Metric is the meter read; for a lifetime measure it is optional and
	// makes the hours count only where the metric has points (presence).
	Metric string
	Unit   string
	// Method and Granularity of the metric's aggregates; nil and zero let
	// the rating choose from the metric's archive policy.
	Method      *archive.Method
	Granularity time.Duration
	// CarryForward makes a gauge's value hold until its next point instead
	// of covering its own aggregation bucket only: for gauges written on
	// change (volume.size from notifications).
	CarryForward bool
	// PresenceValues, when set, count a presence bucket only when its
	// value is one of them (power.state 1: running).
	PresenceValues []float64
	// FactorNum / FactorDen convert the measured unit into Unit.
	FactorNum, FactorDen apd.Decimal
	// FlavorAttribute names the resource attribute looked up in Flavors.
	FlavorAttribute string

	spec measureSpec
	line int
}

// PriceList is the set of rates in effect from From on.
type PriceList struct {
	From time.Time
	// Rates by service name: every service has an entry, inherited from
	// the previous list when this one does not mention it.
	Rates map[string][]*Mapping
	line  int
}

// Mapping is one rate of a service, as CloudKitty's hashmap mappings are:
// the first mapping of a price list whose Match holds for a resource's
// attributes prices its usage.
type Mapping struct {
	// Name labels the rate in descriptions and SKU price ids; by default
	// the match it makes, or "default".
	Name  string
	Match []Match
	// Price per unit, or Tiers when nil.
	Price *apd.Decimal
	Tiers []Tier
	// from is when the price list that defines the mapping takes effect;
	// later lists that do not mention the service share the mapping.
	from time.Time
	line int
}

// Match holds when attribute Attr renders as one of Values.
type Match struct {
	Attr   string
	Values []string
}

// Tier prices the quantity from the previous tier's UpTo to its own
// (nil: without bound), counted per project and service within one
// export period.
type Tier struct {
	UpTo  *apd.Decimal
	Price apd.Decimal
	line  int
}

// ConfigError is one problem of a configuration file, at a line.
type ConfigError struct {
	Line int
	Path string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
}

// LoadConfig reads and validates the rating configuration at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read billing config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read billing config %s: %w", path, err)
	}
	if st.Size() > MaxConfigSize {
		return nil, fmt.Errorf("billing config %s: %d bytes, more than the %d accepted", path, st.Size(), MaxConfigSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read billing config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("billing config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig validates a rating configuration. Every problem found is
// reported, each as a *ConfigError naming its line, joined with
// errors.Join.
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%d bytes, more than the %d accepted", len(data), MaxConfigSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse YAML: %w", err)
	}
	sum := sha256.Sum256(data)
	p := &parser{}
	c := &Config{Hash: "sha256:" + hex.EncodeToString(sum[:])}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &ConfigError{Line: 1, Msg: "the file is empty; it needs at least currency, services and prices"}
	}
	p.config(doc.Content[0], c)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// parser walks the YAML tree and collects errors.
type parser struct {
	errs []error
}

func (p *parser) errf(n *yaml.Node, path, format string, args ...any) {
	// One problem is enough per line and path: a bad node would
	// otherwise be reported by each check that looks at it.
	msg := fmt.Sprintf(format, args...)
	for _, e := range p.errs {
		if ce, ok := e.(*ConfigError); ok && ce.Line == n.Line && ce.Path == path {
			return
		}
	}
	if len(p.errs) < 100 {
		p.errs = append(p.errs, &ConfigError{Line: n.Line, Path: path, Msg: msg})
	}
}

type entry struct {
	key   string
	kNode *yaml.Node
	value *yaml.Node
}

// entries returns the pairs of mapping n, reporting a non-mapping, a
// non-string key, a duplicate key or an alias.
func (p *parser) entries(n *yaml.Node, path string) ([]entry, bool) {
	if n.Kind == yaml.AliasNode {
		p.errf(n, path, "aliases are not supported")
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, path, "expected a mapping, got %s", kindName(n))
		return nil, false
	}
	var out []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!float" && k.Tag != "!!bool") {
			p.errf(k, path, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			p.errf(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			p.errf(v, join(path, k.Value), "aliases are not supported")
			continue
		}
		out = append(out, entry{k.Value, k, v})
	}
	return out, true
}

// fields returns the values of mapping n by key, reporting keys not in
// allowed.
func (p *parser) fields(n *yaml.Node, path string, allowed ...string) map[string]*yaml.Node {
	es, ok := p.entries(n, path)
	if !ok {
		return nil
	}
	out := make(map[string]*yaml.Node, len(es))
	for _, e := range es {
		if !slices.Contains(allowed, e.key) {
			p.errf(e.kNode, join(path, e.key), "unknown key (known: %s)", strings.Join(allowed, ", "))
			continue
		}
		out[e.key] = e.value
	}
	return out
}

func (p *parser) sequence(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	if n.Kind == yaml.AliasNode {
		p.errf(n, path, "aliases are not supported")
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, path, "expected a list, got %s", kindName(n))
		return nil, false
	}
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			p.errf(c, path, "aliases are not supported")
			return nil, false
		}
	}
	return n.Content, true
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errf(n, path, "expected a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// scalarText is the text of a scalar of any plain type, for attribute
// values a rate matches: flavor names may look like numbers.
func (p *parser) scalarText(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!binary" {
		p.errf(n, path, "expected a scalar value, got %s", kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (p *parser) decimal(n *yaml.Node, path string) (apd.Decimal, bool) {
	var d apd.Decimal
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!str") {
		p.errf(n, path, "expected a decimal number, got %s", kindName(n))
		return d, false
	}
	if !decimalText.MatchString(n.Value) {
		p.errf(n, path, "%q is not a decimal number (digits, an optional point and fraction, no exponent)", n.Value)
		return d, false
	}
	if _, _, err := d.SetString(n.Value); err != nil {
		p.errf(n, path, "%q is not a decimal number: %v", n.Value, err)
		return d, false
	}
	return d, true
}

// decimalText keeps numbers to what a price list spells: no exponents,
// no signs other than minus, at most 30 digits either side of the point.
var decimalText = regexp.MustCompile(`^-?[0-9]{1,30}(\.[0-9]{1,30})?$`)

func (p *parser) nonNegative(n *yaml.Node, path string) (apd.Decimal, bool) {
	d, ok := p.decimal(n, path)
	if ok && d.Sign() < 0 {
		p.errf(n, path, "%s is negative", n.Value)
		return d, false
	}
	return d, ok
}

func (p *parser) positive(n *yaml.Node, path string) (apd.Decimal, bool) {
	d, ok := p.decimal(n, path)
	if ok && d.Sign() <= 0 {
		p.errf(n, path, "%s must be greater than zero", n.Value)
		return d, false
	}
	return d, ok
}

func (p *parser) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.errf(n, path, "expected an integer, got %s", kindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		p.errf(n, path, "%s is not an integer from %d to %d", n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.errf(n, path, "expected true or false, got %s", kindName(n))
		return false, false
	}
	v, err := strconv.ParseBool(n.Value)
	if err != nil {
		p.errf(n, path, "expected true or false, got %q", n.Value)
		return false, false
	}
	return v, true
}

// timestamp reads an RFC 3339 time or a date (midnight UTC).
func (p *parser) timestamp(n *yaml.Node, path string) (time.Time, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!timestamp") {
		p.errf(n, path, "expected a timestamp, got %s", kindName(n))
		return time.Time{}, false
	}
	t, err := ParseTime(n.Value)
	if err != nil {
		p.errf(n, path, "%v", err)
		return time.Time{}, false
	}
	return t, true
}

// duration reads seconds (an integer) or a Go duration ("1h").
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errf(n, path, "expected a duration, got %s", kindName(n))
		return 0, false
	}
	var d time.Duration
	if n.Tag == "!!int" {
		s, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || s <= 0 || s > int64(366*24*3600) {
			p.errf(n, path, "%s is not a number of seconds from 1 to a year", n.Value)
			return 0, false
		}
		d = time.Duration(s) * time.Second
	} else {
		var err error
		d, err = time.ParseDuration(n.Value)
		if err != nil || d <= 0 || d > 366*24*time.Hour {
			p.errf(n, path, "%q is not a duration from 1ns to a year (\"300\", \"5m\", \"1h\")", n.Value)
			return 0, false
		}
	}
	return d, true
}

// ParseTime reads the timestamps the configuration, the HTTP API and the
// command line take: RFC 3339 (with a zone, or UTC when it has none) or a
// date, meaning midnight UTC. The result is UTC.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1970 || t.Year() > 9999 {
				return time.Time{}, fmt.Errorf("timestamp %q is outside the years 1970 to 9999", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp (RFC 3339, such as 2024-03-01T00:00:00Z, or a date, such as 2024-03-01)", s)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func at(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	attrRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]{0,62}$`)
	typeRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$`)
)

func (p *parser) config(root *yaml.Node, c *Config) {
	f := p.fields(root, "", "currency", "rounding", "provider", "flavors", "services", "prices")
	if f == nil {
		return
	}
	if n, ok := f["currency"]; ok {
		if s, ok := p.str(n, "currency"); ok {
			if !currencyRE.MatchString(s) {
				p.errf(n, "currency", "%q is not an ISO 4217 code (three capital letters, such as EUR)", s)
			}
			c.Currency = s
		}
	} else {
		p.errf(root, "currency", "missing")
	}
	c.Rounding = Rounding{Mode: apd.RoundHalfEven, Places: 2, QuantityPlaces: 6}
	if n, ok := f["rounding"]; ok {
		p.rounding(n, &c.Rounding)
	}
	c.Provider = Provider{Name: "vigil", BillingAccountID: "vigil"}
	if n, ok := f["provider"]; ok {
		p.provider(n, &c.Provider)
	}
	c.Flavors = map[string]Flavor{}
	if n, ok := f["flavors"]; ok {
		p.flavors(n, c.Flavors)
	}
	if n, ok := f["services"]; ok {
		p.services(n, c)
	} else {
		p.errf(root, "services", "missing")
	}
	if n, ok := f["prices"]; ok {
		p.prices(n, c)
	} else {
		p.errf(root, "prices", "missing")
	}
	for _, pl := range c.PriceLists {
		for _, ms := range pl.Rates {
			for _, m := range ms {
				for _, t := range m.Tiers {
					if t.UpTo != nil && t.UpTo.Exponent < -c.Rounding.QuantityPlaces {
						p.errf(&yaml.Node{Line: t.line}, "", "tier bound %s has more decimal places than rounding.quantity_places (%d)",
							t.UpTo.Text('f'), c.Rounding.QuantityPlaces)
					}
				}
			}
		}
	}
}

func (p *parser) rounding(n *yaml.Node, r *Rounding) {
	f := p.fields(n, "rounding", "mode", "places", "quantity_places")
	if v, ok := f["mode"]; ok {
		if s, ok := p.str(v, "rounding.mode"); ok {
			switch s {
			case "half-even":
				r.Mode = apd.RoundHalfEven
			case "half-up":
				r.Mode = apd.RoundHalfUp
			case "down":
				r.Mode = apd.RoundDown
			default:
				p.errf(v, "rounding.mode", "%q is not a rounding mode (half-even, half-up or down)", s)
			}
		}
	}
	if v, ok := f["places"]; ok {
		if i, ok := p.integer(v, "rounding.places", 0, 12); ok {
			r.Places = int32(i)
		}
	}
	if v, ok := f["quantity_places"]; ok {
		if i, ok := p.integer(v, "rounding.quantity_places", 0, 12); ok {
			r.QuantityPlaces = int32(i)
		}
	}
}

func (p *parser) provider(n *yaml.Node, pr *Provider) {
	f := p.fields(n, "provider", "name", "billing_account_id", "billing_account_name", "region")
	set := func(key string, dst *string) {
		if v, ok := f[key]; ok {
			if s, ok := p.str(v, "provider."+key); ok {
				if s == "" || len(s) > 255 {
					p.errf(v, "provider."+key, "must be 1 to 255 bytes")
				}
				*dst = s
			}
		}
	}
	set("name", &pr.Name)
	set("billing_account_id", &pr.BillingAccountID)
	set("billing_account_name", &pr.BillingAccountName)
	set("region", &pr.Region)
}

func (p *parser) flavors(n *yaml.Node, out map[string]Flavor) {
	es, _ := p.entries(n, "flavors")
	for _, e := range es {
		path := join("flavors", e.key)
		f := p.fields(e.value, path, "vcpus", "ram_mb")
		var fl Flavor
		ok := f != nil
		if v, has := f["vcpus"]; has {
			var good bool
			fl.VCPUs, good = p.positive(v, path+".vcpus")
			ok = ok && good
		} else if f != nil {
			p.errf(e.value, path+".vcpus", "missing")
			ok = false
		}
		if v, has := f["ram_mb"]; has {
			var good bool
			fl.RAMMB, good = p.positive(v, path+".ram_mb")
			ok = ok && good
		} else if f != nil {
			p.errf(e.value, path+".ram_mb", "missing")
			ok = false
		}
		if ok {
			out[e.key] = fl
		}
	}
}

func (p *parser) services(n *yaml.Node, c *Config) {
	items, ok := p.sequence(n, "services")
	if !ok {
		return
	}
	if len(items) == 0 {
		p.errf(n, "services", "no service is defined")
	}
	seen := map[string]int{}
	for i, item := range items {
		path := at("services", i)
		s := p.service(item, path, c)
		if s == nil {
			continue
		}
		if line, dup := seen[s.Name]; dup {
			p.errf(item, path+".name", "service %q is defined already at line %d", s.Name, line)
			continue
		}
		seen[s.Name] = item.Line
		c.Services = append(c.Services, s)
	}
}

func (p *parser) service(n *yaml.Node, path string, c *Config) *Service {
	f := p.fields(n, path, "name", "description", "category", "measure", "resource_type", "metric", "unit",
		"method", "granularity", "carry_forward", "values", "factor", "flavor_attribute")
	if f == nil {
		return nil
	}
	s := &Service{line: n.Line}
	ok := true
	need := func(key string) *yaml.Node {
		v, has := f[key]
		if !has {
			p.errf(n, join(path, key), "missing")
			ok = false
		}
		return v
	}
	if v := need("name"); v != nil {
		if name, good := p.str(v, path+".name"); good {
			if !nameRE.MatchString(name) {
				p.errf(v, path+".name", "%q is not a service name (letters, digits, '.', '_', '-'; at most 64)", name)
				ok = false
			}
			s.Name = name
		} else {
			ok = false
		}
	}
	if v := need("measure"); v != nil {
		if m, good := p.str(v, path+".measure"); good {
			meas, known := parseMeasure(m)
			if !known {
				p.errf(v, path+".measure", "unknown measure %q (known: %s)", m, measureNames())
				ok = false
			}
			s.Measure = meas
		} else {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	s.spec = measureSpecs[s.Measure]
	s.ResourceType, s.Metric, s.Unit, s.Category = s.spec.resourceType, s.spec.metric, s.spec.unit, s.spec.category
	text := func(key string, dst *string, valid func(string) string) {
		v, has := f[key]
		if !has {
			return
		}
		if x, good := p.str(v, join(path, key)); good {
			if msg := valid(x); msg != "" {
				p.errf(v, join(path, key), "%s", msg)
				ok = false
			}
			*dst = x
		} else {
			ok = false
		}
	}
	text("description", &s.Description, func(x string) string {
		if len(x) > 255 {
			return "longer than 255 bytes"
		}
		return ""
	})
	text("category", &s.Category, func(x string) string {
		if !slices.Contains(focusCategories, x) {
			return fmt.Sprintf("%q is not a FOCUS service category (%s)", x, strings.Join(focusCategories, ", "))
		}
		return ""
	})
	text("resource_type", &s.ResourceType, func(x string) string {
		if !typeRE.MatchString(x) || x == "generic" {
			return fmt.Sprintf("%q is not a resource type name (a typed one: generic has no attributes to price by)", x)
		}
		return ""
	})
	text("metric", &s.Metric, func(x string) string {
		if x == "" || len(x) > 255 || strings.ContainsAny(x, "/\x00") {
			return fmt.Sprintf("%q is not a metric name", x)
		}
		return ""
	})
	text("unit", &s.Unit, func(x string) string {
		if x == "" || len(x) > 64 {
			return "must be 1 to 64 bytes"
		}
		return ""
	})
	if s.ResourceType == "" {
		p.errf(n, path+".resource_type", "missing: measure %s needs one", s.Measure)
		ok = false
	}
	if s.Unit == "" {
		p.errf(n, path+".unit", "missing: measure %s needs one", s.Measure)
		ok = false
	}
	if s.Metric == "" && s.spec.basis != lifetimeBasis {
		p.errf(n, path+".metric", "missing: measure %s reads a metric", s.Measure)
		ok = false
	}
	if v, has := f["method"]; has {
		if x, good := p.str(v, path+".method"); good {
			m, err := archive.ParseMethod(x)
			switch {
			case err != nil:
				p.errf(v, path+".method", "%v", err)
				ok = false
			case s.spec.basis == counterBasis && !counterMethodValid(m):
				p.errf(v, path+".method", "%s cannot measure a counter", x)
				ok = false
			case s.spec.basis == gaugeBasis && (m.Rate || m.Kind == archive.Count || m.Kind == archive.Std || m.Kind == archive.Sum):
				p.errf(v, path+".method", "%s does not give a gauge's level", x)
				ok = false
			case s.spec.basis == lifetimeBasis && s.Metric == "":
				p.errf(v, path+".method", "only a service with a metric has a method")
				ok = false
			}
			s.Method = &m
		} else {
			ok = false
		}
	}
	if v, has := f["granularity"]; has {
		if d, good := p.duration(v, path+".granularity"); good {
			if s.spec.basis == lifetimeBasis && s.Metric == "" {
				p.errf(v, path+".granularity", "only a service with a metric has a granularity")
				ok = false
			}
			s.Granularity = d
		} else {
			ok = false
		}
	}
	if v, has := f["carry_forward"]; has {
		if b, good := p.boolean(v, path+".carry_forward"); good {
			if s.spec.basis != gaugeBasis {
				p.errf(v, path+".carry_forward", "only a gauge measure carries values forward")
				ok = false
			}
			s.CarryForward = b
		} else {
			ok = false
		}
	}
	if v, has := f["values"]; has {
		if s.spec.basis != lifetimeBasis || s.Metric == "" {
			p.errf(v, path+".values", "only a lifetime measure with a presence metric has values")
			ok = false
		} else if items, good := p.sequence(v, path+".values"); good {
			if len(items) == 0 || len(items) > 64 {
				p.errf(v, path+".values", "must list 1 to 64 values")
				ok = false
			}
			for i, it := range items {
				if it.Kind != yaml.ScalarNode || (it.Tag != "!!int" && it.Tag != "!!float") {
					p.errf(it, at(path+".values", i), "expected a number, got %s", kindName(it))
					ok = false
					continue
				}
				x, err := strconv.ParseFloat(it.Value, 64)
				if err != nil {
					p.errf(it, at(path+".values", i), "%q is not a number", it.Value)
					ok = false
					continue
				}
				s.PresenceValues = append(s.PresenceValues, x)
			}
		} else {
			ok = false
		}
	}
	factor := s.spec.factor
	var factorNode *yaml.Node = n
	if v, has := f["factor"]; has {
		factorNode = v
		if v.Kind != yaml.ScalarNode || (v.Tag != "!!str" && v.Tag != "!!int" && v.Tag != "!!float") {
			p.errf(v, path+".factor", "expected a decimal or a fraction such as 1/1073741824, got %s", kindName(v))
			ok = false
			factor = ""
		} else {
			factor = v.Value
		}
	}
	if factor != "" {
		num, den, good := parseFactor(factor)
		if !good {
			p.errf(factorNode, path+".factor", "%q is not a positive decimal or fraction such as 1/1073741824", factor)
			ok = false
		}
		s.FactorNum, s.FactorDen = num, den
	}
	if s.spec.flavor != noFlavor {
		s.FlavorAttribute = "flavor_name"
		if len(c.Flavors) == 0 {
			p.errf(n, path+".measure", "measure %s needs the flavors table", s.Measure)
			ok = false
		}
	}
	if v, has := f["flavor_attribute"]; has {
		if x, good := p.str(v, path+".flavor_attribute"); good {
			switch {
			case s.spec.flavor == noFlavor:
				p.errf(v, path+".flavor_attribute", "only measures vcpu_hours and memory_gb_hours read a flavor")
				ok = false
			case !attrRE.MatchString(x):
				p.errf(v, path+".flavor_attribute", "%q is not an attribute name", x)
				ok = false
			}
			s.FlavorAttribute = x
		} else {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return s
}

// parseFactor reads "d" or "d/d" with positive decimals d.
func parseFactor(s string) (num, den apd.Decimal, ok bool) {
	a, b, frac := strings.Cut(s, "/")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if !frac {
		b = "1"
	}
	if !decimalText.MatchString(a) || !decimalText.MatchString(b) {
		return num, den, false
	}
	if _, _, err := num.SetString(a); err != nil {
		return num, den, false
	}
	if _, _, err := den.SetString(b); err != nil {
		return num, den, false
	}
	return num, den, num.Sign() > 0 && den.Sign() > 0
}

func (p *parser) prices(n *yaml.Node, c *Config) {
	items, ok := p.sequence(n, "prices")
	if !ok {
		return
	}
	if len(items) == 0 {
		p.errf(n, "prices", "no price list is defined")
		return
	}
	known := map[string]bool{}
	for _, s := range c.Services {
		known[s.Name] = true
	}
	var prev *PriceList
	for i, item := range items {
		path := at("prices", i)
		f := p.fields(item, path, "from", "services")
		if f == nil {
			continue
		}
		pl := &PriceList{Rates: map[string][]*Mapping{}, line: item.Line}
		if v, has := f["from"]; has {
			if t, good := p.timestamp(v, path+".from"); good {
				pl.From = t
				if prev != nil && !t.After(prev.From) {
					p.errf(v, path+".from", "%s is not after the previous list's %s (line %d): lists go in time order",
						t.Format(time.RFC3339), prev.From.Format(time.RFC3339), prev.line)
				}
			}
		} else {
			p.errf(item, path+".from", "missing")
		}
		if prev != nil {
			for k, v := range prev.Rates {
				pl.Rates[k] = v
			}
		}
		if v, has := f["services"]; has {
			es, _ := p.entries(v, path+".services")
			for _, e := range es {
				spath := join(path+".services", e.key)
				if !known[e.key] && len(c.Services) > 0 {
					p.errf(e.kNode, spath, "no service %q is defined", e.key)
					continue
				}
				if rates := p.rates(e.value, spath, pl.From); rates != nil {
					pl.Rates[e.key] = rates
				}
			}
		} else {
			p.errf(item, path+".services", "missing")
		}
		if prev == nil {
			for _, s := range c.Services {
				if _, has := pl.Rates[s.Name]; !has {
					p.errf(item, path+".services", "the first price list must price every service; %q has no rates", s.Name)
				}
			}
		}
		c.PriceLists = append(c.PriceLists, pl)
		prev = pl
	}
}

func (p *parser) rates(n *yaml.Node, path string, from time.Time) []*Mapping {
	items, ok := p.sequence(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errf(n, path, "no rate is defined")
		return nil
	}
	var out []*Mapping
	catchAll := 0
	for i, item := range items {
		rpath := at(path, i)
		f := p.fields(item, rpath, "name", "match", "price", "tiers")
		if f == nil {
			continue
		}
		r := &Mapping{line: item.Line, from: from}
		if catchAll != 0 {
			p.errf(item, rpath, "unreachable: the rate at line %d matches every resource", catchAll)
		}
		if v, has := f["name"]; has {
			if s, good := p.str(v, rpath+".name"); good {
				if !nameRE.MatchString(s) {
					p.errf(v, rpath+".name", "%q is not a rate name (letters, digits, '.', '_', '-'; at most 64)", s)
				}
				r.Name = s
			}
		}
		if v, has := f["match"]; has {
			es, _ := p.entries(v, rpath+".match")
			for _, e := range es {
				mpath := join(rpath+".match", e.key)
				if !attrRE.MatchString(e.key) {
					p.errf(e.kNode, mpath, "%q is not an attribute name", e.key)
					continue
				}
				m := Match{Attr: e.key}
				if e.value.Kind == yaml.SequenceNode {
					vals, _ := p.sequence(e.value, mpath)
					if len(vals) == 0 {
						p.errf(e.value, mpath, "an empty list matches nothing")
					}
					for j, vn := range vals {
						if s, good := p.scalarText(vn, at(mpath, j)); good {
							m.Values = append(m.Values, s)
						}
					}
				} else if s, good := p.scalarText(e.value, mpath); good {
					m.Values = []string{s}
				}
				r.Match = append(r.Match, m)
			}
			sort.Slice(r.Match, func(a, b int) bool { return r.Match[a].Attr < r.Match[b].Attr })
		}
		if len(r.Match) == 0 {
			catchAll = item.Line
		}
		price, hasPrice := f["price"]
		tiers, hasTiers := f["tiers"]
		switch {
		case hasPrice && hasTiers:
			p.errf(item, rpath, "a rate has a price or tiers, not both")
		case hasPrice:
			if d, good := p.nonNegative(price, rpath+".price"); good {
				r.Price = &d
			}
		case hasTiers:
			r.Tiers = p.tiers(tiers, rpath+".tiers")
		default:
			p.errf(item, rpath, "a rate needs a price or tiers")
		}
		if r.Name == "" {
			r.Name = r.matchLabel()
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) tiers(n *yaml.Node, path string) []Tier {
	items, ok := p.sequence(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errf(n, path, "no tier is defined")
		return nil
	}
	var out []Tier
	var last *apd.Decimal
	for i, item := range items {
		tpath := at(path, i)
		f := p.fields(item, tpath, "upto", "price")
		if f == nil {
			continue
		}
		t := Tier{line: item.Line}
		if v, has := f["price"]; has {
			t.Price, _ = p.nonNegative(v, tpath+".price")
		} else {
			p.errf(item, tpath+".price", "missing")
		}
		v, has := f["upto"]
		switch {
		case has && i == len(items)-1:
			p.errf(v, tpath+".upto", "the last tier has no upper bound: it prices everything above the one before")
		case !has && i < len(items)-1:
			p.errf(item, tpath+".upto", "missing: only the last tier is unbounded")
		case has:
			if d, good := p.positive(v, tpath+".upto"); good {
				if last != nil && d.Cmp(last) <= 0 {
					p.errf(v, tpath+".upto", "%s is not above the previous tier's %s", v.Value, last.Text('f'))
				}
				t.UpTo = &d
				last = &d
			}
		}
		out = append(out, t)
	}
	return out
}

// matchLabel renders the rate's match as "attr=value,attr=value", or
// "default" for a rate that matches everything.
func (r *Mapping) matchLabel() string {
	if len(r.Match) == 0 {
		return "default"
	}
	var b strings.Builder
	for i, m := range r.Match {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.Attr)
		b.WriteByte('=')
		b.WriteString(strings.Join(m.Values, "|"))
	}
	return b.String()
}

// matches reports whether the rate applies to attributes attrs.
func (r *Mapping) matches(attrs map[string]any) bool {
	for _, m := range r.Match {
		v, ok := attrText(attrs[m.Attr])
		if !ok || !slices.Contains(m.Values, v) {
			return false
		}
	}
	return true
}

// attrText renders an attribute value as a rate compares it: strings as
// they are, numbers in their shortest form, booleans as true/false; null
// and absent render as "" and match only a null in the configuration.
func attrText(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	}
	return "", false
}

// priceListAt returns the index of the price list in effect at t (Unix
// ns), or -1 before the first.
func (c *Config) priceListAt(t int64) int {
	i := sort.Search(len(c.PriceLists), func(i int) bool { return c.PriceLists[i].From.UnixNano() > t })
	return i - 1
}

// Service returns the service called name, or nil.
func (c *Config) Service(name string) *Service {
	for _, s := range c.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}
