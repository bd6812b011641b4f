package metering

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
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

var t0 = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// store is a real index and series storage with two instances, each with
// a cpu_util metric holding one point a minute.
type store struct {
	idx       *index.Index
	st        storage.Storage
	resources []uuid.UUID
	metrics   []uuid.UUID
}

func openStore(t *testing.T) *store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	idx, err := index.Open(ctx, "sqlite://"+filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	st, err := storage.OpenPebble(filepath.Join(dir, "series"), storage.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := archive.Policy{Name: "minute", Methods: []archive.Method{{Kind: archive.Mean}, {Kind: archive.Max}},
		Definitions: []archive.Definition{{Granularity: time.Minute, Points: 1440}}}
	if err := idx.CreateArchivePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &store{idx: idx, st: st}
	eng := ingest.NewEngine(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 1<<20)
	b := st.NewBatch()
	defer b.Close()
	for i, name := range []string{"vm-a", "vm-b"} {
		project := "p1"
		group := "web"
		res, _, err := idx.EnsureResource(ctx, index.Resource{
			ID: uuid.New(), OriginalResourceID: name, Type: "instance", Creator: "u:p1", CreatedByUserID: "u", CreatedByProjectID: "p1",
			ProjectID: &project, StartedAt: t0,
			Attributes: map[string]any{"display_name": name, "flavor_id": "1", "flavor_name": "m1.small", "image_ref": "img", "host": "c1", "server_group": group},
		})
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := idx.EnsureMetric(ctx, res.ID, "cpu_util", "%", "minute", "u:p1")
		if err != nil {
			t.Fatal(err)
		}
		s.resources = append(s.resources, res.ID)
		s.metrics = append(s.metrics, m.ID)
		var pts []ingest.Point
		for k := range 5 {
			pts = append(pts, ingest.Point{T: t0.Add(time.Duration(k) * time.Minute).UnixNano(), V: float64(10*(i+1) + k)})
		}
		if _, err := eng.Apply(ctx, b, m.ID, &p, pts); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx, true); err != nil {
		t.Fatal(err)
	}
	return s
}

func values(ps []alarms.Point) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFetcherQueries(t *testing.T) {
	s := openStore(t)
	f := New(s.idx, query.NewReader(s.st))
	ctx := context.Background()
	window := func(q alarms.Query) *alarms.Query {
		q.Granularity = time.Minute
		q.Start, q.Stop = t0.Add(time.Minute), t0.Add(3*time.Minute)
		return &q
	}
	tests := []struct {
		name string
		q    *alarms.Query
		want []float64
		err  error
	}{
		{"resource by uuid", window(alarms.Query{Kind: alarms.QueryResourceMetric, ResourceType: "instance", ResourceID: s.resources[0].String(), Metric: "cpu_util", Aggregation: "mean"}), []float64{11, 12, 13}, nil},
		{"resource by original id", window(alarms.Query{Kind: alarms.QueryResourceMetric, ResourceType: "instance", ResourceID: "vm-b", Metric: "cpu_util", Aggregation: "max"}), []float64{21, 22, 23}, nil},
		{"metrics aggregated", window(alarms.Query{Kind: alarms.QueryMetrics, MetricIDs: []string{s.metrics[0].String(), s.metrics[1].String()}, Aggregation: "mean"}), []float64{16, 17, 18}, nil},
		{"resources aggregated", window(alarms.Query{Kind: alarms.QueryResources, ResourceType: "instance", Search: `{"=": {"server_group": "web"}}`, Metric: "cpu_util", Aggregation: "max"}), []float64{21, 22, 23}, nil},
		{"search matching nothing", window(alarms.Query{Kind: alarms.QueryResources, ResourceType: "instance", Search: `{"=": {"server_group": "db"}}`, Metric: "cpu_util", Aggregation: "max"}), []float64{}, nil},
		{"unknown resource", window(alarms.Query{Kind: alarms.QueryResourceMetric, ResourceType: "instance", ResourceID: "vm-z", Metric: "cpu_util", Aggregation: "mean"}), nil, alarms.ErrResourceNotFound},
		{"unknown metric name", window(alarms.Query{Kind: alarms.QueryResourceMetric, ResourceType: "instance", ResourceID: "vm-a", Metric: "memory", Aggregation: "mean"}), nil, alarms.ErrMetricNotFound},
		{"unknown metric id", window(alarms.Query{Kind: alarms.QueryMetrics, MetricIDs: []string{uuid.NewString()}, Aggregation: "mean"}), nil, alarms.ErrMetricNotFound},
		{"method not in the policy", window(alarms.Query{Kind: alarms.QueryResourceMetric, ResourceType: "instance", ResourceID: "vm-a", Metric: "cpu_util", Aggregation: "min"}), nil, alarms.ErrAggregationNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Measures(ctx, tt.q, nil)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equal(values(got), tt.want) {
				t.Fatalf("values %v, want %v", values(got), tt.want)
			}
			for i, p := range got {
				if want := tt.q.Start.Add(time.Duration(i) * time.Minute); !p.Time.Equal(want) {
					t.Errorf("point %d at %v, want %v", i, p.Time, want)
				}
			}
		})
	}
}

func TestAnnouncerDescribesSeries(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := startNATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("vigil.updates.3")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnnouncer(s.idx, nc, "vigil", metrics.NewSet(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	go a.Run(ctx)
	a.Updated(3, []uuid.UUID{s.metrics[1], uuid.New()})
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	u, err := alarms.DecodeUpdate(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := alarms.UpdatedSeries{MetricID: s.metrics[1].String(), ResourceID: s.resources[1].String(),
		OriginalResourceID: "vm-b", ResourceType: "instance", Name: "cpu_util"}
	if len(u.Series) != 1 || u.Series[0] != want {
		t.Fatalf("announced %+v, want only %+v (the unknown metric left out)", u.Series, want)
	}
}

func startNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}
