package index

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

func testPolicy(name string) archive.Policy {
	return archive.Policy{
		Name:        name,
		BackWindow:  2,
		Methods:     []archive.Method{{Kind: archive.Mean}, {Kind: archive.Percentile, Percentile: 99.9}, {Kind: archive.Max, Rate: true}},
		Definitions: []archive.Definition{{Granularity: 500 * time.Millisecond, Points: 120}, {Granularity: time.Minute, Timespan: 24 * time.Hour}},
	}
}

func TestArchivePolicies(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		p := testPolicy("custom")
		must(t, ix.CreateArchivePolicy(ctx, p))
		if p.Definitions[1].Points != 0 {
			t.Error("CreateArchivePolicy changed the caller's definitions")
		}
		got, err := ix.ArchivePolicy(ctx, "custom")
		must(t, err)
		if got.BackWindow != 2 || len(got.Methods) != 3 || got.Methods[1].Percentile != 99.9 || !got.Methods[2].Rate {
			t.Errorf("read back %+v", got)
		}
		if d := got.Definitions; len(d) != 2 || d[0].Timespan != time.Minute || d[1].Points != 1440 || d[0].Granularity != 500*time.Millisecond {
			t.Errorf("definitions read back %+v, want points and timespan derived", d)
		}
		wantErr(t, "duplicate", ix.CreateArchivePolicy(ctx, p), ErrExists)
		wantErr(t, "missing", func() error { _, err := ix.ArchivePolicy(ctx, "nope"); return err }(), ErrNotFound)

		bad := testPolicy("bad")
		bad.Definitions = append(bad.Definitions, archive.Definition{Granularity: time.Minute, Points: 3})
		err = ix.CreateArchivePolicy(ctx, bad)
		wantErr(t, "duplicate granularity", err, ErrInvalid)
		wantErr(t, "duplicate granularity", err, archive.ErrInvalid)
		wantErr(t, "empty name", ix.CreateArchivePolicy(ctx, testPolicy("")), ErrInvalid)

		// Only the retention may change.
		up, err := ix.UpdateArchivePolicy(ctx, "custom", []archive.Definition{
			{Granularity: time.Minute, Points: 10}, {Granularity: 500 * time.Millisecond, Timespan: time.Hour}})
		must(t, err)
		if up.Definitions[1].Points != 7200 || up.Methods[0].Kind != archive.Mean {
			t.Errorf("updated policy %+v", up)
		}
		got, _ = ix.ArchivePolicy(ctx, "custom")
		if got.Definitions[0].Points != 10 {
			t.Errorf("update not stored: %+v", got.Definitions)
		}
		_, err = ix.UpdateArchivePolicy(ctx, "custom", []archive.Definition{{Granularity: time.Minute, Points: 10}})
		wantErr(t, "dropping a granularity", err, ErrInvalid)
		_, err = ix.UpdateArchivePolicy(ctx, "custom", []archive.Definition{{Granularity: time.Minute, Points: 10}, {Granularity: time.Second, Points: 10}})
		wantErr(t, "changing a granularity", err, ErrInvalid)
		_, err = ix.UpdateArchivePolicy(ctx, "nope", []archive.Definition{{Granularity: time.Minute, Points: 10}})
		wantErr(t, "updating a missing policy", err, ErrNotFound)

		// A policy in use by a rule or a metric stays.
		must(t, ix.CreateArchivePolicyRule(ctx, archive.Rule{Name: "r", MetricPattern: "x.*", PolicyName: "custom"}))
		wantErr(t, "policy used by a rule", ix.DeleteArchivePolicy(ctx, "custom"), ErrInUse)
		must(t, ix.DeleteArchivePolicyRule(ctx, "r"))
		m, err := ix.CreateMetric(ctx, Metric{Name: "standalone", ArchivePolicyName: "custom", Creator: "u:p"})
		must(t, err)
		wantErr(t, "policy used by a metric", ix.DeleteArchivePolicy(ctx, "custom"), ErrInUse)
		must(t, ix.DeleteMetric(ctx, m.ID))
		wantErr(t, "policy used by a deleted metric not expunged", ix.DeleteArchivePolicy(ctx, "custom"), ErrInUse)
		must(t, ix.ExpungeMetrics(ctx, []uuid.UUID{m.ID}))
		must(t, ix.DeleteArchivePolicy(ctx, "custom"))
		wantErr(t, "deleted policy", ix.DeleteArchivePolicy(ctx, "custom"), ErrNotFound)
		wantErr(t, "built-in policy used by the default rule", ix.DeleteArchivePolicy(ctx, "low"), ErrInUse)
		must(t, ix.DeleteArchivePolicy(ctx, "bool"))
	})
}

