package billing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
)

func mustConfig(t testing.TB, y string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return c
}

func rateMarch(t *testing.T, e *env, cfg *Config, project string) *Report {
	t.Helper()
	rep, err := Rate(context.Background(), e.src, cfg, Query{From: march, To: april, Project: project, Now: marchNow})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestProjectExport checks that an export of one project holds exactly
// that project's lines of the export of all, and that a project without
// resources, or a period without data, gives an empty export.
func TestProjectExport(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	all := rateMarch(t, e, cfg, "")
	for _, p := range []string{"p-alpha", "p-beta"} {
		rep := rateMarch(t, e, cfg, p)
		var wants []want
		for _, w := range marchWant {
			if w.project == p {
				wants = append(wants, w)
			}
		}
		checkWant(t, rep, wants)
		checkArithmetic(t, rep)
		n := 0
		for _, l := range all.Lines {
			if l.ProjectID == p {
				n++
			}
		}
		if n != len(rep.Lines) {
			t.Errorf("project %s: %d lines, the export of all has %d of it", p, len(rep.Lines), n)
		}
	}
	for _, tc := range []struct {
		name     string
		project  string
		from, to time.Time
	}{
		{"project without resources", "p-empty", march, april},
		{"period before the data", "", time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"period after the data", "p-beta", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"period in the future", "", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Rate(context.Background(), e.src, cfg, Query{From: tc.from, To: tc.to, Project: tc.project, Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Lines) != 0 || decText(&rep.Total) != "0.00" {
				t.Fatalf("%d lines, total %s; want none", len(rep.Lines), decText(&rep.Total))
			}
			for _, f := range []Format{FormatCSV, FormatJSON, FormatFOCUS} {
				var buf bytes.Buffer
				if err := rep.Write(&buf, f); err != nil {
					t.Fatal(err)
				}
				out := buf.String()
				switch f {
				case FormatJSON:
					if !strings.Contains(out, `"lines": []`) || !strings.Contains(out, `"total": "0.00"`) {
						t.Errorf("json: %s", out)
					}
				default:
					body := strings.Split(strings.TrimSpace(out), "\n")
					if !strings.HasPrefix(body[len(body)-1], "project_id,") && !strings.HasPrefix(body[len(body)-1], "AvailabilityZone,") {
						t.Errorf("%s: last line %q is not the header", f, body[len(body)-1])
					}
				}
			}
			s := rep.Summarize(tc.project)
			if tc.project != "" && (len(s.Projects) != 1 || s.Projects[0].Total != "0.00") {
				t.Errorf("summary %+v", s.Projects)
			}
		})
	}
}

// TestOpenPeriod rates the month before it ends: usage stops at the
// rating's now, never later.
func TestOpenPeriod(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	now := day(12, 0, 0)
	rep, err := Rate(context.Background(), e.src, cfg, Query{From: march, To: april, Project: "p-alpha", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Until.Equal(now) {
		t.Errorf("usage until %v, want %v", rep.Until, now)
	}
	for _, l := range rep.Lines {
		if l.End.After(now) {
			t.Errorf("line %s %s ends %v, after now", l.Service.Name, l.OriginalResourceID, l.End)
		}
	}
	checkWant(t, rep, []want{
		{"p-alpha", "compute.instance", "vm-resized", day(10, 6, 0), day(10, 15, 30), "9.5", "0.02", "0.19", 0},
		{"p-alpha", "compute.instance", "vm-resized", day(10, 15, 30), now, "32.5", "0.08", "2.60", 0},
		{"p-alpha", "compute.instance", "vm-steady", march, now, "264", "0.025", "6.60", 0},
		{"p-alpha", "compute.memory", "vm-resized", day(10, 6, 0), day(10, 15, 30), "19", "0.001", "0.02", 0},
		{"p-alpha", "compute.memory", "vm-resized", day(10, 15, 30), now, "260", "0.001", "0.26", 0},
		{"p-alpha", "compute.memory", "vm-steady", march, now, "528", "0.001", "0.53", 0},
		{"p-alpha", "compute.vcpu", "vm-resized", day(10, 6, 0), day(10, 15, 30), "9.5", "0.003", "0.03", 0},
		{"p-alpha", "compute.vcpu", "vm-resized", day(10, 15, 30), now, "130", "0.003", "0.39", 0},
		{"p-alpha", "compute.vcpu", "vm-steady", march, now, "264", "0.003", "0.79", 0},
		{"p-alpha", "network.egress", "tap-steady", march, now, "66", "0.05", "3.30", 1},
		{"p-alpha", "network.egress", "tap-resized", day(10, 6, 0), now, "21", "0.05", "1.05", 1},
		{"p-alpha", "storage.volume", "vol-data", day(5, 0, 0), now, "1680", "0.0002", "0.34", 0},
	})
	checkArithmetic(t, rep)
}

func TestRateErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	base := loadTestConfig(t, "rating.yaml")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  string
		q    Query
		want error
		msg  string
	}{
		{"unknown metric", `currency: EUR
services:
  - {name: vol, measure: volume_gb_hours, metric: volume.sise}
prices:
  - from: 2024-01-01
    services: {vol: [{price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, ErrUnknownMetric, "volume.sise"},
		{"unknown resource type", `currency: EUR
services:
  - {name: lb, measure: lifetime_hours, resource_type: loadbalancer_v3}
prices:
  - from: 2024-01-01
    services: {lb: [{price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, ErrUnknownResourceType, "loadbalancer_v3"},
		{"no mapping matches", `currency: EUR
services:
  - {name: vm, measure: instance_hours}
prices:
  - from: 2024-01-01
    services: {vm: [{match: {flavor_name: m1.small}, price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, ErrUnrated, `flavor_name="m1.large"`},
		{"before the first price list", `currency: EUR
services:
  - {name: vm, measure: instance_hours}
prices:
  - from: 2024-03-05
    services: {vm: [{price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, ErrUnrated, "before the first price list"},
		{"flavor not in the table", `currency: EUR
flavors: {m1.small: {vcpus: 1, ram_mb: 512}}
services:
  - {name: cpu, measure: vcpu_hours}
prices:
  - from: 2024-01-01
    services: {cpu: [{price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, ErrUnrated, `"m1.large"`},
		{"policy without the method", `currency: EUR
services:
  - {name: vol, measure: volume_gb_hours, method: median}
prices:
  - from: 2024-01-01
    services: {vol: [{price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, query.ErrNoAggregation, "median"},
		{"policy without the granularity", `currency: EUR
services:
  - {name: vol, measure: volume_gb_hours, granularity: 60}
prices:
  - from: 2024-01-01
    services: {vol: [{price: 1}]}
`, Query{From: march, To: april, Now: marchNow}, query.ErrNoAggregation, "granularity 1m0s"},
		{"reversed period", "", Query{From: april, To: march, Now: marchNow}, ErrInvalidPeriod, "not before"},
		{"empty period", "", Query{From: march, To: march, Now: marchNow}, ErrInvalidPeriod, "not before"},
		{"period too long", "", Query{From: march, To: march.AddDate(2, 0, 0), Now: marchNow}, ErrInvalidPeriod, "longer than"},
		{"period before 1970", "", Query{From: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), To: march, Now: marchNow}, ErrInvalidPeriod, "1970"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			if tc.cfg != "" {
				cfg = mustConfig(t, tc.cfg)
			}
			var buf bytes.Buffer
			rep, err := Rate(ctx, e.src, cfg, tc.q)
			if err == nil {
				_ = rep.Write(&buf, FormatCSV)
				t.Fatalf("no error; export:\n%s", buf.String())
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q, want %v saying %q", err, tc.want, tc.msg)
			}
		})
	}
	// Measures no bill can hold: an error, not a panic nor a wrong sum.
	for i, vals := range [][]float64{{1e300, 1}, {1e30}} {
		name := fmt.Sprintf("vol-huge-%d", i)
		m := e.create(res{typ: "volume", name: name, project: name, started: march, ended: day(2, 0, 0),
			attrs: map[string]any{"volume_type": "ssd"}, metrics: map[string]string{"volume.size": "bill-hourly"}})
		e.write(m["volume.size"], "bill-hourly", hourly(march, day(2, 0, 0), 0, func(h int) float64 { return vals[h%len(vals)] }))
		_, err := Rate(ctx, e.src, base, Query{From: march, To: april, Project: name, Now: marchNow})
		if err == nil || !strings.Contains(err.Error(), "out of") {
			t.Errorf("values %v: error %v, want one saying out of range", vals, err)
		}
	}
	// A policy the measure cannot read: count of a gauge.
	m := e.create(res{typ: "volume", name: "vol-counted", project: "p-gamma", started: march, ended: april,
		attrs: map[string]any{"volume_type": "ssd"}, metrics: map[string]string{"volume.size": "bill-count"}})
	e.write(m["volume.size"], "bill-count", hourly(march, april, 0, func(int) float64 { return 1 }))
	_, err := Rate(ctx, e.src, base, Query{From: march, To: april, Project: "p-gamma", Now: marchNow})
	if !errors.Is(err, query.ErrNoAggregation) || !strings.Contains(err.Error(), "bill-count") {
		t.Fatalf("error %v, want one naming policy bill-count", err)
	}
}

// TestPresence bills instance hours only where power.state says the
// instance ran.
func TestPresence(t *testing.T) {
	e := newEnv(t, "sqlite")
	m := e.create(res{typ: "instance", name: "vm-sleepy", project: "p", started: march, ended: day(3, 0, 0),
		attrs: instanceAttrs("sleepy", "m1.small", ""), metrics: map[string]string{"power.state": "bill-hourly"}})
	// Running (1) for 30 hours, shut off (4) for 10, then no data.
	e.write(m["power.state"], "bill-hourly", hourly(march, day(2, 16, 0), 30*time.Minute, func(h int) float64 {
		if h < 30 {
			return 1
		}
		return 4
	}))
	// An instance that never reported has no presence at all.
	e.create(res{typ: "instance", name: "vm-silent", project: "p", started: march, ended: day(3, 0, 0),
		attrs: instanceAttrs("silent", "m1.small", "")})
	for _, tc := range []struct {
		extra, want string
	}{
		{"", "40"},
		{"\n    values: [1]", "30"},
	} {
		cfg := mustConfig(t, `currency: EUR
services:
  - name: vm
    measure: instance_hours
    metric: power.state`+tc.extra+`
prices:
  - from: 2024-01-01
    services: {vm: [{price: 0.5}]}
`)
		rep := rateMarch(t, e, cfg, "")
		if len(rep.Lines) != 1 || rep.Lines[0].OriginalResourceID != "vm-sleepy" || rep.Lines[0].Quantity.Cmp(dec(t, tc.want)) != 0 {
			for _, l := range rep.Lines {
				t.Logf("%s %s", l.OriginalResourceID, decText(&l.Quantity))
			}
			t.Fatalf("values%s: want one line of %s hours for vm-sleepy", tc.extra, tc.want)
		}
		checkArithmetic(t, rep)
	}
}

// TestCarryForward measures a volume written on change only: its GB-hours
// equal those of the same volume sampled every hour.
func TestCarryForward(t *testing.T) {
	e := newEnv(t, "sqlite")
	m := e.create(res{typ: "volume", name: "vol-sparse", project: "p", started: day(5, 0, 0), ended: day(25, 0, 0),
		attrs: map[string]any{"volume_type": "ssd"}, metrics: map[string]string{"volume.size": "bill-hourly"}})
	e.write(m["volume.size"], "bill-hourly", []ingest.Point{{T: day(5, 0, 0).UnixNano(), V: 10}, {T: day(12, 8, 0).UnixNano(), V: 25}})
	cfg := mustConfig(t, `currency: EUR
services:
  - {name: vol, measure: volume_gb_hours, carry_forward: true}
prices:
  - from: 2024-01-01
    services: {vol: [{price: 0.0002}]}
`)
	rep := rateMarch(t, e, cfg, "")
	if len(rep.Lines) != 1 || rep.Lines[0].Quantity.Cmp(dec(t, "9360")) != 0 {
		t.Fatalf("lines %+v, want 9360 GB-hours", rep.Lines)
	}
	// Exported from the 15th on, the value of the 12th still holds.
	rep, err := Rate(context.Background(), e.src, cfg, Query{From: day(15, 0, 0), To: april, Now: marchNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lines) != 1 || rep.Lines[0].Quantity.Cmp(dec(t, "6000")) != 0 {
		t.Fatalf("lines %+v, want 6000 GB-hours", rep.Lines)
	}
}

// TestCounterRateSum measures traffic from a rate:sum aggregate at five
// minutes, split by the hourly export periods.
func TestCounterRateSum(t *testing.T) {
	e := newEnv(t, "sqlite")
	m := e.create(res{typ: "instance_network_interface", name: "tap-rate", project: "p", started: march,
		attrs: map[string]any{"name": "tap-rate", "instance_id": rid("vm").String()}, metrics: map[string]string{"network.outgoing.bytes": "bill-rate"}})
	var pts []ingest.Point
	for i := 0; i <= 12*6; i++ { // every five minutes for six hours, 1 MiB each time
		pts = append(pts, ingest.Point{T: march.Add(time.Duration(i) * 5 * time.Minute).Add(time.Minute).UnixNano(), V: float64(i) * (1 << 20)})
	}
	e.write(m["network.outgoing.bytes"], "bill-rate", pts)
	cfg := mustConfig(t, `currency: EUR
services:
  - {name: net, measure: network_gb, method: "rate:sum", factor: 1/1048576, unit: MiB}
prices:
  - from: 2024-01-01
    services: {net: [{price: 0.001}]}
`)
	total := new(apd.Decimal)
	for h := 0; h < 7; h++ {
		from := march.Add(time.Duration(h) * time.Hour)
		rep, err := Rate(context.Background(), e.src, cfg, Query{From: from, To: from.Add(time.Hour), Now: marchNow})
		if err != nil {
			t.Fatal(err)
		}
		want := "12"
		switch h {
		case 0:
			want = "11" // the first point has no difference
		case 6:
			want = "1" // the last point, at 06:01
		}
		if len(rep.Lines) != 1 || rep.Lines[0].Quantity.Cmp(dec(t, want)) != 0 {
			t.Fatalf("hour %d: lines %+v, want %s MiB", h, rep.Lines, want)
		}
		if _, err := exact.Add(total, total, &rep.Lines[0].Quantity); err != nil {
			t.Fatal(err)
		}
	}
	if total.Cmp(dec(t, "72")) != 0 {
		t.Errorf("%s MiB in all, want 72", decText(total))
	}
}

// TestMovedResource bills a resource that changes project mid-period to
// each project for its own hours.
func TestMovedResource(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.create(res{typ: "instance", name: "vm-moved", project: "p-old", started: march, ended: day(3, 0, 0),
		attrs: instanceAttrs("moved", "m1.small", "")})
	e.move("instance", "vm-moved", day(2, 0, 0), "p-new")
	cfg := mustConfig(t, minimalConfig)
	for _, tc := range []struct{ project, want string }{{"p-old", "24"}, {"p-new", "24"}, {"", "48"}} {
		rep := rateMarch(t, e, cfg, tc.project)
		var sum apd.Decimal
		for _, l := range rep.Lines {
			if tc.project != "" && l.ProjectID != tc.project {
				t.Errorf("export of %s has a line of %s", tc.project, l.ProjectID)
			}
			if _, err := exact.Add(&sum, &sum, &l.Quantity); err != nil {
				t.Fatal(err)
			}
		}
		if sum.Cmp(dec(t, tc.want)) != 0 {
			t.Errorf("project %q: %s hours, want %s", tc.project, decText(&sum), tc.want)
		}
	}
}

// TestDeterminism exports twice: the files differ only in the generation
// line.
func TestDeterminism(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	for _, f := range []string{"csv", "json", "focus"} {
		var a, b bytes.Buffer
		if err := Export(context.Background(), e.src, cfg, march, april, "", f, &a); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		if err := Export(context.Background(), e.src, cfg, march, april, "", f, &b); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%s: the generation times are equal; the test cannot tell", f)
		}
		la, lb := strings.Split(a.String(), "\n"), strings.Split(b.String(), "\n")
		if len(la) != len(lb) {
			t.Fatalf("%s: %d lines then %d", f, len(la), len(lb))
		}
		diff := 0
		for i := range la {
			if la[i] != lb[i] {
				diff++
				if !strings.HasPrefix(la[i], GeneratedPrefix) && !strings.HasPrefix(strings.TrimSpace(la[i]), `"generated": `) {
					t.Errorf("%s line %d differs: %q / %q", f, i+1, la[i], lb[i])
				}
			}
		}
		if diff != 1 {
			t.Errorf("%s: %d lines differ, want the generation line only", f, diff)
		}
	}
	if err := Export(context.Background(), e.src, cfg, march, april, "", "xml", &bytes.Buffer{}); err == nil {
		t.Error("format xml accepted")
	}
}

func TestRoundingModes(t *testing.T) {
	for _, tc := range []struct {
		mode            apd.Rounder
		places          int32
		q, price, wantC string
	}{
		{apd.RoundHalfEven, 2, "1", "0.125", "0.12"},
		{apd.RoundHalfUp, 2, "1", "0.125", "0.13"},
		{apd.RoundDown, 2, "1", "0.129", "0.12"},
		{apd.RoundHalfEven, 2, "1", "0.135", "0.14"},
		{apd.RoundHalfEven, 0, "2.5", "1", "2"},
		{apd.RoundHalfUp, 0, "2.5", "1", "3"},
		{apd.RoundHalfEven, 4, "3.333333", "0.03", "0.1000"},
	} {
		cfg := &Config{Rounding: Rounding{Mode: tc.mode, Places: tc.places, QuantityPlaces: 6}}
		l := Line{}
		l.Quantity.Set(dec(t, tc.q))
		l.UnitPrice.Set(dec(t, tc.price))
		if err := cost(cfg, &l); err != nil {
			t.Fatal(err)
		}
		if decText(&l.Cost) != tc.wantC {
			t.Errorf("%s × %s at %d places %s = %s, want %s", tc.q, tc.price, tc.places, tc.mode, decText(&l.Cost), tc.wantC)
		}
	}
}

// TestInstanceHoursProperty rates random instances with random resizes
// and price lists and compares every cost with a naive reference that
// walks each minute of the month.
func TestInstanceHoursProperty(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			e := newEnv(t, "sqlite")
			flavors := []string{"a", "b", "c"}
			minute := func(lo, hi time.Time) time.Time {
				n := int(hi.Sub(lo) / time.Minute)
				return lo.Add(time.Duration(rng.IntN(n+1)) * time.Minute)
			}
			// Price lists from random minutes, each pricing the flavors.
			var lists []time.Time
			yaml := "currency: EUR\nrounding: {places: 12}\nservices:\n  - {name: vm, measure: instance_hours}\nprices:\n"
			prices := map[int]map[string]string{}
			t0 := march.Add(-24 * time.Hour)
			for i := 0; i < 1+rng.IntN(4); i++ {
				lists = append(lists, t0)
				prices[i] = map[string]string{}
				yaml += fmt.Sprintf("  - from: %s\n    services:\n      vm:\n", t0.Format(time.RFC3339))
				for _, f := range flavors {
					p := fmt.Sprintf("0.%03d", 1+rng.IntN(999))
					prices[i][f] = p
					yaml += fmt.Sprintf("        - {match: {flavor_name: %s}, price: %s}\n", f, p)
				}
				t0 = minute(t0.Add(time.Minute), t0.Add(12*24*time.Hour))
			}
			cfg := mustConfig(t, yaml)
			type rev struct {
				from   time.Time
				flavor string
			}
			type inst struct {
				start, end time.Time
				revs       []rev
			}
			var insts []inst
			for i := 0; i < 8; i++ {
				in := inst{start: minute(march.Add(-48*time.Hour), april)}
				in.end = minute(in.start, april.Add(48*time.Hour))
				if in.end.Equal(in.start) {
					in.end = in.start.Add(time.Minute)
				}
				name := fmt.Sprintf("vm-%d", i)
				in.revs = []rev{{in.start, flavors[rng.IntN(3)]}}
				e.create(res{typ: "instance", name: name, project: "p", started: in.start, ended: in.end,
					attrs: instanceAttrs(name, in.revs[0].flavor, "")})
				at := in.start
				for k := 0; k < rng.IntN(4); k++ {
					at = minute(at.Add(time.Minute), in.end)
					if !at.Before(in.end) {
						break
					}
					f := flavors[rng.IntN(3)]
					e.change("instance", name, at, map[string]any{"flavor_name": f})
					in.revs = append(in.revs, rev{at, f})
				}
				insts = append(insts, in)
			}
			rep := rateMarch(t, e, cfg, "")
			checkArithmetic(t, rep)
			// The reference: minute by minute, the minutes of each
			// instance, price list and flavor.
			minutes := map[[2]int]map[string]int64{}
			for ii, in := range insts {
				for m := march; m.Before(april); m = m.Add(time.Minute) {
					if m.Before(in.start) || !m.Before(in.end) {
						continue
					}
					f := in.revs[0].flavor
					for _, r := range in.revs {
						if !m.Before(r.from) {
							f = r.flavor
						}
					}
					li := 0
					for i, l := range lists {
						if !m.Before(l) {
							li = i
						}
					}
					k := [2]int{ii, li}
					if minutes[k] == nil {
						minutes[k] = map[string]int64{}
					}
					minutes[k][f]++
				}
			}
			var got apd.Decimal
			for _, l := range rep.Lines {
				if _, err := exact.Add(&got, &got, &l.Quantity); err != nil {
					t.Fatal(err)
				}
			}
			var wantMinutes int64
			for _, fm := range minutes {
				for _, n := range fm {
					wantMinutes += n
				}
			}
			var wantHours apd.Decimal
			if _, err := divide.Quo(&wantHours, apd.New(wantMinutes, 0), apd.New(60, 0)); err != nil {
				t.Fatal(err)
			}
			var diff apd.Decimal
			if _, err := exact.Sub(&diff, &got, &wantHours); err != nil {
				t.Fatal(err)
			}
			// Each line rounds its hours to 6 places: at most half a
			// millionth each.
			limit := apd.New(int64(len(rep.Lines))*5, -7)
			if diff.Abs(&diff).Cmp(limit) > 0 {
				t.Fatalf("%s hours billed, the reference has %s", decText(&got), decText(&wantHours))
			}
			// Per (instance, list, flavor): the line quantities, summed,
			// give the reference's minutes.
			lineMinutes := map[string]*apd.Decimal{}
			for _, l := range rep.Lines {
				k := fmt.Sprintf("%s/%s/%s", l.OriginalResourceID, ts(l.PriceList), l.Rate)
				if lineMinutes[k] == nil {
					lineMinutes[k] = new(apd.Decimal)
				}
				var mins apd.Decimal
				if _, err := exact.Mul(&mins, &l.Quantity, apd.New(60, 0)); err != nil {
					t.Fatal(err)
				}
				if _, err := exact.Add(lineMinutes[k], lineMinutes[k], &mins); err != nil {
					t.Fatal(err)
				}
			}
			for k, fm := range minutes {
				for f, n := range fm {
					key := fmt.Sprintf("vm-%d/%s/flavor_name=%s", k[0], ts(lists[k[1]]), f)
					got := lineMinutes[key]
					if got == nil {
						t.Errorf("%s: no line, want %d minutes", key, n)
						continue
					}
					var r apd.Decimal
					c := divide
					if _, err := c.Quantize(&r, got, 0); err != nil {
						t.Fatal(err)
					}
					if i, _ := r.Int64(); i != n {
						t.Errorf("%s: %s minutes, want %d", key, decText(got), n)
					}
					delete(lineMinutes, key)
				}
			}
			for k, v := range lineMinutes {
				t.Errorf("line %s of %s minutes has no reference", k, decText(v))
			}
		})
	}
}
