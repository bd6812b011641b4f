package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// SortKey is one key of a listing's order.
type SortKey struct {
	Key  string
	Desc bool
}

// ListOptions select and order resources.
type ListOptions struct {
	// Type restricts the listing to one type and makes its attributes
	// searchable and sortable; "" or "generic" lists every type.
	Type string
	// ProjectScope, when set, keeps only the resources whose project_id or
	// created_by_project_id equals it.
	ProjectScope *string
	// Limit bounds the page; 0 means no bound.
	Limit int
	// Marker is the id of the last resource of the previous page; the page
	// starts right after it in the listing's order. It must name an
	// existing resource (of Type, when set), else ErrInvalid.
	Marker *uuid.UUID
	// MarkerRevision, in a history listing, is the revision of the
	// marker's item; 0 means its current revision.
	MarkerRevision int64
	// Sort orders the listing; empty means Gnocchi's revision_start,
	// started_at. The id (and, for history, revision) always ends it.
	Sort []SortKey
	// Filter is a search filter over the common fields and, with Type, the
	// type's attributes.
	Filter search.Expr
	// Creator is the searcher's "user:project", with which non-UUID ids in
	// Filter are mapped to UUIDs as Gnocchi does.
	Creator string
	// Details fills the attributes of a listing of every type, which
	// Gnocchi leaves out; a typed listing always has them.
	Details bool
	// History lists every revision instead of the current ones.
	History bool
}

// ListMetricOptions select and order metrics.
type ListMetricOptions struct {
	// ProjectScope, when set, keeps only the metrics created by that
	// project or attached to a resource whose project_id or
	// created_by_project_id it is.
	ProjectScope *string
	Limit        int
	// Marker is the id of the last metric of the previous page.
	Marker *uuid.UUID
	// Sort orders the listing; empty means by id.
	Sort []SortKey
	// Name, when not empty, keeps the metrics of that name.
	Name string
	// ResourceID, when set, keeps the metrics of that resource.
	ResourceID *uuid.UUID
	// Filter is a search filter over the metric fields.
	Filter  search.Expr
	Creator string
}

// DeleteResourcesOptions select the resources DeleteResources deletes.
type DeleteResourcesOptions struct {
	Type         string
	ProjectScope *string
	// Filter is required: an empty one would delete everything.
	Filter  search.Expr
	Creator string
}

// builder accumulates SQL and its arguments in the dialect's placeholders.
type builder struct {
	ix   *Index
	args []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	if b.ix.pg() {
		return "$" + strconv.Itoa(len(b.args))
	}
	return "?"
}

func (b *builder) filter(e search.Expr, cols search.Columns) (string, error) {
	where, args, err := search.Compile(e, b.ix.d, cols, len(b.args))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b.args = append(b.args, args...)
	return "(" + where + ")", nil
}

// column is a searchable and sortable field.
type column struct {
	search.Column
	notNull bool
}

func (ix *Index) timeColumn(sql string, notNull bool) column {
	return column{search.Column{SQL: sql, Kind: search.Time, Encode: func(v any) (any, error) { return ix.ts(v.(time.Time)), nil }}, notNull}
}

func idColumn(sql, creator string) column {
	return column{search.Column{SQL: sql, Kind: search.UUID, Encode: func(v any) (any, error) {
		u, err := pipeline.ResourceUUID(v.(string), creator)
		if err != nil {
			return nil, err
		}
		return u.String(), nil
	}}, true}
}

// resourceColumn maps a field of a resource listing to SQL over alias r.
func (ix *Index) resourceColumn(rt *ResourceType, history bool, creator string) func(string) (column, bool) {
	return func(attr string) (column, bool) {
		str := func(notNull bool) (column, bool) {
			return column{search.Column{SQL: "r." + attr, Kind: search.String}, notNull}, true
		}
		switch attr {
		case "id":
			return idColumn("r.id", creator), true
		case "type", "original_resource_id", "creator", "created_by_user_id", "created_by_project_id":
			return str(true)
		case "user_id", "project_id":
			return str(false)
		case "started_at", "revision_start":
			return ix.timeColumn("r."+attr, true), true
		case "ended_at":
			return ix.timeColumn("r.ended_at", false), true
		case "revision_end":
			if history {
				return ix.timeColumn("r.revision_end", false), true
			}
			return ix.timeColumn(ix.nullTS(), false), true
		case "revision":
			return column{search.Column{SQL: "r.revision", Kind: search.Int}, true}, true
		case "lifespan":
			sql := "((r.ended_at - r.started_at) / 1e6)"
			if ix.pg() {
				sql = "EXTRACT(EPOCH FROM (r.ended_at - r.started_at))"
			}
			return column{search.Column{SQL: sql, Kind: search.Duration}, false}, true
		}
		if rt == nil {
			return column{}, false
		}
		spec, ok := rt.Attributes[attr]
		if !ok {
			return column{}, false
		}
		col := column{search.Column{SQL: attrExpr(ix.d, spec.Type, attr, "r.")}, false}
		switch spec.Type {
		case TypeString:
			col.Kind = search.String
		case TypeUUID:
			col.Kind = search.UUID
		case TypeNumber:
			col.Kind = search.Number
		case TypeBool:
			col.Kind = search.Bool
		case TypeDatetime:
			col.Kind = search.Time
			col.Encode = func(v any) (any, error) {
				return micro(v.(time.Time)).Format(datetimeLayout), nil
			}
		}
		return col, true
	}
}

