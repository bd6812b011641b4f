package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAllPolledSamplesThroughPipeline runs `vigil all` with a pipeline.file
// that converts the host's polled memory from KB to MB under a new name and
// writes the raw samples to a file: the API serves the converted meter and
// not the raw one, and the file holds the raw polled samples.
func TestAllPolledSamplesThroughPipeline(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "polled.json")
	pipelineFile := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(pipelineFile, []byte(fmt.Sprintf(`
sources:
  - name: memory
    meters: [hardware.memory.used]
    sinks: [mb, raw]
  - name: rest
    meters: ["*", "!hardware.memory.used"]
    sinks: [meters]
sinks:
  - name: mb
    transformers:
      - name: unit_conversion
        parameters: {target: {name: hardware.memory.used.mb, unit: MB, scale: "volume / 1024"}}
    publishers: [gnocchi://]
  - name: raw
    publishers: ["file://%s"]
  - name: meters
    publishers: [gnocchi://]
`, raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	cfg.Pipeline.File = pipelineFile
	prepareIndex(t, cfg.IndexURL())
	a := start(t, cfg)
	defer stop(t, a)

	totalMB := memTotalKB(t) / 1024
	eventually(t, 30*time.Second, "converted memory measured twice", func() error {
		id, err := metricID(t, a, "hardware.memory.used.mb")
		if err != nil {
			return err
		}
		ms := measures(t, a, id, "granularity=1")
		if len(ms) < 2 {
			return fmt.Errorf("%d measures", len(ms))
		}
		for _, m := range ms {
			if m.v <= 0 || m.v > totalMB {
				t.Fatalf("memory used %v MB is not within (0, %v]", m.v, totalMB)
			}
		}
		return nil
	})
	// Other polled meters still reach the store unchanged.
	if _, err := metricID(t, a, "hardware.cpu.util"); err != nil {
		t.Errorf("hardware.cpu.util: %v", err)
	}
	var ms []map[string]any
	if code := get(t, a, "/v1/metric?name=hardware.memory.used", &ms); code != http.StatusOK || len(ms) != 0 {
		t.Errorf("hardware.memory.used is stored (status %d, %d metrics); the pipeline sends it to no gnocchi:// sink", code, len(ms))
	}

	f, err := os.Open(raw)
	if err != nil {
		t.Fatalf("the file:// publisher got no polled sample: %v", err)
	}
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s struct {
			Name   string  `json:"name"`
			Unit   string  `json:"unit"`
			Volume float64 `json:"volume"`
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if s.Name != "hardware.memory.used" || s.Unit != "KB" || s.Volume <= 0 {
			t.Errorf("file:// got %+v, want raw hardware.memory.used in KB", s)
		}
		lines++
	}
	if lines < 2 {
		t.Errorf("file:// got %d polled samples, want one per poll", lines)
	}
}
