package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// colKind is how a column stores its values.
type colKind uint8

const (
	colText colKind = iota
	colBool
	colTime
)

// table describes a queryable table.
type table struct {
	name    string
	pk      string
	columns map[string]colKind
}

var alarmsTable = table{name: "alarms", pk: "alarm_id", columns: map[string]colKind{
	"alarm_id": colText, "name": colText, "description": colText, "type": colText, "state": colText,
	"state_reason": colText, "severity": colText, "ok_actions": colText, "alarm_actions": colText,
	"insufficient_data_actions": colText, "time_constraints": colText, "rule": colText,
	"user_id": colText, "project_id": colText,
	"enabled": colBool, "repeat_actions": colBool,
	"timestamp": colTime, "state_timestamp": colTime, "evaluate_timestamp": colTime,
}}

var historyTable = table{name: "alarm_history", pk: "event_id", columns: map[string]colKind{
	"event_id": colText, "alarm_id": colText, "type": colText, "detail": colText, "user_id": colText,
	"project_id": colText, "on_behalf_of": colText, "severity": colText,
	"timestamp": colTime,
}}

// column returns the SQL for a column, quoted where it is a keyword.
func column(name string) string {
	if name == "timestamp" {
		return `"timestamp"`
	}
	return name
}

// sortExpr is what a column sorts by: NULLs as the lowest value so that
// both dialects order alike and keyset paging can compare, and severity
// by meaning rather than spelling.
func (t *table) sortExpr(name string) string {
	if name == "severity" {
		return "(CASE severity WHEN 'low' THEN 1 WHEN 'moderate' THEN 2 WHEN 'critical' THEN 3 ELSE 0 END)"
	}
	switch t.columns[name] {
	case colText:
		return "COALESCE(" + column(name) + ", '')"
	default:
		return "COALESCE(" + column(name) + ", -1)"
	}
}

// value converts a filter value for a column.
func (t *table) value(col string, v any) (any, error) {
	switch t.columns[col] {
	case colBool:
		switch x := v.(type) {
		case bool:
			return boolInt(x), nil
		case float64:
			if x == 0 || x == 1 {
				return int64(x), nil
			}
		case string:
			if b, ok := alarms.ParseBool(x); ok {
				return boolInt(b), nil
			}
		}
		return nil, alarms.Invalidf("Filter expression not valid: %v is not a boolean for %s", v, col)
	case colTime:
		switch x := v.(type) {
		case time.Time:
			return x.UnixMicro(), nil
		case string:
			tm, err := alarms.ParseTime(x)
			if err == nil {
				return tm.UnixMicro(), nil
			}
		}
		return nil, alarms.Invalidf("Failed to parse the timestamp value %v", v)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	}
	return fmt.Sprint(v), nil
}

// filter appends the SQL condition of f.
func (s *Store) filter(b *builder, t *table, f *alarms.Filter) error {
	switch f.Op {
	case "and", "or":
		b.w("(")
		for i, a := range f.Args {
			if i > 0 {
				if f.Op == "and" {
					b.w(" AND ")
				} else {
					b.w(" OR ")
				}
			}
			if err := s.filter(b, t, a); err != nil {
				return err
			}
		}
		b.w(")")
		return nil
	case "not":
		b.w("NOT (")
		if err := s.filter(b, t, f.Args[0]); err != nil {
			return err
		}
		b.w(")")
		return nil
	}
	if _, ok := t.columns[f.Field]; !ok {
		return alarms.Invalidf("Filter expression not valid: unknown field %s", f.Field)
	}
	col := column(f.Field)
	switch f.Op {
	case "in":
		b.w(col, " IN (")
		for i, v := range f.Values {
			cv, err := t.value(f.Field, v)
			if err != nil {
				return err
			}
			if i > 0 {
				b.w(", ")
			}
			b.arg(cv)
		}
		b.w(")")
		return nil
	case "=~":
		pat, _ := f.Value.(string)
		if _, err := regexp.Compile(pat); err != nil {
			return alarms.Invalidf("Filter expression not valid: invalid regular expression %q: %v", pat, err)
		}
		if s.d == Postgres {
			b.w("CAST(", col, " AS TEXT) ~ ").arg(pat)
		} else {
			b.w(regexpFunc, "(").arg(pat).w(", ", col, ") = 1")
		}
		return nil
	case "=", "!=", "<", "<=", ">", ">=":
		cv, err := t.value(f.Field, f.Value)
		if err != nil {
			return err
		}
		op := f.Op
		if op == "!=" {
			op = "<>"
		}
		b.w(col, " ", op, " ").arg(cv)
		return nil
	}
	return fmt.Errorf("BUG: filter operator %q passed validation", f.Op)
}

// orderBy appends ORDER BY with the primary key last, so that the order is
// total.
func orderBy(b *builder, t *table, orders []alarms.Order) {
	if len(orders) == 0 {
		orders = []alarms.Order{{Field: "timestamp", Desc: true}}
	}
	b.w(" ORDER BY ")
	for _, o := range orders {
		b.w(t.sortExpr(o.Field))
		if o.Desc {
			b.w(" DESC, ")
		} else {
			b.w(" ASC, ")
		}
	}
	b.w(t.pk, " ASC")
}

func checkOrders(t *table, orders []alarms.Order) error {
	for _, o := range orders {
		if _, ok := t.columns[o.Field]; !ok {
			return alarms.Invalidf("Order-by expression not valid: unknown field %s", o.Field)
		}
	}
	return nil
}

