package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// Quotas limit the alarms per project and per user; -1 is unlimited. They
// come from configuration.
type Quotas struct {
	Project int `yaml:"project"`
	User    int `yaml:"user"`
	// Projects overrides Project for some projects.
	Projects map[string]int `yaml:"projects"`
}

// Unlimited is the default: no quota.
var Unlimited = Quotas{Project: -1, User: -1}

// OverQuotaError says which quota an alarm creation exceeds; it wraps
// ErrOverQuota.
type OverQuotaError struct {
	UserID, ProjectID string
}

func (e *OverQuotaError) Error() string {
	return fmt.Sprintf("Alarm quota exceeded for user %s on project %s", e.UserID, e.ProjectID)
}

func (e *OverQuotaError) Unwrap() error { return ErrOverQuota }

// ExistsError is a name already taken in the project; it wraps ErrExists.
type ExistsError struct{ Name string }

func (e *ExistsError) Error() string { return fmt.Sprintf("Alarm with name='%s' exists", e.Name) }

func (e *ExistsError) Unwrap() error { return ErrExists }

// NotFoundError is an alarm that does not exist (or not in the project
// the caller may see); it wraps ErrNotFound.
type NotFoundError struct{ ID, Project string }

func (e *NotFoundError) Error() string {
	if e.Project != "" {
		return fmt.Sprintf("Alarm %s not found in project %s", e.ID, e.Project)
	}
	return fmt.Sprintf("Alarm %s not found", e.ID)
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

const alarmColumns = `alarm_id, name, description, type, enabled, state, state_reason, severity,
ok_actions, alarm_actions, insufficient_data_actions, repeat_actions, time_constraints, rule,
user_id, project_id, "timestamp", state_timestamp, evaluate_timestamp`

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func alarmArgs(a *alarms.Alarm) ([]any, error) {
	rule, err := json.Marshal(a.Rule)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the rule of alarm %s: %w", a.ID, err)
	}
	tcs := a.TimeConstraints
	if tcs == nil {
		tcs = []alarms.TimeConstraint{}
	}
	tc, err := json.Marshal(tcs)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the time constraints of alarm %s: %w", a.ID, err)
	}
	return []any{a.ID, a.Name, a.Description, a.Type, boolInt(a.Enabled), string(a.State), a.StateReason, a.Severity,
		jsonList(a.OKActions), jsonList(a.AlarmActions), jsonList(a.InsufficientDataActions), boolInt(a.RepeatActions),
		string(tc), string(rule), nullString(a.UserID), nullString(a.ProjectID),
		micros(a.Timestamp), micros(a.StateTimestamp), micros(a.EvaluateTimestamp)}, nil
}

type rowScanner interface{ Scan(dest ...any) error }