func metricColumn(creator string) func(string) (column, bool) {
	return func(attr string) (column, bool) {
		switch attr {
		case "id":
			return column{search.Column{SQL: "m.id", Kind: search.UUID}, true}, true
		case "resource_id":
			c := idColumn("m.resource_id", creator)
			c.notNull = false
			return c, true
		case "name", "unit", "archive_policy_name", "creator", "created_by_user_id", "created_by_project_id":
			return column{search.Column{SQL: "m." + attr, Kind: search.String}, true}, true
		}
		return column{}, false
	}
}

func searchColumns(f func(string) (column, bool)) search.Columns {
	return func(attr string) (search.Column, bool) {
		c, ok := f(attr)
		return c.Column, ok
	}
}

// order is a resolved sort: the SQL of each key, its direction and whether
// it can be NULL.
type order struct {
	sql     []string
	desc    []bool
	notNull []bool
}

func resolveSort(keys []SortKey, cols func(string) (column, bool), defaults []SortKey, unique ...string) (order, error) {
	if len(keys) == 0 {
		keys = defaults
	}
	var o order
	seen := map[string]bool{}
	add := func(k SortKey) error {
		if seen[k.Key] {
			return nil
		}
		c, ok := cols(k.Key)
		if !ok {
			return fmt.Errorf("%w: invalid sort key %q", ErrInvalid, k.Key)
		}
		seen[k.Key] = true
		o.sql = append(o.sql, c.SQL)
		o.desc = append(o.desc, k.Desc)
		o.notNull = append(o.notNull, c.notNull)
		return nil
	}
	for _, k := range keys {
		if err := add(k); err != nil {
			return o, err
		}
	}
	for _, u := range unique {
		if err := add(SortKey{Key: u}); err != nil {
			return o, err
		}
	}
	return o, nil
}

// orderBy writes ORDER BY with NULLs smallest on both dialects.
func (o order) orderBy() string {
	parts := make([]string, len(o.sql))
	for i, s := range o.sql {
		switch {
		case o.desc[i] && o.notNull[i]:
			parts[i] = s + " DESC"
		case o.desc[i]:
			parts[i] = s + " DESC NULLS LAST"
		case o.notNull[i]:
			parts[i] = s + " ASC"
		default:
			parts[i] = s + " ASC NULLS FIRST"
		}
	}
	return " ORDER BY " + strings.Join(parts, ", ")
}

// after is the keyset condition "strictly after the row whose sort values
// are vals" in the order o, NULLs being smallest.
func (o order) after(b *builder, vals []any) string {
	var ors []string
	for i := range o.sql {
		var ands []string
		for j := 0; j < i; j++ {
			if vals[j] == nil {
				ands = append(ands, o.sql[j]+" IS NULL")
			} else {
				ands = append(ands, o.sql[j]+" = "+b.arg(vals[j]))
			}
		}
		var step string
		switch {
		case !o.desc[i] && vals[i] == nil:
			step = o.sql[i] + " IS NOT NULL"
		case !o.desc[i]:
			step = o.sql[i] + " > " + b.arg(vals[i])
		case vals[i] == nil:
			step = "1=0"
		default:
			step = "(" + o.sql[i] + " < " + b.arg(vals[i]) + " OR " + o.sql[i] + " IS NULL)"
		}
		ands = append(ands, step)
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// markerValues reads the sort values of the marker row.
func (ix *Index) markerValues(ctx context.Context, o order, from string, conds []string, args []any) ([]any, error) {
	vals := make([]any, len(o.sql))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	query := "SELECT " + strings.Join(o.sql, ", ") + " FROM " + from + " WHERE " + strings.Join(conds, " AND ")
	err := ix.r.QueryRowContext(ctx, query, args...).Scan(ptrs...)
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			vals[i] = string(b)
		}
	}
	return vals, nil
}

