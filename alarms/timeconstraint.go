package alarms

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigil-telemetry/vigil/alarms/cron"
)

// TimeConstraint is a window in which an alarm is evaluated: it opens at
// each point of the cron schedule Start (in Timezone, UTC when empty) and
// lasts Duration seconds.
type TimeConstraint struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Start       string `json:"start"`
	Duration    int    `json:"duration"`
	Timezone    string `json:"timezone"`

	schedule *cron.Schedule
	loc      *time.Location
}

// maxTimeConstraints bounds the constraints of one alarm.
const maxTimeConstraints = 32

// ParseTimeConstraints decodes and validates Aodh's time_constraints list.
func ParseTimeConstraints(raw json.RawMessage) ([]TimeConstraint, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalidInput("time_constraints", raw, "Wrong type. Expected '[AlarmTimeConstraint]'.")
	}
	if len(items) > maxTimeConstraints {
		return nil, invalidInput("time_constraints", len(items), fmt.Sprintf("At most %d time constraints", maxTimeConstraints))
	}
	out := make([]TimeConstraint, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		o, err := DecodeObject(it, "time_constraints")
		if err != nil {
			return nil, err
		}
		var tc TimeConstraint
		if tc.Name, err = o.String("name", "", true); err != nil {
			return nil, err
		}
		if tc.Description, err = o.String("description", "", false); err != nil {
			return nil, err
		}
		if tc.Start, err = o.String("start", "", true); err != nil {
			return nil, err
		}
		if tc.Duration, err = o.Int("duration", 0, 0, true); err != nil {
			return nil, err
		}
		if tc.Timezone, err = o.String("timezone", "", false); err != nil {
			return nil, err
		}
		if err := o.Unknown(); err != nil {
			return nil, err
		}
		if err := tc.compile(); err != nil {
			return nil, err
		}
		if tc.Description == "" {
			tc.Description = fmt.Sprintf("Time constraint at %s lasting for %d seconds", tc.Start, tc.Duration)
		}
		if seen[tc.Name] {
			return nil, invalidf("Time constraint names must be unique for a given alarm.")
		}
		seen[tc.Name] = true
		out = append(out, tc)
	}
	return out, nil
}

// compile parses the schedule and zone; stored constraints are compiled
// again when loaded.
func (tc *TimeConstraint) compile() error {
	s, err := cron.Parse(tc.Start)
	if err != nil {
		return invalidInput("start", tc.Start, err.Error())
	}
	tc.schedule = s
	tc.loc = time.UTC
	if tc.Timezone != "" {
		if tc.Timezone == "Local" || len(tc.Timezone) > 64 {
			return invalidf("Timezone %s is not valid", tc.Timezone)
		}
		loc, err := time.LoadLocation(tc.Timezone)
		if err != nil {
			return invalidf("Timezone %s is not valid", tc.Timezone)
		}
		tc.loc = loc
	}
	return nil
}

// CompileTimeConstraints prepares constraints decoded from storage for Active.
func CompileTimeConstraints(tcs []TimeConstraint) error {
	for i := range tcs {
		if err := tcs[i].compile(); err != nil {
			return fmt.Errorf("time constraint %q: %w", tcs[i].Name, err)
		}
	}
	return nil
}

// exactMatchWindow is Aodh's allowance around a cron point: an alarm is
// inside a constraint when a start point is less than a minute away.
const exactMatchWindow = 60 * time.Second

// Active reports whether now falls in the constraint, as Aodh decides:
// the latest start at or before now is at most Duration seconds ago, or the
// next start is less than a minute ahead.
func (tc *TimeConstraint) Active(now time.Time) bool {
	s, loc := tc.schedule, tc.loc
	if s == nil {
		// Not compiled (built by hand): compile a copy, never the shared value.
		c := *tc
		if c.compile() != nil {
			return false
		}
		s, loc = c.schedule, c.loc
	}
	if start, ok := s.Prev(now, loc); ok {
		if !now.Before(start) && !now.After(start.Add(time.Duration(tc.Duration)*time.Second)) {
			return true
		}
	}
	if next, ok := s.Prev(now.Add(exactMatchWindow-time.Nanosecond), loc); ok && next.After(now) {
		return true
	}
	return false
}

// WithinTimeConstraints reports whether an alarm is to be evaluated at now:
// always without constraints, else when one of them is active.
func WithinTimeConstraints(tcs []TimeConstraint, now time.Time) bool {
	if len(tcs) == 0 {
		return true
	}
	for i := range tcs {
		if tcs[i].Active(now) {
			return true
		}
	}
	return false
}
