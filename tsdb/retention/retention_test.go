package retention

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

func TestPassPurgesEndedResourcesAndFreesSeries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := index.Open(ctx, "sqlite://"+filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	st, err := storage.OpenPebble(filepath.Join(dir, "series"), storage.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := idx.ArchivePolicy(ctx, "low")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ingest.NewEngine(st, log, 1<<20)

	// One resource ended 40 days ago, one 2 days ago, one still running;
	// each has a metric with stored series.
	ends := []*time.Time{ptr(now.Add(-40 * 24 * time.Hour)), ptr(now.Add(-48 * time.Hour)), nil}
	var res, mets []uuid.UUID
	b := st.NewBatch()
	for i, end := range ends {
		r, _, err := idx.EnsureResource(ctx, index.Resource{ID: uuid.New(), OriginalResourceID: "r" + string(rune('a'+i)), Type: "generic",
			Creator: "u:p", CreatedByUserID: "u", CreatedByProjectID: "p", StartedAt: now.Add(-60 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if end != nil {
			e := *end
			ep := &e
			if _, err := idx.UpdateResource(ctx, "generic", r.ID, index.ResourcePatch{EndedAt: &ep}, 0); err != nil {
				t.Fatal(err)
			}
		}
		m, _, err := idx.EnsureMetric(ctx, r.ID, "cpu", "ns", p.Name, "u:p")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Apply(ctx, b, m.ID, &p, []ingest.Point{{T: now.Add(-time.Hour).UnixNano(), V: 1}}); err != nil {
			t.Fatal(err)
		}
		res, mets = append(res, r.ID), append(mets, m.ID)
	}
	if err := b.Commit(ctx, true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// A metric deleted through the API is only marked.
	if err := idx.DeleteMetric(ctx, mets[2]); err != nil {
		t.Fatal(err)
	}

	set := metrics.NewSet()
	j := New(Config{Resources: 30 * 24 * time.Hour, History: time.Hour}, idx, st, set, log)
	if err := j.Pass(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Resource(ctx, "generic", res[0]); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("resource ended 40 days ago: %v, want it purged", err)
	}
	if _, err := idx.Resource(ctx, "generic", res[1]); err != nil {
		t.Errorf("resource ended 2 days ago was purged: %v", err)
	}
	for i, wantGone := range []bool{true, false, true} {
		_, err := st.GetUnaggregated(ctx, mets[i], nil)
		if gone := errors.Is(err, storage.ErrNotFound); gone != wantGone {
			t.Errorf("metric %d: raw series gone = %v (%v), want %v", i, gone, err, wantGone)
		}
	}
	if left, err := idx.DeletedMetrics(ctx, 10); err != nil || len(left) != 0 {
		t.Errorf("deleted metrics left in the index: %v %v", left, err)
	}
	// The second resource's revision before ended_at was set is history
	// older than... nothing yet: it was written just now and stays.
	if n, err := idx.ResourceHistory(ctx, "generic", res[1], index.ListOptions{}); err != nil || len(n) < 2 {
		t.Errorf("history of the surviving resource: %d revisions, %v", len(n), err)
	}
	if err := j.Pass(ctx, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := idx.ResourceHistory(ctx, "generic", res[1], index.ListOptions{}); err != nil || len(n) != 1 {
		t.Errorf("history past its retention: %d revisions left, %v; want only the current one", len(n), err)
	}
}

func ptr[T any](v T) *T { return &v }
