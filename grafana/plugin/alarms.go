package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// Alarm states as Aodh names them.
const (
	StateOK               = "ok"
	StateAlarm            = "alarm"
	StateInsufficientData = "insufficient data"
)

// stateValue is a state as a number, for state timelines and value
// mappings: ok 0, alarm 1, insufficient data 2, unknown -1.
func stateValue(s string) float64 {
	switch s {
	case StateOK:
		return 0
	case StateAlarm:
		return 1
	case StateInsufficientData:
		return 2
	}
	return -1
}

// queryAnnotations turns alarm history into Grafana annotations: a frame
// with time, title, text and tags, one row per change.
func (d *Datasource) queryAnnotations(ctx context.Context, q Query, dq backend.DataQuery) (data.Frames, error) {
	limit := maxAnnotations
	if q.Limit > 0 && q.Limit < limit {
		limit = q.Limit
	}
	alarms, err := d.client.Alarms(ctx, "")
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*Alarm, len(alarms))
	for i := range alarms {
		byID[alarms[i].ID] = &alarms[i]
	}
	changes, err := d.client.AlarmHistory(ctx, q.AlarmID, dq.TimeRange.From, dq.TimeRange.To, limit)
	if err != nil {
		return nil, err
	}
	want := q.HistoryType
	if want == "" {
		want = "state transition"
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Timestamp < changes[j].Timestamp })
	var (
		times                          []time.Time
		titles, texts, tags            []string
		alarmIDs, names, states, types []string
		values                         []float64
	)
	w := window{from: dq.TimeRange.From, to: dq.TimeRange.To}
	for _, c := range changes {
		if want != "all" && c.Type != want {
			continue
		}
		t, err := parseAodhTime(c.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("alarm %s history: %w", c.AlarmID, err)
		}
		if !w.has(t) {
			continue
		}
		var detail map[string]any
		_ = json.Unmarshal([]byte(c.Detail), &detail)
		state, _ := detail["state"].(string)
		reason, _ := detail["transition_reason"].(string)
		if reason == "" {
			reason, _ = detail["state_reason"].(string)
		}
		name, severity := c.AlarmID, c.Severity
		if a := byID[c.AlarmID]; a != nil {
			name = a.Name
			if severity == "" {
				severity = a.Severity
			}
		}
		title := name + ": " + c.Type
		if state != "" {
			title = name + " → " + state
		}
		text := reason
		if text == "" {
			text = c.Detail
		}
		tagList := []string{"vigil", "alarm"}
		for _, x := range []string{state, severity} {
			if x != "" {
				tagList = append(tagList, x)
			}
		}
		times = append(times, t)
		titles = append(titles, title)
		texts = append(texts, text)
		tags = append(tags, strings.Join(tagList, ","))
		alarmIDs = append(alarmIDs, c.AlarmID)
		names = append(names, name)
		states = append(states, state)
		types = append(types, c.Type)
		values = append(values, stateValue(state))
	}
	f := data.NewFrame("alarm history",
		data.NewField("time", nil, times),
		data.NewField("title", nil, titles),
		data.NewField("text", nil, texts),
		data.NewField("tags", nil, tags),
		data.NewField("alarm_id", nil, alarmIDs),
		data.NewField("alarm", nil, names),
		data.NewField("type", nil, types),
		data.NewField("state", nil, states),
		data.NewField("state_value", nil, values),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, ExecutedQueryString: "alarm history " + q.AlarmID}
	return data.Frames{f}, nil
}

// queryAlarms lists the alarms with their state, as a table.
func (d *Datasource) queryAlarms(ctx context.Context, q Query) (data.Frames, error) {
	alarms, err := d.client.Alarms(ctx, q.AlarmState)
	if err != nil {
		return nil, err
	}
	sort.Slice(alarms, func(i, j int) bool { return alarms[i].Name < alarms[j].Name })
	n := len(alarms)
	var (
		names, states, severities, types, reasons, ids = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		since                                          = make([]*time.Time, n)
		values                                         = make([]float64, n)
		enabled                                        = make([]bool, n)
	)
	for i, a := range alarms {
		names[i], states[i], severities[i], types[i], reasons[i], ids[i] = a.Name, a.State, a.Severity, a.Type, a.StateReason, a.ID
		values[i], enabled[i] = stateValue(a.State), a.Enabled
		if t, err := parseAodhTime(a.StateTimestamp); err == nil {
			since[i] = &t
		}
	}
	f := data.NewFrame("alarms",
		data.NewField("name", nil, names),
		data.NewField("state", nil, states),
		data.NewField("state_value", nil, values),
		data.NewField("severity", nil, severities),
		data.NewField("since", nil, since),
		data.NewField("type", nil, types),
		data.NewField("enabled", nil, enabled),
		data.NewField("reason", nil, reasons),
		data.NewField("alarm_id", nil, ids),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, ExecutedQueryString: "GET /v2/alarms"}
	return data.Frames{f}, nil
}

// parseAodhTime reads Aodh's timestamps: ISO 8601, with or without an
// offset (naive ones are UTC).
func parseAodhTime(s string) (time.Time, error) {
	if t, err := parseTimestamp([]byte(s)); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q", s)
}
