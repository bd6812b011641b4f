package index

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/search"
)

func fp(v float64) *float64 { return &v }

// serverType is a custom type with one attribute of every kind.
func serverType() ResourceType {
	return ResourceType{Name: "server-x", Attributes: map[string]AttributeSpec{
		"label":    {Type: TypeString, MaxLength: intp(8)},
		"owner":    {Type: TypeUUID},
		"size":     {Type: TypeNumber, Min: fp(0), Max: fp(100)},
		"enabled":  {Type: TypeBool},
		"born":     {Type: TypeDatetime},
		"required": {Type: TypeString, Required: true},
	}}
}

func TestResourceTypes(t *testing.T) {
	dialects(t, func(t *testing.T, ix *Index) {
		ctx := context.Background()
		rt, err := ix.CreateResourceType(ctx, serverType())
		must(t, err)
		if rt.State != "active" || *rt.Attributes["label"].MinLength != 0 || *rt.Attributes["required"].MaxLength != 255 {
			t.Errorf("created %+v, want defaults filled", rt)
		}
		got, err := ix.ResourceType(ctx, "server-x")
		must(t, err)
		if *got.Attributes["size"].Max != 100 || got.Attributes["label"].Required || !got.Attributes["required"].Required {
			t.Errorf("read back %+v", got)
		}
		_, err = ix.CreateResourceType(ctx, serverType())
		wantErr(t, "duplicate", err, ErrExists)
		_, err = ix.ResourceType(ctx, "nope")
		wantErr(t, "missing", err, ErrNotFound)

		for _, bad := range []ResourceType{
			{Name: "bad name"},
			{Name: ""},
			{Name: "x", Attributes: map[string]AttributeSpec{"id": {Type: TypeString}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"_a": {Type: TypeString}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a-b": {Type: TypeString}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a": {Type: "text"}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a": {Type: TypeString, MinLength: intp(9), MaxLength: intp(8)}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a": {Type: TypeString, MaxLength: intp(256)}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a": {Type: TypeNumber, Min: fp(2), Max: fp(1)}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a": {Type: TypeBool, Min: fp(2)}}},
			{Name: "x", Attributes: map[string]AttributeSpec{"a": {Type: TypeUUID, MaxLength: intp(2)}}},
		} {
			_, err := ix.CreateResourceType(ctx, bad)
			wantErr(t, "invalid type "+bad.Name, err, ErrInvalid)
		}

		// Resources before the change, one with history.
		id1, id2 := uuid.New(), uuid.New()
		_, err = ix.CreateResource(ctx, Resource{ID: id1, Type: "server-x", Creator: "u:p", Attributes: map[string]any{"required": "a", "label": "x", "size": 1.0}}, nil)
		must(t, err)
		_, err = ix.CreateResource(ctx, Resource{ID: id2, Type: "server-x", Creator: "u:p", Attributes: map[string]any{"required": "b"}}, nil)
		must(t, err)
		_, err = ix.UpdateResource(ctx, "server-x", id1, ResourcePatch{Attributes: map[string]any{"size": 2.0}}, 0)
		must(t, err)

		_, err = ix.UpdateResourceType(ctx, "server-x", []NewAttribute{{Name: "zone", Spec: AttributeSpec{Type: TypeString, Required: true}}}, nil)
		wantErr(t, "required attribute without fill", err, ErrInvalid)
		_, err = ix.UpdateResourceType(ctx, "server-x", []NewAttribute{{Name: "zone", Spec: AttributeSpec{Type: TypeString, Required: true, MaxLength: intp(2)}, Fill: "toolong"}}, nil)
		wantErr(t, "fill that does not fit", err, ErrInvalid)
		_, err = ix.UpdateResourceType(ctx, "server-x", []NewAttribute{{Name: "label", Spec: AttributeSpec{Type: TypeString}}}, nil)
		wantErr(t, "adding an existing attribute", err, ErrInvalid)
		_, err = ix.UpdateResourceType(ctx, "server-x", nil, []string{"nope"})
		wantErr(t, "removing a missing attribute", err, ErrInvalid)
		_, err = ix.UpdateResourceType(ctx, "nope", nil, nil)
		wantErr(t, "updating a missing type", err, ErrNotFound)
		if rt, _ := ix.ResourceType(ctx, "server-x"); len(rt.Attributes) != 6 {
			t.Errorf("a failed update changed the type: %v", rt.Attributes)
		}

		rt, err = ix.UpdateResourceType(ctx, "server-x",
			[]NewAttribute{
				{Name: "zone", Spec: AttributeSpec{Type: TypeString, Required: true}, Fill: "az1"},
				{Name: "weight", Spec: AttributeSpec{Type: TypeNumber}},
				{Name: "size", Spec: AttributeSpec{Type: TypeString}, Fill: "big"},
			},
			[]string{"label", "size"})
		must(t, err)
		if _, ok := rt.Attributes["label"]; ok || rt.Attributes["zone"].Type != TypeString || rt.Attributes["size"].Type != TypeString {
			t.Errorf("updated type %+v", rt.Attributes)
		}
		for _, id := range []uuid.UUID{id1, id2} {
			r, err := ix.Resource(ctx, "server-x", id)
			must(t, err)
			if _, ok := r.Attributes["label"]; ok {
				t.Errorf("removed attribute label still in %v", r.Attributes)
			}
			if r.Attributes["zone"] != "az1" || r.Attributes["size"] != "big" {
				t.Errorf("fill not applied: %v", r.Attributes)
			}
			if v, ok := r.Attributes["weight"]; !ok || v != nil {
				t.Errorf("attribute added without fill: %v, want null", r.Attributes)
			}
		}
		hist, err := ix.ResourceHistory(ctx, "server-x", id1, ListOptions{})
		must(t, err)
		if len(hist) != 2 {
			t.Fatalf("%d revisions, want 2", len(hist))
		}
		for _, h := range hist {
			if h.Attributes["zone"] != "az1" || h.Attributes["label"] != nil {
				t.Errorf("history not migrated: revision %d has %v", h.Revision, h.Attributes)
			}
		}
		// The removed attribute is no longer searchable; the new ones are.
		_, err = ix.ListResources(ctx, ListOptions{Type: "server-x", Filter: search.Cmp{Op: search.OpEq, Attr: "label", Value: "x"}})
		wantErr(t, "searching a removed attribute", err, search.ErrUnknownAttribute)
		rs, err := ix.ListResources(ctx, ListOptions{Type: "server-x", Filter: search.Cmp{Op: search.OpEq, Attr: "zone", Value: "az1"}})
		must(t, err)
		if len(rs) != 2 {
			t.Errorf("search on the filled attribute found %d, want 2", len(rs))
		}
		// New resources need the new required attribute.
		_, err = ix.CreateResource(ctx, Resource{ID: uuid.New(), Type: "server-x", Attributes: map[string]any{"required": "c"}}, nil)
		wantErr(t, "missing new required attribute", err, ErrInvalid)

		wantErr(t, "deleting a type in use", ix.DeleteResourceType(ctx, "server-x"), ErrInUse)
		_, _, err = ix.DeleteResources(ctx, DeleteResourcesOptions{Type: "server-x", Filter: search.Cmp{Op: search.OpEq, Attr: "zone", Value: "az1"}})
		must(t, err)
		must(t, ix.DeleteResourceType(ctx, "server-x"))
		wantErr(t, "deleting twice", ix.DeleteResourceType(ctx, "server-x"), ErrNotFound)
		for _, b := range []string{"generic", "instance", "host", "container"} {
			err := ix.DeleteResourceType(ctx, b)
			wantErr(t, "deleting built-in "+b, err, ErrInUse)
		}
		// The name is free again, with other attributes.
		_, err = ix.CreateResourceType(ctx, ResourceType{Name: "server-x", Attributes: map[string]AttributeSpec{"label": {Type: TypeNumber}}})
		must(t, err)
	})
}

