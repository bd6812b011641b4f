package billing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
)

const minimalConfig = `currency: EUR
services:
  - name: vm
    measure: instance_hours
prices:
  - from: 2024-01-01
    services:
      vm:
        - price: 0.01
`

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if c.Rounding.Mode != apd.RoundHalfEven || c.Rounding.Places != 2 || c.Rounding.QuantityPlaces != 6 {
		t.Errorf("rounding %+v", c.Rounding)
	}
	if s.ResourceType != "instance" || s.Unit != "Hours" || s.Category != "Compute" || s.Metric != "" {
		t.Errorf("service defaults %+v", s)
	}
	if c.Provider.Name != "vigil" || c.Provider.BillingAccountID != "vigil" {
		t.Errorf("provider %+v", c.Provider)
	}
	if !strings.HasPrefix(c.Hash, "sha256:") || len(c.Hash) != len("sha256:")+64 {
		t.Errorf("hash %q", c.Hash)
	}
	if len(c.PriceLists) != 1 || !c.PriceLists[0].From.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("price lists %+v", c.PriceLists)
	}
	if m := c.PriceLists[0].Rates["vm"][0]; m.Name != "default" || m.Price.Text('f') != "0.01" {
		t.Errorf("mapping %+v", m)
	}
}

func TestParseConfigTestdata(t *testing.T) {
	c := loadTestConfig(t, "rating.yaml")
	if len(c.Services) != 8 || len(c.PriceLists) != 2 {
		t.Fatalf("%d services, %d price lists", len(c.Services), len(c.PriceLists))
	}
	// The second list inherits the services it does not mention.
	a, b := c.PriceLists[0].Rates, c.PriceLists[1].Rates
	if a["compute.vcpu"][0] != b["compute.vcpu"][0] {
		t.Error("compute.vcpu is not inherited by the second list")
	}
	if a["compute.instance"][0] == b["compute.instance"][0] {
		t.Error("compute.instance is not replaced by the second list")
	}
	net := a["network.egress"][0]
	if len(net.Tiers) != 2 || net.Tiers[0].UpTo.Text('f') != "100" || net.Tiers[1].UpTo != nil {
		t.Errorf("tiers %+v", net.Tiers)
	}
	if f := c.Service("storage.image"); f.FactorDen.Text('f') != "1073741824" {
		t.Errorf("image factor %s/%s", f.FactorNum.Text('f'), f.FactorDen.Text('f'))
	}
}

