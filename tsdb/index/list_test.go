package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// sortValue is what the naive reference sorts a resource by for key.
func sortValue(r Resource, key string) any {
	opt := func(s *string) any {
		if s == nil {
			return nil
		}
		return *s
	}
	switch key {
	case "id":
		return r.ID.String()
	case "original_resource_id":
		return r.OriginalResourceID
	case "user_id":
		return opt(r.UserID)
	case "project_id":
		return opt(r.ProjectID)
	case "started_at":
		return r.StartedAt
	case "revision_start":
		return r.RevisionStart
	case "ended_at":
		if r.EndedAt == nil {
			return nil
		}
		return *r.EndedAt
	}
	return r.Attributes[key]
}

// compareValues orders values as the index does: NULL first, then by
// value; strings byte-wise, false before true.
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("BUG: cannot compare %T", a))
}

func naiveSort(rs []Resource, keys []SortKey) []uuid.UUID {
	if len(keys) == 0 {
		keys = defaultResourceSort
	}
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b Resource) int {
		for _, k := range append(slices.Clone(keys), SortKey{Key: "id"}) {
			c := compareValues(sortValue(a, k.Key), sortValue(b, k.Key))
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	out := make([]uuid.UUID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func pick[T any](r *rand.Rand, pool []T) T { return pool[r.IntN(len(pool))] }

// TestPaginationProperty pages through random listings with random sort
// keys and page sizes and checks the pages concatenate to the naive sort.
func TestPaginationProperty(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		_, err := ix.CreateResourceType(ctx, ResourceType{Name: "pager", Attributes: map[string]AttributeSpec{
			"s": {Type: TypeString}, "n": {Type: TypeNumber}, "b": {Type: TypeBool}, "d": {Type: TypeDatetime}}})
		must(t, err)
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		strs := []any{nil, "", "a", "A", "b", "é", "a b", "Z"}
		nums := []any{nil, -1.5, 0.0, 2.0, 2.5, 1e6}
		bools := []any{nil, true, false}
		dates := []any{nil, "2024-01-01T00:00:00Z", "2023-12-31T23:59:59.5Z", "2030-06-01T00:00:00Z"}
		users := []*string{nil, sp("u1"), sp("u2"), sp("U1")}
		var all []Resource
		for i := range 70 {
			start := base.Add(time.Duration(rng.IntN(4)) * time.Hour)
			var end *time.Time
			if rng.IntN(2) == 0 {
				e := start.Add(time.Duration(rng.IntN(3)) * time.Hour)
				end = &e
			}
			r := Resource{ID: uuid.New(), OriginalResourceID: fmt.Sprintf("r%02d", rng.IntN(30)), Type: "pager", Creator: "u:p",
				UserID: pick(rng, users), ProjectID: pick(rng, users), StartedAt: start, EndedAt: end,
				Attributes: map[string]any{"s": pick(rng, strs), "n": pick(rng, nums), "b": pick(rng, bools), "d": pick(rng, dates)}}
			got, err := ix.CreateResource(ctx, r, nil)
			must(t, err)
			if i%3 == 0 {
				// Some revisions, so that revision_start differs from
				// creation order.
				got, err = ix.UpdateResource(ctx, "pager", got.ID, ResourcePatch{Attributes: map[string]any{"n": pick(rng, nums)}}, 0)
				must(t, err)
			}
			all = append(all, got)
		}
		// Resources of another type stay out of typed listings.
		for range 5 {
			_, err := ix.CreateResource(ctx, Resource{ID: uuid.New()}, nil)
			must(t, err)
		}
		keys := []string{"s", "n", "b", "d", "user_id", "project_id", "started_at", "ended_at", "original_resource_id", "id", "revision_start"}
		filter := search.Cmp{Op: search.OpGe, Attr: "n", Value: "0"}
		for iter := range 60 {
			var sort []SortKey
			for range rng.IntN(4) {
				sort = append(sort, SortKey{Key: pick(rng, keys), Desc: rng.IntN(2) == 0})
			}
			opts := ListOptions{Type: "pager", Sort: sort, Limit: 1 + rng.IntN(13)}
			want := all
			if iter%3 == 1 {
				opts.Filter = filter
				want = nil
				for _, r := range all {
					if v, ok := r.Attributes["n"].(float64); ok && v >= 0 {
						want = append(want, r)
					}
				}
			}
			wantIDs := naiveSort(want, dedupe(sort))
			var got []uuid.UUID
			for page := 0; ; page++ {
				if page > len(all) {
					t.Fatalf("sort %v: pagination does not end", sort)
				}
				rs, err := ix.ListResources(ctx, opts)
				must(t, err)
				for _, r := range rs {
					got = append(got, r.ID)
				}
				if len(rs) < opts.Limit {
					break
				}
				opts.Marker = &rs[len(rs)-1].ID
			}
			if !slices.Equal(got, wantIDs) {
				t.Fatalf("sort %v limit %d filter %v: pages give %d ids, naive sort %d; first difference at %d",
					sort, opts.Limit, opts.Filter, len(got), len(wantIDs), firstDiff(got, wantIDs))
			}
		}
	})
}

// dedupe keeps the first occurrence of each key, as the index does.
func dedupe(keys []SortKey) []SortKey {
	var out []SortKey
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k.Key] {
			seen[k.Key] = true
			out = append(out, k)
		}
	}
	return out
}