// QueryAlarms runs a complex query over alarms.
func (s *Store) QueryAlarms(ctx context.Context, q *alarms.ComplexQuery) ([]*alarms.Alarm, error) {
	b := &builder{d: s.d}
	b.w("SELECT ", alarmColumns, " FROM alarms")
	if err := s.where(b, &alarmsTable, q); err != nil {
		return nil, err
	}
	return s.queryAlarms(ctx, b)
}

func (s *Store) where(b *builder, t *table, q *alarms.ComplexQuery) error {
	if err := checkOrders(t, q.OrderBy); err != nil {
		return err
	}
	if q.Filter != nil {
		b.w(" WHERE ")
		if err := s.filter(b, t, q.Filter); err != nil {
			return err
		}
	}
	orderBy(b, t, q.OrderBy)
	if q.Limit > 0 {
		b.w(" LIMIT ").arg(q.Limit)
	}
	return nil
}

func (s *Store) queryAlarms(ctx context.Context, b *builder) ([]*alarms.Alarm, error) {
	rows, err := s.db.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("cannot query alarms: %w", err)
	}
	defer rows.Close()
	out := []*alarms.Alarm{}
	for rows.Next() {
		a, err := scanAlarm(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot query alarms: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot query alarms: %w", err)
	}
	return out, nil
}

// ListOptions are the filters and paging of the alarm list. A nil filter
// does not restrict.
type ListOptions struct {
	AlarmID, Name, UserID, ProjectID, Type, State, Severity *string
	Enabled, RepeatActions                                  *bool
	Sort                                                    []alarms.Order
	Limit                                                   int    // 0: no limit
	Marker                                                  string // alarm_id to continue after
}

// List returns the alarms matching o, in o.Sort order (timestamp
// descending by default), after the marker.
func (s *Store) List(ctx context.Context, o ListOptions) ([]*alarms.Alarm, error) {
	if err := checkOrders(&alarmsTable, o.Sort); err != nil {
		return nil, err
	}
	cond := &builder{d: s.d}
	first := true
	and := func() {
		if first {
			cond.w(" WHERE ")
			first = false
		} else {
			cond.w(" AND ")
		}
	}
	for _, f := range []struct {
		col string
		v   *string
	}{{"alarm_id", o.AlarmID}, {"name", o.Name}, {"user_id", o.UserID}, {"project_id", o.ProjectID},
		{"type", o.Type}, {"state", o.State}, {"severity", o.Severity}} {
		if f.v != nil {
			and()
			cond.w(f.col, " = ").arg(*f.v)
		}
	}
	for _, f := range []struct {
		col string
		v   *bool
	}{{"enabled", o.Enabled}, {"repeat_actions", o.RepeatActions}} {
		if f.v != nil {
			and()
			cond.w(f.col, " = ").arg(boolInt(*f.v))
		}
	}
	b := &builder{d: s.d}
	b.w("SELECT ", alarmColumns, " FROM alarms")
	b.w(cond.String())
	b.args = cond.args
	if o.Marker != "" {
		if err := s.afterMarker(ctx, b, &alarmsTable, cond, first, o.Sort, o.Marker); err != nil {
			return nil, err
		}
	}
	orderBy(b, &alarmsTable, o.Sort)
	if o.Limit > 0 {
		b.w(" LIMIT ").arg(o.Limit)
	}
	return s.queryAlarms(ctx, b)
}

// afterMarker appends the keyset condition "after the marker row in this
// order". The marker must match the same filters (cond), as Aodh looks it
// up within the query.
func (s *Store) afterMarker(ctx context.Context, b *builder, t *table, cond *builder, noWhere bool, sort []alarms.Order, marker string) error {
	if len(sort) == 0 {
		sort = []alarms.Order{{Field: "timestamp", Desc: true}}
	}
	keys := append(append([]alarms.Order(nil), sort...), alarms.Order{Field: t.pk})
	mb := &builder{d: s.d}
	mb.w("SELECT ")
	for i, k := range keys {
		if i > 0 {
			mb.w(", ")
		}
		mb.w(t.sortExpr(k.Field))
	}
	mb.w(" FROM ", t.name, cond.String())
	mb.args = append(mb.args, cond.args...)
	if noWhere {
		mb.w(" WHERE ")
	} else {
		mb.w(" AND ")
	}
	mb.w(t.pk, " = ").arg(marker)
	vals := make([]any, len(keys))
	ptrs := make([]any, len(keys))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := s.db.QueryRowContext(ctx, mb.String(), mb.args...).Scan(ptrs...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return &MarkerError{Marker: marker}
		}
		return fmt.Errorf("cannot read marker %s: %w", marker, err)
	}
	if noWhere {
		b.w(" WHERE ")
	} else {
		b.w(" AND ")
	}
	// (k1 > m1) OR (k1 = m1 AND k2 > m2) OR ...
	b.w("(")
	for i := range keys {
		if i > 0 {
			b.w(" OR ")
		}
		b.w("(")
		for j := 0; j < i; j++ {
			b.w(t.sortExpr(keys[j].Field), " = ").arg(vals[j]).w(" AND ")
		}
		op := " > "
		if keys[i].Desc {
			op = " < "
		}
		b.w(t.sortExpr(keys[i].Field), op).arg(vals[i]).w(")")
	}
	b.w(")")
	return nil
}

// MarkerError is a paging marker that names no row of the query; it wraps
// ErrInvalidMarker.
type MarkerError struct{ Marker string }

func (e *MarkerError) Error() string { return fmt.Sprintf("Marker %s not found.", e.Marker) }

func (e *MarkerError) Unwrap() error { return ErrInvalidMarker }
