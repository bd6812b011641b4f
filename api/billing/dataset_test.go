package billing

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const (
	gibBytes = 1 << 30
	coreNS   = 3600e9 // one core for one hour, in CPU nanoseconds
)

var (
	march     = day(1, 0, 0)
	april     = time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	priceDate = day(15, 0, 0)
	// marchNow is when the March export runs: after the month.
	marchNow = time.Date(2024, 4, 2, 3, 4, 5, 0, time.UTC)
)

func instanceAttrs(display, flavor, zone string) map[string]any {
	a := map[string]any{"flavor_id": flavor + "-id", "flavor_name": flavor, "host": "compute-1", "display_name": display}
	if zone != "" {
		a["availability_zone"] = zone
	}
	return a
}

// marchData writes the fixed data set of March 2024:
//
//   - vm-resized (p-alpha): m1.small from the 10th 06:00, resized to
//     m1.large at 15:30 the same day, deleted the 20th; its interface
//     sends 0.5 GiB an hour.
//   - vm-steady (p-alpha): m1.small in az2 since February, all month; its
//     interface sends 0.25 GiB an hour since February.
//   - vol-data (p-alpha, ssd): from the 5th, 10 GB, extended to 25 GB on
//     the 12th at 08:00, deleted the 25th.
//   - vol-archive (p-beta, hdd): 100 GB all month.
//   - img-base (p-beta): a 2 GiB image all month.
//   - a fleet of five containers (p-beta) using 1 to 4 cores and half a
//     GiB of memory per core, one restarted (its CPU counter reset), one
//     across the price change, one still running at the end of the month.
//
// The price list changes on the 15th.
func marchData(e *env) {
	e.t.Helper()
	// vm-resized
	e.create(res{typ: "instance", name: "vm-resized", project: "p-alpha", started: day(10, 6, 0), ended: day(20, 0, 0),
		attrs: instanceAttrs("web frontend", "m1.small", "")})
	e.change("instance", "vm-resized", day(10, 15, 30), map[string]any{"flavor_name": "m1.large", "flavor_id": "m1.large-id"})
	m := e.create(res{typ: "instance_network_interface", name: "tap-resized", project: "p-alpha", started: day(10, 6, 0), ended: day(20, 0, 0),
		attrs: map[string]any{"name": "tap-resized", "instance_id": rid("vm-resized").String()}, metrics: map[string]string{"network.outgoing.bytes": "bill-hourly"}})
	e.write(m["network.outgoing.bytes"], "bill-hourly", hourly(day(10, 6, 0), day(20, 0, 0), 3599*time.Second,
		func(h int) float64 { return float64(h+1) * gibBytes / 2 }))

	// vm-steady
	since := time.Date(2024, 2, 20, 0, 0, 0, 0, time.UTC)
	e.create(res{typ: "instance", name: "vm-steady", project: "p-alpha", started: since,
		attrs: instanceAttrs("database", "m1.small", "az2")})
	m = e.create(res{typ: "instance_network_interface", name: "tap-steady", project: "p-alpha", started: since,
		attrs: map[string]any{"name": "tap-steady", "instance_id": rid("vm-steady").String()}, metrics: map[string]string{"network.outgoing.bytes": "bill-hourly"}})
	e.write(m["network.outgoing.bytes"], "bill-hourly", hourly(since, april.Add(48*time.Hour), 3599*time.Second,
		func(h int) float64 { return 5e9 + float64(h+1)*gibBytes/4 }))

	// vol-data
	m = e.create(res{typ: "volume", name: "vol-data", project: "p-alpha", started: day(5, 0, 0), ended: day(25, 0, 0),
		attrs: map[string]any{"display_name": "data", "volume_type": "ssd"}, metrics: map[string]string{"volume.size": "bill-hourly"}})
	e.write(m["volume.size"], "bill-hourly", hourly(day(5, 0, 0), day(25, 0, 0), 10*time.Minute, func(h int) float64 {
		if day(5, 0, 0).Add(time.Duration(h) * time.Hour).Before(day(12, 8, 0)) {
			return 10
		}
		return 25
	}))

	// vol-archive
	m = e.create(res{typ: "volume", name: "vol-archive", project: "p-beta", started: time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC),
		attrs: map[string]any{"display_name": "archive", "volume_type": "hdd"}, metrics: map[string]string{"volume.size": "bill-hourly"}})
	e.write(m["volume.size"], "bill-hourly", hourly(march.Add(-24*time.Hour), april.Add(24*time.Hour), 0, func(int) float64 { return 100 }))

	// img-base
	m = e.create(res{typ: "image", name: "img-base", project: "p-beta", started: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		attrs: map[string]any{"name": "ubuntu-24.04", "container_format": "bare", "disk_format": "qcow2"}, metrics: map[string]string{"image.size": "bill-hourly"}})
	e.write(m["image.size"], "bill-hourly", hourly(march, april, 0, func(int) float64 { return 2 * gibBytes }))

	// The container fleet.
	for _, c := range fleet {
		m := e.create(res{typ: "container", name: c.name, project: "p-beta", started: c.from, ended: c.to,
			attrs:   map[string]any{"host": "node-1", "name": c.name, "image": "nginx:1.27", "namespace": "shop"},
			metrics: map[string]string{"container.cpu": "bill-hourly", "container.memory.usage": "bill-hourly"}})
		end := c.to
		if end.IsZero() {
			end = april.Add(6 * time.Hour)
		}
		cores := float64(c.cores)
		e.write(m["container.cpu"], "bill-hourly", hourly(c.from, end, 3599*time.Second, func(h int) float64 {
			if c.reset > 0 && h >= c.reset {
				h -= c.reset
			}
			return float64(h+1) * cores * coreNS
		}))
		e.write(m["container.memory.usage"], "bill-hourly", hourly(c.from, end, 0, func(int) float64 { return cores * gibBytes / 2 }))
	}
}

type container struct {
	name     string
	from, to time.Time
	cores    int
	reset    int // the hour its CPU counter restarts from zero; 0: never
}

var fleet = []container{
	{"web-0", day(1, 0, 0), day(2, 0, 0), 1, 0},
	{"web-1", day(1, 6, 0), day(1, 18, 0), 2, 0},
	{"web-2", day(1, 0, 0), day(2, 0, 0), 1, 10},
	{"web-3", day(14, 20, 0), day(15, 4, 0), 4, 0},
	{"web-4", day(31, 20, 0), time.Time{}, 1, 0},
}

func loadTestConfig(t testing.TB, name string) *Config {
	t.Helper()
	c, err := LoadConfig(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
