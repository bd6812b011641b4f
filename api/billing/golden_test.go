package billing

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// want is a line of the March data set as worked out by hand.
type want struct {
	project, service, resource string
	start, end                 time.Time
	quantity, price, cost      string
	tier                       int
}

var marchWant = []want{
	// A resize mid-day bills each flavor for its own hours; the price
	// change on the 15th splits the lines whose prices it changes.
	{"p-alpha", "compute.instance", "vm-resized", day(10, 6, 0), day(10, 15, 30), "9.5", "0.02", "0.19", 0},
	{"p-alpha", "compute.instance", "vm-resized", day(10, 15, 30), priceDate, "104.5", "0.08", "8.36", 0},
	{"p-alpha", "compute.instance", "vm-resized", priceDate, day(20, 0, 0), "120", "0.09", "10.80", 0},
	{"p-alpha", "compute.instance", "vm-steady", march, priceDate, "336", "0.025", "8.40", 0},
	{"p-alpha", "compute.instance", "vm-steady", priceDate, april, "408", "0.03", "12.24", 0},
	// Memory and vCPUs keep their price across the 15th: one line each.
	{"p-alpha", "compute.memory", "vm-resized", day(10, 6, 0), day(10, 15, 30), "19", "0.001", "0.02", 0},
	{"p-alpha", "compute.memory", "vm-resized", day(10, 15, 30), day(20, 0, 0), "1796", "0.001", "1.80", 0},
	{"p-alpha", "compute.memory", "vm-steady", march, april, "1488", "0.001", "1.49", 0},
	{"p-alpha", "compute.vcpu", "vm-resized", day(10, 6, 0), day(10, 15, 30), "9.5", "0.003", "0.03", 0},
	{"p-alpha", "compute.vcpu", "vm-resized", day(10, 15, 30), day(20, 0, 0), "898", "0.003", "2.69", 0},
	{"p-alpha", "compute.vcpu", "vm-steady", march, april, "744", "0.003", "2.23", 0},
	// 186 GiB from vm-steady cross the 100 GiB tier; vm-resized's 117
	// come later in the month, all in the second tier.
	{"p-alpha", "network.egress", "tap-steady", march, april, "100", "0.05", "5.00", 1},
	{"p-alpha", "network.egress", "tap-steady", march, april, "86", "0.02", "1.72", 2},
	{"p-alpha", "network.egress", "tap-resized", day(10, 6, 0), day(20, 0, 0), "117", "0.02", "2.34", 2},
	// 10 GB for 176 h, then 25 GB: 1760 + 25×64 before the 15th.
	{"p-alpha", "storage.volume", "vol-data", day(5, 0, 0), priceDate, "3360", "0.0002", "0.67", 0},
	{"p-alpha", "storage.volume", "vol-data", priceDate, day(25, 0, 0), "6000", "0.00025", "1.50", 0},
	{"p-beta", "container.cpu", "web-0", day(1, 0, 0), day(2, 0, 0), "24", "0.01", "0.24", 0},
	{"p-beta", "container.cpu", "web-1", day(1, 6, 0), day(1, 18, 0), "24", "0.01", "0.24", 0},
	{"p-beta", "container.cpu", "web-2", day(1, 0, 0), day(2, 0, 0), "24", "0.01", "0.24", 0},
	{"p-beta", "container.cpu", "web-3", day(14, 20, 0), day(15, 4, 0), "32", "0.01", "0.32", 0},
	{"p-beta", "container.cpu", "web-4", day(31, 20, 0), april, "4", "0.01", "0.04", 0},
	{"p-beta", "container.memory", "web-0", day(1, 0, 0), day(2, 0, 0), "12", "0.002", "0.02", 0},
	{"p-beta", "container.memory", "web-1", day(1, 6, 0), day(1, 18, 0), "12", "0.002", "0.02", 0},
	{"p-beta", "container.memory", "web-2", day(1, 0, 0), day(2, 0, 0), "12", "0.002", "0.02", 0},
	{"p-beta", "container.memory", "web-3", day(14, 20, 0), day(15, 4, 0), "16", "0.002", "0.03", 0},
	{"p-beta", "container.memory", "web-4", day(31, 20, 0), april, "2", "0.002", "0.00", 0},
	{"p-beta", "storage.image", "img-base", march, april, "1488", "0.00005", "0.07", 0},
	{"p-beta", "storage.volume", "vol-archive", march, priceDate, "33600", "0.0001", "3.36", 0},
	{"p-beta", "storage.volume", "vol-archive", priceDate, april, "40800", "0.0001", "4.08", 0},
}

