package index

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

func sp(s string) *string { return &s }

func TestResources(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		id, err := pipeline.ResourceUUID("my-host", "u1:p1")
		must(t, err)
		start := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
		r, created, err := ix.EnsureResource(ctx, Resource{ID: id, OriginalResourceID: "my-host", Type: "host", Creator: "u1:p1",
			ProjectID: sp("p1"), StartedAt: start, Attributes: map[string]any{"host_name": "my-host"}})
		must(t, err)
		if !created || r.Revision != 1 || r.CreatedByUserID != "u1" || r.CreatedByProjectID != "p1" || r.UserID != nil {
			t.Errorf("created %+v", r)
		}
		if !r.StartedAt.Equal(start.Truncate(time.Microsecond)) {
			t.Errorf("started_at %v, want %v to the microsecond", r.StartedAt, start)
		}
		got, err := ix.Resource(ctx, "host", id)
		must(t, err)
		if got.OriginalResourceID != "my-host" || got.Attributes["host_name"] != "my-host" || !got.StartedAt.Equal(r.StartedAt) ||
			!got.RevisionStart.Equal(r.RevisionStart) || got.RevisionEnd != nil || got.EndedAt != nil || *got.ProjectID != "p1" || len(got.Metrics) != 0 {
			t.Errorf("read back %+v, created %+v", got, r)
		}
		if g, err := ix.Resource(ctx, "generic", id); err != nil || g.Type != "host" || g.Attributes["host_name"] != "my-host" {
			t.Errorf("generic read %+v, %v", g, err)
		}
		_, err = ix.Resource(ctx, "instance", id)
		wantErr(t, "reading as another type", err, ErrNotFound)
		_, err = ix.Resource(ctx, "generic", uuid.New())
		wantErr(t, "reading a missing resource", err, ErrNotFound)

		again, created, err := ix.EnsureResource(ctx, Resource{ID: id, Type: "host", Attributes: map[string]any{"host_name": "other"}})
		must(t, err)
		if created || again.Attributes["host_name"] != "my-host" {
			t.Errorf("second EnsureResource created=%v %v", created, again.Attributes)
		}
		_, err = ix.CreateResource(ctx, Resource{ID: id, Type: "host", Attributes: map[string]any{"host_name": "x"}}, nil)
		wantErr(t, "creating twice", err, ErrExists)

		// Generic with defaults: creator halves, original id, started now.
		gid := uuid.New()
		before := time.Now().Add(-time.Second)
		g, err := ix.CreateResource(ctx, Resource{ID: gid, CreatedByUserID: "u2", CreatedByProjectID: "p2"}, nil)
		must(t, err)
		if g.Type != "generic" || g.Creator != "u2:p2" || g.OriginalResourceID != gid.String() || g.StartedAt.Before(before) {
			t.Errorf("generic defaults %+v", g)
		}

		end := start.Add(-time.Hour)
		for name, bad := range map[string]Resource{
			"no id":                {Type: "generic"},
			"ended before started": {ID: uuid.New(), StartedAt: start, EndedAt: &end},
			"missing required":     {ID: uuid.New(), Type: "host"},
			"unknown attribute":    {ID: uuid.New(), Type: "host", Attributes: map[string]any{"host_name": "h", "x": 1.0}},
			"attribute on generic": {ID: uuid.New(), Attributes: map[string]any{"x": 1.0}},
			"long project":         {ID: uuid.New(), ProjectID: sp(string(make([]byte, 256)))},
			"bad uuid attribute":   {ID: uuid.New(), Type: "instance_disk", Attributes: map[string]any{"name": "vda", "instance_id": "zz"}},
		} {
			_, err := ix.CreateResource(ctx, bad, nil)
			wantErr(t, name, err, ErrInvalid)
			_, _, err = ix.EnsureResource(ctx, bad)
			wantErr(t, name+" (ensure)", err, ErrInvalid)
		}
		_, err = ix.CreateResource(ctx, Resource{ID: uuid.New(), Type: "nope"}, nil)
		wantErr(t, "unknown type", err, ErrNotFound)

		// Metrics given at creation: new ones and an existing stand-alone one.
		lone, err := ix.CreateMetric(ctx, Metric{Name: "", ArchivePolicyName: "low", Creator: "u:p"})
		must(t, err)
		wid := uuid.New()
		w, err := ix.CreateResource(ctx, Resource{ID: wid, Creator: "u:p"}, map[string]MetricSpec{
			"cpu": {ArchivePolicyName: "high", Unit: "ns"}, "mem": {}, "attached": {ID: lone.ID}})
		must(t, err)
		if len(w.Metrics) != 3 || w.Metrics["attached"] != lone.ID {
			t.Errorf("metrics at creation %v", w.Metrics)
		}
		if m, err := ix.Metric(ctx, w.Metrics["mem"]); err != nil || m.ArchivePolicyName != "low" || *m.ResourceID != wid || m.Name != "mem" {
			t.Errorf("metric by the rules %+v %v", m, err)
		}
		if m, _ := ix.Metric(ctx, lone.ID); m.ResourceID == nil || *m.ResourceID != wid || m.Name != "attached" {
			t.Errorf("attached metric %+v", m)
		}
		_, err = ix.CreateResource(ctx, Resource{ID: uuid.New()}, map[string]MetricSpec{"x": {ID: uuid.New()}})
		wantErr(t, "attaching a missing metric", err, ErrNotFound)
		_, err = ix.CreateResource(ctx, Resource{ID: uuid.New()}, map[string]MetricSpec{"x": {ArchivePolicyName: "nope"}})
		wantErr(t, "metric with a missing policy", err, ErrInvalid)
		got, err = ix.Resource(ctx, "generic", wid)
		must(t, err)
		if len(got.Metrics) != 3 {
			t.Errorf("read back metrics %v", got.Metrics)
		}
	})
}

