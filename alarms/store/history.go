package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

const historyColumns = `event_id, alarm_id, type, detail, user_id, project_id, on_behalf_of, severity, "timestamp"`

// insertChanges records history entries within tx.
func (s *Store) insertChanges(ctx context.Context, tx *sql.Tx, cs []alarms.Change) error {
	if len(cs) == 0 {
		return nil
	}
	q := "INSERT INTO alarm_history (" + historyColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if s.d == Postgres {
		q = "INSERT INTO alarm_history (" + historyColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	}
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("cannot prepare the history insert: %w", err)
	}
	defer stmt.Close()
	for _, c := range cs {
		detail := string(c.Detail)
		if detail == "" {
			detail = "{}"
		}
		if _, err := stmt.ExecContext(ctx, c.EventID, c.AlarmID, c.Type, detail, nullString(c.UserID),
			nullString(c.ProjectID), nullString(c.OnBehalfOf), nullString(c.Severity), c.Timestamp.UnixMicro()); err != nil {
			return fmt.Errorf("cannot record the %s of alarm %s: %w", c.Type, c.AlarmID, err)
		}
	}
	return nil
}

// AppendHistory records history entries in one transaction.
func (s *Store) AppendHistory(ctx context.Context, cs []alarms.Change) error {
	if len(cs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.insertChanges(ctx, tx, cs) })
}

func scanChange(r rowScanner) (alarms.Change, error) {
	var (
		c                       alarms.Change
		detail                  string
		user, project, obo, sev sql.NullString
		ts                      int64
	)
	if err := r.Scan(&c.EventID, &c.AlarmID, &c.Type, &detail, &user, &project, &obo, &sev, &ts); err != nil {
		return c, err
	}
	c.Detail = []byte(detail)
	c.UserID, c.ProjectID, c.OnBehalfOf, c.Severity = user.String, project.String, obo.String, sev.String
	c.Timestamp = time.UnixMicro(ts).UTC()
	return c, nil
}

// HistoryOptions are the filters and paging of one alarm's history. A nil
// filter does not restrict; a zero time does not bound.
type HistoryOptions struct {
	// OnBehalfOf scopes a non-admin to the changes made for its project.
	OnBehalfOf                        *string
	UserID, ProjectID, Type, Severity *string
	Start                             time.Time
	StartInclusive                    bool // ge rather than gt
	End                               time.Time
	EndInclusive                      bool // le rather than lt
	Sort                              []alarms.Order
	Limit                             int
	Marker                            string // event_id to continue after
}

// History returns the history of an alarm, newest first by default.
func (s *Store) History(ctx context.Context, alarmID string, o HistoryOptions) ([]alarms.Change, error) {
	if err := checkOrders(&historyTable, o.Sort); err != nil {
		return nil, err
	}
	cond := &builder{d: s.d}
	cond.w(" WHERE alarm_id = ").arg(alarmID)
	for _, f := range []struct {
		col string
		v   *string
	}{{"on_behalf_of", o.OnBehalfOf}, {"user_id", o.UserID}, {"project_id", o.ProjectID}, {"type", o.Type}, {"severity", o.Severity}} {
		if f.v != nil {
			cond.w(" AND ", f.col, " = ").arg(*f.v)
		}
	}
	if !o.Start.IsZero() {
		op := " > "
		if o.StartInclusive {
			op = " >= "
		}
		cond.w(` AND "timestamp"`, op).arg(o.Start.UnixMicro())
	}
	if !o.End.IsZero() {
		op := " < "
		if o.EndInclusive {
			op = " <= "
		}
		cond.w(` AND "timestamp"`, op).arg(o.End.UnixMicro())
	}
	b := &builder{d: s.d}
	b.w("SELECT ", historyColumns, " FROM alarm_history", cond.String())
	b.args = cond.args
	if o.Marker != "" {
		if err := s.afterMarker(ctx, b, &historyTable, cond, false, o.Sort, o.Marker); err != nil {
			return nil, err
		}
	}
	orderBy(b, &historyTable, o.Sort)
	if o.Limit > 0 {
		b.w(" LIMIT ").arg(o.Limit)
	}
	return s.queryHistory(ctx, b)
}

// QueryHistory runs a complex query over all alarm history.
func (s *Store) QueryHistory(ctx context.Context, q *alarms.ComplexQuery) ([]alarms.Change, error) {
	b := &builder{d: s.d}
	b.w("SELECT ", historyColumns, " FROM alarm_history")
	if err := s.where(b, &historyTable, q); err != nil {
		return nil, err
	}
	return s.queryHistory(ctx, b)
}

func (s *Store) queryHistory(ctx context.Context, b *builder) ([]alarms.Change, error) {
	rows, err := s.db.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("cannot query alarm history: %w", err)
	}
	defer rows.Close()
	out := []alarms.Change{}
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot query alarm history: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot query alarm history: %w", err)
	}
	return out, nil
}

// ExpireHistory deletes history older than before, for retention.
func (s *Store) ExpireHistory(ctx context.Context, before time.Time) (int64, error) {
	b := &builder{d: s.d}
	b.w(`DELETE FROM alarm_history WHERE "timestamp" < `).arg(before.UnixMicro())
	res, err := s.db.ExecContext(ctx, b.String(), b.args...)
	if err != nil {
		return 0, fmt.Errorf("cannot expire alarm history before %s: %w", before.Format(time.RFC3339), err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
