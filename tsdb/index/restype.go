package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// Attribute types of resource types.
const (
	TypeString   = "string"
	TypeUUID     = "uuid"
	TypeNumber   = "number"
	TypeBool     = "bool"
	TypeDatetime = "datetime"
)

// AttributeSpec is the declaration of one attribute of a resource type, as
// Gnocchi spells it in JSON. MinLength and MaxLength apply to strings only
// (in characters, defaults 0 and 255, at most 255); Min and Max to numbers
// only (nil: unbounded).
type AttributeSpec struct {
	Type      string   `json:"type"`
	Required  bool     `json:"required"`
	MinLength *int     `json:"min_length,omitempty"`
	MaxLength *int     `json:"max_length,omitempty"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
}

// ResourceType is a resource type: its name, its state (always "active":
// changes are atomic here) and its attributes by name.
type ResourceType struct {
	Name       string
	State      string
	Attributes map[string]AttributeSpec
}

// NewAttribute is an attribute to add to a resource type. Fill is the value
// every existing resource of the type gets (nil: null); a required
// attribute needs one.
type NewAttribute struct {
	Name string
	Spec AttributeSpec
	Fill any
}

// reservedAttributes are the names of the common fields, which no
// attribute may take (Gnocchi's list, and the ones vigil renders too).
var reservedAttributes = map[string]bool{
	"id": true, "type": true, "metrics": true, "revision": true, "revision_start": true, "revision_end": true,
	"started_at": true, "ended_at": true, "user_id": true, "project_id": true, "created_by_user_id": true,
	"created_by_project_id": true, "get_metric": true, "creator": true, "original_resource_id": true, "lifespan": true,
}

const maxAttrName = 63

func checkAttributeName(name string) error {
	ok := name != "" && len(name) <= maxAttrName && !reservedAttributes[name]
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' && i > 0
	}
	if !ok {
		return fmt.Errorf("%w: resource attribute name %q is invalid: it must be 1 to %d letters, digits and underscores, not starting with an underscore, and not a common field", ErrInvalid, name, maxAttrName)
	}
	return nil
}

func checkTypeName(name string) error {
	ok := name != "" && len(name) <= maxName
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: resource type name %q is invalid: it must be 1 to %d letters, digits, '_' and '-'", ErrInvalid, name, maxName)
	}
	return nil
}

func intp(v int) *int { return &v }

// normalise checks s and fills the string length defaults.
func (s AttributeSpec) normalise(name string) (AttributeSpec, error) {
	bad := func(format string, args ...any) (AttributeSpec, error) {
		return s, fmt.Errorf("%w: attribute %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
	}
	if s.Type != TypeNumber && (s.Min != nil || s.Max != nil) {
		return bad("min and max apply to numbers only")
	}
	if s.Type != TypeString && (s.MinLength != nil || s.MaxLength != nil) {
		return bad("min_length and max_length apply to strings only")
	}
	switch s.Type {
	case TypeString:
		if s.MinLength == nil {
			s.MinLength = intp(0)
		}
		if s.MaxLength == nil {
			s.MaxLength = intp(255)
		}
		if *s.MinLength < 0 || *s.MinLength > 255 {
			return bad("min_length %d is not within 0–255", *s.MinLength)
		}
		if *s.MaxLength < 1 || *s.MaxLength > 255 {
			return bad("max_length %d is not within 1–255", *s.MaxLength)
		}
		if *s.MinLength > *s.MaxLength {
			return bad("min_length %d is greater than max_length %d", *s.MinLength, *s.MaxLength)
		}
	case TypeNumber:
		for _, v := range []*float64{s.Min, s.Max} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				return bad("min and max must be finite")
			}
		}
		if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
			return bad("min %v is greater than max %v", *s.Min, *s.Max)
		}
	case TypeUUID, TypeBool, TypeDatetime:
	default:
		return bad("unknown type %q: it must be one of string, uuid, number, bool, datetime", s.Type)
	}
	return s, nil
}

// datetimeLayout is how datetime attributes are stored: UTC, fixed width,
// so that text order is time order.
const datetimeLayout = "2006-01-02T15:04:05.000000+00:00"

var datetimeInputs = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

func parseDatetime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		for _, l := range datetimeInputs {
			if t, err := time.Parse(l, x); err == nil {
				return t.UTC(), nil
			}
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return epoch(f)
		}
	default:
		if f, ok := number(v); ok {
			return epoch(f)
		}
	}
	return time.Time{}, fmt.Errorf("expected an ISO 8601 timestamp or seconds since the Epoch")
}

func epoch(f float64) (time.Time, error) {
	if math.IsNaN(f) || f < 0 || f > 253402300799 {
		return time.Time{}, fmt.Errorf("seconds since the Epoch out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// value checks one attribute value against s and returns it as stored.
func (s AttributeSpec) value(name string, v any) (any, error) {
	bad := func(format string, args ...any) (any, error) {
		return nil, fmt.Errorf("%w: attribute %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
	}
	if v == nil {
		if s.Required {
			return bad("is required and cannot be null")
		}
		return nil, nil
	}
	switch s.Type {
	case TypeString:
		str, ok := v.(string)
		if !ok {
			return bad("expected a string, got %T", v)
		}
		if !utf8.ValidString(str) {
			return bad("not valid UTF-8")
		}
		n := utf8.RuneCountInString(str)
		if n < *s.MinLength || n > *s.MaxLength {
			return bad("length %d is not within %d–%d", n, *s.MinLength, *s.MaxLength)
		}
		return str, nil
	case TypeUUID:
		var u uuid.UUID
		switch x := v.(type) {
		case string:
			var err error
			if u, err = uuid.Parse(x); err != nil {
				return bad("%q is not a UUID", x)
			}
		case uuid.UUID:
			u = x
		default:
			return bad("expected a UUID string, got %T", v)
		}
		return u.String(), nil
	case TypeNumber:
		f, ok := number(v)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad("expected a finite number, got %v", v)
		}
		if s.Min != nil && f < *s.Min || s.Max != nil && f > *s.Max {
			return bad("%v is not within [%s, %s]", f, bound(s.Min), bound(s.Max))
		}
		return f, nil
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return bad("expected a boolean, got %T", v)
		}
		return b, nil
	case TypeDatetime:
		t, err := parseDatetime(v)
		if err != nil {
			return bad("%v: %v", v, err)
		}
		return t.Truncate(time.Microsecond).Format(datetimeLayout), nil
	}
	panic("BUG: unchecked attribute type " + s.Type)
}

func bound(f *float64) string {
	if f == nil {
		return "…"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// checkAttributes validates attrs against rt and returns them as stored.
// With full (a new resource) every attribute of rt appears in the result,
// absent ones as nil, and required ones must be given; otherwise (a patch)
// only the given ones do.
func (rt *ResourceType) checkAttributes(attrs map[string]any, full bool) (map[string]any, error) {
	out := make(map[string]any, len(rt.Attributes))
	for name, v := range attrs {
		spec, ok := rt.Attributes[name]
		if !ok {
			return nil, fmt.Errorf("%w: resource type %s has no attribute %s", ErrInvalid, rt.Name, name)
		}
		nv, err := spec.value(name, v)
		if err != nil {
			return nil, err
		}
		out[name] = nv
	}
	if full {
		for name, spec := range rt.Attributes {
			if _, ok := out[name]; ok {
				continue
			}
			if spec.Required {
				return nil, fmt.Errorf("%w: resource type %s requires attribute %s", ErrInvalid, rt.Name, name)
			}
			out[name] = nil
		}
	}
	return out, nil
}

// attrExpr is the SQL reading attribute name of type typ from the
// attributes column of alias (e.g. "r."; "" in index definitions). See
// INDEX.md for why each dialect reads it so.
func attrExpr(d search.Dialect, typ, name, alias string) string {
	col := alias + "attributes"
	if d == search.SQLite {
		return `json_extract(` + col + `, '$."` + name + `"')`
	}
	switch typ {
	case TypeNumber:
		return `(CASE WHEN jsonb_typeof(` + col + ` -> '` + name + `') = 'number' THEN (` + col + ` ->> '` + name + `')::double precision END)`
	case TypeBool:
		return `(CASE WHEN jsonb_typeof(` + col + ` -> '` + name + `') = 'boolean' THEN (` + col + ` -> '` + name + `')::boolean END)`
	}
	return `((` + col + ` ->> '` + name + `') COLLATE "C")`
}

// attrIndexName names the expression index of one attribute of one type.
func attrIndexName(typ, attr string) string {
	h := fnv.New64a()
	h.Write([]byte(typ + "\x00" + attr))
	return fmt.Sprintf("rta_%016x", h.Sum64())
}

func (ix *Index) createAttrIndex(ctx context.Context, q querier, typ, attr string, spec AttributeSpec) error {
	stmt := "CREATE INDEX IF NOT EXISTS " + attrIndexName(typ, attr) + " ON resource ((" +
		attrExpr(ix.d, spec.Type, attr, "") + ")) WHERE type = " + sqlString(typ)
	if _, err := q.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("cannot index attribute %s of resource type %s: %w", attr, typ, err)
	}
	return nil
}

func (ix *Index) dropAttrIndex(ctx context.Context, q querier, typ, attr string) error {
	if _, err := q.ExecContext(ctx, "DROP INDEX IF EXISTS "+attrIndexName(typ, attr)); err != nil {
		return fmt.Errorf("cannot drop the index of attribute %s of resource type %s: %w", attr, typ, err)
	}
	return nil
}

// checkResourceType validates rt and returns it normalised.
func checkResourceType(rt ResourceType) (ResourceType, error) {
	if err := checkTypeName(rt.Name); err != nil {
		return rt, err
	}
	out := ResourceType{Name: rt.Name, State: "active", Attributes: make(map[string]AttributeSpec, len(rt.Attributes))}
	for name, spec := range rt.Attributes {
		if err := checkAttributeName(name); err != nil {
			return rt, err
		}
		ns, err := spec.normalise(name)
		if err != nil {
			return rt, fmt.Errorf("resource type %s: %w", rt.Name, err)
		}
		out.Attributes[name] = ns
	}
	return out, nil
}

func (ix *Index) insertResourceType(ctx context.Context, q querier, rt ResourceType, builtin bool) error {
	attrs, err := json.Marshal(rt.Attributes)
	if err != nil {
		return fmt.Errorf("BUG: cannot encode attributes: %w", err)
	}
	res, err := q.ExecContext(ctx, ix.q(`INSERT INTO resource_type (name, state, attributes, builtin, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`), rt.Name, rt.State, string(attrs), builtin, ix.ts(time.Now()))
	if err != nil {
		return fmt.Errorf("cannot create resource type %s: %w", rt.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("resource type %s: %w", rt.Name, ErrExists)
	}
	for _, name := range slices.Sorted(maps.Keys(rt.Attributes)) {
		if err := ix.createAttrIndex(ctx, q, rt.Name, name, rt.Attributes[name]); err != nil {
			return err
		}
	}
	return nil
}

// CreateResourceType validates and stores rt, and returns it as stored
// (string length defaults filled, state active). ErrExists if the name is
// taken.
func (ix *Index) CreateResourceType(ctx context.Context, rt ResourceType) (ResourceType, error) {
	nrt, err := checkResourceType(rt)
	if err != nil {
		return rt, err
	}
	err = ix.write(ctx, func(tx *sql.Tx) error { return ix.insertResourceType(ctx, tx, nrt, false) })
	return nrt, err
}

type resourceTypeRow struct {
	ResourceType
	builtin bool
}

func (ix *Index) resourceTypeIn(ctx context.Context, q querier, name string, forUpdate bool) (resourceTypeRow, error) {
	query := "SELECT name, state, attributes, builtin FROM resource_type WHERE name = ?"
	if forUpdate {
		query += ix.forUpdate()
	}
	var row resourceTypeRow
	var attrs string
	err := q.QueryRowContext(ctx, ix.q(query), name).Scan(&row.Name, &row.State, &attrs, &row.builtin)
	if errors.Is(err, sql.ErrNoRows) {
		return row, fmt.Errorf("resource type %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return row, fmt.Errorf("cannot read resource type %s: %w", name, err)
	}
	if err := json.Unmarshal([]byte(attrs), &row.Attributes); err != nil {
		return row, fmt.Errorf("cannot decode the attributes of resource type %s: %w", name, err)
	}
	return row, nil
}

// ResourceType returns the resource type called name, or ErrNotFound.
func (ix *Index) ResourceType(ctx context.Context, name string) (ResourceType, error) {
	row, err := ix.resourceTypeIn(ctx, ix.r, name, false)
	return row.ResourceType, err
}

// ResourceTypes returns every resource type, by name.
func (ix *Index) ResourceTypes(ctx context.Context) ([]ResourceType, error) {
	rows, err := ix.r.QueryContext(ctx, "SELECT name, state, attributes FROM resource_type ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("cannot list resource types: %w", err)
	}
	defer rows.Close()
	var out []ResourceType
	for rows.Next() {
		var rt ResourceType
		var attrs string
		if err := rows.Scan(&rt.Name, &rt.State, &attrs); err != nil {
			return nil, fmt.Errorf("cannot list resource types: %w", err)
		}
		if err := json.Unmarshal([]byte(attrs), &rt.Attributes); err != nil {
			return nil, fmt.Errorf("cannot decode the attributes of resource type %s: %w", rt.Name, err)
		}
		out = append(out, rt)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list resource types: %w", err)
	}
	return out, nil
}

// UpdateResourceType removes the attributes named in remove, then adds
// those of add, in one transaction, and returns the type. Removed
// attributes vanish from every resource and revision of the type; added ones
// are set to their fill value (nil: null) in all of them, and a required one
// needs a non-nil fill. A name may be removed and added back in one call,
// which changes its declaration and resets its values.
func (ix *Index) UpdateResourceType(ctx context.Context, name string, add []NewAttribute, remove []string) (ResourceType, error) {
	var out ResourceType
	err := ix.write(ctx, func(tx *sql.Tx) error {
		row, err := ix.resourceTypeIn(ctx, tx, name, true)
		if err != nil {
			return err
		}
		rt := row.ResourceType
		if rt.Attributes == nil {
			rt.Attributes = map[string]AttributeSpec{}
		}
		for _, attr := range remove {
			if _, ok := rt.Attributes[attr]; !ok {
				return fmt.Errorf("%w: resource type %s has no attribute %s to remove", ErrInvalid, name, attr)
			}
			delete(rt.Attributes, attr)
			if err := ix.dropAttrIndex(ctx, tx, name, attr); err != nil {
				return err
			}
			if err := ix.setAttribute(ctx, tx, name, attr, nil, true); err != nil {
				return err
			}
		}
		for _, a := range add {
			if err := checkAttributeName(a.Name); err != nil {
				return err
			}
			if _, ok := rt.Attributes[a.Name]; ok {
				return fmt.Errorf("%w: resource type %s already has attribute %s", ErrInvalid, name, a.Name)
			}
			spec, err := a.Spec.normalise(a.Name)
			if err != nil {
				return fmt.Errorf("resource type %s: %w", name, err)
			}
			if spec.Required && a.Fill == nil {
				return fmt.Errorf("%w: resource type %s: required attribute %s needs a fill value for the existing resources", ErrInvalid, name, a.Name)
			}
			fill, err := spec.value(a.Name, a.Fill)
			if err != nil {
				return fmt.Errorf("resource type %s: fill value: %w", name, err)
			}
			rt.Attributes[a.Name] = spec
			if err := ix.setAttribute(ctx, tx, name, a.Name, fill, false); err != nil {
				return err
			}
			if err := ix.createAttrIndex(ctx, tx, name, a.Name, spec); err != nil {
				return err
			}
		}
		attrs, err := json.Marshal(rt.Attributes)
		if err != nil {
			return fmt.Errorf("BUG: cannot encode attributes: %w", err)
		}
		if _, err := tx.ExecContext(ctx, ix.q("UPDATE resource_type SET attributes = ?, updated_at = ? WHERE name = ?"),
			string(attrs), ix.ts(time.Now()), name); err != nil {
			return fmt.Errorf("cannot update resource type %s: %w", name, err)
		}
		out = rt
		return nil
	})
	return out, err
}

// setAttribute writes value (or, with remove, deletes the key) in the
// attributes of every current and past revision of the resources of typ.
// attr has passed checkAttributeName, so it may sit in the SQL text.
func (ix *Index) setAttribute(ctx context.Context, tx *sql.Tx, typ, attr string, value any, remove bool) error {
	var set string
	var args []any
	switch {
	case remove && ix.pg():
		set = "attributes = attributes - " + sqlString(attr)
	case remove:
		set = `attributes = json_remove(attributes, '$."` + attr + `"')`
	default:
		b, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("BUG: cannot encode fill value: %w", err)
		}
		if ix.pg() {
			set = "attributes = attributes || jsonb_build_object(" + sqlString(attr) + ", CAST(? AS jsonb))"
		} else {
			set = `attributes = json_set(attributes, '$."` + attr + `"', json(?))`
		}
		args = append(args, string(b))
	}
	for _, table := range []string{"resource", "resource_history"} {
		if _, err := tx.ExecContext(ctx, ix.qOnce("UPDATE "+table+" SET "+set+" WHERE type = ?"), append(args, typ)...); err != nil {
			return fmt.Errorf("cannot update attribute %s of the resources of type %s: %w", attr, typ, err)
		}
	}
	return nil
}

// DeleteResourceType deletes resource type name. ErrInUse if resources of
// the type exist or it is built in; ErrNotFound if there is none.
func (ix *Index) DeleteResourceType(ctx context.Context, name string) error {
	return ix.write(ctx, func(tx *sql.Tx) error {
		row, err := ix.resourceTypeIn(ctx, tx, name, true)
		if err != nil {
			return err
		}
		if row.builtin {
			return fmt.Errorf("resource type %s is built in: %w", name, ErrInUse)
		}
		var n int64
		if err := tx.QueryRowContext(ctx, ix.q("SELECT COUNT(*) FROM resource WHERE type = ?"), name).Scan(&n); err != nil {
			return fmt.Errorf("cannot check the use of resource type %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("resource type %s has %d resources: %w", name, n, ErrInUse)
		}
		for attr := range row.Attributes {
			if err := ix.dropAttrIndex(ctx, tx, name, attr); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, ix.q("DELETE FROM resource_type WHERE name = ?"), name); err != nil {
			return fmt.Errorf("cannot delete resource type %s: %w", name, err)
		}
		return nil
	})
}