func TestUpdateResourceHistory(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		id := uuid.New()
		start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		r0, err := ix.CreateResource(ctx, Resource{ID: id, Type: "instance", Creator: "u:p", StartedAt: start, Attributes: map[string]any{
			"flavor_id": "1", "host": "h1", "display_name": "vm", "flavor_name": "small"}}, map[string]MetricSpec{"cpu": {}})
		must(t, err)

		end := start.Add(48 * time.Hour)
		var nilTime *time.Time
		var nilStr *string
		patches := []ResourcePatch{
			{Attributes: map[string]any{"host": "h2"}},
			{Attributes: map[string]any{"host": "h3", "launched_at": "2024-01-01T00:05:00Z"}, UserID: &[]*string{sp("u9")}[0]},
			{EndedAt: &[]*time.Time{&end}[0]},
			{EndedAt: &nilTime, UserID: &nilStr, Attributes: map[string]any{"image_ref": "img"}},
		}
		revs := []Resource{r0}
		for i, p := range patches {
			r, err := ix.UpdateResource(ctx, "instance", id, p, revs[len(revs)-1].Revision)
			must(t, err)
			if r.Revision != int64(i+2) || !r.RevisionStart.After(revs[len(revs)-1].RevisionStart) || len(r.Metrics) != 1 {
				t.Fatalf("patch %d gave revision %d at %v, metrics %v", i, r.Revision, r.RevisionStart, r.Metrics)
			}
			revs = append(revs, r)
		}
		cur := revs[len(revs)-1]
		if cur.Attributes["host"] != "h3" || cur.Attributes["image_ref"] != "img" || cur.EndedAt != nil || cur.UserID != nil ||
			cur.Attributes["launched_at"] != "2024-01-01T00:05:00.000000+00:00" || cur.Attributes["display_name"] != "vm" {
			t.Errorf("current revision %+v", cur)
		}
		if e := revs[3].EndedAt; e == nil || !e.Equal(end) {
			t.Errorf("revision 4 ended_at %v, want %v", e, end)
		}

		// Conditional updates and no-ops.
		_, err = ix.UpdateResource(ctx, "instance", id, ResourcePatch{Attributes: map[string]any{"host": "h4"}}, 2)
		wantErr(t, "stale revision", err, ErrConflict)
		same, err := ix.UpdateResource(ctx, "instance", id, ResourcePatch{Attributes: map[string]any{"host": "h3"}}, 0)
		must(t, err)
		if same.Revision != cur.Revision || !same.RevisionStart.Equal(cur.RevisionStart) {
			t.Errorf("a patch changing nothing made revision %d", same.Revision)
		}
		_, err = ix.UpdateResource(ctx, "instance", id, ResourcePatch{Attributes: map[string]any{"host": nil}}, 0)
		wantErr(t, "nulling a required attribute", err, ErrInvalid)
		before := start.Add(-time.Hour)
		_, err = ix.UpdateResource(ctx, "instance", id, ResourcePatch{EndedAt: &[]*time.Time{&before}[0]}, 0)
		wantErr(t, "ending before the start", err, ErrInvalid)
		_, err = ix.UpdateResource(ctx, "volume", id, ResourcePatch{}, 0)
		wantErr(t, "patching as another type", err, ErrNotFound)
		_, err = ix.UpdateResource(ctx, "generic", uuid.New(), ResourcePatch{}, 0)
		wantErr(t, "patching a missing resource", err, ErrNotFound)

		// Replacing the metrics detaches the others and makes no revision.
		withMem, err := ix.UpdateResource(ctx, "instance", id, ResourcePatch{Metrics: map[string]MetricSpec{"mem": {Unit: "MB"}}}, cur.Revision)
		must(t, err)
		if withMem.Revision != cur.Revision || len(withMem.Metrics) != 1 || withMem.Metrics["mem"] == uuid.Nil {
			t.Errorf("after replacing the metrics: revision %d, metrics %v", withMem.Revision, withMem.Metrics)
		}
		if cpu, err := ix.Metric(ctx, r0.Metrics["cpu"]); err != nil || cpu.ResourceID != nil {
			t.Errorf("detached metric %+v, %v; want it stand-alone and active", cpu, err)
		}
		back, err := ix.UpdateResource(ctx, "instance", id, ResourcePatch{Metrics: map[string]MetricSpec{"cpu": {ID: r0.Metrics["cpu"]}}}, 0)
		must(t, err)
		if len(back.Metrics) != 1 || back.Metrics["cpu"] != r0.Metrics["cpu"] {
			t.Errorf("after re-attaching cpu: %v", back.Metrics)
		}

		added, err := ix.AddResourceMetrics(ctx, "instance", id, map[string]MetricSpec{"disk": {ArchivePolicyName: "medium"}})
		must(t, err)
		if len(added.Metrics) != 2 || added.Revision != cur.Revision {
			t.Errorf("after adding a metric: %v, revision %d", added.Metrics, added.Revision)
		}
		_, err = ix.AddResourceMetrics(ctx, "instance", id, map[string]MetricSpec{"disk": {}})
		wantErr(t, "adding a metric name twice", err, ErrExists)
		_, err = ix.UpdateResource(ctx, "instance", id, ResourcePatch{Metrics: map[string]MetricSpec{"cpu": {ID: r0.Metrics["cpu"]}}}, 0)
		must(t, err)

		hist, err := ix.ResourceHistory(ctx, "generic", id, ListOptions{Details: true})
		must(t, err)
		if len(hist) != len(revs) {
			t.Fatalf("%d revisions in the history, want %d", len(hist), len(revs))
		}
		for i, h := range hist {
			w := revs[i]
			if h.Revision != w.Revision || !h.RevisionStart.Equal(w.RevisionStart) || h.Attributes["host"] != w.Attributes["host"] {
				t.Errorf("history %d = revision %d host %v, want revision %d host %v", i, h.Revision, h.Attributes["host"], w.Revision, w.Attributes["host"])
			}
			if i < len(hist)-1 {
				if h.RevisionEnd == nil || !h.RevisionEnd.Equal(hist[i+1].RevisionStart) {
					t.Errorf("revision %d ends at %v, the next starts at %v", h.Revision, h.RevisionEnd, hist[i+1].RevisionStart)
				}
			} else if h.RevisionEnd != nil {
				t.Errorf("the current revision ends at %v", h.RevisionEnd)
			}
			if h.Metrics["cpu"] != r0.Metrics["cpu"] {
				t.Errorf("revision %d has metrics %v", h.Revision, h.Metrics)
			}
		}
		desc, err := ix.ResourceHistory(ctx, "instance", id, ListOptions{Sort: []SortKey{{Key: "revision_start", Desc: true}}, Limit: 2})
		must(t, err)
		if len(desc) != 2 || desc[0].Revision != cur.Revision {
			t.Errorf("newest two revisions: %d items, first %d", len(desc), desc[0].Revision)
		}
		old, err := ix.ResourceHistory(ctx, "instance", id, ListOptions{Filter: search.Cmp{Op: search.OpEq, Attr: "host", Value: "h2"}})
		must(t, err)
		if len(old) != 1 || old[0].Revision != 2 {
			t.Errorf("revisions with host h2: %+v", old)
		}
		all, err := ix.ListResources(ctx, ListOptions{Type: "instance", History: true})
		must(t, err)
		if len(all) != len(revs) {
			t.Errorf("history listing has %d items, want %d", len(all), len(revs))
		}
		// Paging through history with revision markers.
		var paged []int64
		opts := ListOptions{History: true, Limit: 2, Sort: []SortKey{{Key: "revision", Desc: true}}}
		for {
			page, err := ix.ListResources(ctx, opts)
			must(t, err)
			for _, p := range page {
				paged = append(paged, p.Revision)
			}
			if len(page) < opts.Limit {
				break
			}
			last := page[len(page)-1]
			opts.Marker, opts.MarkerRevision = &last.ID, last.Revision
		}
		if !slices.Equal(paged, []int64{5, 4, 3, 2, 1}) {
			t.Errorf("paged history %v", paged)
		}

		// Retention of history.
		n, err := ix.PurgeHistory(ctx, revs[2].RevisionStart.Add(time.Microsecond))
		must(t, err)
		if n != 2 {
			t.Errorf("purged %d revisions, want 2", n)
		}
		hist, _ = ix.ResourceHistory(ctx, "instance", id, ListOptions{})
		if len(hist) != 3 || hist[0].Revision != 3 {
			t.Errorf("after the purge %d revisions from %d", len(hist), hist[0].Revision)
		}
	})
}

