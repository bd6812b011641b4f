package storage

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cockroachdb/pebble"
	dto "github.com/prometheus/client_model/go"
)

// gauges exposes the engine's state on a metrics.Set. Pebble computes its
// metrics under its own locks, so one snapshot serves a scrape: it is kept
// for snapshotTTL.
type gauges struct {
	s     *Pebble
	names []string

	mu   sync.Mutex // guards snap and at
	snap *pebble.Metrics
	at   time.Time
}

const (
	metricPrefix = "vigil_storage_"
	snapshotTTL  = time.Second
)

// gaugeDefs are the gauges, by name without the prefix.
var gaugeDefs = []struct {
	name string
	f    func(g *gauges, m *pebble.Metrics) float64
}{
	{"disk_bytes", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.DiskSpaceUsage()) }},
	{"table_files", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Total().NumFiles) }},
	{"table_bytes", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Total().Size) }},
	{"wal_bytes", func(_ *gauges, m *pebble.Metrics) float64 {
		return float64(m.WAL.PhysicalSize + m.WAL.ObsoletePhysicalSize)
	}},
	{"memtable_bytes", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.MemTable.Size) }},
	{"read_amplification", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.ReadAmp()) }},
	{"block_cache_bytes", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.BlockCache.Size) }},
	{"block_cache_hits_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.BlockCache.Hits) }},
	{"block_cache_misses_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.BlockCache.Misses) }},
	{"flushes_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Flush.Count) }},
	{"compactions_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Compact.Count) }},
	{"compactions_in_progress", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Compact.NumInProgress) }},
	{"compaction_debt_bytes", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Compact.EstimatedDebt) }},
	{"compaction_read_bytes_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.Total().BytesRead) }},
	{"table_written_bytes_total", func(_ *gauges, m *pebble.Metrics) float64 {
		t := m.Total()
		return float64(t.BytesFlushed + t.BytesCompacted)
	}},
	{"wal_written_bytes_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(m.WAL.BytesWritten) }},
	{"wal_syncs_total", func(_ *gauges, m *pebble.Metrics) float64 { return float64(histogramCount(m)) }},
	{"synced_commits_total", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.stats.syncedCommits.Load()) }},
	{"read_bytes_total", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.stats.readBytes.Load()) }},
	{"written_bytes_total", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.stats.writtenBytes.Load()) }},
	{"write_stalls_total", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.stats.writeStalls.Load()) }},
	{"reclaims_total", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.stats.reclaims.Load()) }},
	{"reclaim_errors_total", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.stats.reclaimErrors.Load()) }},
	{"reclaims_pending", func(g *gauges, _ *pebble.Metrics) float64 { return float64(g.s.pendingCount()) }},
}

// histogramCount is the number of WAL fsyncs, which Pebble keeps only in
// its latency histogram.
func histogramCount(m *pebble.Metrics) uint64 {
	h := m.LogWriter.FsyncLatency
	if h == nil {
		return 0
	}
	var pm dto.Metric
	if err := h.Write(&pm); err != nil {
		return 0
	}
	return pm.GetHistogram().GetSampleCount()
}

func checkMetricNames(set *metrics.Set) error {
	for _, n := range set.ListMetricNames() {
		if strings.HasPrefix(n, metricPrefix) {
			return fmt.Errorf("the metrics set already holds %s: one storage per set", n)
		}
	}
	return nil
}

func registerGauges(set *metrics.Set, s *Pebble) *gauges {
	g := &gauges{s: s}
	for _, d := range gaugeDefs {
		name := metricPrefix + d.name
		set.NewGauge(name, func() float64 {
			m := g.snapshot()
			if m == nil {
				return 0
			}
			return d.f(g, m)
		})
		g.names = append(g.names, name)
	}
	return g
}

func (g *gauges) unregister(set *metrics.Set) {
	for _, n := range g.names {
		set.UnregisterMetric(n)
	}
}

// snapshot returns Pebble's metrics of at most snapshotTTL ago, or nil once
// the storage is closed.
func (g *gauges) snapshot() *pebble.Metrics {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.snap != nil && time.Since(g.at) < snapshotTTL {
		return g.snap
	}
	g.s.closeMu.RLock()
	defer g.s.closeMu.RUnlock()
	if g.s.closed {
		return nil
	}
	g.snap, g.at = g.s.db.Metrics(), time.Now()
	return g.snap
}
