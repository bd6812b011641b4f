package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cli runs Gnocchi's own command-line client against the test server, as
// an operator would, and decodes its -f json output.
type cli struct {
	t   *testing.T
	e   *env
	bin string
}

func newCLI(t *testing.T, e *env) *cli {
	t.Helper()
	bin, err := exec.LookPath("gnocchi")
	if err != nil {
		t.Fatalf("the gnocchi command-line client is missing (%v): install it with `apt-get install -y --no-install-recommends python3-gnocchiclient` (make deps)", err)
	}
	return &cli{t: t, e: e, bin: bin}
}

// run runs gnocchi with args as alice's admin colleague and returns its
// standard output.
func (c *cli) run(args ...string) []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--endpoint", c.e.url, "--os-auth-type", "gnocchi-noauth",
		"--user-id", "cli-user", "--project-id", "cli-project", "--roles", "admin"}, args...)
	cmd := exec.CommandContext(ctx, c.bin, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("gnocchi %s: %v\n%s%s", strings.Join(args, " "), err, out.Bytes(), errb.Bytes())
	}
	return out.Bytes()
}

// json runs gnocchi with -f json and decodes the output.
func (c *cli) json(args ...string) any {
	c.t.Helper()
	out := c.run(append(args, "-f", "json")...)
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		c.t.Fatalf("gnocchi %s: output is not JSON (%v): %s", strings.Join(args, " "), err, out)
	}
	return v
}