func TestDeleteResources(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		var ids []uuid.UUID
		var metrics []uuid.UUID
		for i := range 5 {
			id := uuid.New()
			proj := "a"
			if i >= 3 {
				proj = "b"
			}
			r, err := ix.CreateResource(ctx, Resource{ID: id, Creator: "u:" + proj, ProjectID: sp(proj)}, map[string]MetricSpec{"m1": {}, "m2": {}})
			must(t, err)
			_, err = ix.UpdateResource(ctx, "generic", id, ResourcePatch{UserID: &[]*string{sp("x")}[0]}, 0)
			must(t, err)
			ids = append(ids, id)
			for _, m := range r.Metrics {
				metrics = append(metrics, m)
			}
		}
		gone, err := ix.DeleteResource(ctx, "generic", ids[0])
		must(t, err)
		if len(gone) != 2 {
			t.Errorf("DeleteResource returned %d metrics, want 2", len(gone))
		}
		for _, m := range gone {
			_, err := ix.Metric(ctx, m)
			wantErr(t, "metric of a deleted resource", err, ErrNotFound)
		}
		_, err = ix.Resource(ctx, "generic", ids[0])
		wantErr(t, "deleted resource", err, ErrNotFound)
		_, err = ix.DeleteResource(ctx, "generic", ids[0])
		wantErr(t, "deleting twice", err, ErrNotFound)
		_, err = ix.DeleteResource(ctx, "instance", ids[1])
		wantErr(t, "deleting as another type", err, ErrNotFound)

		_, _, err = ix.DeleteResources(ctx, DeleteResourcesOptions{})
		wantErr(t, "batch delete without filter", err, ErrInvalid)
		scope := "b"
		n, ms, err := ix.DeleteResources(ctx, DeleteResourcesOptions{ProjectScope: &scope, Filter: search.Cmp{Op: search.OpEq, Attr: "user_id", Value: "x"}})
		must(t, err)
		if n != 2 || len(ms) != 4 {
			t.Errorf("scoped batch delete: %d resources, %d metrics; want 2, 4", n, len(ms))
		}
		rest, err := ix.ListResources(ctx, ListOptions{})
		must(t, err)
		if len(rest) != 2 {
			t.Errorf("%d resources left, want 2", len(rest))
		}

		deleted, err := ix.DeletedMetrics(ctx, 0)
		must(t, err)
		if len(deleted) != 6 {
			t.Errorf("%d deleted metrics, want 6", len(deleted))
		}
		must(t, ix.ExpungeMetrics(ctx, append(deleted, metrics...)))
		deleted, _ = ix.DeletedMetrics(ctx, 0)
		if len(deleted) != 0 {
			t.Errorf("%d deleted metrics after expunging", len(deleted))
		}
		// Active metrics are not expunged.
		all, _ := ix.ListMetrics(ctx, ListMetricOptions{})
		if len(all) != 4 {
			t.Errorf("%d metrics left, want 4", len(all))
		}
	})
}