// historySource is every revision of every resource, with the shape of
// the resource table plus revision_end.
func (ix *Index) historySource() string {
	const cols = `id, type, original_resource_id, creator, created_by_user_id, created_by_project_id, user_id, project_id,
		started_at, ended_at, revision, revision_start`
	return "(SELECT " + cols + ", revision_end, attributes FROM resource_history UNION ALL SELECT " + cols + ", " +
		ix.nullTS() + " AS revision_end, attributes FROM resource)"
}

var defaultResourceSort = []SortKey{{Key: "revision_start"}, {Key: "started_at"}}

// ListResources returns the resources (or, with History, the revisions)
// that opts select, in its order, with their metrics.
func (ix *Index) ListResources(ctx context.Context, opts ListOptions) ([]Resource, error) {
	return ix.listResources(ctx, opts, nil)
}

func (ix *Index) listResources(ctx context.Context, opts ListOptions, only *uuid.UUID) ([]Resource, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d is negative", ErrInvalid, opts.Limit)
	}
	var rt *ResourceType
	typed := opts.Type != "" && opts.Type != "generic"
	if typed {
		t, err := ix.ResourceType(ctx, opts.Type)
		if err != nil {
			return nil, err
		}
		rt = &t
	}
	cols := ix.resourceColumn(rt, opts.History, opts.Creator)
	unique := []string{"id"}
	if opts.History {
		unique = append(unique, "revision")
	}
	o, err := resolveSort(opts.Sort, cols, defaultResourceSort, unique...)
	if err != nil {
		return nil, err
	}
	from, sel := "resource r", ix.currentColumns()
	if opts.History {
		from, sel = ix.historySource()+" r", resourceColumns
	}
	b := &builder{ix: ix}
	var conds []string
	if typed {
		// A literal, not a parameter, so that the planners can use the
		// partial indexes of the type's attributes; the name was checked
		// by ResourceType.
		conds = append(conds, "r.type = "+sqlString(rt.Name))
	}
	if opts.ProjectScope != nil {
		conds = append(conds, "(r.project_id = "+b.arg(*opts.ProjectScope)+" OR r.created_by_project_id = "+b.arg(*opts.ProjectScope)+")")
	}
	if only != nil {
		conds = append(conds, "r.id = "+b.arg(only.String()))
	}
	if opts.Filter != nil {
		f, err := b.filter(opts.Filter, searchColumns(cols))
		if err != nil {
			return nil, err
		}
		conds = append(conds, f)
	}
	if opts.Marker != nil {
		mb := &builder{ix: ix}
		mconds := []string{"r.id = " + mb.arg(opts.Marker.String())}
		if typed {
			mconds = append(mconds, "r.type = "+sqlString(rt.Name))
		}
		if opts.History {
			if opts.MarkerRevision != 0 {
				mconds = append(mconds, "r.revision = "+mb.arg(opts.MarkerRevision))
			} else {
				mconds = append(mconds, "r.revision_end IS NULL")
			}
		}
		vals, err := ix.markerValues(ctx, o, from, mconds, mb.args)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: invalid marker %s: no such resource", ErrInvalid, opts.Marker)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the marker %s: %w", opts.Marker, err)
		}
		conds = append(conds, o.after(b, vals))
	}
	query := "SELECT " + sel + " FROM " + from
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += o.orderBy()
	if opts.Limit > 0 {
		query += " LIMIT " + b.arg(opts.Limit)
	}
	rows, err := ix.r.QueryContext(ctx, query, b.args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list resources: %w", err)
	}
	var out []Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot list resources: %w", err)
		}
		if !typed && !opts.Details {
			r.Attributes = nil
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list resources: %w", err)
	}
	if err := ix.fillMetrics(ctx, ix.r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ResourceHistory returns the revisions of resource id (of type typ, or of
// any type when typ is generic), the current one included, ordered by
// opts.Sort (default: revision_start). opts.Type, History and Marker are
// ignored; Limit, Filter, ProjectScope and Details apply. ErrNotFound if
// the resource does not exist.
func (ix *Index) ResourceHistory(ctx context.Context, typ string, id uuid.UUID, opts ListOptions) ([]Resource, error) {
	if _, err := ix.resourceIn(ctx, ix.r, typ, id, false); err != nil {
		return nil, err
	}
	opts.Type, opts.History, opts.Marker = typ, true, nil
	if len(opts.Sort) == 0 {
		opts.Sort = []SortKey{{Key: "revision_start"}}
	}
	return ix.listResources(ctx, opts, &id)
}

// DeleteResources deletes, in one transaction, the resources opts select,
// with their history, marks their metrics deleted, and returns how many
// resources went and the ids of their metrics.
func (ix *Index) DeleteResources(ctx context.Context, opts DeleteResourcesOptions) (int, []uuid.UUID, error) {
	if opts.Filter == nil {
		return 0, nil, fmt.Errorf("%w: deleting resources needs a filter", ErrInvalid)
	}
	var rt *ResourceType
	typed := opts.Type != "" && opts.Type != "generic"
	if typed {
		t, err := ix.ResourceType(ctx, opts.Type)
		if err != nil {
			return 0, nil, err
		}
		rt = &t
	}
	b := &builder{ix: ix}
	f, err := b.filter(opts.Filter, searchColumns(ix.resourceColumn(rt, false, opts.Creator)))
	if err != nil {
		return 0, nil, err
	}
	conds := []string{f}
	if typed {
		conds = append(conds, "r.type = "+sqlString(rt.Name))
	}
	if opts.ProjectScope != nil {
		conds = append(conds, "(r.project_id = "+b.arg(*opts.ProjectScope)+" OR r.created_by_project_id = "+b.arg(*opts.ProjectScope)+")")
	}
	var n int
	var metrics []uuid.UUID
	err = ix.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT r.id FROM resource r WHERE "+strings.Join(conds, " AND ")+ix.forUpdate(), b.args...)
		if err != nil {
			return fmt.Errorf("cannot select the resources to delete: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("cannot select the resources to delete: %w", err)
			}
			ids = append(ids, id.String())
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("cannot select the resources to delete: %w", err)
		}
		n = len(ids)
		metrics, err = ix.deleteResources(ctx, tx, ids)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return n, metrics, nil
}

// PurgeHistory deletes the revisions that ended before before and returns
// how many went. Current revisions are never purged.
func (ix *Index) PurgeHistory(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := ix.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, ix.q("DELETE FROM resource_history WHERE revision_end < ?"), ix.ts(before))
		if err != nil {
			return fmt.Errorf("cannot purge resource history: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

var defaultMetricSort = []SortKey{{Key: "id"}}

// ListMetrics returns the active metrics opts select, in its order.
func (ix *Index) ListMetrics(ctx context.Context, opts ListMetricOptions) ([]Metric, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d is negative", ErrInvalid, opts.Limit)
	}
	cols := metricColumn(opts.Creator)
	o, err := resolveSort(opts.Sort, cols, defaultMetricSort, "id")
	if err != nil {
		return nil, err
	}
	b := &builder{ix: ix}
	from := "metric m"
	conds := []string{"m.status = 'active'"}
	if opts.ProjectScope != nil {
		from += " LEFT JOIN resource r ON r.id = m.resource_id"
		p := *opts.ProjectScope
		conds = append(conds, "(m.created_by_project_id = "+b.arg(p)+" OR r.project_id = "+b.arg(p)+" OR r.created_by_project_id = "+b.arg(p)+")")
	}
	if opts.Name != "" {
		conds = append(conds, "m.name = "+b.arg(opts.Name))
	}
	if opts.ResourceID != nil {
		conds = append(conds, "m.resource_id = "+b.arg(opts.ResourceID.String()))
	}
	if opts.Filter != nil {
		f, err := b.filter(opts.Filter, searchColumns(cols))
		if err != nil {
			return nil, err
		}
		conds = append(conds, f)
	}
	if opts.Marker != nil {
		mb := &builder{ix: ix}
		vals, err := ix.markerValues(ctx, o, "metric m", []string{"m.id = " + mb.arg(opts.Marker.String()), "m.status = 'active'"}, mb.args)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: invalid marker %s: no such metric", ErrInvalid, opts.Marker)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the marker %s: %w", opts.Marker, err)
		}
		conds = append(conds, o.after(b, vals))
	}
	query := "SELECT " + metricColumns + " FROM " + from + " WHERE " + strings.Join(conds, " AND ") + o.orderBy()
	if opts.Limit > 0 {
		query += " LIMIT " + b.arg(opts.Limit)
	}
	rows, err := ix.r.QueryContext(ctx, query, b.args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list metrics: %w", err)
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		m, err := scanMetric(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list metrics: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list metrics: %w", err)
	}
	return out, nil
}