func TestGnocchiClient(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{})
	c := newCLI(t, e)

	// Archive policy.
	c.run("archive-policy", "create", "cli-policy", "-d", "granularity:1s,points:3600", "-d", "granularity:1m,timespan:1d",
		"-m", "mean", "-m", "max", "-m", "count", "-b", "1", "-f", "json")
	ap := c.json("archive-policy", "show", "cli-policy").(map[string]any)
	wantDefs := []any{
		map[string]any{"granularity": "0:00:01", "points": 3600.0, "timespan": "1:00:00"},
		map[string]any{"granularity": "0:01:00", "points": 1440.0, "timespan": "1 day, 0:00:00"},
	}
	if !reflect.DeepEqual(ap["definition"], wantDefs) || ap["back_window"] != 1.0 || !sameSet(ap["aggregation_methods"], []string{"mean", "max", "count"}) {
		t.Errorf("archive-policy show: %v", ap)
	}
	names := map[string]bool{}
	for _, p := range c.json("archive-policy", "list").([]any) {
		names[p.(map[string]any)["name"].(string)] = true
	}
	if !names["cli-policy"] || !names["low"] {
		t.Errorf("archive-policy list: %v", names)
	}
	c.run("archive-policy-rule", "create", "cli-rule", "-a", "cli-policy", "-m", "cli.*", "-f", "json")
	if r := c.json("archive-policy-rule", "show", "cli-rule").(map[string]any); r["metric_pattern"] != "cli.*" || r["archive_policy_name"] != "cli-policy" {
		t.Errorf("archive-policy-rule show: %v", r)
	}

	// Resource type, resource, update.
	rt := c.json("resource-type", "create", "server", "-a", "host:string:true:max_length=64", "-a", "vcpus:number:false:min=1").(map[string]any)
	if rt["name"] != "server" || !strings.Contains(fmt.Sprint(rt["attributes/host"]), "max_length=64") {
		t.Errorf("resource-type create: %v", rt)
	}
	if s := c.json("resource-type", "show", "server").(map[string]any); s["state"] != "active" {
		t.Errorf("resource-type show: %v", s)
	}
	res := c.json("resource", "create", "--type", "server", "-a", "host:h1", "-a", "vcpus:2", "-a", "project_id:cli-project", "-n", "cpu:cli-policy", "web-1").(map[string]any)
	if res["host"] != "h1" || res["original_resource_id"] != "web-1" || res["type"] != "server" || res["creator"] != "cli-user:cli-project" {
		t.Errorf("resource create: %v", res)
	}
	rid := res["id"].(string)
	got := c.json("resource", "show", "--type", "server", rid).(map[string]any)
	if got["host"] != "h1" || got["vcpus"] != 2.0 {
		t.Errorf("resource show: %v", got)
	}
	up := c.json("resource", "update", "--type", "server", "-a", "host:h2", rid).(map[string]any)
	if up["host"] != "h2" {
		t.Errorf("resource update: %v", up)
	}
	if h := c.json("resource", "history", "--type", "server", rid).([]any); len(h) != 2 {
		t.Errorf("resource history: %v", h)
	}

	// Metrics and measures.
	m := c.json("metric", "create", "--archive-policy-name", "cli-policy", "--unit", "%", "cli.load").(map[string]any)
	mid := m["id"].(string)
	if m["archive_policy/name"] != "cli-policy" && m["archive_policy_name"] != "cli-policy" {
		t.Errorf("metric create: %v", m)
	}
	if s := c.json("metric", "show", mid).(map[string]any); s["unit"] != "%" || s["name"] != "cli.load" {
		t.Errorf("metric show: %v", s)
	}
	c.run("measures", "add", "-m", "2024-01-01T00:00:00@1", "-m", "2024-01-01T00:00:01@3", "-m", "2024-01-01T00:00:02@5", mid)
	c.run("measures", "add", "-r", rid, "-m", "2024-01-01T00:00:00@10", "-m", "2024-01-01T00:00:01@20", "cpu")
	meas := c.json("measures", "show", "--refresh", "--utc", "--granularity", "1", mid).([]any)
	var vals []float64
	for _, x := range meas {
		vals = append(vals, x.(map[string]any)["value"].(float64))
	}
	if !reflect.DeepEqual(vals, []float64{1, 3, 5}) {
		t.Errorf("measures show: %v", meas)
	}
	meas = c.json("measures", "show", "--refresh", "--utc", "--aggregation", "max", "--granularity", "60", mid).([]any)
	if len(meas) != 1 || meas[0].(map[string]any)["value"] != 5.0 || meas[0].(map[string]any)["granularity"] != 60.0 {
		t.Errorf("measures show max: %v", meas)
	}
	cpu := c.json("measures", "show", "--refresh", "-r", rid, "--granularity", "1", "cpu").([]any)
	if len(cpu) != 2 {
		t.Errorf("measures show of a resource's metric: %v", cpu)
	}
	if ms := c.json("metric", "list").([]any); len(ms) != 2 {
		t.Errorf("metric list: %v", ms)
	}

	// Aggregates with an operation, by metric and by resource search.
	// gnocchiclient 7.0.7 does not pass --fill on, so the default dropna
	// applies.
	agg := c.json("aggregates", "--granularity", "1",
		fmt.Sprintf("(aggregate sum (metric (%s mean) (%s mean)))", mid, up["metrics"].(map[string]any)["cpu"])).([]any)
	var sums []float64
	for _, x := range agg {
		sums = append(sums, x.(map[string]any)["value"].(float64))
	}
	if !reflect.DeepEqual(sums, []float64{11, 23}) {
		t.Errorf("aggregates: %v", agg)
	}
	agg = c.json("aggregates", "--resource-type", "server", "--granularity", "60", "(aggregate max (metric cpu mean))", "host=h2").([]any)
	if len(agg) != 1 || agg[0].(map[string]any)["value"] != 15.0 {
		t.Errorf("aggregates by search: %v", agg)
	}

	// Search.
	found := c.json("resource", "search", "--type", "server", "host=h2").([]any)
	if len(found) != 1 || found[0].(map[string]any)["id"] != rid {
		t.Errorf("resource search: %v", found)
	}
	if found = c.json("resource", "search", "--type", "server", "host=h1").([]any); len(found) != 0 {
		t.Errorf("resource search of the old value: %v", found)
	}
	if l := c.json("resource", "list", "--type", "server").([]any); len(l) != 1 {
		t.Errorf("resource list: %v", l)
	}

	// Batches, status, deletes.
	batch := filepath.Join(t.TempDir(), "batch.json")
	if err := os.WriteFile(batch, []byte(fmt.Sprintf(`{%q: [{"timestamp": "2024-01-01T00:00:03", "value": 7}]}`, mid)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.run("measures", "batch-metrics", batch)
	if err := os.WriteFile(batch, []byte(fmt.Sprintf(`{%q: {"mem": [{"timestamp": "2024-01-01T00:00:03", "value": 8}]}}`, rid)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.run("measures", "batch-resources-metrics", "--create-metrics", batch)
	if n := len(c.json("measures", "show", "--refresh", "--granularity", "1", mid).([]any)); n != 4 {
		t.Errorf("measures after batch-metrics: %d", n)
	}
	if n := len(c.json("measures", "show", "--refresh", "-r", rid, "mem").([]any)); n != 1 {
		t.Errorf("measures after batch-resources-metrics: %d", n)
	}
	st := c.json("status").(map[string]any)
	if _, ok := st["storage/total number of measures to process"]; !ok {
		t.Errorf("status: %v", st)
	}
	c.run("metric", "delete", mid)
	c.run("resource", "delete", rid)
	if l := c.json("resource", "list", "--type", "server").([]any); len(l) != 0 {
		t.Errorf("resource list after delete: %v", l)
	}
	c.run("resource-type", "delete", "server")
	c.run("archive-policy-rule", "delete", "cli-rule")
}
