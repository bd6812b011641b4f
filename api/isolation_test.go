package api

import (
	"fmt"
	"testing"
)

// TestProjectIsolation checks every read and write path with two projects,
// both ways: what one project owns, the other cannot read (403 on an
// object, absent from listings and searches) nor change.
func TestProjectIsolation(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		for _, pair := range [][2]caller{{alice, bob}, {bob, alice}} {
			owner, other := pair[0], pair[1]
			t.Run(owner.user+" vs "+other.user, func(t *testing.T) {
				rid := "res-" + owner.user
				res := e.must(201, owner, "POST", "/v1/resource/generic", map[string]any{"id": rid, "project_id": owner.project,
					"metrics": map[string]any{"cpu": map[string]any{"archive_policy_name": "p"}}}).obj(t)
				uuid := res["id"].(string)
				cpu := res["metrics"].(map[string]any)["cpu"].(string)
				solo := e.metric(owner, "p")
				meas := []any{map[string]any{"timestamp": "2024-01-01T00:00:00", "value": 1}}
				e.must(202, owner, "POST", "/v1/metric/"+cpu+"/measures", meas)
				e.waitMeasures(owner, "/v1/metric/"+cpu+"/measures", 2)

				// The other project addresses the resource by its UUID (a
				// non-UUID id maps to another UUID under its creator).
				rpath := "/v1/resource/generic/" + uuid
				denied := []struct {
					method, path string
					body         any
				}{
					{"GET", rpath, nil},
					{"PATCH", rpath, map[string]any{"user_id": "x"}},
					{"DELETE", rpath, nil},
					{"GET", rpath + "/history", nil},
					{"GET", rpath + "/metric", nil},
					{"POST", rpath + "/metric", map[string]any{"mem": map[string]any{"archive_policy_name": "p"}}},
					{"GET", rpath + "/metric/cpu", nil},
					{"DELETE", rpath + "/metric/cpu", nil},
					{"GET", rpath + "/metric/cpu/measures", nil},
					{"POST", rpath + "/metric/cpu/measures", meas},
					{"GET", "/v1/metric/" + cpu, nil},
					{"GET", "/v1/metric/" + solo, nil},
					{"DELETE", "/v1/metric/" + solo, nil},
					{"GET", "/v1/metric/" + solo + "/measures", nil},
					{"POST", "/v1/metric/" + solo + "/measures", meas},
					{"POST", "/v1/metric", map[string]any{"archive_policy_name": "p", "name": "x", "resource_id": uuid}},
					{"POST", "/v1/batch/metrics/measures", map[string]any{cpu: meas}},
					{"POST", "/v1/batch/resources/metrics/measures", map[string]any{uuid: map[string]any{"cpu": meas}}},
					{"POST", "/v1/batch/resources/metrics/measures?create_metrics=true", map[string]any{uuid: map[string]any{"new": meas}}},
					{"POST", "/v1/aggregates", map[string]any{"operations": fmt.Sprintf("(metric %s mean)", cpu)}},
					{"GET", "/v1/aggregation/metric?metric=" + cpu, nil},
					{"POST", "/v1/search/metric?metric_id=" + cpu, map[string]any{">": 0}},
				}
				for _, d := range denied {
					r := e.do(other, d.method, d.path, d.body)
					if r.code != 403 {
						t.Errorf("%s %s %s by %s: %d %s, want 403", owner.user, d.method, d.path, other.user, r.code, r.body)
					}
				}
				// Listings and searches leave the owner's things out.
				for _, l := range []struct {
					method, path string
					body         any
				}{
					{"GET", "/v1/resource/generic", nil},
					{"GET", "/v1/resource/generic?history=true", nil},
					{"POST", "/v1/search/resource/generic", map[string]any{"=": map[string]any{"id": uuid}}},
					{"GET", "/v1/metric", nil},
					{"POST", "/v1/search/metric", map[string]any{"=": map[string]any{"id": cpu}}},
				} {
					for _, x := range e.must(200, other, l.method, l.path, l.body).list(t) {
						o := x.(map[string]any)
						if o["id"] == uuid || o["id"] == cpu || o["id"] == solo {
							t.Errorf("%s %s by %s lists %v of %s", l.method, l.path, other.user, o["id"], owner.user)
						}
					}
				}
				// A resource search in the aggregates finds nothing of theirs.
				r := e.do(other, "POST", "/v1/aggregates", map[string]any{"operations": "(metric cpu mean)", "resource_type": "generic", "search": map[string]any{"=": map[string]any{"id": uuid}}})
				if r.code != 400 {
					t.Errorf("aggregates search by %s: %d %s, want 400 (no metric)", other.user, r.code, r.body)
				}
				// A batch delete spares them.
				if d := e.must(200, other, "DELETE", "/v1/resource/generic", map[string]any{"=": map[string]any{"id": uuid}}).obj(t)["deleted"]; d != jsonNum(0) {
					t.Errorf("batch delete by %s deleted %v", other.user, d)
				}
				// Everything is still there for the owner, and for the admin.
				for _, c := range []caller{owner, admin} {
					e.must(200, c, "GET", rpath, nil)
					e.must(200, c, "GET", "/v1/metric/"+solo, nil)
					e.must(200, c, "GET", "/v1/metric/"+cpu+"/measures", nil)
				}
				found := false
				for _, x := range e.must(200, owner, "GET", "/v1/resource/generic", nil).list(t) {
					found = found || x.(map[string]any)["id"] == uuid
				}
				if !found {
					t.Errorf("%s does not list its own resource", owner.user)
				}
			})
		}

		// A resource the admin made for project a: a may read it (it owns
		// it), not change it (it did not create it); its metric's measures
		// likewise; b may do neither.
		res := e.must(201, admin, "POST", "/v1/resource/generic", map[string]any{"id": "given", "project_id": alice.project,
			"metrics": map[string]any{"cpu": map[string]any{"archive_policy_name": "p"}}}).obj(t)
		path := "/v1/resource/generic/" + res["id"].(string)
		cpu := res["metrics"].(map[string]any)["cpu"].(string)
		e.must(200, alice, "GET", path, nil)
		e.must(200, alice, "GET", "/v1/metric/"+cpu+"/measures", nil)
		e.must(403, alice, "PATCH", path, map[string]any{"user_id": "x"})
		e.must(403, alice, "POST", "/v1/metric/"+cpu+"/measures", []any{})
		e.must(403, bob, "GET", path, nil)
		e.must(403, bob, "GET", "/v1/metric/"+cpu+"/measures", nil)
		listed := false
		for _, x := range e.must(200, alice, "GET", "/v1/resource/generic", nil).list(t) {
			listed = listed || x.(map[string]any)["id"] == res["id"]
		}
		if !listed {
			t.Errorf("the owner project does not list a resource given to it")
		}
		if d := e.must(200, alice, "DELETE", "/v1/resource/generic", map[string]any{"=": map[string]any{"id": res["id"]}}).obj(t)["deleted"]; d != jsonNum(0) {
			t.Errorf("batch delete of a given resource by its project deleted %v", d)
		}
	})
}

