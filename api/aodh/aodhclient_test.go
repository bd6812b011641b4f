package aodh

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// aodhCLI runs Debian's aodh command against the test server with the
// aodh-noauth plugin (global options --os-auth-type aodh-noauth
// --aodh-endpoint URL --user-id U --project-id P --roles R), which sends
// X-User-Id, X-Project-Id and X-Roles.
func aodhCLI(t *testing.T, e *env, w who, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("aodh")
	if err != nil {
		t.Fatalf("the aodh command is missing; install it with: apt-get install -y --no-install-recommends python3-aodhclient")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	global := []string{"--os-auth-type", "aodh-noauth", "--aodh-endpoint", e.srv.URL,
		"--user-id", w.user, "--project-id", w.project, "--roles", w.roles}
	cmd := exec.CommandContext(ctx, path, append(global, args...)...)
	cmd.Env = append(os.Environ(), "OS_CLOUD=", "OS_AUTH_URL=", "PYTHONWARNINGS=ignore")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func cliJSON(t *testing.T, e *env, w who, v any, args ...string) {
	t.Helper()
	out, err := aodhCLI(t, e, w, append(args, "-f", "json")...)
	if err != nil {
		t.Fatalf("aodh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	// Deprecation warnings may precede the document.
	if i := strings.IndexAny(out, "[{"); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("aodh %s printed %q: %v", strings.Join(args, " "), out, err)
	}
}

// TestAodhClient drives the handlers with the real aodh CLI
// (python3-aodhclient): create, list, show, update, state get/set,
// history, delete.
func TestAodhClient(t *testing.T) {
	e := newEnv(t, nil)
	user := who{"u1", "p1", "admin"}

	var created map[string]any
	cliJSON(t, e, user, &created, "alarm", "create", "--name", "cpu-high", "-t", "gnocchi_resources_threshold",
		"--metric", "cpu", "--resource-id", "r1", "--resource-type", "instance", "--threshold", "80",
		"--aggregation-method", "mean", "--comparison-operator", "gt", "--granularity", "300", "--evaluation-periods", "3",
		"--alarm-action", "http://heat.example/v1/signal/up", "--severity", "moderate",
		"--time-constraint", "name=night;start=0 23 * * *;duration=10800;timezone=Europe/Paris")
	id, _ := created["alarm_id"].(string)
	if id == "" || created["name"] != "cpu-high" || created["state"] != "insufficient data" || created["severity"] != "moderate" {
		t.Fatalf("alarm create printed %v", created)
	}
	if created["granularity"] != "300" && created["granularity"] != 300.0 {
		t.Errorf("granularity shown as %v", created["granularity"])
	}

	var list []map[string]any
	cliJSON(t, e, user, &list, "alarm", "list")
	if len(list) != 1 || list[0]["alarm_id"] != id || list[0]["name"] != "cpu-high" {
		t.Errorf("alarm list printed %v", list)
	}

	var shown map[string]any
	cliJSON(t, e, user, &shown, "alarm", "show", id)
	if shown["alarm_id"] != id || !strings.Contains(toJSON(shown["time_constraints"]), "night") {
		t.Errorf("alarm show printed %v", shown)
	}
	cliJSON(t, e, user, &shown, "alarm", "show", "--name", "cpu-high")
	if shown["alarm_id"] != id {
		t.Errorf("alarm show --name printed %v", shown)
	}

	var updated map[string]any
	cliJSON(t, e, user, &updated, "alarm", "update", id, "--threshold", "95", "--severity", "critical")
	if updated["severity"] != "critical" {
		t.Errorf("alarm update printed %v", updated)
	}
	stored, err := e.store.Get(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := stored.Rule.(*alarms.ThresholdRule); !ok || r.Threshold != 95 || r.Granularity != 300 || r.EvaluationPeriods != 3 {
		t.Errorf("after update the rule is %+v", stored.Rule)
	}
	if stored.Severity != "critical" || stored.State != "insufficient data" || len(stored.TimeConstraints) != 1 {
		t.Errorf("after update the store holds %+v", stored)
	}

	var state map[string]any
	cliJSON(t, e, user, &state, "alarm", "state", "get", id)
	if state["state"] != "insufficient data" {
		t.Errorf("alarm state get printed %v", state)
	}
	cliJSON(t, e, user, &state, "alarm", "state", "set", "--state", "alarm", id)
	if state["state"] != "alarm" {
		t.Errorf("alarm state set printed %v", state)
	}
	cliJSON(t, e, user, &state, "alarm", "state", "get", id)
	if state["state"] != "alarm" {
		t.Errorf("state after set: %v", state)
	}

	var hist []map[string]any
	cliJSON(t, e, user, &hist, "alarm-history", "show", id)
	types := map[string]int{}
	for _, h := range hist {
		types[h["type"].(string)]++
	}
	if types["creation"] != 1 || types["rule change"] != 1 || types["state transition"] != 1 {
		t.Errorf("alarm-history show printed %v", hist)
	}

	var caps map[string]any
	cliJSON(t, e, user, &caps, "capabilities", "list")
	if !strings.Contains(toJSON(caps), "alarms:query:complex") {
		t.Errorf("capabilities list printed %v", caps)
	}

	if out, err := aodhCLI(t, e, user, "alarm", "delete", id); err != nil {
		t.Fatalf("alarm delete: %v\n%s", err, out)
	}
	out, err := aodhCLI(t, e, user, "alarm", "show", id)
	if err == nil || !strings.Contains(out, "Alarm "+id+" not found") {
		t.Errorf("alarm show after delete: %v\n%s", err, out)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
