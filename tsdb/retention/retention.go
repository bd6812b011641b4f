// Package retention is the store's janitor: it purges resources that ended
// longer ago than their retention, with their metrics, frees the series of
// every deleted metric, and trims resource history past its own retention.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/search"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// Config says what the janitor keeps. Zero retentions keep forever.
type Config struct {
	// Resources is how long a resource is kept after its ended_at.
	Resources time.Duration
	// History is how long a superseded revision of a resource is kept.
	History time.Duration
	// Interval is the time between two passes (default 10 minutes).
	Interval time.Duration
}

// Janitor runs the passes. Deleting a metric only marks it in the index
// (the API answers at once); the janitor frees its series and then forgets
// it, so a crash between the two leaves work for the next pass, never an
// orphaned series.
type Janitor struct {
	cfg   Config
	idx   *index.Index
	store storage.Storage
	log   *slog.Logger

	resources *metrics.Counter
	freed     *metrics.Counter
	history   *metrics.Counter
	errors    *metrics.Counter
}

// New returns a janitor over idx and store.
func New(cfg Config, idx *index.Index, store storage.Storage, set *metrics.Set, log *slog.Logger) *Janitor {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Minute
	}
	return &Janitor{
		cfg: cfg, idx: idx, store: store, log: log,
		resources: set.GetOrCreateCounter(`vigil_retention_resources_purged_total`),
		freed:     set.GetOrCreateCounter(`vigil_retention_metrics_freed_total`),
		history:   set.GetOrCreateCounter(`vigil_retention_history_purged_total`),
		errors:    set.GetOrCreateCounter(`vigil_retention_errors_total`),
	}
}

// Run makes a pass every Interval until ctx is done.
func (j *Janitor) Run(ctx context.Context) error {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if err := j.Pass(ctx, time.Now()); err != nil && ctx.Err() == nil {
			j.errors.Inc()
			j.log.Warn("retention pass failed; trying again at the next", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass purges what expired at now and frees the series of deleted metrics.
func (j *Janitor) Pass(ctx context.Context, now time.Time) error {
	if j.cfg.Resources > 0 {
		cut := now.Add(-j.cfg.Resources).UTC()
		filter, err := search.ParseValue(map[string]any{"<": map[string]any{"ended_at": cut.Format(time.RFC3339Nano)}})
		if err != nil {
			return fmt.Errorf("BUG: cannot build the retention filter: %w", err)
		}
		n, _, err := j.idx.DeleteResources(ctx, index.DeleteResourcesOptions{Filter: filter})
		if err != nil {
			return fmt.Errorf("cannot purge resources ended before %s: %w", cut.Format(time.RFC3339), err)
		}
		if n > 0 {
			j.resources.Add(n)
			j.log.Info("purged resources past their retention", "resources", n, "ended_before", cut)
		}
	}
	if err := j.freeDeleted(ctx); err != nil {
		return err
	}
	if j.cfg.History > 0 {
		n, err := j.idx.PurgeHistory(ctx, now.Add(-j.cfg.History))
		if err != nil {
			return err
		}
		j.history.Add(int(n))
	}
	return nil
}

// freeDeleted frees the series of the metrics marked deleted, then drops
// them from the index, a page at a time.
func (j *Janitor) freeDeleted(ctx context.Context) error {
	for {
		ids, err := j.idx.DeletedMetrics(ctx, 1000)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		freed := make([]uuid.UUID, 0, len(ids))
		for _, id := range ids {
			if err := j.store.DeleteMetric(ctx, id); err != nil {
				return fmt.Errorf("cannot free the series of deleted metric %s: %w", id, err)
			}
			freed = append(freed, id)
		}
		if err := j.idx.ExpungeMetrics(ctx, freed); err != nil {
			return err
		}
		j.freed.Add(len(freed))
		if len(ids) < 1000 {
			return nil
		}
	}
}
