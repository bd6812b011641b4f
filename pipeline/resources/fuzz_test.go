package resources

import (
	"testing"
)

// FuzzParse feeds arbitrary files to the loader: it must return a
// definition set or an error, never panic, and what it accepts must be
// usable.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML)
	f.Add([]byte("resources:\n  - resource_type: t\n    metrics: {a: {archive_policy_name: p}}\n    attributes: {x: 'resource_metadata.(a|(b.c))'}\n"))
	f.Add([]byte("resources:\n  - &r {resource_type: t, metrics: [a]}\n  - {<<: *r, resource_type: u, metrics: [b]}\n"))
	f.Add([]byte("archive_policies:\n  - {name: p, definition: [{granularity: 1 minute, timespan: 1 day}]}\nresources: []\n"))
	f.Add([]byte("resources:\n  - resource_type: t\n    metrics: [a]\n    event_delete: t.*\n    event_attributes: {id: i}\n    event_associated_resources: {u: '{\"=\": {\"i\": \"%s\"}}'}\n"))
	sample := map[string]any{"name": "a", "resource_id": "r", "resource_metadata": map[string]any{"a": "1", "b": map[string]any{"c": []any{"x"}}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		for _, r := range d.Resources {
			if d.ForType(r.Type) != r {
				t.Fatalf("ForType(%q) is not its definition", r.Type)
			}
			for m := range r.Metrics {
				if d.ForMeter(m) != r {
					t.Fatalf("ForMeter(%q) is not the definition listing it", m)
				}
			}
			r.Extract(sample, nil)
			for _, a := range r.Associated {
				a.Filter(`x"\`)
			}
			for _, pats := range [][]string{r.EventCreate, r.EventDelete, r.EventUpdate} {
				for _, p := range pats {
					d.ForEvent(p)
				}
			}
		}
	})
}

// FuzzPath parses arbitrary paths and walks the accepted ones over a
// sample.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"resource_metadata.(instance_type|(flavor.name)|flavor_name)", "$.resource_id",
		"a.'b.c'[0]|d", "((a))", "a[-1].b", "a|b.c|d", `"x"`, "a.(b|c)[2]"} {
		f.Add(s)
	}
	sample := map[string]any{"a": map[string]any{"b": []any{1.0, "x", map[string]any{"c": nil}}, "c": "c"},
		"d": []any{map[string]any{"b": "db"}}, "resource_id": "r"}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParsePath(src)
		if err != nil {
			return
		}
		if p.String() != src {
			t.Fatalf("String() = %q, want %q", p.String(), src)
		}
		v, ok := p.First(sample)
		if ok && v == nil {
			t.Fatalf("%q found a null", src)
		}
	})
}
