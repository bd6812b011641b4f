package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Resource is one revision of a resource: the current one, or a past one
// when it comes from a history listing (then RevisionEnd is set).
type Resource struct {
	ID                 uuid.UUID
	OriginalResourceID string
	Type               string
	// Creator is "user_id:project_id" of whoever created the resource;
	// CreatedByUserID and CreatedByProjectID are its two halves.
	Creator            string
	CreatedByUserID    string
	CreatedByProjectID string
	UserID, ProjectID  *string
	StartedAt          time.Time
	EndedAt            *time.Time
	// Revision counts the changes of the resource, from 1; it is what an
	// ETag stands for and what UpdateResource's ifRevision compares.
	Revision      int64
	RevisionStart time.Time
	RevisionEnd   *time.Time
	// Attributes are the type's attributes, every one present (nil for a
	// null); datetimes are strings in UTC, numbers float64, uuids
	// canonical strings.
	Attributes map[string]any
	// Metrics are the resource's active metrics by name.
	Metrics map[string]uuid.UUID
}

// ResourcePatch is a change to a resource. Nil fields are left as they
// are; a double pointer pointing to nil clears a nullable field.
type ResourcePatch struct {
	StartedAt *time.Time
	EndedAt   **time.Time
	UserID    **string
	ProjectID **string
	// Attributes are merged into the resource's: the given ones change (nil
	// sets a non-required one to null), the others stay.
	Attributes map[string]any
	// Metrics, when non-nil, replaces the resource's metrics: the active
	// metrics not named are detached (they become stand-alone), the named
	// ones are attached or created. A change of metrics alone makes no new
	// revision.
	Metrics map[string]MetricSpec
}

// MetricSpec names a metric for a resource: an existing one to attach (ID
// set), or a new one (ID nil) with its policy (empty: the rules decide) and
// unit.
type MetricSpec struct {
	ID                uuid.UUID
	ArchivePolicyName string
	Unit              string
}

const maxField = 255

// splitCreator cuts "user:project" at the first colon, as Gnocchi does.
func splitCreator(c string) (user, project string) {
	user, project, _ = strings.Cut(c, ":")
	return user, project
}

// prepareResource validates a new resource against its type and fills what
// the index derives.
func prepareResource(r Resource, rt *ResourceType, now time.Time) (Resource, error) {
	if r.ID == uuid.Nil {
		return r, fmt.Errorf("%w: resource id is missing", ErrInvalid)
	}
	if r.OriginalResourceID == "" {
		r.OriginalResourceID = r.ID.String()
	}
	if r.Creator == "" && (r.CreatedByUserID != "" || r.CreatedByProjectID != "") {
		r.Creator = r.CreatedByUserID + ":" + r.CreatedByProjectID
	}
	r.CreatedByUserID, r.CreatedByProjectID = splitCreator(r.Creator)
	for _, f := range []struct {
		name string
		v    *string
	}{{"original_resource_id", &r.OriginalResourceID}, {"creator", &r.Creator}, {"user_id", r.UserID}, {"project_id", r.ProjectID}} {
		if f.v != nil && len(*f.v) > maxField {
			return r, fmt.Errorf("%w: resource %s: %s is %d bytes long, the most is %d", ErrInvalid, r.ID, f.name, len(*f.v), maxField)
		}
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = now
	}
	r.StartedAt = micro(r.StartedAt)
	if r.EndedAt != nil {
		e := micro(*r.EndedAt)
		r.EndedAt = &e
		if e.Before(r.StartedAt) {
			return r, fmt.Errorf("%w: resource %s: ended_at %v is before started_at %v", ErrInvalid, r.ID, e, r.StartedAt)
		}
	}
	attrs, err := rt.checkAttributes(r.Attributes, true)
	if err != nil {
		return r, fmt.Errorf("resource %s: %w", r.ID, err)
	}
	r.Attributes = attrs
	r.Revision = 1
	r.RevisionStart = now
	r.RevisionEnd = nil
	r.Metrics = map[string]uuid.UUID{}
	return r, nil
}

func encodeAttributes(a map[string]any) string {
	if a == nil {
		return "{}"
	}
	b, err := json.Marshal(a)
	if err != nil {
		panic("BUG: cannot encode checked attributes: " + err.Error())
	}
	return string(b)
}

