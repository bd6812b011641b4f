package billing

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig feeds arbitrary bytes to the configuration parser: it
// must return a configuration or an error, never panic, and a
// configuration it accepts must be complete (every service priced by
// every list, prices in time order).
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(minimalConfig))
	if b, err := os.ReadFile(filepath.Join("testdata", "rating.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("currency: EUR\nservices: [{name: a, measure: counter, resource_type: x, metric: m, unit: u, factor: 1/3}]\nprices: [{from: 2024-01-01, services: {a: [{tiers: [{upto: 1, price: 1}, {price: 0}]}]}}]\n"))
	f.Add([]byte("currency: &a EUR\nservices: *a\n"))
	f.Add([]byte("{currency: EUR, services: [], prices: []}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if c != nil {
				t.Fatal("a configuration and an error")
			}
			return
		}
		for i, pl := range c.PriceLists {
			if i > 0 && !pl.From.After(c.PriceLists[i-1].From) {
				t.Fatalf("price lists out of order: %v then %v", c.PriceLists[i-1].From, pl.From)
			}
			for _, s := range c.Services {
				ms := pl.Rates[s.Name]
				if len(ms) == 0 {
					t.Fatalf("service %s has no rates from %v", s.Name, pl.From)
				}
				for _, m := range ms {
					if (m.Price == nil) == (len(m.Tiers) == 0) {
						t.Fatalf("mapping %s has both or neither of price and tiers", m.Name)
					}
					if len(m.Tiers) > 0 && m.Tiers[len(m.Tiers)-1].UpTo != nil {
						t.Fatalf("mapping %s: the last tier is bounded", m.Name)
					}
				}
			}
		}
		if c2, err := ParseConfig(data); err != nil || c2.Hash != c.Hash {
			t.Fatalf("parsing twice differs: %v", err)
		}
	})
}