// TestParseConfigErrors checks that each bad configuration is refused
// with an error naming the line (and the key path) of the problem.
func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"empty", ``, 1, "empty"},
		{"not yaml", "currency: [", 1, "cannot parse YAML"},
		{"not a mapping", "- a\n- b\n", 1, "expected a mapping"},
		{"no currency", strings.Replace(minimalConfig, "currency: EUR\n", "", 1), 1, "currency: missing"},
		{"bad currency", strings.Replace(minimalConfig, "EUR", "euro", 1), 1, "ISO 4217"},
		{"unknown key", minimalConfig + "colour: blue\n", 10, "colour: unknown key"},
		{"duplicate key", minimalConfig + "currency: USD\n", 10, "currency: duplicate key"},
		{"bad rounding mode", minimalConfig + "rounding: {mode: banker}\n", 10, "rounding.mode"},
		{"places out of range", minimalConfig + "rounding:\n  places: 40\n", 11, "rounding.places"},
		{"places not integer", minimalConfig + "rounding:\n  places: two\n", 11, "expected an integer"},
		{"unknown measure", strings.Replace(minimalConfig, "instance_hours", "instance_minutes", 1), 4, "unknown measure \"instance_minutes\""},
		{"no measure", strings.Replace(minimalConfig, "    measure: instance_hours\n", "", 1), 3, "services[0].measure: missing"},
		{"bad service name", strings.Replace(minimalConfig, "name: vm", "name: 'my vm'", 1), 3, "not a service name"},
		{"duplicate service", strings.Replace(minimalConfig, "prices:", "  - name: vm\n    measure: lifetime_hours\n    resource_type: volume\nprices:", 1), 5, "defined already at line 3"},
		{"gauge without metric", strings.Replace(minimalConfig, "measure: instance_hours", "measure: gauge_hours\n    resource_type: volume\n    unit: GB-Hours", 1), 3, "metric: missing"},
		{"generic resource type", strings.Replace(minimalConfig, "measure: instance_hours", "measure: instance_hours\n    resource_type: generic", 1), 5, "resource_type"},
		{"bad category", strings.Replace(minimalConfig, "measure: instance_hours", "measure: instance_hours\n    category: Servers", 1), 5, "FOCUS service category"},
		{"bad method", strings.Replace(minimalConfig, "measure: instance_hours", "measure: volume_gb_hours\n    method: rate:mean", 1), 5, "does not give a gauge's level"},
		{"method without metric", strings.Replace(minimalConfig, "measure: instance_hours", "measure: instance_hours\n    method: last", 1), 5, "only a service with a metric"},
		{"counter with count", strings.Replace(minimalConfig, "measure: instance_hours", "measure: network_gb\n    method: count", 1), 5, "cannot measure a counter"},
		{"bad granularity", strings.Replace(minimalConfig, "measure: instance_hours", "measure: volume_gb_hours\n    granularity: -5", 1), 5, "granularity"},
		{"carry forward on counter", strings.Replace(minimalConfig, "measure: instance_hours", "measure: network_gb\n    carry_forward: true", 1), 5, "only a gauge"},
		{"values without metric", strings.Replace(minimalConfig, "measure: instance_hours", "measure: instance_hours\n    values: [1]", 1), 5, "presence metric"},
		{"bad factor", strings.Replace(minimalConfig, "measure: instance_hours", "measure: network_gb\n    factor: 1/0", 1), 5, "factor"},
		{"vcpus without flavors", strings.Replace(minimalConfig, "instance_hours", "vcpu_hours", 1), 3, "flavors table"},
		{"flavor without ram", strings.Replace(minimalConfig, "services:", "flavors:\n  m1.small: {vcpus: 1}\nservices:", 1), 3, "ram_mb: missing"},
		{"flavor negative vcpus", strings.Replace(minimalConfig, "services:", "flavors:\n  m1.small: {vcpus: -1, ram_mb: 2}\nservices:", 1), 3, "greater than zero"},
		{"no services", "currency: EUR\nservices: []\nprices: []\n", 2, "no service"},
		{"no prices", strings.Split(minimalConfig, "prices:")[0], 1, "prices: missing"},
		{"price list without from", strings.Replace(minimalConfig, "  - from: 2024-01-01\n    services:", "  - services:", 1), 6, "from: missing"},
		{"bad from", strings.Replace(minimalConfig, "2024-01-01", "yesterday", 1), 6, "not a timestamp"},
		{"lists out of order", minimalConfig + "  - from: 2023-06-01\n    services: {}\n", 10, "lists go in time order"},
		{"unknown service priced", minimalConfig + "      db:\n        - price: 1\n", 10, "no service \"db\""},
		{"first list incomplete", strings.Replace(minimalConfig, "      vm:\n        - price: 0.01\n", "      {}\n", 1), 6, "must price every service"},
		{"negative price", strings.Replace(minimalConfig, "0.01", "-0.01", 1), 9, "negative"},
		{"price with exponent", strings.Replace(minimalConfig, "0.01", "1e-2", 1), 9, "not a decimal number"},
		{"price not a number", strings.Replace(minimalConfig, "0.01", "cheap", 1), 9, "not a decimal number"},
		{"price and tiers", strings.Replace(minimalConfig, "- price: 0.01", "- price: 0.01\n          tiers: [{price: 1}]", 1), 9, "not both"},
		{"no price", strings.Replace(minimalConfig, "- price: 0.01", "- name: x", 1), 9, "needs a price or tiers"},
		{"unreachable mapping", strings.Replace(minimalConfig, "- price: 0.01", "- price: 0.01\n        - match: {flavor_name: m1}\n          price: 2", 1), 10, "unreachable"},
		{"bad match attribute", strings.Replace(minimalConfig, "- price: 0.01", "- match: {'flavor name': x}\n          price: 2", 1), 9, "not an attribute name"},
		{"tier bounds not rising", strings.Replace(minimalConfig, "- price: 0.01", "- tiers:\n            - {upto: 10, price: 1}\n            - {upto: 5, price: 1}\n            - {price: 1}", 1), 11, "not above"},
		{"last tier bounded", strings.Replace(minimalConfig, "- price: 0.01", "- tiers:\n            - {upto: 10, price: 1}", 1), 10, "last tier has no upper bound"},
		{"middle tier unbounded", strings.Replace(minimalConfig, "- price: 0.01", "- tiers:\n            - {price: 1}\n            - {price: 2}", 1), 10, "only the last tier is unbounded"},
		{"tier finer than quantity", strings.Replace(minimalConfig, "- price: 0.01", "- tiers:\n            - {upto: 0.0000001, price: 1}\n            - {price: 2}", 1), 10, "more decimal places"},
		{"alias", "currency: &c EUR\nservices: *c\nprices: []\n", 2, "aliases are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(tc.want, "YAML") {
				return
			}
			var ce *ConfigError
			found := false
			for _, e := range flatten(err) {
				if errors.As(e, &ce) && strings.Contains(e.Error(), tc.want) {
					found = true
					if ce.Line != tc.line {
						t.Errorf("error %q names line %d, want %d", e, ce.Line, tc.line)
					}
				}
			}
			if !found {
				t.Errorf("error %q is not a ConfigError naming a line", err)
			}
		})
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestParseConfigReportsEveryError checks that one pass reports all the
// problems of a file, each with its own line.
func TestParseConfigReportsEveryError(t *testing.T) {
	bad := `currency: eur
services:
  - name: vm
    measure: nope
prices:
  - from: never
    services: {}
`
	_, err := ParseConfig([]byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	lines := map[int]bool{}
	for _, e := range flatten(err) {
		var ce *ConfigError
		if errors.As(e, &ce) {
			lines[ce.Line] = true
		}
	}
	for _, l := range []int{1, 4, 6} {
		if !lines[l] {
			t.Errorf("no error at line %d in %v", l, err)
		}
	}
}

func TestParseConfigTooLarge(t *testing.T) {
	if _, err := ParseConfig(make([]byte, MaxConfigSize+1)); err == nil {
		t.Fatal("accepted an oversized file")
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-01", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{"2024-03-01T12:30:00Z", time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC), true},
		{"2024-03-01T12:30:00+02:00", time.Date(2024, 3, 1, 10, 30, 0, 0, time.UTC), true},
		{"2024-03-01T12:30:00", time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC), true},
		{"2024-03-01T12:30", time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC), true},
		{"1969-12-31", time.Time{}, false},
		{"01/03/2024", time.Time{}, false},
		{"", time.Time{}, false},
		{"1709251200", time.Time{}, false},
	} {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