func TestAttributeValues(t *testing.T) {
	rt, err := checkResourceType(serverType())
	must(t, err)
	owner := uuid.New()
	good, err := rt.checkAttributes(map[string]any{
		"required": "é", "label": "12345678", "owner": "{" + owner.String() + "}", "size": 100, "enabled": false,
		"born": "2024-03-01T10:00:00.1234567+02:00",
	}, true)
	must(t, err)
	want := map[string]any{"required": "é", "label": "12345678", "owner": owner.String(), "size": 100.0, "enabled": false,
		"born": "2024-03-01T08:00:00.123456+00:00"}
	for k, v := range want {
		if good[k] != v {
			t.Errorf("%s stored as %#v, want %#v", k, good[k], v)
		}
	}
	if got, _ := rt.checkAttributes(map[string]any{"required": "x", "born": 1700000000.5}, true); got["born"] != "2023-11-14T22:13:20.500000+00:00" {
		t.Errorf("epoch datetime stored as %v", got["born"])
	}
	for name, attrs := range map[string]map[string]any{
		"missing required":  {"label": "x"},
		"null required":     {"required": nil},
		"too long":          {"required": "x", "label": "123456789"},
		"not a string":      {"required": 3.0},
		"not a uuid":        {"required": "x", "owner": "zzz"},
		"below min":         {"required": "x", "size": -1.0},
		"above max":         {"required": "x", "size": 100.5},
		"bool as number":    {"required": "x", "size": true},
		"number as bool":    {"required": "x", "enabled": 1.0},
		"bad datetime":      {"required": "x", "born": "yesterday"},
		"unknown attribute": {"required": "x", "colour": "red"},
		"object":            {"required": map[string]any{}},
	} {
		if _, err := rt.checkAttributes(attrs, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
	// A patch may leave the required attribute out.
	if _, err := rt.checkAttributes(map[string]any{"size": 3.0}, false); err != nil {
		t.Errorf("patch without the required attribute: %v", err)
	}
}

// FuzzAttributes feeds arbitrary JSON objects to attribute validation: it
// must return values or an ErrInvalid, never panic, and what it stores
// must validate again to itself.
func FuzzAttributes(f *testing.F) {
	for _, s := range []string{`{"required":"x"}`, `{"required":"x","born":"2024-01-01T00:00:00Z","size":3}`,
		`{"required":"x","born":1e300}`, `{"owner":"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8","required":""}`, `{"required":null}`} {
		f.Add(s)
	}
	rt, err := checkResourceType(serverType())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var attrs map[string]any
		if json.Unmarshal([]byte(doc), &attrs) != nil {
			return
		}
		out, err := rt.checkAttributes(attrs, true)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		var back map[string]any
		if err := json.Unmarshal([]byte(encodeAttributes(out)), &back); err != nil {
			t.Fatal(err)
		}
		again, err := rt.checkAttributes(back, true)
		if err != nil {
			t.Fatalf("stored attributes %v do not validate: %v", back, err)
		}
		if encodeAttributes(again) != encodeAttributes(out) {
			t.Fatalf("validation is not idempotent: %s then %s", encodeAttributes(out), encodeAttributes(again))
		}
	})
}
