package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/index"
)

func (s *Server) listResourceTypes(w http.ResponseWriter, r *http.Request) {
	rts, err := s.d.Index.ResourceTypes(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]any, len(rts))
	for i := range rts {
		out[i] = renderResourceType(&rts[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// resourceType reads a type, answering 404 in Gnocchi's words.
func (s *Server) resourceType(r *http.Request, name string) (index.ResourceType, error) {
	rt, err := s.d.Index.ResourceType(r.Context(), name)
	if errors.Is(err, index.ErrNotFound) {
		err = notFound("Resource type %s does not exist", name)
	}
	return rt, err
}

func (s *Server) getResourceType(w http.ResponseWriter, r *http.Request) {
	rt, err := s.resourceType(r, r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderResourceType(&rt))
}

var attrNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_]*$`)

// reservedAttrs are the names of a resource's common fields, which no
// attribute may take (Gnocchi's INVALID_NAMES).
var reservedAttrs = []string{"id", "type", "metrics", "revision", "revision_start", "revision_end", "started_at", "ended_at",
	"user_id", "project_id", "created_by_user_id", "created_by_project_id", "get_metric", "creator"}

func invalidAttr(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "Invalid input: "+format, args...)
}

// parseAttribute reads one attribute declaration as Gnocchi's resource
// type schema does; withOptions accepts the "options" of an update and
// returns its fill value.
func parseAttribute(name string, v any, withOptions bool, path ...any) (index.AttributeSpec, any, error) {
	var spec index.AttributeSpec
	o, err := asObject(v, path...)
	if err != nil {
		return spec, nil, err
	}
	typ, _, err := o.str("type")
	if !o.has("type") {
		return spec, nil, invalidInput("required key not provided", o.at("type")...)
	}
	allowed := []string{"type", "required"}
	switch typ {
	case index.TypeString:
		allowed = append(allowed, "min_length", "max_length")
	case index.TypeNumber:
		allowed = append(allowed, "min", "max")
	case index.TypeUUID, index.TypeBool, index.TypeDatetime:
	default:
		err = invalidInput("not a valid value for dictionary value", o.at("type")...)
	}
	if err != nil {
		return spec, nil, err
	}
	if withOptions {
		allowed = append(allowed, "options")
	}
	if err := o.only(allowed...); err != nil {
		return spec, nil, err
	}
	spec.Type = typ
	spec.Required = true
	if req, has, err := o.boolean("required"); err != nil {
		return spec, nil, err
	} else if has {
		spec.Required = req
	}
	if len(name) > 63 || !attrNameRE.MatchString(name) || contains(reservedAttrs, name) {
		return spec, nil, invalidAttr("Resource attribute name %s is invalid", name)
	}
	switch typ {
	case index.TypeString:
		minLen, maxLen := 0, 255
		for _, f := range []struct {
			key      string
			dst      *int
			min, max int
		}{{"min_length", &minLen, 0, 255}, {"max_length", &maxLen, 1, 255}} {
			raw, ok := o.m[f.key]
			if !ok {
				continue
			}
			n, isInt := raw.(json.Number)
			i, err := n.Int64()
			if !isInt || err != nil {
				return spec, nil, invalidInput("expected int for dictionary value", o.at(f.key)...)
			}
			if int(i) < f.min || int(i) > f.max {
				return spec, nil, invalidInput(fmt.Sprintf("value must be at most %d for dictionary value", f.max), o.at(f.key)...)
			}
			*f.dst = int(i)
		}
		if minLen > maxLen {
			return spec, nil, invalidAttr("Resource attribute value min (or min_length) %d must be less  than or equal to max (or max_length) %d!", minLen, maxLen)
		}
		spec.MinLength, spec.MaxLength = &minLen, &maxLen
	case index.TypeNumber:
		for _, f := range []struct {
			key string
			dst **float64
		}{{"min", &spec.Min}, {"max", &spec.Max}} {
			raw, ok := o.m[f.key]
			if !ok || raw == nil {
				continue
			}
			n, isNum := raw.(json.Number)
			x, err := n.Float64()
			if !isNum || err != nil {
				return spec, nil, invalidInput("expected Real for dictionary value", o.at(f.key)...)
			}
			*f.dst = &x
		}
		if spec.Min != nil && spec.Max != nil && *spec.Min > *spec.Max {
			return spec, nil, invalidAttr("Resource attribute value min (or min_length) %v must be less  than or equal to max (or max_length) %v!", pyFloat(*spec.Min), pyFloat(*spec.Max))
		}
	}
	var fill any
	if withOptions {
		opts := map[string]any{}
		if raw, ok := o.m["options"]; ok {
			oo, err := asObject(raw, o.at("options")...)
			if err != nil {
				return spec, nil, err
			}
			if err := oo.only("fill"); err != nil {
				return spec, nil, err
			}
			opts = oo.m
		}
		fill = opts["fill"]
		if fill == nil && spec.Required {
			return spec, nil, invalidAttr("Option 'fill' of resource attribute %s is invalid: must not be empty if required=True", name)
		}
		if fill != nil {
			f, err := checkFill(spec, fill)
			if err != nil {
				return spec, nil, invalidAttr("Option 'fill' of resource attribute %s is invalid: %s", name, err.Error())
			}
			fill = f
		}
	}
	return spec, fill, nil
}

// checkFill checks that a fill value has the attribute's type, with
// voluptuous's words, and returns it in the form the index takes.
func checkFill(spec index.AttributeSpec, v any) (any, error) {
	switch spec.Type {
	case index.TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, errors.New("expected bool")
		}
		return b, nil
	case index.TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("expected str")
		}
		n := len([]rune(s))
		if (spec.MinLength != nil && n < *spec.MinLength) || (spec.MaxLength != nil && n > *spec.MaxLength) {
			return nil, fmt.Errorf("length of value must be between %d and %d", deref(spec.MinLength, 0), deref(spec.MaxLength, 255))
		}
		return s, nil
	case index.TypeNumber:
		n, ok := v.(json.Number)
		f, err := n.Float64()
		if !ok || err != nil {
			return nil, errors.New("expected Real")
		}
		if (spec.Min != nil && f < *spec.Min) || (spec.Max != nil && f > *spec.Max) {
			return nil, errors.New("value must be within the attribute's bounds")
		}
		return f, nil
	case index.TypeUUID:
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("badly formed hexadecimal UUID string")
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, errors.New("badly formed hexadecimal UUID string")
		}
		return id.String(), nil
	case index.TypeDatetime:
		t, err := timestampValue(v, time.Now())
		if err != nil {
			return nil, err
		}
		return formatTimestamp(t), nil
	}
	return v, nil
}

func deref(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pyFloat prints f as Python's str does for a float or an int-valued
// JSON number.
func pyFloat(f float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%v", f), ".0")
}

func (s *Server) createResourceType(w http.ResponseWriter, r *http.Request) {
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rt, err := parseResourceType(v)
	if err == nil {
		err = requireAdmin(r.Context())
	}
	if err != nil {
		writeError(w, err)
		return
	}
	stored, err := s.d.Index.CreateResourceType(r.Context(), rt)
	if err != nil {
		if errors.Is(err, index.ErrExists) {
			err = errorf(http.StatusConflict, "Resource type %s already exists", rt.Name)
		}
		writeError(w, err)
		return
	}
	location(w, r, "/resource_type/"+url.PathEscape(stored.Name))
	writeJSON(w, http.StatusCreated, renderResourceType(&stored))
}

func parseResourceType(v any) (index.ResourceType, error) {
	var rt index.ResourceType
	o, err := asObject(v)
	if err != nil {
		return rt, err
	}
	if err := o.only("name", "attributes"); err != nil {
		return rt, err
	}
	if err := o.require("name"); err != nil {
		return rt, err
	}
	if rt.Name, _, err = o.str("name"); err != nil {
		return rt, err
	}
	rt.Attributes = map[string]index.AttributeSpec{}
	if raw, ok := o.m["attributes"]; ok {
		attrs, err := asObject(raw, "attributes")
		if err != nil {
			return rt, err
		}
		for _, name := range sortedKeys(attrs.m) {
			spec, _, err := parseAttribute(name, attrs.m[name], false, "attributes", name)
			if err != nil {
				return rt, err
			}
			rt.Attributes[name] = spec
		}
	}
	return rt, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// patchResourceType applies a JSON patch (RFC 6902) of the type's
// attributes as Gnocchi does: only "add" and "remove" of
// /attributes/<name>; adding an attribute the type has already is no
// change, and removing one it lacks is an error.
func (s *Server) patchResourceType(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rt, err := s.resourceType(r, name)
	if err == nil {
		err = requireAdmin(r.Context())
	}
	var v any
	if err == nil {
		v, err = decodeBody(r, "application/json-patch+json")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	ops, ok := v.([]any)
	if !ok {
		writeError(w, invalidInput("expected a list"))
		return
	}
	next := make(map[string]any, len(rt.Attributes))
	for k := range rt.Attributes {
		next[k] = nil // present, declared as before
	}
	for i, raw := range ops {
		op, err := asObject(raw, i)
		if err == nil {
			err = op.only("op", "path", "value")
		}
		var kind, path string
		if err == nil {
			kind, _, err = op.str("op")
			if err == nil && kind != "add" && kind != "remove" {
				err = invalidInput("not a valid value for dictionary value", i, "op")
			}
		}
		if err == nil && !op.has("op") {
			err = invalidInput("required key not provided", i, "op")
		}
		if err == nil && !op.has("path") {
			err = invalidInput("required key not provided", i, "path")
		}
		if err == nil {
			path, _, err = op.str("path")
		}
		if err == nil && !strings.HasPrefix(path, "/attributes") {
			err = invalidInput("Only attributes can be modified for dictionary value", i, "path")
		}
		if err == nil {
			if raw, ok := op.m["value"]; ok {
				if _, isObj := raw.(map[string]any); !isObj {
					err = invalidInput("expected dict for dictionary value", i, "value")
				}
			}
		}
		if err != nil {
			writeError(w, err)
			return
		}
		attr, ok := strings.CutPrefix(path, "/attributes/")
		if !ok || attr == "" || strings.Contains(attr, "/") {
			writeError(w, errorf(http.StatusBadRequest, "Invalid input: only whole attributes (/attributes/<name>) can be added or removed, not %s", path))
			return
		}
		attr = strings.ReplaceAll(strings.ReplaceAll(attr, "~1", "/"), "~0", "~")
		switch kind {
		case "add":
			if !op.has("value") {
				writeError(w, errorf(http.StatusBadRequest, "The operation does not contain a 'value' member"))
				return
			}
			next[attr] = op.m["value"]
		case "remove":
			if _, ok := next[attr]; !ok {
				writeError(w, errorf(http.StatusBadRequest, "can't remove a non-existent object '%s'", attr))
				return
			}
			delete(next, attr)
		}
	}
	var add []index.NewAttribute
	var remove []string
	for _, k := range sortedKeys(next) {
		if _, had := rt.Attributes[k]; had {
			continue
		}
		spec, fill, err := parseAttribute(k, next[k], true, "attributes", k)
		if err != nil {
			writeError(w, err)
			return
		}
		add = append(add, index.NewAttribute{Name: k, Spec: spec, Fill: fill})
	}
	for _, k := range sortedKeys(rt.Attributes) {
		if _, kept := next[k]; !kept {
			remove = append(remove, k)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		writeJSON(w, http.StatusOK, renderResourceType(&rt))
		return
	}
	updated, err := s.d.Index.UpdateResourceType(r.Context(), name, add, remove)
	if err != nil {
		if errors.Is(err, index.ErrNotFound) {
			err = errorf(http.StatusBadRequest, "Resource type %s does not exist", name)
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderResourceType(&updated))
}

func (s *Server) deleteResourceType(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	_, err := s.resourceType(r, name)
	if err == nil {
		err = requireAdmin(r.Context())
	}
	if err == nil {
		err = s.d.Index.DeleteResourceType(r.Context(), name)
		switch {
		case errors.Is(err, index.ErrInUse):
			err = errorf(http.StatusBadRequest, "Resource type %s is still in use", name)
		case errors.Is(err, index.ErrNotFound):
			err = errorf(http.StatusBadRequest, "Resource type %s does not exist", name)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w, http.StatusNoContent)
}