// TestBasicAuth checks Gnocchi's basic mode: the user name is the user
// and its project, "admin" is the admin.
func TestBasicAuth(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{auth: "basic"})
	root := caller{basic: "admin"}
	carol := caller{basic: "carol"}
	dave := caller{basic: "dave"}
	e.must(201, root, "POST", "/v1/archive_policy", map[string]any{"name": "p", "definition": []any{map[string]any{"granularity": 1, "points": 10}}})
	e.must(403, carol, "POST", "/v1/archive_policy", map[string]any{"name": "q", "definition": []any{map[string]any{"granularity": 1, "points": 10}}})
	r := e.must(201, carol, "POST", "/v1/resource/generic", map[string]any{"id": "mine"}).obj(t)
	if r["creator"] != "carol:carol" || r["created_by_project_id"] != "carol" {
		t.Errorf("basic identity %v", r)
	}
	e.must(200, carol, "GET", "/v1/resource/generic/mine", nil)
	e.must(403, dave, "GET", "/v1/resource/generic/"+r["id"].(string), nil)
	e.must(200, root, "GET", "/v1/resource/generic/"+r["id"].(string), nil)
	e.must(401, nobody, "GET", "/v1/resource/generic", nil).description(t)
	e.must(401, caller{user: "carol", project: "carol"}, "GET", "/v1/resource/generic", nil)
	e.must(200, root, "GET", "/v1/status", nil)
}
