package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// Metric is an active metric: named and attached to a resource, or
// stand-alone (ResourceID nil, Name possibly empty).
type Metric struct {
	ID                uuid.UUID
	Name              string
	Unit              string
	ArchivePolicyName string
	// Creator is "user_id:project_id" of whoever created the metric;
	// CreatedByUserID and CreatedByProjectID are its two halves.
	Creator            string
	CreatedByUserID    string
	CreatedByProjectID string
	ResourceID         *uuid.UUID
}

const metricColumns = "m.id, m.name, m.unit, m.archive_policy_name, m.resource_id, m.creator, m.created_by_user_id, m.created_by_project_id"

func scanMetric(sc scanner) (Metric, error) {
	var m Metric
	var rid uuid.NullUUID
	err := sc.Scan(&m.ID, &m.Name, &m.Unit, &m.ArchivePolicyName, &rid, &m.Creator, &m.CreatedByUserID, &m.CreatedByProjectID)
	if rid.Valid {
		m.ResourceID = &rid.UUID
	}
	return m, err
}

// insertMetric checks m, picks its policy by the rules when it has none,
// and inserts it. With ignoreConflict a metric that already holds its id or
// its (resource, name) makes it return ok false instead of ErrExists.
func (ix *Index) insertMetric(ctx context.Context, tx *sql.Tx, m *Metric, ignoreConflict bool) error {
	_, err := ix.tryInsertMetric(ctx, tx, m, ignoreConflict)
	return err
}

func (ix *Index) tryInsertMetric(ctx context.Context, tx *sql.Tx, m *Metric, ignoreConflict bool) (bool, error) {
	if len(m.Name) > maxField || len(m.Unit) > maxField || len(m.Creator) > maxField {
		return false, fmt.Errorf("%w: metric %q: name, unit and creator are at most %d bytes", ErrInvalid, m.Name, maxField)
	}
	if m.ResourceID != nil && m.Name == "" {
		return false, fmt.Errorf("%w: a metric of a resource needs a name", ErrInvalid)
	}
	if m.ID == uuid.Nil {
		m.ID = uuid.New()
	}
	if m.ArchivePolicyName == "" {
		rules, err := ix.rulesIn(ctx, tx)
		if err != nil {
			return false, err
		}
		r, ok := matchRule(rules, m.Name)
		if !ok {
			return false, fmt.Errorf("%w: metric %q has no archive policy and no rule matches its name", ErrInvalid, m.Name)
		}
		m.ArchivePolicyName = r.PolicyName
	}
	if _, err := ix.policyIn(ctx, tx, m.ArchivePolicyName, false); errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("%w: metric %q: archive policy %s does not exist", ErrInvalid, m.Name, m.ArchivePolicyName)
	} else if err != nil {
		return false, err
	}
	var rid any
	if m.ResourceID != nil {
		var one int
		err := tx.QueryRowContext(ctx, ix.q("SELECT 1 FROM resource WHERE id = ?"), m.ResourceID.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("resource %s of metric %q: %w", m.ResourceID, m.Name, ErrNotFound)
		}
		if err != nil {
			return false, fmt.Errorf("cannot check resource %s: %w", m.ResourceID, err)
		}
		rid = m.ResourceID.String()
	}
	m.CreatedByUserID, m.CreatedByProjectID = splitCreator(m.Creator)
	res, err := tx.ExecContext(ctx, ix.q(`INSERT INTO metric (id, name, unit, archive_policy_name, resource_id, creator,
		created_by_user_id, created_by_project_id, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active') ON CONFLICT DO NOTHING`),
		m.ID.String(), m.Name, m.Unit, m.ArchivePolicyName, rid, m.Creator, m.CreatedByUserID, m.CreatedByProjectID)
	if err != nil {
		return false, fmt.Errorf("cannot create metric %q: %w", m.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if ignoreConflict {
			return false, nil
		}
		if m.ResourceID != nil {
			return false, fmt.Errorf("metric %s or metric %q of resource %s: %w", m.ID, m.Name, m.ResourceID, ErrExists)
		}
		return false, fmt.Errorf("metric %s: %w", m.ID, ErrExists)
	}
	return true, nil
}