func firstDiff(a, b []uuid.UUID) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestSearch(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		_, err := ix.CreateResourceType(ctx, serverType())
		must(t, err)
		vm := func(orig, host, flavor string, launched any, project string) uuid.UUID {
			id, err := pipeline.ResourceUUID(orig, "u:p")
			must(t, err)
			_, err = ix.CreateResource(ctx, Resource{ID: id, OriginalResourceID: orig, Type: "instance", Creator: "u:" + project, ProjectID: sp(project),
				StartedAt:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
				Attributes: map[string]any{"flavor_id": "1", "host": host, "display_name": orig, "flavor_name": flavor, "launched_at": launched}}, nil)
			must(t, err)
			return id
		}
		a := vm("vm-a", "h1", "m1.small", "2024-01-01T10:00:00Z", "p1")
		b := vm("vm-b", "h2", "m1.large", "2024-01-02T10:00:00Z", "p1")
		c := vm("vm-c", "h3", "x1", nil, "p2")
		end := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
		_, err = ix.UpdateResource(ctx, "instance", c, ResourcePatch{EndedAt: &[]*time.Time{&end}[0]}, 0)
		must(t, err)
		owner := uuid.New()
		s1, s2 := uuid.New(), uuid.New()
		_, err = ix.CreateResource(ctx, Resource{ID: s1, Type: "server-x", Attributes: map[string]any{"required": "r", "enabled": true, "size": 10.0, "owner": owner.String()}}, nil)
		must(t, err)
		_, err = ix.CreateResource(ctx, Resource{ID: s2, Type: "server-x", Attributes: map[string]any{"required": "r", "enabled": false, "size": 20.0}}, nil)
		must(t, err)

		for _, c := range []struct {
			typ, filter string
			want        []uuid.UUID
		}{
			{"instance", "host = 'h1'", []uuid.UUID{a}},
			{"instance", "host != 'h1'", []uuid.UUID{b, c}},
			{"instance", "flavor_name like 'm1.%'", []uuid.UUID{a, b}},
			{"instance", "flavor_name like 'M1.%'", nil},
			{"instance", "launched_at > '2024-01-01T12:00:00'", []uuid.UUID{b}},
			{"instance", "launched_at = null", []uuid.UUID{c}},
			{"instance", "host in ['h1', 'h3']", []uuid.UUID{a, c}},
			{"instance", "not host = 'h1'", []uuid.UUID{b, c}},
			{"instance", "host = 'h1' or (project_id = 'p2' and flavor_name = 'x1')", []uuid.UUID{a, c}},
			{"instance", "id = 'vm-b'", []uuid.UUID{b}},
			{"instance", "original_resource_id = 'vm-c'", []uuid.UUID{c}},
			{"instance", "lifespan >= '1 hour'", []uuid.UUID{c}},
			{"instance", "ended_at = null", []uuid.UUID{a, b}},
			{"instance", "revision_end = null", []uuid.UUID{a, b, c}},
			{"instance", "created_by_project_id = 'p1'", []uuid.UUID{a, b}},
			{"instance", "started_at >= '2024-01-01'", []uuid.UUID{a, b, c}},
			{"generic", "project_id = 'p1'", []uuid.UUID{a, b}},
			{"generic", "type = 'server-x'", []uuid.UUID{s1, s2}},
			{"server-x", "enabled = true", []uuid.UUID{s1}},
			{"server-x", "enabled = 'false'", []uuid.UUID{s2}},
			{"server-x", "size > 15", []uuid.UUID{s2}},
			{"server-x", "size <= '10'", []uuid.UUID{s1}},
			{"server-x", "owner = '" + owner.String() + "'", []uuid.UUID{s1}},
			{"server-x", "owner = null", []uuid.UUID{s2}},
			{"server-x", "label = null and born = null", []uuid.UUID{s1, s2}},
		} {
			f, err := search.ParseString(c.filter)
			must(t, err)
			rs, err := ix.ListResources(ctx, ListOptions{Type: c.typ, Filter: f, Creator: "u:p", Sort: []SortKey{{Key: "original_resource_id"}}})
			if err != nil {
				t.Errorf("%s %q: %v", c.typ, c.filter, err)
				continue
			}
			var got []uuid.UUID
			for _, r := range rs {
				got = append(got, r.ID)
			}
			slices.SortFunc(got, compareUUID)
			want := slices.Clone(c.want)
			slices.SortFunc(want, compareUUID)
			if !slices.Equal(got, want) {
				t.Errorf("%s %q found %v, want %v", c.typ, c.filter, got, want)
			}
		}
		for _, bad := range []struct{ typ, filter string }{
			{"generic", "host = 'h1'"},
			{"instance", "colour = 'red'"},
			{"server-x", "size > 'big'"},
			{"instance", "id = 'a/b'"},
			{"instance", "launched_at like 'x%'"},
		} {
			f, err := search.ParseString(bad.filter)
			must(t, err)
			_, err = ix.ListResources(ctx, ListOptions{Type: bad.typ, Filter: f})
			wantErr(t, bad.typ+" "+bad.filter, err, ErrInvalid)
		}
		_, err = ix.ListResources(ctx, ListOptions{Type: "nope"})
		wantErr(t, "listing a missing type", err, ErrNotFound)
		_, err = ix.ListResources(ctx, ListOptions{Sort: []SortKey{{Key: "host"}}})
		wantErr(t, "sorting generic by an attribute", err, ErrInvalid)
		if err == nil || !strings.Contains(err.Error(), `"host"`) {
			t.Errorf("unknown sort key error %v does not name the key", err)
		}
		bad := uuid.New()
		_, err = ix.ListResources(ctx, ListOptions{Marker: &bad})
		wantErr(t, "unknown marker", err, ErrInvalid)
		_, err = ix.ListResources(ctx, ListOptions{Type: "server-x", Marker: &a})
		wantErr(t, "marker of another type", err, ErrInvalid)
		_, err = ix.ListResources(ctx, ListOptions{Limit: -1})
		wantErr(t, "negative limit", err, ErrInvalid)

		// Typed listings show attributes; generic ones only with Details.
		typed, _ := ix.ListResources(ctx, ListOptions{Type: "instance"})
		plain, _ := ix.ListResources(ctx, ListOptions{})
		detailed, _ := ix.ListResources(ctx, ListOptions{Details: true})
		if len(typed) != 3 || typed[0].Attributes["host"] == nil || plain[0].Attributes != nil || detailed[0].Attributes == nil && detailed[0].Type != "generic" {
			t.Errorf("attributes: typed %v, generic %v, detailed %v", typed[0].Attributes, plain[0].Attributes, detailed[0].Attributes)
		}
		scope := "p2"
		scoped, _ := ix.ListResources(ctx, ListOptions{ProjectScope: &scope})
		if len(scoped) != 1 || scoped[0].ID != c {
			t.Errorf("project p2 sees %d resources", len(scoped))
		}
		sorted, _ := ix.ListResources(ctx, ListOptions{Type: "instance", Sort: []SortKey{{Key: "host", Desc: true}}})
		if sorted[0].ID != c || sorted[2].ID != a {
			t.Errorf("sorting by host descending gives %v", []any{sorted[0].Attributes["host"], sorted[2].Attributes["host"]})
		}
		// The default order is Gnocchi's revision_start, started_at: vm-c
		// changed last.
		def, _ := ix.ListResources(ctx, ListOptions{Type: "instance"})
		if def[2].ID != c {
			t.Errorf("default order ends with %s, want the last changed", def[2].OriginalResourceID)
		}
	})
}

// TestAttributeIndexUsed checks that an attribute search of a type reads
// the type's expression index, on the dialect that reports its plans
// reliably for small tables.
func TestAttributeIndexUsed(t *testing.T) {
	ix := openTest(t, "sqlite")
	ctx := context.Background()
	b := &builder{ix: ix}
	rt, err := ix.ResourceType(ctx, "instance")
	must(t, err)
	where, err := b.filter(search.Cmp{Op: search.OpEq, Attr: "host", Value: "h1"}, searchColumns(ix.resourceColumn(&rt, false, "")))
	must(t, err)
	rows, err := ix.r.QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT r.id FROM resource r WHERE r.type = 'instance' AND "+where, b.args...)
	must(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		must(t, rows.Scan(&id, &parent, &notused, &detail))
		plan = append(plan, detail)
	}
	if want := attrIndexName("instance", "host"); !strings.Contains(strings.Join(plan, "; "), want) {
		t.Errorf("plan %q does not use index %s", plan, want)
	}
}
