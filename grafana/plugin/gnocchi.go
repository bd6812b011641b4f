package plugin

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Resource is a Gnocchi resource document. Attributes holds every field of
// the document (the common ones and the type's own), as decoded JSON
// values; Metrics maps metric names to metric ids.
type Resource struct {
	ID         string
	Type       string
	Metrics    map[string]string
	Attributes map[string]any
}

// UnmarshalJSON decodes a resource document of any type.
func (r *Resource) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	r.Attributes = m
	r.ID, _ = m["id"].(string)
	r.Type, _ = m["type"].(string)
	r.Metrics = map[string]string{}
	if ms, ok := m["metrics"].(map[string]any); ok {
		for name, id := range ms {
			if s, ok := id.(string); ok {
				r.Metrics[name] = s
			}
		}
	}
	delete(m, "metrics")
	return nil
}

// Attr returns the attribute as text: strings as they are, numbers and
// booleans in JSON form, null and missing as "".
func (r *Resource) Attr(name string) string {
	return attrText(r.Attributes[name])
}

func attrText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// DisplayName is the name people know a resource by: its display_name,
// name or host_name attribute, else its original id, else its id.
func (r *Resource) DisplayName() string {
	for _, k := range []string{"display_name", "name", "host_name", "original_resource_id"} {
		if s := r.Attr(k); s != "" {
			return s
		}
	}
	return r.ID
}

// ResourceType is a Gnocchi resource type with its attribute names.
type ResourceType struct {
	Name       string                     `json:"name"`
	State      string                     `json:"state,omitempty"`
	Attributes map[string]json.RawMessage `json:"attributes"`
}

// AttributeNames returns the type's own attribute names, sorted.
func (t ResourceType) AttributeNames() []string {
	out := make([]string, 0, len(t.Attributes))
	for k := range t.Attributes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Definition is one granularity of an archive policy. Timespan 0 means
// unbounded.
type Definition struct {
	Granularity time.Duration
	Points      int64
	Timespan    time.Duration
}

// ArchivePolicy is a Gnocchi archive policy.
type ArchivePolicy struct {
	Name               string
	BackWindow         int64
	AggregationMethods []string
	Definitions        []Definition
}

type rawPolicy struct {
	Name               string   `json:"name"`
	BackWindow         int64    `json:"back_window"`
	AggregationMethods []string `json:"aggregation_methods"`
	Definition         []struct {
		Granularity any    `json:"granularity"`
		Points      *int64 `json:"points"`
		Timespan    any    `json:"timespan"`
	} `json:"definition"`
}

// UnmarshalJSON decodes Gnocchi's policy document, whose granularities and
// timespans are Python timedelta strings ("0:05:00", "1 day, 0:00:00") or
// seconds.
func (p *ArchivePolicy) UnmarshalJSON(b []byte) error {
	var raw rawPolicy
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Name, p.BackWindow, p.AggregationMethods = raw.Name, raw.BackWindow, raw.AggregationMethods
	p.Definitions = p.Definitions[:0]
	for i, d := range raw.Definition {
		g, err := parseSpan(d.Granularity)
		if err != nil {
			return fmt.Errorf("archive policy %s: definition %d: granularity: %w", raw.Name, i, err)
		}
		if g <= 0 {
			return fmt.Errorf("archive policy %s: definition %d: granularity %v is not positive", raw.Name, i, g)
		}
		ts, err := parseSpan(d.Timespan)
		if err != nil {
			return fmt.Errorf("archive policy %s: definition %d: timespan: %w", raw.Name, i, err)
		}
		def := Definition{Granularity: g, Timespan: ts}
		if d.Points != nil {
			def.Points = *d.Points
			if ts == 0 && def.Points > 0 {
				def.Timespan = g * time.Duration(def.Points)
			}
		}
		p.Definitions = append(p.Definitions, def)
	}
	sort.Slice(p.Definitions, func(i, j int) bool { return p.Definitions[i].Granularity < p.Definitions[j].Granularity })
	return nil
}

// HasMethod tells whether the policy keeps the aggregation method.
func (p *ArchivePolicy) HasMethod(m string) bool {
	for _, x := range p.AggregationMethods {
		if x == m {
			return true
		}
	}
	return false
}

// parseSpan reads a Gnocchi timespan: null, seconds as a number, or a
// Python timedelta string.
func parseSpan(v any) (time.Duration, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return secondsDuration(v)
	case string:
		return parseTimedelta(v)
	}
	return 0, fmt.Errorf("timespan %v is neither a number nor a string", v)
}

func secondsDuration(s float64) (time.Duration, error) {
	if s < 0 || s > 1e11 || s != s {
		return 0, fmt.Errorf("timespan of %v seconds is out of range", s)
	}
	return time.Duration(s * 1e9), nil
}

// parseTimedelta reads str(timedelta): "[D day[s], ]H:MM:SS[.ffffff]", or a
// plain number of seconds.
func parseTimedelta(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsDuration(f)
	}
	var days int64
	if d, rest, ok := strings.Cut(s, " day"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
		if err != nil || n < 0 || n > 1e6 {
			return 0, fmt.Errorf("invalid timedelta %q", s)
		}
		days = n
		rest = strings.TrimPrefix(rest, "s")
		s = strings.TrimSpace(strings.TrimPrefix(rest, ","))
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("invalid timedelta %q: want H:MM:SS", s)
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	m, err2 := strconv.ParseInt(parts[1], 10, 64)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("invalid timedelta %q", s)
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*1e9), nil
}

// Metric is a Gnocchi metric as GET /v1/metric/{id} answers it.
type Metric struct {
	ID         string
	Name       string
	Unit       string
	ResourceID string
	Policy     ArchivePolicy
	Resource   *Resource
}

// UnmarshalJSON decodes the metric document, detailed or listed.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID            string          `json:"id"`
		Name          *string         `json:"name"`
		Unit          *string         `json:"unit"`
		ResourceID    *string         `json:"resource_id"`
		Resource      json.RawMessage `json:"resource"`
		ArchivePolicy *ArchivePolicy  `json:"archive_policy"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Metric{ID: raw.ID}
	if raw.Name != nil {
		m.Name = *raw.Name
	}
	if raw.Unit != nil {
		m.Unit = *raw.Unit
	}
	if raw.ResourceID != nil {
		m.ResourceID = *raw.ResourceID
	}
	if len(raw.Resource) > 0 && string(raw.Resource) != "null" {
		var r Resource
		if err := json.Unmarshal(raw.Resource, &r); err != nil {
			return fmt.Errorf("metric %s: resource: %w", raw.ID, err)
		}
		m.Resource = &r
		m.ResourceID = r.ID
	}
	if raw.ArchivePolicy != nil {
		m.Policy = *raw.ArchivePolicy
	}
	return nil
}

// Alarm is the part of an Aodh alarm the plugin shows.
type Alarm struct {
	ID             string `json:"alarm_id"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	State          string `json:"state"`
	StateReason    string `json:"state_reason"`
	StateTimestamp string `json:"state_timestamp"`
	Severity       string `json:"severity"`
	Enabled        bool   `json:"enabled"`
	ProjectID      string `json:"project_id"`
	Description    string `json:"description"`
}

// AlarmChange is one entry of an Aodh alarm's history.
type AlarmChange struct {
	EventID   string `json:"event_id"`
	AlarmID   string `json:"alarm_id"`
	Type      string `json:"type"`
	Detail    string `json:"detail"`
	Timestamp string `json:"timestamp"`
	ProjectID string `json:"project_id"`
	Severity  string `json:"severity"`
}
