package alarms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Messages the alarm service exchanges on NATS; SUBJECTS.md beside this
// file documents them for the producers (ingest, notification listeners,
// API replicas). Change both together.

// UpdateVersion is the version of the update announcement format.
const UpdateVersion = 1

// Update is a "series updated" announcement: ingest publishes one on
// <prefix>.updates.<partition> after it made new aggregates of these series
// durable.
type Update struct {
	Version int             `json:"v"`
	Series  []UpdatedSeries `json:"series"`
}

// UpdatedSeries names a series whose aggregates changed. MetricID is
// always set; the resource fields are set when the metric belongs to a
// resource.
type UpdatedSeries struct {
	MetricID           string `json:"metric_id"`
	ResourceID         string `json:"resource_id,omitempty"`
	OriginalResourceID string `json:"original_resource_id,omitempty"`
	ResourceType       string `json:"resource_type,omitempty"`
	Name               string `json:"name,omitempty"`
}

// Limits of decoded messages.
const (
	MaxUpdateBytes  = 8 << 20
	MaxUpdateSeries = 100000
	MaxEventBytes   = 1 << 20
	maxTraits       = 1024
)

// DecodeUpdate decodes an update announcement.
func DecodeUpdate(b []byte) (*Update, error) {
	if len(b) > MaxUpdateBytes {
		return nil, fmt.Errorf("cannot decode update announcement: %d bytes: at most %d", len(b), MaxUpdateBytes)
	}
	var u Update
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("cannot decode update announcement: %d bytes: %w", len(b), err)
	}
	if u.Version != UpdateVersion {
		return nil, fmt.Errorf("cannot decode update announcement: version %d: want %d", u.Version, UpdateVersion)
	}
	if len(u.Series) > MaxUpdateSeries {
		return nil, fmt.Errorf("cannot decode update announcement: %d series: at most %d", len(u.Series), MaxUpdateSeries)
	}
	return &u, nil
}

// AppendUpdate appends the JSON encoding of u to dst.
func AppendUpdate(dst []byte, u *Update) []byte {
	b, err := json.Marshal(u)
	if err != nil {
		panic("BUG: cannot encode an update announcement: " + err.Error())
	}
	return append(dst, b...)
}

// UpdatesSubject is the subject of partition p's announcements.
func UpdatesSubject(prefix string, p int) string {
	return prefix + ".updates." + strconv.Itoa(p)
}

// EventsSubject is the subject events of a type are published on.
func EventsSubject(prefix, eventType string) string {
	return prefix + ".events." + eventType
}

// ChangesSubject carries the ids of alarms created, changed or deleted
// through the API, so that every evaluator reloads them.
func ChangesSubject(prefix string) string { return prefix + ".alarms.changed" }

// Event is an event as published on <prefix>.events.<event_type>.
type Event struct {
	MessageID string
	EventType string
	Generated time.Time
	Traits    map[string]any // typed values: string, float64, time.Time
	ProjectID string         // the project_id field, else the project_id or tenant_id trait
	// Raw is the decoded message, which queries on fields other than
	// traits walk and reason_data carries.
	Raw map[string]any
}

// DecodeEvent decodes an event message. Traits are either objects
// {"name", "type", "value"} or Ceilometer's [name, type_code, value]
// triples; types are names (string, integer, float, datetime) or codes
// (1-4).
func DecodeEvent(b []byte) (*Event, error) {
	if len(b) > MaxEventBytes {
		return nil, fmt.Errorf("cannot decode event: %d bytes: at most %d", len(b), MaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, fmt.Errorf("cannot decode event: %d bytes: not a JSON object: %v", len(b), err)
	}
	e := &Event{Raw: raw, Traits: map[string]any{}}
	e.MessageID, _ = raw["message_id"].(string)
	e.EventType, _ = raw["event_type"].(string)
	if e.EventType == "" {
		return nil, fmt.Errorf("cannot decode event: no event_type")
	}
	if e.MessageID == "" {
		return nil, fmt.Errorf("cannot decode event %s: no message_id", e.EventType)
	}
	if g, ok := raw["generated"].(string); ok {
		if t, err := ParseTime(g); err == nil {
			e.Generated = t
		}
	}
	traits, _ := raw["traits"].([]any)
	if len(traits) > maxTraits {
		return nil, fmt.Errorf("cannot decode event %s: %d traits: at most %d", e.MessageID, len(traits), maxTraits)
	}
	for i, t := range traits {
		name, typ, val, err := traitParts(t)
		if err != nil {
			return nil, fmt.Errorf("cannot decode event %s: trait %d: %w", e.MessageID, i, err)
		}
		v, err := traitValue(val, typ)
		if err != nil {
			return nil, fmt.Errorf("cannot decode event %s: trait %s: %w", e.MessageID, name, err)
		}
		e.Traits[name] = v
		if s, ok := v.(string); ok && (name == "project_id" || name == "tenant_id") {
			e.ProjectID = s
		}
	}
	if p, ok := raw["project_id"].(string); ok && p != "" {
		e.ProjectID = p
	}
	return e, nil
}

func traitParts(t any) (name, typ string, val any, err error) {
	switch x := t.(type) {
	case map[string]any:
		name, _ = x["name"].(string)
		typ = traitType(x["type"])
		val = x["value"]
	case []any:
		if len(x) != 3 {
			return "", "", nil, fmt.Errorf("want [name, type, value], got %d items", len(x))
		}
		name, _ = x[0].(string)
		typ = traitType(x[1])
		val = x[2]
	default:
		return "", "", nil, fmt.Errorf("want an object or a [name, type, value] list")
	}
	if name == "" {
		return "", "", nil, fmt.Errorf("no name")
	}
	return name, typ, val, nil
}

func traitType(v any) string {
	switch x := v.(type) {
	case string:
		switch strings.ToLower(x) {
		case "int", "integer", "2":
			return "integer"
		case "float", "3":
			return "float"
		case "datetime", "4":
			return "datetime"
		}
		return "string"
	case json.Number:
		switch x.String() {
		case "2":
			return "integer"
		case "3":
			return "float"
		case "4":
			return "datetime"
		}
	}
	return "string"
}

// traitValue converts a trait as Aodh's _sanitize_trait_value: integers
// and floats to numbers, datetimes to times, anything else to its text.
func traitValue(v any, typ string) (any, error) {
	text := func() string {
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		case nil:
			return "None"
		case bool:
			if x {
				return "True"
			}
			return "False"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	switch typ {
	case "integer":
		i, err := strconv.ParseInt(strings.TrimSpace(text()), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(strings.TrimSpace(text()), 64)
			if ferr != nil {
				return nil, fmt.Errorf("%q is not an integer", text())
			}
			return float64(int64(f)), nil
		}
		return float64(i), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(text()), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a float", text())
		}
		return f, nil
	case "datetime":
		t, err := ParseTime(text())
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return text(), nil
}