// scanAlarm reads a row of alarmColumns and parses its rule.
func scanAlarm(r rowScanner) (*alarms.Alarm, error) {
	var (
		a                      alarms.Alarm
		state                  string
		enabled, repeat        int64
		ok, al, ins, tcs, rule string
		user, project          sql.NullString
		ts, stateTS, evalTS    sql.NullInt64
	)
	if err := r.Scan(&a.ID, &a.Name, &a.Description, &a.Type, &enabled, &state, &a.StateReason, &a.Severity,
		&ok, &al, &ins, &repeat, &tcs, &rule, &user, &project, &ts, &stateTS, &evalTS); err != nil {
		return nil, err
	}
	a.State = alarms.State(state)
	a.Enabled, a.RepeatActions = enabled != 0, repeat != 0
	a.UserID, a.ProjectID = user.String, project.String
	a.Timestamp, a.StateTimestamp, a.EvaluateTimestamp = fromMicros(ts), fromMicros(stateTS), fromMicros(evalTS)
	for _, f := range []struct {
		dst *[]string
		src string
	}{{&a.OKActions, ok}, {&a.AlarmActions, al}, {&a.InsufficientDataActions, ins}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("cannot decode the actions of alarm %s: %w", a.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(tcs), &a.TimeConstraints); err != nil {
		return nil, fmt.Errorf("cannot decode the time constraints of alarm %s: %w", a.ID, err)
	}
	if err := alarms.CompileTimeConstraints(a.TimeConstraints); err != nil {
		return nil, fmt.Errorf("cannot load alarm %s: %w", a.ID, err)
	}
	r2, err := alarms.ParseRule(a.Type, json.RawMessage(rule), &alarms.ParseOptions{AnyMethod: true})
	if err != nil {
		return nil, fmt.Errorf("cannot load the %s rule of alarm %s: %w", a.Type, a.ID, err)
	}
	a.Rule = r2
	return &a, nil
}

// Create stores a new alarm and its creation history entry, after the
// quota and name checks. a.ID must be set.
func (s *Store) Create(ctx context.Context, a *alarms.Alarm, c alarms.Change, q Quotas) error {
	args, err := alarmArgs(a)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkQuota(ctx, tx, a, q); err != nil {
			return err
		}
		if err := s.checkName(ctx, tx, a.ProjectID, a.Name, ""); err != nil {
			return err
		}
		b := &builder{d: s.d}
		b.w("INSERT INTO alarms (", alarmColumns, ") VALUES (")
		for i, v := range args {
			if i > 0 {
				b.w(", ")
			}
			b.arg(v)
		}
		b.w(")")
		if _, err := tx.ExecContext(ctx, b.String(), b.args...); err != nil {
			if isUnique(err) {
				return &ExistsError{Name: a.Name}
			}
			return fmt.Errorf("cannot insert alarm %s: %w", a.ID, err)
		}
		return s.insertChanges(ctx, tx, []alarms.Change{c})
	})
}

func (s *Store) checkQuota(ctx context.Context, tx *sql.Tx, a *alarms.Alarm, q Quotas) error {
	count := func(col, v string) (int, error) {
		b := &builder{d: s.d}
		b.w("SELECT COUNT(*) FROM alarms WHERE ", col, " = ").arg(v)
		var n int
		if err := tx.QueryRowContext(ctx, b.String(), b.args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("cannot count the alarms of %s %s: %w", col, v, err)
		}
		return n, nil
	}
	over := &OverQuotaError{UserID: a.UserID, ProjectID: a.ProjectID}
	if q.User >= 0 {
		n, err := count("user_id", a.UserID)
		if err != nil {
			return err
		}
		if n >= q.User {
			return over
		}
	}
	limit := q.Project
	if l, ok := q.Projects[a.ProjectID]; ok {
		limit = l
	}
	if limit >= 0 {
		n, err := count("project_id", a.ProjectID)
		if err != nil {
			return err
		}
		if n >= limit {
			return over
		}
	}
	return nil
}

// checkName refuses a name another alarm of the project has.
func (s *Store) checkName(ctx context.Context, tx *sql.Tx, project, name, except string) error {
	b := &builder{d: s.d}
	b.w("SELECT alarm_id FROM alarms WHERE COALESCE(project_id, '') = ").arg(project).w(" AND name = ").arg(name)
	rows, err := tx.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return fmt.Errorf("cannot look up alarm name %q: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("cannot look up alarm name %q: %w", name, err)
		}
		if id != except {
			return &ExistsError{Name: name}
		}
	}
	return rows.Err()
}

// Get returns an alarm. A non-empty project restricts the lookup to it.
func (s *Store) Get(ctx context.Context, id, project string) (*alarms.Alarm, error) {
	return s.get(ctx, s.db, id, project)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) get(ctx context.Context, q querier, id, project string) (*alarms.Alarm, error) {
	b := &builder{d: s.d}
	b.w("SELECT ", alarmColumns, " FROM alarms WHERE alarm_id = ").arg(id)
	if project != "" {
		b.w(" AND project_id = ").arg(project)
	}
	a, err := scanAlarm(q.QueryRowContext(ctx, b.String(), b.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{ID: id, Project: project}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read alarm %s: %w", id, err)
	}
	return a, nil
}

// Update replaces an alarm (Aodh's PUT) and records c when it is not nil.
func (s *Store) Update(ctx context.Context, a *alarms.Alarm, c *alarms.Change) error {
	args, err := alarmArgs(a)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkName(ctx, tx, a.ProjectID, a.Name, a.ID); err != nil {
			return err
		}
		b := &builder{d: s.d}
		b.w("UPDATE alarms SET ")
		for i, col := range strings.Split(alarmColumns, ",")[1:] {
			if i > 0 {
				b.w(", ")
			}
			b.w(strings.TrimSpace(col), " = ").arg(args[i+1])
		}
		b.w(" WHERE alarm_id = ").arg(a.ID)
		res, err := tx.ExecContext(ctx, b.String(), b.args...)
		if err != nil {
			if isUnique(err) {
				return &ExistsError{Name: a.Name}
			}
			return fmt.Errorf("cannot update alarm %s: %w", a.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NotFoundError{ID: a.ID}
		}
		if c != nil {
			return s.insertChanges(ctx, tx, []alarms.Change{*c})
		}
		return nil
	})
}