// TestConcurrentEnsure runs many creators of one resource and one metric at
// once, through two Index values as two processes would.
func TestConcurrentEnsure(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testURL(t, d)
			var ixs [2]*Index
			for i := range ixs {
				ix, err := Open(ctx, url, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer ix.Close()
				ixs[i] = ix
			}
			const n = 32
			for round := range 3 {
				rid := uuid.New()
				var wg sync.WaitGroup
				var mu sync.Mutex
				created, metricsCreated := 0, 0
				seen := map[uuid.UUID]bool{}
				errs := make(chan error, 2*n)
				for g := range n {
					wg.Go(func() {
						ix := ixs[g%2]
						_, c, err := ix.EnsureResource(ctx, Resource{ID: rid, Type: "host", Creator: "u:p",
							Attributes: map[string]any{"host_name": "h"}})
						if err != nil {
							errs <- err
							return
						}
						m, mc, err := ix.EnsureMetric(ctx, rid, "cpu", "%", "", "u:p")
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						defer mu.Unlock()
						if c {
							created++
						}
						if mc {
							metricsCreated++
						}
						seen[m.ID] = true
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Errorf("round %d: %v", round, err)
				}
				if created != 1 || metricsCreated != 1 || len(seen) != 1 {
					t.Errorf("round %d: %d resources and %d metrics created, %d metric ids seen; want 1 each", round, created, metricsCreated, len(seen))
				}
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		rid := uuid.New()
		_, err := ix.CreateResource(ctx, Resource{ID: rid, Creator: "u1:p1", ProjectID: sp("p1")}, nil)
		must(t, err)
		m, created, err := ix.EnsureMetric(ctx, rid, "disk.read", "B", "", "u2:p2")
		must(t, err)
		if !created || m.ArchivePolicyName != "low" || m.Unit != "B" || m.CreatedByUserID != "u2" || m.CreatedByProjectID != "p2" || *m.ResourceID != rid {
			t.Errorf("EnsureMetric created %+v", m)
		}
		again, created, err := ix.EnsureMetric(ctx, rid, "disk.read", "KB", "high", "x:y")
		must(t, err)
		if created || !sameMetric(again, m) {
			t.Errorf("second EnsureMetric %+v created=%v, want %+v", again, created, m)
		}
		_, _, err = ix.EnsureMetric(ctx, uuid.New(), "x", "", "", "u:p")
		wantErr(t, "metric of a missing resource", err, ErrNotFound)
		_, _, err = ix.EnsureMetric(ctx, rid, "y", "", "nope", "u:p")
		wantErr(t, "metric with a missing policy", err, ErrInvalid)
		_, err = ix.CreateMetric(ctx, Metric{Name: "disk.read", ResourceID: &rid, ArchivePolicyName: "low"})
		wantErr(t, "second metric of one name", err, ErrExists)
		_, err = ix.CreateMetric(ctx, Metric{ID: m.ID, Name: "z", ArchivePolicyName: "low"})
		wantErr(t, "metric id taken", err, ErrExists)
		_, err = ix.CreateMetric(ctx, Metric{ResourceID: &rid, ArchivePolicyName: "low"})
		wantErr(t, "unnamed metric of a resource", err, ErrInvalid)
		lone, err := ix.CreateMetric(ctx, Metric{ArchivePolicyName: "medium", Creator: "u3:p3"})
		must(t, err)
		if lone.ID == uuid.Nil || lone.ResourceID != nil {
			t.Errorf("stand-alone metric %+v", lone)
		}
		got, err := ix.Metric(ctx, lone.ID)
		must(t, err)
		if !sameMetric(got, lone) {
			t.Errorf("read back %+v, want %+v", got, lone)
		}

		must(t, ix.DeleteMetric(ctx, m.ID))
		_, err = ix.Metric(ctx, m.ID)
		wantErr(t, "deleted metric", err, ErrNotFound)
		wantErr(t, "deleting twice", ix.DeleteMetric(ctx, m.ID), ErrNotFound)
		r, _ := ix.Resource(ctx, "generic", rid)
		if len(r.Metrics) != 0 {
			t.Errorf("resource still lists deleted metric: %v", r.Metrics)
		}
		// The name is free again at once.
		m2, created, err := ix.EnsureMetric(ctx, rid, "disk.read", "B", "", "u2:p2")
		must(t, err)
		if !created || m2.ID == m.ID {
			t.Errorf("re-creating a deleted metric's name: %+v created=%v", m2, created)
		}

		// Many metrics, to cross ForEachMetric's pages.
		specs := map[string]MetricSpec{}
		for i := range 2100 {
			specs["m"+string(rune('a'+i%26))+uuid.NewString()[:8]] = MetricSpec{}
		}
		_, err = ix.CreateResource(ctx, Resource{ID: uuid.New(), Creator: "u4:p4"}, specs)
		must(t, err)
		var visited []uuid.UUID
		must(t, ix.ForEachMetric(ctx, func(m Metric) error {
			// fn may use the index while iterating.
			if _, err := ix.ArchivePolicy(ctx, m.ArchivePolicyName); err != nil {
				return err
			}
			visited = append(visited, m.ID)
			return nil
		}))
		if len(visited) != 2100+2 || !slices.IsSortedFunc(visited, func(a, b uuid.UUID) int { return compareUUID(a, b) }) {
			t.Errorf("ForEachMetric visited %d metrics (sorted %v), want %d", len(visited), slices.IsSortedFunc(visited, compareUUID), 2102)
		}
		stop := 0
		err = ix.ForEachMetric(ctx, func(Metric) error { stop++; return ErrConflict })
		if stop != 1 || err != ErrConflict {
			t.Errorf("ForEachMetric went on after an error: %d calls, %v", stop, err)
		}

		// Listing and scoping.
		byName, err := ix.ListMetrics(ctx, ListMetricOptions{Name: "disk.read"})
		must(t, err)
		if len(byName) != 1 || byName[0].ID != m2.ID {
			t.Errorf("metrics named disk.read: %+v", byName)
		}
		byRes, err := ix.ListMetrics(ctx, ListMetricOptions{ResourceID: &rid})
		must(t, err)
		if len(byRes) != 1 {
			t.Errorf("metrics of the resource: %+v", byRes)
		}
		for scope, want := range map[string]int{"p1": 1, "p2": 1, "p3": 1, "p4": 2100, "none": 0} {
			s := scope
			ms, err := ix.ListMetrics(ctx, ListMetricOptions{ProjectScope: &s})
			must(t, err)
			if len(ms) != want {
				t.Errorf("project %s sees %d metrics, want %d", scope, len(ms), want)
			}
		}
		f, err := search.ParseString("archive_policy_name = 'medium' or unit = 'B'")
		must(t, err)
		ms, err := ix.ListMetrics(ctx, ListMetricOptions{Filter: f})
		must(t, err)
		if len(ms) != 2 {
			t.Errorf("filter found %d metrics, want 2", len(ms))
		}
		_, err = ix.ListMetrics(ctx, ListMetricOptions{Sort: []SortKey{{Key: "colour"}}})
		wantErr(t, "unknown sort key", err, ErrInvalid)
		bad := uuid.New()
		_, err = ix.ListMetrics(ctx, ListMetricOptions{Marker: &bad})
		wantErr(t, "unknown marker", err, ErrInvalid)
		page, err := ix.ListMetrics(ctx, ListMetricOptions{Limit: 10, Sort: []SortKey{{Key: "name", Desc: true}}})
		must(t, err)
		next, err := ix.ListMetrics(ctx, ListMetricOptions{Limit: 10, Marker: &page[9].ID, Sort: []SortKey{{Key: "name", Desc: true}}})
		must(t, err)
		if len(next) != 10 || next[0].Name > page[9].Name || next[0].ID == page[9].ID {
			t.Errorf("second page starts with %q after %q", next[0].Name, page[9].Name)
		}
	})
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

func sameMetric(a, b Metric) bool {
	ra, rb := a.ResourceID, b.ResourceID
	a.ResourceID, b.ResourceID = nil, nil
	return a == b && (ra == nil) == (rb == nil) && (ra == nil || *ra == *rb)
}
