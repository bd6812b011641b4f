package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// dashboardFixture is a fake holding every resource type and meter the
// shipped dashboards read, with Ceilometer's and vigil's meter names.
func dashboardFixture(t testing.TB) *fakeAPI {
	f := newFakeAPI(t, testNow)
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("inst-%d", i)
		f.addResource(id, "instance", map[string]any{
			"display_name": fmt.Sprintf("vm-%d", i), "project_id": []string{"p1", "p2"}[i%2],
			"flavor_name": []string{"m1.small", "m1.large"}[i/2], "host": "cmp1",
		}, "cpu", "vcpus", "memory", "memory.usage")
		f.addResource(id+"-vda", "instance_disk", map[string]any{"name": "vda", "instance_id": id}, "disk.device.read.bytes", "disk.device.write.bytes")
		f.addResource(id+"-tap0", "instance_network_interface", map[string]any{"name": "tap0", "instance_id": id}, "network.incoming.bytes", "network.outgoing.bytes")
		f.addResource("cmp1:pod"+fmt.Sprint(i), "container", map[string]any{
			"namespace": []string{"default", "kube-system"}[i%2], "pod_name": fmt.Sprintf("pod-%d", i), "container_name": "app", "host": "cmp1",
		}, "container.cpu.util", "container.memory.working_set", "container.network.incoming.bytes", "container.network.outgoing.bytes")
	}
	for _, h := range []string{"cmp1", "cmp2"} {
		f.addResource("host-"+h, "host", map[string]any{"host_name": h},
			"hardware.cpu.util", "hardware.cpu.load.1min", "hardware.memory.used", "hardware.memory.total", "hardware.memory.avail",
			"hardware.system_stats.io.incoming.blocks", "hardware.system_stats.io.outgoing.blocks")
		f.addResource("host-"+h+"-sda", "host_disk", map[string]any{"host_name": h, "device_name": "sda"}, "hardware.disk.size.used", "hardware.disk.size.total")
		f.addResource("host-"+h+"-eth0", "host_network_interface", map[string]any{"host_name": h, "device_name": "eth0"}, "hardware.network.incoming.bytes", "hardware.network.outgoing.bytes")
	}
	alarmFixture(f)
	return f
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string          `json:"name"`
			Datasource json.RawMessage `json:"datasource"`
			Target     json.RawMessage `json:"target"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource *struct {
			Type string `json:"type"`
		} `json:"datasource"`
		Targets []json.RawMessage `json:"targets"`
	} `json:"panels"`
}

var varRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

// interpolate replaces $var as the frontend does: a list in filters (all
// the variable's values, as "All" selects them), the first value
// elsewhere.
func interpolate(s string, vars map[string][]string, asList bool) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := varRef.FindStringSubmatch(m)[1]
		vs, ok := vars[name]
		if !ok {
			return m
		}
		if asList {
			q := make([]string, len(vs))
			for i, v := range vs {
				q[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			}
			return "[" + strings.Join(q, ", ") + "]"
		}
		if len(vs) == 0 {
			return ""
		}
		return vs[0]
	})
}

// TestDashboards runs every query of every shipped dashboard (variables,
// panels, annotations) through the plugin against test data, and wants
// each to answer data.
func TestDashboards(t *testing.T) {
	files, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("dashboards: %v, %v; want the VM, container, host and alarm dashboards", files, err)
	}
	f := dashboardFixture(t)
	d := newTestDS(t, f.url(), nil)
	uids := map[string]string{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var db dashboard
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			if err := dec.Decode(&db); err != nil {
				t.Fatalf("not valid dashboard JSON: %v", err)
			}
			if db.UID == "" || db.Title == "" {
				t.Fatalf("uid %q title %q: want both", db.UID, db.Title)
			}
			if other, dup := uids[db.UID]; dup {
				t.Fatalf("uid %s is also %s's", db.UID, other)
			}
			uids[db.UID] = file

			vars := map[string][]string{}
			for _, v := range db.Templating.List {
				if v.Type != "query" {
					continue
				}
				var q struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &q); err != nil {
					t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
				}
				vq := interpolate(q.Query, vars, true)
				values, err := d.Variable(context.Background(), vq)
				if err != nil {
					t.Fatalf("variable %s: %s: %v", v.Name, vq, err)
				}
				if len(values) == 0 {
					t.Fatalf("variable %s: %s has no values", v.Name, vq)
				}
				for _, x := range values {
					vars[v.Name] = append(vars[v.Name], x.Value)
				}
			}

			var targets []struct {
				where string
				raw   json.RawMessage
			}
			for _, p := range db.Panels {
				if p.Type == "row" {
					continue
				}
				if p.Datasource == nil || p.Datasource.Type != PluginID {
					t.Fatalf("panel %q: data source %v, want %s", p.Title, p.Datasource, PluginID)
				}
				if len(p.Targets) == 0 {
					t.Fatalf("panel %q has no query", p.Title)
				}
				for i, tg := range p.Targets {
					targets = append(targets, struct {
						where string
						raw   json.RawMessage
					}{fmt.Sprintf("panel %q query %d", p.Title, i), tg})
				}
			}
			for _, a := range db.Annotations.List {
				if len(a.Target) > 0 {
					targets = append(targets, struct {
						where string
						raw   json.RawMessage
					}{"annotation " + a.Name, a.Target})
				}
			}
			for _, tg := range targets {
				var q Query
				if err := json.Unmarshal(tg.raw, &q); err != nil {
					t.Fatalf("%s: %v", tg.where, err)
				}
				for _, s := range []*string{&q.Filter, &q.Operations, &q.MetricID, &q.MetricName, &q.ResourceType, &q.AlarmID} {
					*s = interpolate(*s, vars, s == &q.Filter)
				}
				r := rangeQuery{from: testNow.Add(-6 * time.Hour), to: testNow, interval: time.Minute, maxDP: 1000}
				resp := runQuery(t, d, q, r)
				if resp.Error != nil {
					t.Fatalf("%s: %v", tg.where, resp.Error)
				}
				rows := 0
				for _, fr := range resp.Frames {
					rows += fr.Rows()
				}
				if len(resp.Frames) == 0 || rows == 0 {
					t.Fatalf("%s: %d frames, %d rows: want data", tg.where, len(resp.Frames), rows)
				}
			}
			if len(targets) == 0 {
				t.Fatal("the dashboard has no queries")
			}
		})
	}
	var names []string
	for uid := range uids {
		names = append(names, uid)
	}
	sort.Strings(names)
	want := "vigil-alarms vigil-container-overview vigil-host-overview vigil-vm-overview"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("dashboards %s, want %s", got, want)
	}
}
