package api

import (
	"reflect"
	"testing"
)

func TestResourceTypes(t *testing.T) {
	forDialects(t, envOptions{}, func(t *testing.T, e *env) {
		r := e.must(201, admin, "POST", "/v1/resource_type", map[string]any{"name": "server", "attributes": map[string]any{
			"host":   map[string]any{"type": "string", "max_length": 64},
			"vcpus":  map[string]any{"type": "number", "min": 1, "required": false},
			"image":  map[string]any{"type": "uuid", "required": false},
			"public": map[string]any{"type": "bool", "required": false},
			"booted": map[string]any{"type": "datetime", "required": false},
		}})
		if r.header.Get("Location") != e.url+"/v1/resource_type/server" {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		want := map[string]any{"name": "server", "state": "active", "attributes": map[string]any{
			"host":   map[string]any{"type": "string", "required": true, "min_length": 0, "max_length": 64},
			"vcpus":  map[string]any{"type": "number", "required": false, "min": 1, "max": nil},
			"image":  map[string]any{"type": "uuid", "required": false},
			"public": map[string]any{"type": "bool", "required": false},
			"booted": map[string]any{"type": "datetime", "required": false},
		}}
		if got := r.obj(t); !reflect.DeepEqual(normalise(t, got), normalise(t, want)) {
			t.Errorf("created type\n got %s\nwant %s", fmtJSON(got), fmtJSON(want))
		}
		if got := e.must(200, alice, "GET", "/v1/resource_type/server", nil).obj(t); !reflect.DeepEqual(normalise(t, got), normalise(t, want)) {
			t.Errorf("read type %s", fmtJSON(got))
		}
		names := map[string]bool{}
		for _, x := range e.must(200, alice, "GET", "/v1/resource_type", nil).list(t) {
			names[x.(map[string]any)["name"].(string)] = true
		}
		if !names["server"] || !names["generic"] || !names["instance"] {
			t.Errorf("types %v", names)
		}
		links := e.must(200, alice, "GET", "/v1/resource", nil).obj(t)
		if links["server"] != e.url+"/v1/resource/server" {
			t.Errorf("resource links %v", links)
		}

		// A resource, then attributes added with a fill and removed.
		e.must(201, alice, "POST", "/v1/resource/server", map[string]any{"id": "web-1", "host": "h1", "project_id": alice.project})
		patch := func(c caller, body any, code int) resp {
			t.Helper()
			return e.must(code, c, "PATCH", "/v1/resource_type/server", body, "Content-Type", "application/json-patch+json")
		}
		r = patch(admin, []any{
			map[string]any{"op": "add", "path": "/attributes/zone", "value": map[string]any{"type": "string", "required": true, "options": map[string]any{"fill": "az1"}}},
			map[string]any{"op": "remove", "path": "/attributes/public"},
		}, 200)
		attrs := r.obj(t)["attributes"].(map[string]any)
		if _, ok := attrs["zone"]; !ok {
			t.Errorf("zone not added: %s", r.body)
		}
		if _, ok := attrs["public"]; ok {
			t.Errorf("public not removed: %s", r.body)
		}
		res := e.must(200, alice, "GET", "/v1/resource/server/web-1", nil).obj(t)
		if res["zone"] != "az1" {
			t.Errorf("fill not applied: %v", res)
		}
		if _, ok := res["public"]; ok {
			t.Errorf("removed attribute still on the resource: %v", res)
		}
		// Adding an attribute the type has is no change, as in Gnocchi.
		patch(admin, []any{map[string]any{"op": "add", "path": "/attributes/host", "value": map[string]any{"type": "number"}}}, 200)
		if got := e.must(200, admin, "GET", "/v1/resource_type/server", nil).obj(t)["attributes"].(map[string]any)["host"].(map[string]any)["type"]; got != "string" {
			t.Errorf("re-adding changed host to %v", got)
		}

		jp := func(name string, c caller, body any, code int, want any) errorCase {
			return errorCase{name, c, "PATCH", "/v1/resource_type/server", body, code, want}
		}
		cases := []errorCase{
			{"duplicate", admin, "POST", "/v1/resource_type", map[string]any{"name": "server"}, 409, "Resource type server already exists"},
			{"by member", alice, "POST", "/v1/resource_type", map[string]any{"name": "mine"}, 403, "Access was denied to this resource."},
			{"unknown field", admin, "POST", "/v1/resource_type", map[string]any{"name": "x", "bogus": 1}, 400, invalid("extra keys not allowed @ data['bogus']", "bogus")},
			{"bad type", admin, "POST", "/v1/resource_type", map[string]any{"name": "x", "attributes": map[string]any{"a": map[string]any{"type": "foo"}}}, 400, invalid("not a valid value for dictionary value @ data['attributes']['a']['type']", "attributes", "a", "type")},
			{"reserved name", admin, "POST", "/v1/resource_type", map[string]any{"name": "x", "attributes": map[string]any{"id": map[string]any{"type": "string"}}}, 400, "Invalid input: Resource attribute name id is invalid"},
			{"long string", admin, "POST", "/v1/resource_type", map[string]any{"name": "x", "attributes": map[string]any{"a": map[string]any{"type": "string", "max_length": 300}}}, 400, invalid("value must be at most 255 for dictionary value @ data['attributes']['a']['max_length']", "attributes", "a", "max_length")},
			{"min over max", admin, "POST", "/v1/resource_type", map[string]any{"name": "x", "attributes": map[string]any{"a": map[string]any{"type": "number", "min": 5, "max": 1}}}, 400, "Invalid input: Resource attribute value min (or min_length) 5 must be less  than or equal to max (or max_length) 1!"},
			{"unknown option", admin, "POST", "/v1/resource_type", map[string]any{"name": "x", "attributes": map[string]any{"a": map[string]any{"type": "bool", "options": map[string]any{}}}}, 400, invalid("extra keys not allowed @ data['attributes']['a']['options']", "attributes", "a", "options")},
			{"get unknown", alice, "GET", "/v1/resource_type/nope", nil, 404, "Resource type nope does not exist"},
			{"in use", admin, "DELETE", "/v1/resource_type/server", nil, 400, "Resource type server is still in use"},
			{"delete by member", alice, "DELETE", "/v1/resource_type/server", nil, 403, "Access was denied to this resource."},
			{"delete unknown", admin, "DELETE", "/v1/resource_type/nope", nil, 404, "Resource type nope does not exist"},
		}
		errorCases(t, e, cases)
		for _, tc := range []errorCase{
			jp("required without fill", admin, []any{map[string]any{"op": "add", "path": "/attributes/b", "value": map[string]any{"type": "bool", "required": true}}}, 400, "Invalid input: Option 'fill' of resource attribute b is invalid: must not be empty if required=True"),
			jp("fill of the wrong type", admin, []any{map[string]any{"op": "add", "path": "/attributes/b", "value": map[string]any{"type": "bool", "options": map[string]any{"fill": "x"}}}}, 400, "Invalid input: Option 'fill' of resource attribute b is invalid: expected bool"),
			jp("remove missing", admin, []any{map[string]any{"op": "remove", "path": "/attributes/zz"}}, 400, "can't remove a non-existent object 'zz'"),
			jp("replace", admin, []any{map[string]any{"op": "replace", "path": "/name", "value": map[string]any{}}}, 400, invalid("not a valid value for dictionary value @ data[0]['op']", "0", "op")),
			jp("not attributes", admin, []any{map[string]any{"op": "add", "path": "/name", "value": map[string]any{}}}, 400, invalid("Only attributes can be modified for dictionary value @ data[0]['path']", "0", "path")),
			jp("not a list", admin, map[string]any{"op": "add"}, 400, invalid("expected a list")),
			jp("by member", alice, []any{}, 403, "Access was denied to this resource."),
		} {
			r := e.do(tc.c, tc.method, tc.path, tc.body, "Content-Type", "application/json-patch+json")
			if r.code != tc.code || !checkDescription(t, r.description(t), tc.want) {
				t.Errorf("%s: %d %s, want %d %s", tc.name, r.code, r.body, tc.code, fmtJSON(tc.want))
			}
		}
		// The patch must say it is one.
		e.must(415, admin, "PATCH", "/v1/resource_type/server", []any{})

		e.must(204, alice, "DELETE", "/v1/resource/server/web-1", nil)
		e.must(204, admin, "DELETE", "/v1/resource_type/server", nil)
		e.must(404, admin, "GET", "/v1/resource_type/server", nil)
		e.must(400, admin, "DELETE", "/v1/resource_type/generic", nil)
	})
}