// SetState sets an alarm's state as the API's state PUT does, recording c.
func (s *Store) SetState(ctx context.Context, id string, st alarms.State, reason string, at time.Time, c alarms.Change) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		b := &builder{d: s.d}
		b.w("UPDATE alarms SET state = ").arg(string(st)).w(", state_reason = ").arg(reason).
			w(", state_timestamp = ").arg(micros(at)).w(" WHERE alarm_id = ").arg(id)
		res, err := tx.ExecContext(ctx, b.String(), b.args...)
		if err != nil {
			return fmt.Errorf("cannot set the state of alarm %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NotFoundError{ID: id}
		}
		return s.insertChanges(ctx, tx, []alarms.Change{c})
	})
}

// Delete removes an alarm and records c (a deletion entry); its history
// stays for audit, reachable through the history query.
func (s *Store) Delete(ctx context.Context, id string, c alarms.Change) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		b := &builder{d: s.d}
		b.w("DELETE FROM alarms WHERE alarm_id = ").arg(id)
		res, err := tx.ExecContext(ctx, b.String(), b.args...)
		if err != nil {
			return fmt.Errorf("cannot delete alarm %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NotFoundError{ID: id}
		}
		return s.insertChanges(ctx, tx, []alarms.Change{c})
	})
}

// SaveTransitions applies state changes decided by an evaluator, each with
// its history entry, in one transaction. applied[i] is false for an alarm
// deleted meanwhile (its change is not recorded).
func (s *Store) SaveTransitions(ctx context.Context, ts []alarms.Transition) (applied []bool, err error) {
	applied = make([]bool, len(ts))
	err = s.tx(ctx, func(tx *sql.Tx) error {
		q := "UPDATE alarms SET state = ?, state_reason = ?, state_timestamp = ? WHERE alarm_id = ?"
		if s.d == Postgres {
			q = "UPDATE alarms SET state = $1, state_reason = $2, state_timestamp = $3 WHERE alarm_id = $4"
		}
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("cannot prepare the state update: %w", err)
		}
		defer stmt.Close()
		changes := make([]alarms.Change, 0, len(ts))
		for i, t := range ts {
			res, err := stmt.ExecContext(ctx, string(t.State), t.Reason, micros(t.Timestamp), t.AlarmID)
			if err != nil {
				return fmt.Errorf("cannot update the state of alarm %s: %w", t.AlarmID, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				applied[i] = true
				changes = append(changes, t.Change)
			}
		}
		return s.insertChanges(ctx, tx, changes)
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// EnabledAlarms returns every enabled alarm. Alarms that cannot be loaded
// are logged and left out, so that one bad row does not stop evaluation.
func (s *Store) EnabledAlarms(ctx context.Context) ([]*alarms.Alarm, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+alarmColumns+" FROM alarms WHERE enabled = 1")
	if err != nil {
		return nil, fmt.Errorf("cannot list enabled alarms: %w", err)
	}
	defer rows.Close()
	var out []*alarms.Alarm
	for rows.Next() {
		a, err := scanAlarm(rows)
		if err != nil {
			s.log.Error("cannot load alarm; it is not evaluated", "err", err)
			continue
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list enabled alarms: %w", err)
	}
	return out, nil
}
