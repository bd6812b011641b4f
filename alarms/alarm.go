package alarms

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is an alarm state, as Aodh spells it.
type State string

// The three states.
const (
	StateOK           State = "ok"
	StateAlarm        State = "alarm"
	StateInsufficient State = "insufficient data"
)

// ErrNotFound is an alarm that does not exist; store errors wrap it.
var ErrNotFound = errors.New("alarm not found")

// ParseState parses a state name.
func ParseState(s string) (State, error) {
	switch State(s) {
	case StateOK, StateAlarm, StateInsufficient:
		return State(s), nil
	}
	return "", fmt.Errorf("unknown alarm state %q: want ok, alarm or insufficient data", s)
}

// Severities, as Aodh spells them.
const (
	SeverityLow      = "low"
	SeverityModerate = "moderate"
	SeverityCritical = "critical"
)

// Alarm types: Aodh's Gnocchi threshold kinds, composite and event, and
// vigil's expression.
const (
	TypeResourcesThreshold     = "gnocchi_resources_threshold"
	TypeAggregationByMetrics   = "gnocchi_aggregation_by_metrics_threshold"
	TypeAggregationByResources = "gnocchi_aggregation_by_resources_threshold"
	TypeComposite              = "composite"
	TypeEvent                  = "event"
	TypeExpression             = "expression"
)

// Types lists the alarm types in the order Aodh reports them.
var Types = []string{TypeAggregationByMetrics, TypeAggregationByResources, TypeResourcesThreshold, TypeComposite, TypeEvent, TypeExpression}

// Reasons the API sets.
const (
	ReasonNotEvaluated = "Not evaluated yet"
	ReasonManual       = "Manually set via API"
)

// Alarm is Aodh's alarm. The zero time stands for "unset"; empty UserID and
// ProjectID stand for null (an alarm created without identity headers).
type Alarm struct {
	ID                      string
	Name                    string
	Description             string
	Type                    string
	Enabled                 bool
	State                   State
	StateReason             string
	Severity                string
	OKActions               []string
	AlarmActions            []string
	InsufficientDataActions []string
	RepeatActions           bool
	TimeConstraints         []TimeConstraint
	UserID                  string
	ProjectID               string
	Timestamp               time.Time
	StateTimestamp          time.Time
	EvaluateTimestamp       time.Time
	Rule                    Rule
}

// Actions returns the actions of a state.
func (a *Alarm) Actions(s State) []string {
	switch s {
	case StateOK:
		return a.OKActions
	case StateAlarm:
		return a.AlarmActions
	case StateInsufficient:
		return a.InsufficientDataActions
	}
	return nil
}

// Clone returns a copy that shares nothing mutable with a; the rule is
// immutable after parsing and is shared.
func (a *Alarm) Clone() *Alarm {
	c := *a
	c.OKActions = append([]string(nil), a.OKActions...)
	c.AlarmActions = append([]string(nil), a.AlarmActions...)
	c.InsufficientDataActions = append([]string(nil), a.InsufficientDataActions...)
	c.TimeConstraints = append([]TimeConstraint(nil), a.TimeConstraints...)
	return &c
}

// DefaultDescription is the description Aodh gives an alarm created
// without one.
func DefaultDescription(typ string, r Rule) string {
	if e, ok := r.(*EventRule); ok {
		return fmt.Sprintf("Alarm when %s event occurred.", e.EventType)
	}
	return typ + " alarm rule"
}

// StorageMap is the alarm in Aodh's storage form (a single "rule" key,
// datetimes as ISO strings), as history "creation" details and alarm
// notifications carry it.
func (a *Alarm) StorageMap() map[string]any {
	m := map[string]any{
		"alarm_id":                  a.ID,
		"type":                      a.Type,
		"enabled":                   a.Enabled,
		"name":                      a.Name,
		"description":               a.Description,
		"timestamp":                 isoTime(a.Timestamp),
		"user_id":                   nullable(a.UserID),
		"project_id":                nullable(a.ProjectID),
		"state":                     string(a.State),
		"state_timestamp":           isoTime(a.StateTimestamp),
		"state_reason":              a.StateReason,
		"ok_actions":                nonNil(a.OKActions),
		"alarm_actions":             nonNil(a.AlarmActions),
		"insufficient_data_actions": nonNil(a.InsufficientDataActions),
		"repeat_actions":            a.RepeatActions,
		"rule":                      a.Rule,
		"time_constraints":          nonNilTC(a.TimeConstraints),
		"severity":                  a.Severity,
	}
	return m
}

// Changed returns the storage-form fields that differ between old and a,
// leaving out the timestamps, as Aodh's "rule change" history detail
// holds them.
func (a *Alarm) Changed(old *Alarm) map[string]any {
	now, was := a.StorageMap(), old.StorageMap()
	out := make(map[string]any)
	for k, v := range now {
		if k == "timestamp" || k == "state_timestamp" {
			continue
		}
		nb, _ := json.Marshal(v)
		ob, _ := json.Marshal(was[k])
		if string(nb) != string(ob) {
			out[k] = v
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilTC(s []TimeConstraint) []TimeConstraint {
	if s == nil {
		return []TimeConstraint{}
	}
	return s
}

// TimeFormat is how Aodh renders datetimes: naive UTC with microseconds.
const TimeFormat = "2006-01-02T15:04:05.000000"

func isoTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(TimeFormat)
}

// FormatTime renders t as Aodh does, or "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// ParseTime parses an ISO 8601 datetime as Aodh's API accepts it: with or
// without fractional seconds and zone; a naive time is UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as an ISO 8601 datetime", s)
}

// Change types of the alarm history. ChangeAction is vigil's: one attempt
// to run an alarm action.
const (
	ChangeCreation        = "creation"
	ChangeRule            = "rule change"
	ChangeStateTransition = "state transition"
	ChangeDeletion        = "deletion"
	ChangeAction          = "action"
)

// Change is one alarm history entry. Detail is a JSON object.
type Change struct {
	EventID    string
	AlarmID    string
	Type       string
	Detail     json.RawMessage
	UserID     string
	ProjectID  string
	OnBehalfOf string
	Severity   string
	Timestamp  time.Time
}

// Transition is a state change an evaluator decided, to be stored with its
// history entry.
type Transition struct {
	AlarmID   string
	State     State
	Reason    string
	Timestamp time.Time
	Change    Change
}

// Notification is what an alarm action is given: Aodh's notifier payload
// plus what the history of each attempt needs.
type Notification struct {
	Actions    []string
	AlarmID    string
	AlarmName  string
	Severity   string
	Previous   State
	Current    State
	Reason     string
	ReasonData json.RawMessage
	// ProjectID is the alarm's project, the history's on_behalf_of.
	ProjectID string
	// At is when the evaluator decided; latency is measured from it.
	At time.Time
}

// Body returns the JSON body Aodh's REST notifier posts.
func (n *Notification) Body() []byte {
	rd := n.ReasonData
	if len(rd) == 0 {
		rd = json.RawMessage("null")
	}
	b, err := json.Marshal(struct {
		AlarmName  string          `json:"alarm_name"`
		AlarmID    string          `json:"alarm_id"`
		Severity   string          `json:"severity"`
		Previous   State           `json:"previous"`
		Current    State           `json:"current"`
		Reason     string          `json:"reason"`
		ReasonData json.RawMessage `json:"reason_data"`
	}{n.AlarmName, n.AlarmID, n.Severity, n.Previous, n.Current, n.Reason, rd})
	if err != nil {
		panic("BUG: cannot encode a notification body: " + err.Error())
	}
	return b
}