func TestArchivePolicyRules(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		r := archive.Rule{Name: "disk", MetricPattern: "disk.*", PolicyName: "medium"}
		must(t, ix.CreateArchivePolicyRule(ctx, r))
		wantErr(t, "duplicate", ix.CreateArchivePolicyRule(ctx, r), ErrExists)
		wantErr(t, "unknown policy", ix.CreateArchivePolicyRule(ctx, archive.Rule{Name: "x", MetricPattern: "x", PolicyName: "nope"}), ErrInvalid)
		wantErr(t, "empty pattern", ix.CreateArchivePolicyRule(ctx, archive.Rule{Name: "x", PolicyName: "low"}), ErrInvalid)
		wantErr(t, "empty name", ix.CreateArchivePolicyRule(ctx, archive.Rule{MetricPattern: "x", PolicyName: "low"}), ErrInvalid)
		must(t, ix.CreateArchivePolicyRule(ctx, archive.Rule{Name: "a", MetricPattern: "a*", PolicyName: "high"}))
		got, err := ix.ArchivePolicyRule(ctx, "disk")
		must(t, err)
		if got != r {
			t.Errorf("read back %+v, want %+v", got, r)
		}
		rules, err := ix.ArchivePolicyRules(ctx)
		must(t, err)
		var order []string
		for _, x := range rules {
			order = append(order, x.MetricPattern)
		}
		if len(order) != 3 || order[0] != "disk.*" || order[1] != "a*" || order[2] != "*" {
			t.Errorf("rules in order %v, want by pattern descending", order)
		}
		renamed, err := ix.RenameArchivePolicyRule(ctx, "disk", "disks")
		must(t, err)
		if renamed.Name != "disks" || renamed.MetricPattern != "disk.*" {
			t.Errorf("renamed %+v", renamed)
		}
		_, err = ix.RenameArchivePolicyRule(ctx, "disk", "x")
		wantErr(t, "renaming a missing rule", err, ErrNotFound)
		_, err = ix.RenameArchivePolicyRule(ctx, "disks", "a")
		wantErr(t, "renaming onto a rule", err, ErrExists)
		_, err = ix.ArchivePolicyRule(ctx, "disk")
		wantErr(t, "old name", err, ErrNotFound)
		must(t, ix.DeleteArchivePolicyRule(ctx, "disks"))
		wantErr(t, "deleting twice", ix.DeleteArchivePolicyRule(ctx, "disks"), ErrNotFound)
	})
}

func TestPolicyForMetricName(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		for _, r := range []archive.Rule{
			{Name: "disk", MetricPattern: "disk.*", PolicyName: "medium"},
			{Name: "disk-io", MetricPattern: "disk.io.*", PolicyName: "high"},
			{Name: "cpu-exact", MetricPattern: "cpu.util", PolicyName: "bool"},
			{Name: "cpu-any", MetricPattern: "cpu*", PolicyName: "ceilometer-low"},
			{Name: "q", MetricPattern: "net.?x", PolicyName: "ceilometer-high"},
			{Name: "b-tie", MetricPattern: "net.*x", PolicyName: "ceilometer-low-rate"},
			{Name: "class", MetricPattern: "mem[!.]*", PolicyName: "ceilometer-high-rate"},
		} {
			must(t, ix.CreateArchivePolicyRule(ctx, r))
		}
		for _, c := range []struct{ name, want string }{
			{"disk.read", "medium"},
			{"disk.io.read", "high"},
			{"disk", "low"},
			{"cpu.util", "bool"},
			{"cpu", "ceilometer-low"},
			{"cpu.utilx", "ceilometer-low"},
			// "net.?x" and "net.*x" are as long; Gnocchi walks patterns
			// descending and '?' sorts after '*'.
			{"net.rx", "ceilometer-high"},
			{"net.rrx", "ceilometer-low-rate"},
			{"memory", "ceilometer-high-rate"},
			{"mem.x", "low"},
			{"a/b/c", "low"},
			{"", "low"},
		} {
			got, err := ix.PolicyForMetricName(ctx, c.name)
			if err != nil || got != c.want {
				t.Errorf("PolicyForMetricName(%q) = %q, %v; want %q", c.name, got, err, c.want)
			}
		}
		must(t, ix.DeleteArchivePolicyRule(ctx, "default"))
		_, err := ix.PolicyForMetricName(ctx, "other")
		wantErr(t, "no matching rule", err, ErrNotFound)
		if errors.Is(err, ErrInvalid) {
			t.Error("no matching rule is not invalid input")
		}
	})
}