func dec(t testing.TB, s string) *apd.Decimal {
	t.Helper()
	d, _, err := apd.NewFromString(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

// checkWant compares the report's lines with the hand-worked ones.
func checkWant(t *testing.T, rep *Report, wants []want) {
	t.Helper()
	if len(rep.Lines) != len(wants) {
		for _, l := range rep.Lines {
			t.Logf("line %s %s %s %s–%s %s × %s = %s tier %d", l.ProjectID, l.Service.Name, l.OriginalResourceID,
				ts(l.Start), ts(l.End), decText(&l.Quantity), decText(&l.UnitPrice), decText(&l.Cost), l.Tier)
		}
		t.Fatalf("%d lines, want %d", len(rep.Lines), len(wants))
	}
	for _, w := range wants {
		found := false
		for i := range rep.Lines {
			l := &rep.Lines[i]
			if l.ProjectID != w.project || l.Service.Name != w.service || l.OriginalResourceID != w.resource ||
				!l.Start.Equal(w.start) || l.Tier != w.tier {
				continue
			}
			found = true
			if !l.End.Equal(w.end) {
				t.Errorf("%+v: ends %s", w, ts(l.End))
			}
			if l.Quantity.Cmp(dec(t, w.quantity)) != 0 || l.UnitPrice.Cmp(dec(t, w.price)) != 0 || decText(&l.Cost) != w.cost {
				t.Errorf("%s %s from %s tier %d: %s × %s = %s, want %s × %s = %s", w.service, w.resource, ts(w.start), w.tier,
					decText(&l.Quantity), decText(&l.UnitPrice), decText(&l.Cost), w.quantity, w.price, w.cost)
			}
		}
		if !found {
			t.Errorf("no line %s %s from %s tier %d", w.service, w.resource, ts(w.start), w.tier)
		}
	}
}

// checkArithmetic cross-checks every line's cost as its quantity times
// its unit price rounded once, and the total as the sum of the costs.
func checkArithmetic(t *testing.T, rep *Report) {
	t.Helper()
	var sum apd.Decimal
	for i := range rep.Lines {
		l := &rep.Lines[i]
		var p, r apd.Decimal
		if _, err := apd.BaseContext.WithPrecision(200).Mul(&p, &l.Quantity, &l.UnitPrice); err != nil {
			t.Fatal(err)
		}
		c := apd.BaseContext.WithPrecision(200)
		c.Rounding = rep.cfg.Rounding.Mode
		if _, err := c.Quantize(&r, &p, -rep.cfg.Rounding.Places); err != nil {
			t.Fatal(err)
		}
		if r.Cmp(&l.Cost) != 0 {
			t.Errorf("line %d: %s × %s rounds to %s, cost says %s", i, decText(&l.Quantity), decText(&l.UnitPrice), decText(&r), decText(&l.Cost))
		}
		if _, err := apd.BaseContext.WithPrecision(200).Add(&sum, &sum, &l.Cost); err != nil {
			t.Fatal(err)
		}
	}
	if sum.Cmp(&rep.Total) != 0 {
		t.Errorf("total %s, the lines sum to %s", decText(&rep.Total), decText(&sum))
	}
}

func TestGoldenMarch(t *testing.T) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			marchData(e)
			cfg := loadTestConfig(t, "rating.yaml")
			rep, err := Rate(context.Background(), e.src, cfg, Query{From: march, To: april, Now: marchNow})
			if err != nil {
				t.Fatal(err)
			}
			checkWant(t, rep, marchWant)
			checkArithmetic(t, rep)
			var total apd.Decimal
			for _, w := range marchWant {
				if _, err := exact.Add(&total, &total, dec(t, w.cost)); err != nil {
					t.Fatal(err)
				}
			}
			if total.Cmp(&rep.Total) != 0 {
				t.Errorf("total %s, want %s", decText(&rep.Total), decText(&total))
			}
			for _, f := range []Format{FormatCSV, FormatJSON, FormatFOCUS} {
				var buf bytes.Buffer
				if err := rep.Write(&buf, f); err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", "march"+f.Extension()), buf.Bytes(), d == "sqlite")
			}
		})
	}
}

// TestExactTotals rates the data set with more cost places than any
// product needs: no line is rounded, so the total is Σ quantity × unit
// price exactly.
func TestExactTotals(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := *loadTestConfig(t, "rating.yaml")
	cfg.Rounding.Places = 12
	rep, err := Rate(context.Background(), e.src, &cfg, Query{From: march, To: april, Now: marchNow})
	if err != nil {
		t.Fatal(err)
	}
	var sum apd.Decimal
	for i := range rep.Lines {
		l := &rep.Lines[i]
		var p apd.Decimal
		if _, err := exact.Mul(&p, &l.Quantity, &l.UnitPrice); err != nil {
			t.Fatal(err)
		}
		if p.Cmp(&l.Cost) != 0 {
			t.Errorf("line %d: cost %s, want %s exactly", i, decText(&l.Cost), decText(&p))
		}
		if _, err := exact.Add(&sum, &sum, &p); err != nil {
			t.Fatal(err)
		}
	}
	// By hand: 9.5×0.02 + 104.5×0.08 + … over every line of marchWant.
	var want apd.Decimal
	for _, w := range marchWant {
		var p apd.Decimal
		if _, err := exact.Mul(&p, dec(t, w.quantity), dec(t, w.price)); err != nil {
			t.Fatal(err)
		}
		if _, err := exact.Add(&want, &want, &p); err != nil {
			t.Fatal(err)
		}
	}
	if sum.Cmp(&rep.Total) != 0 || want.Cmp(&rep.Total) != 0 {
		t.Errorf("total %s, Σ lines %s, Σ by hand %s", decText(&rep.Total), decText(&sum), decText(&want))
	}
}

// golden compares got with the file at path, or rewrites it with -update
// (from the run that owns the file).
func golden(t *testing.T, path string, got []byte, owner bool) {
	t.Helper()
	if *update && owner {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got %s\nwant %s", path, i+1, g, w)
			}
		}
		t.Fatalf("%s differs", path)
	}
}