const resourceColumns = `r.id, r.type, r.original_resource_id, r.creator, r.created_by_user_id, r.created_by_project_id,
	r.user_id, r.project_id, r.started_at, r.ended_at, r.revision, r.revision_start, r.revision_end, r.attributes`

// currentColumns reads a current row of resource with the shape of
// resourceColumns (revision_end NULL).
func (ix *Index) currentColumns() string {
	return strings.Replace(resourceColumns, "r.revision_end", ix.nullTS()+" AS revision_end", 1)
}

// nullTS is a typed NULL timestamp; PostgreSQL needs the type to infer the
// parameters it is compared with.
func (ix *Index) nullTS() string {
	if ix.pg() {
		return "CAST(NULL AS TIMESTAMPTZ)"
	}
	return "NULL"
}

type scanner interface{ Scan(...any) error }

func scanResource(sc scanner) (Resource, error) {
	var r Resource
	var attrs string
	err := sc.Scan(&r.ID, &r.Type, &r.OriginalResourceID, &r.Creator, &r.CreatedByUserID, &r.CreatedByProjectID,
		optStrDest{&r.UserID}, optStrDest{&r.ProjectID}, timeDest{&r.StartedAt}, optTimeDest{&r.EndedAt},
		&r.Revision, timeDest{&r.RevisionStart}, optTimeDest{&r.RevisionEnd}, &attrs)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(attrs), &r.Attributes); err != nil {
		return r, fmt.Errorf("cannot decode the attributes of resource %s: %w", r.ID, err)
	}
	return r, nil
}