func (ix *Index) rulesIn(ctx context.Context, q querier) ([]archive.Rule, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, metric_pattern, archive_policy_name FROM archive_policy_rule")
	if err != nil {
		return nil, fmt.Errorf("cannot read archive policy rules: %w", err)
	}
	defer rows.Close()
	var out []archive.Rule
	for rows.Next() {
		var r archive.Rule
		if err := rows.Scan(&r.Name, &r.MetricPattern, &r.PolicyName); err != nil {
			return nil, fmt.Errorf("cannot read archive policy rules: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateMetric creates m (a new id when m.ID is nil; the rules' policy when
// it names none) and returns it. ErrExists if the id, or the name on its
// resource, is taken; ErrNotFound if its resource does not exist;
// ErrInvalid if its policy does not.
func (ix *Index) CreateMetric(ctx context.Context, m Metric) (Metric, error) {
	err := ix.write(ctx, func(tx *sql.Tx) error { return ix.insertMetric(ctx, tx, &m, false) })
	return m, err
}

// EnsureMetric returns the metric called name of resource resourceID,
// creating it with unit, policy (empty: the rules decide) and creator if it
// does not exist, and whether this call created it. Concurrent callers, in
// one process or many, agree on one metric. An existing metric is returned
// as it is.
func (ix *Index) EnsureMetric(ctx context.Context, resourceID uuid.UUID, name, unit, policy, creator string) (Metric, bool, error) {
	m, err := ix.metricByName(ctx, ix.r, resourceID, name)
	if err == nil {
		return m, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return m, false, err
	}
	created := false
	err = ix.write(ctx, func(tx *sql.Tx) error {
		rid := resourceID
		nm := Metric{Name: name, Unit: unit, ArchivePolicyName: policy, Creator: creator, ResourceID: &rid}
		ok, err := ix.tryInsertMetric(ctx, tx, &nm, true)
		if err != nil {
			return err
		}
		if ok {
			m, created = nm, true
			return nil
		}
		m, err = ix.metricByName(ctx, tx, resourceID, name)
		return err
	})
	return m, created, err
}

func (ix *Index) metricByName(ctx context.Context, q querier, resourceID uuid.UUID, name string) (Metric, error) {
	m, err := scanMetric(q.QueryRowContext(ctx, ix.q("SELECT "+metricColumns+" FROM metric m WHERE m.resource_id = ? AND m.name = ? AND m.status = 'active'"),
		resourceID.String(), name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("metric %q of resource %s: %w", name, resourceID, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("cannot read metric %q of resource %s: %w", name, resourceID, err)
	}
	return m, nil
}

// Metric returns active metric id, or ErrNotFound (also once deleted).
func (ix *Index) Metric(ctx context.Context, id uuid.UUID) (Metric, error) {
	m, err := scanMetric(ix.r.QueryRowContext(ctx, ix.q("SELECT "+metricColumns+" FROM metric m WHERE m.id = ? AND m.status = 'active'"), id.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("metric %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("cannot read metric %s: %w", id, err)
	}
	return m, nil
}

// DeleteMetric marks metric id deleted: from then on no read returns it
// and its name on its resource is free. Its series are freed through
// DeletedMetrics. ErrNotFound if there is no active metric id.
func (ix *Index) DeleteMetric(ctx context.Context, id uuid.UUID) error {
	return ix.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, ix.q("UPDATE metric SET status = 'delete', resource_id = NULL WHERE id = ? AND status = 'active'"), id.String())
		if err != nil {
			return fmt.Errorf("cannot delete metric %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("metric %s: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeletedMetrics returns up to limit ids of deleted metrics whose rows
// remain, in id order. Whoever frees their series calls ExpungeMetrics
// afterwards.
func (ix *Index) DeletedMetrics(ctx context.Context, limit int) ([]uuid.UUID, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := ix.r.QueryContext(ctx, ix.q("SELECT id FROM metric WHERE status = 'delete' ORDER BY id LIMIT ?"), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot list deleted metrics: %w", err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot list deleted metrics: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ExpungeMetrics removes the rows of deleted metrics; ids of active metrics
// are ignored.
func (ix *Index) ExpungeMetrics(ctx context.Context, ids []uuid.UUID) error {
	return ix.write(ctx, func(tx *sql.Tx) error {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			args := make([]any, n)
			for i, id := range ids[:n] {
				args[i] = id.String()
			}
			ids = ids[n:]
			if _, err := tx.ExecContext(ctx, ix.q("DELETE FROM metric WHERE status = 'delete' AND id IN ("+placeholders(n)+")"), args...); err != nil {
				return fmt.Errorf("cannot expunge metrics: %w", err)
			}
		}
		return nil
	})
}

// ForEachMetric calls fn with every active metric, in id order, and stops
// at the first error fn returns. It reads in pages and holds no
// connection while fn runs, so fn may call the index.
func (ix *Index) ForEachMetric(ctx context.Context, fn func(Metric) error) error {
	const page = 1000
	last := ""
	for {
		rows, err := ix.r.QueryContext(ctx, ix.q("SELECT "+metricColumns+" FROM metric m WHERE m.status = 'active' AND m.id > ? ORDER BY m.id LIMIT ?"), ix.uuidFloor(last), page)
		if err != nil {
			return fmt.Errorf("cannot list metrics: %w", err)
		}
		var ms []Metric
		for rows.Next() {
			m, err := scanMetric(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("cannot list metrics: %w", err)
			}
			ms = append(ms, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("cannot list metrics: %w", err)
		}
		for _, m := range ms {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(ms) < page {
			return nil
		}
		last = ms[len(ms)-1].ID.String()
	}
}

// uuidFloor is a bound below every id when last is empty.
func (ix *Index) uuidFloor(last string) any {
	if last == "" {
		if ix.pg() {
			return uuid.Nil.String()
		}
		return ""
	}
	return last
}
