package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/vigil-telemetry/vigil/cmd/vigil/config"
)

func TestVersionAndConfigDefault(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "vigil ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	out.Reset()
	if err := run([]string{"config", "default"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "data_dir:") {
		t.Fatalf("config default: %v\n%s", err, out.String())
	}
	if err := run([]string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("an unknown command was accepted")
	}
	if err := run([]string{"all", "--listen", "nonsense"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "api.listen") {
		t.Fatalf("a bad --listen: %v, want an error naming api.listen", err)
	}
}

func TestBillingExportCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run([]string{"migrate", "--data-dir", dir}, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	err := run([]string{"billing", "export", "--data-dir", dir, "--from", "2024-03-01", "--to", "2024-04-01"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "billing.config_file") {
		t.Fatalf("export without a rating config: %v", err)
	}
	rating, err := filepath.Abs("../../api/billing/testdata/rating.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rating); err != nil {
		t.Fatalf("test rating config: %v", err)
	}
	t.Setenv("VIGIL_BILLING_CONFIG_FILE", rating)
	if err := run([]string{"billing", "export", "--data-dir", dir, "--from", "2024-03-01", "--to", "yesterday-ish"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Fatalf("a bad --to: %v", err)
	}
	out.Reset()
	if err := run([]string{"billing", "export", "--data-dir", dir, "--from", "2024-03-01", "--to", "2024-04-01", "--format", "focus"}, &out, &errOut); err != nil {
		t.Fatalf("export: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "BilledCost") {
		t.Errorf("an empty period's FOCUS export lacks its header:\n%s", out.String())
	}
}

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	cfg := config.Default()
	cfg.GCPercent, cfg.MemoryLimitMB = 37, 64

	tuneGC(cfg, env(nil))
	if got := debug.SetGCPercent(100); got != 37 {
		t.Errorf("gc_percent 37 left GOGC at %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("memory_limit_mb 64 left the limit at %d", got)
	}

	// The environment wins, as it does for the Go runtime itself.
	debug.SetMemoryLimit(math.MaxInt64)
	tuneGC(cfg, env(map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB"}))
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, gc_percent changed GOGC to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, memory_limit_mb changed the limit to %d", got)
	}
}
