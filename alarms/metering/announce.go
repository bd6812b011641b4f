package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/tsdb/index"
)

// maxAnnounceCache bounds the metric descriptions an Announcer keeps; past
// it the cache starts afresh (a description is one index read away).
const maxAnnounceCache = 1 << 20

// announceQueue bounds the flushes waiting to be announced. A processor
// must never wait for the alarms: past it a flush's announcement is
// dropped and counted, and the evaluator's periodic sweep catches up.
const announceQueue = 1024

type flushed struct {
	partition int
	ids       []uuid.UUID
}

// Announcer tells the alarm evaluators which series ingest updated: it
// turns a processor's flushes into alarms.Update messages on
// <prefix>.updates.<partition> (alarms/SUBJECTS.md), describing each metric
// with its resource so that resource-based rules find it.
type Announcer struct {
	idx    *index.Index
	nc     *nats.Conn
	prefix string
	log    *slog.Logger
	queue  chan flushed

	dropped   *metrics.Counter
	published *metrics.Counter

	// Owned by Run's goroutine.
	cache map[uuid.UUID]alarms.UpdatedSeries
	buf   []byte
}

// NewAnnouncer returns an announcer publishing on nc.
func NewAnnouncer(idx *index.Index, nc *nats.Conn, prefix string, set *metrics.Set, log *slog.Logger) *Announcer {
	return &Announcer{
		idx: idx, nc: nc, prefix: prefix, log: log,
		queue:     make(chan flushed, announceQueue),
		dropped:   set.NewCounter(`vigil_alarm_announcements_dropped_total`),
		published: set.NewCounter(`vigil_alarm_announcements_total`),
		cache:     make(map[uuid.UUID]alarms.UpdatedSeries),
	}
}

// Updated queues the announcement of ids, which a flush of partition made
// durable. It never blocks and does not keep ids.
func (a *Announcer) Updated(partition int, ids []uuid.UUID) {
	select {
	case a.queue <- flushed{partition: partition, ids: append([]uuid.UUID(nil), ids...)}:
	default:
		a.dropped.Inc()
	}
}

// Run publishes queued announcements until ctx is done.
func (a *Announcer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-a.queue:
			if err := a.announce(ctx, f); err != nil && ctx.Err() == nil {
				a.log.Warn("cannot announce updated series to the alarm evaluators", "partition", f.partition, "err", err)
			}
		}
	}
}

func (a *Announcer) announce(ctx context.Context, f flushed) error {
	u := alarms.Update{Version: alarms.UpdateVersion, Series: make([]alarms.UpdatedSeries, 0, len(f.ids))}
	for _, id := range f.ids {
		s, err := a.describe(ctx, id)
		if errors.Is(err, index.ErrNotFound) {
			continue // deleted since
		}
		if err != nil {
			return err
		}
		u.Series = append(u.Series, s)
	}
	if len(u.Series) == 0 {
		return nil
	}
	a.buf = alarms.AppendUpdate(a.buf[:0], &u)
	if err := a.nc.Publish(alarms.UpdatesSubject(a.prefix, f.partition), a.buf); err != nil {
		return fmt.Errorf("cannot publish on %s: %w", alarms.UpdatesSubject(a.prefix, f.partition), err)
	}
	a.published.Inc()
	return nil
}

func (a *Announcer) describe(ctx context.Context, id uuid.UUID) (alarms.UpdatedSeries, error) {
	if s, ok := a.cache[id]; ok {
		return s, nil
	}
	m, err := a.idx.Metric(ctx, id)
	if err != nil {
		return alarms.UpdatedSeries{}, fmt.Errorf("cannot describe metric %s: %w", id, err)
	}
	s := alarms.UpdatedSeries{MetricID: id.String(), Name: m.Name}
	if m.ResourceID != nil {
		res, err := a.idx.Resource(ctx, "generic", *m.ResourceID)
		if err != nil {
			return alarms.UpdatedSeries{}, fmt.Errorf("cannot describe the resource of metric %s: %w", id, err)
		}
		s.ResourceID, s.OriginalResourceID, s.ResourceType = res.ID.String(), res.OriginalResourceID, res.Type
	}
	if len(a.cache) >= maxAnnounceCache {
		clear(a.cache)
	}
	a.cache[id] = s
	return s, nil
}
