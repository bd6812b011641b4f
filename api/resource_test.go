package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func TestResources(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		e.policy("p")
		e.must(201, admin, "POST", "/v1/resource_type", map[string]any{"name": "server", "attributes": map[string]any{
			"host":  map[string]any{"type": "string"},
			"vcpus": map[string]any{"type": "number", "required": false, "min": 1},
		}})
		// A non-UUID id maps to Gnocchi's UUIDv5 of the id and the creator.
		r := e.must(201, alice, "POST", "/v1/resource/server", map[string]any{
			"id": "web-1", "host": "h1", "vcpus": 2, "user_id": "alice", "project_id": alice.project,
			"started_at": "2024-01-01T00:00:00", "metrics": map[string]any{"cpu": map[string]any{"archive_policy_name": "p", "unit": "ns"}},
		})
		id, _ := pipeline.ResourceUUID("web-1", "alice:project-a")
		res := r.obj(t)
		if res["id"] != id.String() || res["original_resource_id"] != "web-1" || res["creator"] != "alice:project-a" ||
			res["created_by_user_id"] != "alice" || res["created_by_project_id"] != "project-a" || res["type"] != "server" ||
			res["host"] != "h1" || res["vcpus"] != jsonNum("2.0") && res["vcpus"] != jsonNum(2) || res["started_at"] != "2024-01-01T00:00:00+00:00" ||
			res["ended_at"] != nil || res["revision_end"] != nil {
			t.Errorf("created resource %s", r.body)
		}
		if r.header.Get("Location") != e.url+"/v1/resource/server/"+id.String() {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		tag := r.header.Get("ETag")
		if len(tag) != 42 || r.header.Get("Last-Modified") == "" {
			t.Errorf("ETag %q Last-Modified %q", tag, r.header.Get("Last-Modified"))
		}
		cpu := res["metrics"].(map[string]any)["cpu"].(string)

		// Reads by the original id and by the UUID; generic reads leave the
		// type's attributes out.
		for _, p := range []string{"/v1/resource/server/web-1", "/v1/resource/server/" + id.String()} {
			got := e.must(200, alice, "GET", p, nil)
			if got.obj(t)["host"] != "h1" || got.header.Get("ETag") != tag {
				t.Errorf("GET %s: %s", p, got.body)
			}
		}
		g := e.must(200, alice, "GET", "/v1/resource/generic/web-1", nil).obj(t)
		if _, ok := g["host"]; ok || g["type"] != "server" {
			t.Errorf("generic read %v", g)
		}

		// Conditional requests.
		e.must(304, alice, "GET", "/v1/resource/server/web-1", nil, "If-None-Match", tag)
		e.must(200, alice, "GET", "/v1/resource/server/web-1", nil, "If-None-Match", `"other"`)
		e.must(412, alice, "GET", "/v1/resource/server/web-1", nil, "If-Match", `"other"`)
		e.must(304, alice, "GET", "/v1/resource/server/web-1", nil, "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(httpTimeFormat))
		e.must(412, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": "h2"}, "If-Match", `"other"`)
		e.must(412, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": "h2"}, "If-None-Match", "*")
		e.must(412, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": "h2"}, "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")

		// A patch makes a revision; the history has both.
		time.Sleep(5 * time.Millisecond)
		r = e.must(200, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": "h2", "ended_at": "2030-01-01T00:00:00Z"}, "If-Match", tag)
		if r.obj(t)["host"] != "h2" || r.header.Get("ETag") == tag || r.obj(t)["ended_at"] != "2030-01-01T00:00:00+00:00" {
			t.Errorf("patched %s", r.body)
		}
		newTag := r.header.Get("ETag")
		// The old tag no longer matches.
		e.must(412, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": "h3"}, "If-Match", tag)
		// A patch that changes nothing makes no revision.
		r = e.must(200, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": "h2"})
		if r.header.Get("ETag") != newTag {
			t.Errorf("no-op patch changed the ETag")
		}
		h := e.must(200, alice, "GET", "/v1/resource/server/web-1/history", nil).list(t)
		if len(h) != 2 || h[0].(map[string]any)["host"] != "h1" || h[1].(map[string]any)["host"] != "h2" ||
			h[0].(map[string]any)["revision_end"] != h[1].(map[string]any)["revision_start"] {
			t.Errorf("history %v", h)
		}
		hr := e.must(200, alice, "GET", "/v1/resource/server/web-1/history?sort=revision_start:desc&limit=1", nil)
		h = hr.list(t)
		if len(h) != 1 || h[0].(map[string]any)["host"] != "h2" {
			t.Errorf("history desc %v", h)
		}
		// The next page of a history is marked by id@revision.
		link := hr.header.Get("Link")
		u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
		if err != nil || u.Query().Get("marker") != id.String()+"@2" {
			t.Fatalf("history Link %q", link)
		}
		h = e.must(200, alice, "GET", u.RequestURI(), nil).list(t)
		if len(h) != 1 || h[0].(map[string]any)["host"] != "h1" {
			t.Errorf("history second page %v", h)
		}
		// Setting ended_at to null, user_id to null.
		r = e.must(200, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"ended_at": nil, "user_id": nil})
		if o := r.obj(t); o["ended_at"] != nil || o["user_id"] != nil {
			t.Errorf("nulls %s", r.body)
		}

		// Metrics of the resource.
		m := e.must(200, alice, "GET", "/v1/resource/server/web-1/metric/cpu", nil).obj(t)
		if m["id"] != cpu || m["unit"] != "ns" || m["resource"].(map[string]any)["id"] != id.String() || m["archive_policy"].(map[string]any)["name"] != "p" {
			t.Errorf("named metric %v", m)
		}
		ms := e.must(200, alice, "POST", "/v1/resource/server/web-1/metric", map[string]any{"mem": map[string]any{"archive_policy_name": "p"}}).list(t)
		if len(ms) != 2 {
			t.Errorf("metrics after adding %v", ms)
		}
		errorCases(t, e, []errorCase{{"named metric exists", alice, "POST", "/v1/resource/server/web-1/metric", map[string]any{"mem": map[string]any{"archive_policy_name": "p"}}, 409, "Named metric mem already exists"}})
		ms = e.must(200, alice, "GET", "/v1/resource/server/web-1/metric", nil).list(t)
		if len(ms) != 2 || ms[0].(map[string]any)["archive_policy"] == nil {
			t.Errorf("metrics listing %v", ms)
		}
		standalone := e.metric(alice, "p")
		e.must(200, alice, "POST", "/v1/resource/server/web-1/metric", map[string]any{"disk": standalone})
		if got := e.must(200, alice, "GET", "/v1/metric/"+standalone, nil).obj(t)["resource"].(map[string]any)["id"]; got != id.String() {
			t.Errorf("attached metric's resource %v", got)
		}
		// Replacing the metrics by a patch detaches the others.
		r = e.must(200, alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"metrics": map[string]any{"cpu": cpu}})
		if got := r.obj(t)["metrics"].(map[string]any); len(got) != 1 || got["cpu"] != cpu {
			t.Errorf("metrics after replacing %v", got)
		}
		e.must(204, alice, "DELETE", "/v1/resource/server/web-1/metric/cpu", nil)
		e.must(404, alice, "GET", "/v1/resource/server/web-1/metric/cpu", nil)
		select {
		case got := <-e.deleted:
			if got.String() != cpu {
				t.Errorf("MetricDeleted told of %s, want %s", got, cpu)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("MetricDeleted was not told of the deleted metric")
		}

		errorCases(t, e, []errorCase{
			{"unknown type", alice, "POST", "/v1/resource/nope", map[string]any{"id": "x"}, 404, "Resource type nope does not exist"},
			{"duplicate", alice, "POST", "/v1/resource/server", map[string]any{"id": "web-1", "host": "h"}, 409, "Resource " + id.String() + " already exists"},
			{"no id", alice, "POST", "/v1/resource/server", map[string]any{"host": "h"}, 400, invalid("required key not provided @ data['id']", "id")},
			{"required attribute", alice, "POST", "/v1/resource/server", map[string]any{"id": "x"}, 400, invalid("required key not provided @ data['host']", "host")},
			{"unknown field", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "color": "red"}, 400, invalid("extra keys not allowed @ data['color']", "color")},
			{"attribute type", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": 5}, 400, invalid("expected str for dictionary value @ data['host']", "host")},
			{"attribute bound", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "vcpus": 0}, 400, invalid("value must be within the attribute's bounds for dictionary value @ data['vcpus']", "vcpus")},
			{"user_id type", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "user_id": 5}, 400, invalid("not a valid value for dictionary value @ data['user_id']", "user_id")},
			{"slash in id", alice, "POST", "/v1/resource/server", map[string]any{"id": "a/b", "host": "h"}, 400, invalid("'/' is not supported in resource id for dictionary value @ data['id']", "id")},
			{"bad started_at", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "started_at": "yesterday"}, 400, invalid("not a valid value for dictionary value @ data['started_at']", "started_at")},
			{"ended before started", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "started_at": "2024-01-02", "ended_at": "2024-01-01"}, 400, "Value 2024-01-01 00:00:00+00:00 for attribute ended_at on resource type server is invalid"},
			{"patch ended before started", alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"ended_at": "1999-01-01T00:00:00.5"}, 400, "Value 1999-01-01 00:00:00.500000+00:00 for attribute ended_at on resource type server is invalid"},
			{"unknown policy", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "metrics": map[string]any{"m": map[string]any{"archive_policy_name": "nope"}}}, 400, "Archive policy nope does not exist"},
			{"unknown metric", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "metrics": map[string]any{"m": "6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11"}}, 400, "Metric 6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11 does not exist"},
			{"metric not a uuid", alice, "POST", "/v1/resource/server", map[string]any{"id": "x", "host": "h", "metrics": map[string]any{"m": 5}}, 400, invalid("not a valid value for dictionary value @ data['metrics']['m']", "metrics", "m")},
			{"get unknown", alice, "GET", "/v1/resource/server/nope", nil, 404, prefix("Resource ")},
			{"get unknown type", alice, "GET", "/v1/resource/nope/web-1", nil, 404, "Resource type nope does not exist"},
			{"patch id", alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"id": "y"}, 400, invalid("extra keys not allowed @ data['id']", "id")},
			{"patch null required", alice, "PATCH", "/v1/resource/server/web-1", map[string]any{"host": nil}, 400, invalid("expected str for dictionary value @ data['host']", "host")},
			{"unknown named metric", alice, "GET", "/v1/resource/server/web-1/metric/nope", nil, 404, "Metric nope does not exist"},
			{"delete unknown", alice, "DELETE", "/v1/resource/server/nope", nil, 404, prefix("Resource ")},
			{"batch delete without filter", alice, "DELETE", "/v1/resource/server", nil, 400, "caution: the query can not be empty, or it will delete entire database"},
			{"bad limit", alice, "GET", "/v1/resource/server?limit=0", nil, 400, map[string]any{"cause": "Argument value error", "reason": "value must be at least 1 for dictionary value @ data['limit']"}},
			{"limit not int", alice, "GET", "/v1/resource/server?limit=abc", nil, 400, map[string]any{"cause": "Argument value error", "reason": "expected int for dictionary value @ data['limit']"}},
			{"bad sort key", alice, "GET", "/v1/resource/server?sort=color", nil, 400, "Invalid pagination: `Sort key supplied is invalid: color'"},
			{"bad sort direction", alice, "GET", "/v1/resource/server?sort=host:up", nil, 400, "Invalid pagination: `Unknown sort direction, must be one of: asc-nullsfirst, asc-nullslast, desc-nullsfirst, desc-nullslast'"},
			{"bad marker", alice, "GET", "/v1/resource/server?marker=abc", nil, 400, "Invalid pagination: `Invalid marker: `abc''"},
			{"bad details", alice, "GET", "/v1/resource/server?details=maybe", nil, 400, "Unable to parse `details': invalid truth value 'maybe'"},
		})
	})
}