// resourceIn reads the current revision of resource id; typ other than
// generic must match its type. It does not fill Metrics.
func (ix *Index) resourceIn(ctx context.Context, q querier, typ string, id uuid.UUID, forUpdate bool) (Resource, error) {
	query := "SELECT " + ix.currentColumns() + " FROM resource r WHERE r.id = ?"
	args := []any{id.String()}
	if typ != "generic" && typ != "" {
		query += " AND r.type = ?"
		args = append(args, typ)
	}
	if forUpdate {
		query += ix.forUpdate()
	}
	r, err := scanResource(q.QueryRowContext(ctx, ix.q(query), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("resource %s of type %s: %w", id, typ, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("cannot read resource %s: %w", id, err)
	}
	return r, nil
}

// fillMetrics sets the Metrics of rs from one query.
func (ix *Index) fillMetrics(ctx context.Context, q querier, rs []Resource) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID][]*Resource, len(rs))
	for i := range rs {
		rs[i].Metrics = map[string]uuid.UUID{}
		byID[rs[i].ID] = append(byID[rs[i].ID], &rs[i])
	}
	ids := slices.Collect(maps.Keys(byID))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id.String()
		}
		rows, err := q.QueryContext(ctx, ix.q("SELECT resource_id, name, id FROM metric WHERE status = 'active' AND resource_id IN ("+
			placeholders(len(chunk))+")"), args...)
		if err != nil {
			return fmt.Errorf("cannot read the metrics of resources: %w", err)
		}
		for rows.Next() {
			var rid, mid uuid.UUID
			var name string
			if err := rows.Scan(&rid, &name, &mid); err != nil {
				rows.Close()
				return fmt.Errorf("cannot read the metrics of resources: %w", err)
			}
			for _, r := range byID[rid] {
				r.Metrics[name] = mid
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("cannot read the metrics of resources: %w", err)
		}
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Resource returns the current revision of resource id with its metrics.
// typ "generic" reads a resource of any type; another type must be the
// resource's. Attributes are always filled. ErrNotFound if there is none.
func (ix *Index) Resource(ctx context.Context, typ string, id uuid.UUID) (Resource, error) {
	r, err := ix.resourceIn(ctx, ix.r, typ, id, false)
	if err != nil {
		return r, err
	}
	rs := []Resource{r}
	if err := ix.fillMetrics(ctx, ix.r, rs); err != nil {
		return r, err
	}
	return rs[0], nil
}

func (ix *Index) insertResource(ctx context.Context, q querier, r *Resource) (bool, error) {
	res, err := q.ExecContext(ctx, ix.q(`INSERT INTO resource (id, type, original_resource_id, creator, created_by_user_id,
		created_by_project_id, user_id, project_id, started_at, ended_at, revision, revision_start, attributes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		r.ID.String(), r.Type, r.OriginalResourceID, r.Creator, r.CreatedByUserID, r.CreatedByProjectID,
		optStr(r.UserID), optStr(r.ProjectID), ix.ts(r.StartedAt), ix.optTS(r.EndedAt), r.Revision,
		ix.ts(r.RevisionStart), encodeAttributes(r.Attributes))
	if err != nil {
		return false, fmt.Errorf("cannot create resource %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("cannot create resource %s: %w", r.ID, err)
	}
	return n == 1, nil
}

func typeOf(r Resource) string {
	if r.Type == "" {
		return "generic"
	}
	return r.Type
}

// EnsureResource creates r unless a resource with its id exists, and
// returns the resource as stored (with its metrics) and whether this call
// created it. Concurrent callers, in one process or many, agree on one
// creation. An existing resource is returned as it is, even when r differs
// from it. r.Type empty means generic; zero StartedAt means now.
func (ix *Index) EnsureResource(ctx context.Context, r Resource) (Resource, bool, error) {
	if got, err := ix.Resource(ctx, "generic", r.ID); err == nil {
		return got, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return got, false, err
	}
	r.Type = typeOf(r)
	var out Resource
	var created bool
	err := ix.write(ctx, func(tx *sql.Tx) error {
		row, err := ix.resourceTypeIn(ctx, tx, r.Type, false)
		if err != nil {
			return err
		}
		nr, err := prepareResource(r, &row.ResourceType, micro(time.Now()))
		if err != nil {
			return err
		}
		if created, err = ix.insertResource(ctx, tx, &nr); err != nil {
			return err
		}
		if created {
			out = nr
			return nil
		}
		if out, err = ix.resourceIn(ctx, tx, "generic", r.ID, false); err != nil {
			return err
		}
		rs := []Resource{out}
		if err := ix.fillMetrics(ctx, tx, rs); err != nil {
			return err
		}
		out = rs[0]
		return nil
	})
	return out, created, err
}

// CreateResource creates r with the given metrics, in one transaction, and
// returns it as stored. ErrExists if its id is taken; ErrNotFound if its
// type, or a metric to attach, does not exist; ErrInvalid for attributes
// that do not fit the type.
func (ix *Index) CreateResource(ctx context.Context, r Resource, metrics map[string]MetricSpec) (Resource, error) {
	r.Type = typeOf(r)
	var out Resource
	err := ix.write(ctx, func(tx *sql.Tx) error {
		row, err := ix.resourceTypeIn(ctx, tx, r.Type, false)
		if err != nil {
			return err
		}
		nr, err := prepareResource(r, &row.ResourceType, micro(time.Now()))
		if err != nil {
			return err
		}
		created, err := ix.insertResource(ctx, tx, &nr)
		if err != nil {
			return err
		}
		if !created {
			return fmt.Errorf("resource %s: %w", r.ID, ErrExists)
		}
		if err := ix.setResourceMetrics(ctx, tx, &nr, metrics, true); err != nil {
			return err
		}
		out = nr
		return nil
	})
	return out, err
}

// setResourceMetrics attaches or creates the named metrics of r and sets
// r.Metrics; with keep false, the active metrics not named are detached
// first.
func (ix *Index) setResourceMetrics(ctx context.Context, tx *sql.Tx, r *Resource, metrics map[string]MetricSpec, keep bool) error {
	if !keep {
		if _, err := tx.ExecContext(ctx, ix.q("UPDATE metric SET resource_id = NULL WHERE resource_id = ? AND status = 'active'"), r.ID.String()); err != nil {
			return fmt.Errorf("cannot detach the metrics of resource %s: %w", r.ID, err)
		}
		r.Metrics = map[string]uuid.UUID{}
	}
	if r.Metrics == nil {
		r.Metrics = map[string]uuid.UUID{}
	}
	for _, name := range slices.Sorted(maps.Keys(metrics)) {
		spec := metrics[name]
		if name == "" {
			return fmt.Errorf("%w: resource %s: a metric of a resource needs a name", ErrInvalid, r.ID)
		}
		if spec.ID != uuid.Nil {
			res, err := tx.ExecContext(ctx, ix.q("UPDATE metric SET resource_id = ?, name = ? WHERE id = ? AND status = 'active'"),
				r.ID.String(), name, spec.ID.String())
			if err != nil {
				if ix.isUniqueViolation(err) {
					return fmt.Errorf("metric %s of resource %s: %w", name, r.ID, ErrExists)
				}
				return fmt.Errorf("cannot attach metric %s to resource %s: %w", spec.ID, r.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("metric %s: %w", spec.ID, ErrNotFound)
			}
			r.Metrics[name] = spec.ID
			continue
		}
		rid := r.ID
		m := Metric{ID: uuid.New(), Name: name, Unit: spec.Unit, ArchivePolicyName: spec.ArchivePolicyName, Creator: r.Creator, ResourceID: &rid}
		if err := ix.insertMetric(ctx, tx, &m, false); err != nil {
			return err
		}
		r.Metrics[name] = m.ID
	}
	return nil
}

// AddResourceMetrics attaches or creates the named metrics of resource id
// (of type typ, or any type when typ is generic), keeping the metrics it
// has, and returns the resource. ErrExists if it has a metric of one of the
// names already. It makes no new revision.
func (ix *Index) AddResourceMetrics(ctx context.Context, typ string, id uuid.UUID, metrics map[string]MetricSpec) (Resource, error) {
	var out Resource
	err := ix.write(ctx, func(tx *sql.Tx) error {
		r, err := ix.resourceIn(ctx, tx, typ, id, true)
		if err != nil {
			return err
		}
		rs := []Resource{r}
		if err := ix.fillMetrics(ctx, tx, rs); err != nil {
			return err
		}
		r = rs[0]
		for _, name := range slices.Sorted(maps.Keys(metrics)) {
			if _, ok := r.Metrics[name]; ok {
				return fmt.Errorf("metric %s of resource %s: %w", name, id, ErrExists)
			}
		}
		if err := ix.setResourceMetrics(ctx, tx, &r, metrics, true); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// isUniqueViolation tells a unique-key violation of either driver.
func (ix *Index) isUniqueViolation(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// UpdateResource applies p to resource id (of type typ, or of any type when
// typ is generic) and returns the new current revision. When ifRevision is
// not zero the resource must be at that revision, else ErrConflict. A
// change of fields or attributes moves the current row to the history with
// revision_end = now and starts the new revision at now; a patch that
// changes nothing returns the resource untouched.
func (ix *Index) UpdateResource(ctx context.Context, typ string, id uuid.UUID, p ResourcePatch, ifRevision int64) (Resource, error) {
	var out Resource
	err := ix.write(ctx, func(tx *sql.Tx) error {
		cur, err := ix.resourceIn(ctx, tx, typ, id, true)
		if err != nil {
			return err
		}
		if ifRevision != 0 && cur.Revision != ifRevision {
			return fmt.Errorf("resource %s is at revision %d, not %d: %w", id, cur.Revision, ifRevision, ErrConflict)
		}
		row, err := ix.resourceTypeIn(ctx, tx, cur.Type, false)
		if err != nil {
			return err
		}
		next, err := applyPatch(cur, &row.ResourceType, p)
		if err != nil {
			return err
		}
		if !sameRevision(cur, next) {
			now := micro(time.Now())
			if !now.After(cur.RevisionStart) {
				now = cur.RevisionStart.Add(time.Microsecond)
			}
			if _, err := tx.ExecContext(ctx, ix.q(`INSERT INTO resource_history (id, type, original_resource_id, creator,
				created_by_user_id, created_by_project_id, user_id, project_id, started_at, ended_at, revision, revision_start,
				revision_end, attributes) SELECT id, type, original_resource_id, creator, created_by_user_id, created_by_project_id,
				user_id, project_id, started_at, ended_at, revision, revision_start, ?, attributes FROM resource WHERE id = ?`),
				ix.ts(now), id.String()); err != nil {
				return fmt.Errorf("cannot record the history of resource %s: %w", id, err)
			}
			next.Revision = cur.Revision + 1
			next.RevisionStart = now
			if _, err := tx.ExecContext(ctx, ix.q(`UPDATE resource SET user_id = ?, project_id = ?, started_at = ?, ended_at = ?,
				revision = ?, revision_start = ?, attributes = ? WHERE id = ?`),
				optStr(next.UserID), optStr(next.ProjectID), ix.ts(next.StartedAt), ix.optTS(next.EndedAt),
				next.Revision, ix.ts(next.RevisionStart), encodeAttributes(next.Attributes), id.String()); err != nil {
				return fmt.Errorf("cannot update resource %s: %w", id, err)
			}
		}
		rs := []Resource{next}
		if err := ix.fillMetrics(ctx, tx, rs); err != nil {
			return err
		}
		next = rs[0]
		if p.Metrics != nil {
			if err := ix.setResourceMetrics(ctx, tx, &next, p.Metrics, false); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	return out, err
}

// applyPatch returns cur with p applied and checked against rt.
func applyPatch(cur Resource, rt *ResourceType, p ResourcePatch) (Resource, error) {
	next := cur
	if p.StartedAt != nil {
		next.StartedAt = micro(*p.StartedAt)
	}
	if p.EndedAt != nil {
		if *p.EndedAt == nil {
			next.EndedAt = nil
		} else {
			e := micro(**p.EndedAt)
			next.EndedAt = &e
		}
	}
	if p.UserID != nil {
		next.UserID = *p.UserID
	}
	if p.ProjectID != nil {
		next.ProjectID = *p.ProjectID
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"user_id", next.UserID}, {"project_id", next.ProjectID}} {
		if f.v != nil && len(*f.v) > maxField {
			return next, fmt.Errorf("%w: resource %s: %s is %d bytes long, the most is %d", ErrInvalid, cur.ID, f.name, len(*f.v), maxField)
		}
	}
	if next.EndedAt != nil && next.EndedAt.Before(next.StartedAt) {
		return next, fmt.Errorf("%w: resource %s: ended_at %v is before started_at %v", ErrInvalid, cur.ID, *next.EndedAt, next.StartedAt)
	}
	if len(p.Attributes) > 0 {
		changes, err := rt.checkAttributes(p.Attributes, false)
		if err != nil {
			return next, fmt.Errorf("resource %s: %w", cur.ID, err)
		}
		attrs := maps.Clone(cur.Attributes)
		if attrs == nil {
			attrs = map[string]any{}
		}
		// Round-trip through JSON so that values compare as they are
		// stored and read back.
		var norm map[string]any
		if err := json.Unmarshal([]byte(encodeAttributes(changes)), &norm); err != nil {
			return next, fmt.Errorf("BUG: attributes do not round-trip: %w", err)
		}
		maps.Copy(attrs, norm)
		next.Attributes = attrs
	}
	return next, nil
}

// sameRevision reports whether next stores exactly what cur does.
func sameRevision(cur, next Resource) bool {
	eqStr := func(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	eqTime := func(a, b *time.Time) bool { return a == nil && b == nil || a != nil && b != nil && a.Equal(*b) }
	return eqStr(cur.UserID, next.UserID) && eqStr(cur.ProjectID, next.ProjectID) &&
		cur.StartedAt.Equal(next.StartedAt) && eqTime(cur.EndedAt, next.EndedAt) &&
		reflect.DeepEqual(cur.Attributes, next.Attributes)
}

// DeleteResource deletes resource id (of type typ, or any type when typ is
// generic) with its history, marks its metrics deleted and returns their
// ids, whose series the caller frees (see DeletedMetrics).
func (ix *Index) DeleteResource(ctx context.Context, typ string, id uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := ix.write(ctx, func(tx *sql.Tx) error {
		if _, err := ix.resourceIn(ctx, tx, typ, id, true); err != nil {
			return err
		}
		var err error
		ids, err = ix.deleteResources(ctx, tx, []string{id.String()})
		return err
	})
	return ids, err
}

// deleteResources deletes the resources of ids and marks their metrics
// deleted, returning the metrics' ids.
func (ix *Index) deleteResources(ctx context.Context, tx *sql.Tx, ids []string) ([]uuid.UUID, error) {
	var metrics []uuid.UUID
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		ids = ids[n:]
		in := "(" + placeholders(n) + ")"
		rows, err := tx.QueryContext(ctx, ix.q("UPDATE metric SET status = 'delete', resource_id = NULL WHERE status = 'active' AND resource_id IN "+in+" RETURNING id"), args...)
		if err != nil {
			return nil, fmt.Errorf("cannot delete the metrics of resources: %w", err)
		}
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cannot delete the metrics of resources: %w", err)
			}
			metrics = append(metrics, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("cannot delete the metrics of resources: %w", err)
		}
		if _, err := tx.ExecContext(ctx, ix.q("DELETE FROM resource WHERE id IN "+in), args...); err != nil {
			return nil, fmt.Errorf("cannot delete resources: %w", err)
		}
	}
	slices.SortFunc(metrics, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return metrics, nil
}