const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestResourceListingAndSearch(t *testing.T) {
	forDialects(t, envOptions{maxLimit: 3}, func(t *testing.T, e *env) {
		e.must(201, admin, "POST", "/v1/resource_type", map[string]any{"name": "server", "attributes": map[string]any{
			"host": map[string]any{"type": "string"}, "vcpus": map[string]any{"type": "number", "required": false}}})
		for i := 0; i < 5; i++ {
			e.must(201, alice, "POST", "/v1/resource/server", map[string]any{
				"id": fmt.Sprintf("srv-%d", i), "host": fmt.Sprintf("h%d", i%2), "vcpus": i, "project_id": alice.project,
				"started_at": fmt.Sprintf("2024-01-0%dT00:00:00", i+1)})
		}
		e.must(201, alice, "POST", "/v1/resource/generic", map[string]any{"id": "plain", "project_id": alice.project})

		// Pagination: the default and largest page is MaxLimit, with a Link
		// to the next page that the client follows.
		var all []string
		path := "/v1/resource/server?sort=vcpus:desc"
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			r := e.must(200, alice, "GET", path, nil)
			for _, x := range r.list(t) {
				all = append(all, x.(map[string]any)["original_resource_id"].(string))
			}
			path = ""
			if link := r.header.Get("Link"); link != "" {
				u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
				if err != nil {
					t.Fatalf("Link %q: %v", link, err)
				}
				if u.Query().Get("limit") != "3" || u.Query().Get("sort") != "vcpus:desc" {
					t.Errorf("Link %q", link)
				}
				path = u.RequestURI()
			}
		}
		if strings.Join(all, ",") != "srv-4,srv-3,srv-2,srv-1,srv-0" {
			t.Errorf("paged listing %v", all)
		}
		// Generic listings leave the attributes out unless details=true;
		// attrs= keeps only some keys.
		l := e.must(200, alice, "GET", "/v1/resource/generic?limit=10&sort=started_at", nil).list(t)
		if _, ok := l[0].(map[string]any)["host"]; ok {
			t.Errorf("generic listing has attributes: %v", l[0])
		}
		l = e.must(200, alice, "GET", "/v1/resource/generic?details=true&sort=started_at", nil).list(t)
		if l[0].(map[string]any)["host"] != "h0" {
			t.Errorf("detailed generic listing %v", l[0])
		}
		l = e.must(200, alice, "GET", "/v1/resource/server?attrs=id&attrs=host", nil).list(t)
		if o := l[0].(map[string]any); len(o) != 2 || o["host"] == nil || o["id"] == nil {
			t.Errorf("attrs projection %v", o)
		}

		// Searches in both forms, with the same answers.
		search := func(body any, query string) []string {
			t.Helper()
			r := e.must(200, alice, "POST", "/v1/search/resource/server?sort=started_at&limit=3"+query, body)
			var ids []string
			for _, x := range r.list(t) {
				ids = append(ids, x.(map[string]any)["original_resource_id"].(string))
			}
			return ids
		}
		for _, tc := range []struct {
			json   any
			filter string
			want   string
		}{
			{map[string]any{"=": map[string]any{"host": "h1"}}, "host='h1'", "srv-1,srv-3"},
			{map[string]any{"and": []any{map[string]any{">=": map[string]any{"vcpus": 1}}, map[string]any{"like": map[string]any{"host": "h0%"}}}}, "vcpus>=1 and host like 'h0%'", "srv-2,srv-4"},
			{map[string]any{"in": map[string]any{"id": []any{"srv-0", "srv-4"}}}, "id in ['srv-0', 'srv-4']", "srv-0,srv-4"},
			{map[string]any{"not": map[string]any{"<": map[string]any{"started_at": "2024-01-04"}}}, "not started_at<'2024-01-04'", "srv-3,srv-4"},
			{map[string]any{}, "", "srv-0,srv-1,srv-2"},
		} {
			if got := strings.Join(search(tc.json, ""), ","); got != tc.want {
				t.Errorf("search %v: %s, want %s", tc.json, got, tc.want)
			}
			if tc.filter != "" {
				if got := strings.Join(search(nil, "&filter="+url.QueryEscape(tc.filter)), ","); got != tc.want {
					t.Errorf("search filter=%s: %s, want %s", tc.filter, got, tc.want)
				}
			}
		}
		// History searches see every revision.
		e.must(200, alice, "PATCH", "/v1/resource/server/srv-0", map[string]any{"host": "h9"})
		if got := search(map[string]any{"=": map[string]any{"host": "h0"}}, "&history=true"); strings.Join(got, ",") != "srv-0,srv-2,srv-4" {
			t.Errorf("history search %v", got)
		}
		if got := search(map[string]any{"=": map[string]any{"host": "h0"}}, ""); strings.Join(got, ",") != "srv-2,srv-4" {
			t.Errorf("current search %v", got)
		}

		errorCases(t, e, []errorCase{
			{"unknown attribute", alice, "POST", "/v1/search/resource/server", map[string]any{"=": map[string]any{"color": "red"}}, 400, "Resource type server has no color attribute"},
			{"string syntax", alice, "POST", "/v1/search/resource/server?filter=" + url.QueryEscape("host = = 'x'"), nil, 400, prefix("Invalid filter")},
			{"unknown operator", alice, "POST", "/v1/search/resource/server", map[string]any{"~": map[string]any{"host": "h"}}, 400, func(d any) bool {
				m, ok := d.(map[string]any)
				return ok && m["cause"] == "Invalid input"
			}},
			{"unknown type", alice, "POST", "/v1/search/resource/nope", map[string]any{}, 404, "Resource type nope does not exist"},
			{"bad value", alice, "POST", "/v1/search/resource/server", map[string]any{"=": map[string]any{"vcpus": "many"}}, 400, prefix("Invalid value")},
		})

		// Batch delete by filter, in both forms.
		r := e.must(200, alice, "DELETE", "/v1/resource/server", map[string]any{"=": map[string]any{"host": "h1"}})
		if r.obj(t)["deleted"] != jsonNum(2) {
			t.Errorf("batch delete %s", r.body)
		}
		r = e.must(200, alice, "DELETE", "/v1/resource/server?filter="+url.QueryEscape("vcpus >= 4"), nil)
		if r.obj(t)["deleted"] != jsonNum(1) {
			t.Errorf("batch delete by string filter %s", r.body)
		}
		if n := len(e.must(200, alice, "GET", "/v1/resource/server", nil).list(t)); n != 2 {
			t.Errorf("%d servers left, want 2", n)
		}
	})
}
