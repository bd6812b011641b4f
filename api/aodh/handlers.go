package aodh

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/alarms/store"
)

// simpleQuery is one q.field/q.op/q.value/q.type item.
type simpleQuery struct {
	Field, Op, Value, Type string
}

var operationKinds = []string{"lt", "le", "eq", "ne", "ge", "gt"}

// parseQuery reads Aodh's positional q.* parameters.
func parseQuery(v url.Values) ([]simpleQuery, error) {
	fields, ops, values, types := v["q.field"], v["q.op"], v["q.value"], v["q.type"]
	if len(fields) > 100 {
		return nil, alarms.Invalidf("Too many query items: %d, at most 100", len(fields))
	}
	out := make([]simpleQuery, len(fields))
	for i, f := range fields {
		q := simpleQuery{Field: f, Op: "eq"}
		if i < len(ops) && ops[i] != "" {
			q.Op = ops[i]
		}
		if !slices.Contains(operationKinds, q.Op) {
			return nil, alarms.Invalidf("Invalid input for field/attribute op. Value: '%s'. Value should be one of: %s", q.Op, strings.Join(operationKinds, ", "))
		}
		if i >= len(values) {
			return nil, alarms.Invalidf("Invalid input for field/attribute value. Value: 'None'. Mandatory field missing.")
		}
		q.Value = values[i]
		if i < len(types) {
			q.Type = types[i]
		}
		out[i] = q
	}
	seen := map[string]bool{}
	for _, q := range out {
		if q.Field == "timestamp" {
			continue // a range takes two
		}
		if seen[q.Field] {
			return nil, alarms.Invalidf("duplicate query fields are not allowed")
		}
		seen[q.Field] = true
	}
	return out, nil
}

func unknownField(field string, valid []string) error {
	return alarms.Invalidf("Unknown argument: \"%s\": unrecognized field in query, valid keys: %s", field, pySet(valid))
}

func pySet(keys []string) string {
	s := slices.Clone(keys)
	slices.Sort(s)
	q := make([]string, len(s))
	for i, k := range s {
		q[i] = "'" + k + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func unimplementedOp(q simpleQuery) error {
	return alarms.Invalidf("Invalid input for field/attribute op. Value: '%s'. unimplemented operator for %s", q.Op, q.Field)
}

func boolValue(q simpleQuery) (bool, error) {
	b, ok := alarms.ParseBool(q.Value)
	if !ok {
		return false, alarms.Invalidf("Unable to convert the value %s to the expected data type boolean.", q.Value)
	}
	return b, nil
}

// sortKeys are the keys alarm lists and history sort by.
var (
	alarmSortKeys   = []string{"alarm_id", "enabled", "name", "type", "severity", "timestamp", "user_id", "project_id", "state", "repeat_actions", "state_timestamp"}
	historySortKeys = []string{"event_id", "alarm_id", "on_behalf_of", "project_id", "user_id", "type", "timestamp", "severity"}
)

func pyTuple(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// paging reads sort, limit and marker.
func paging(v url.Values, keys []string) (sort []alarms.Order, limit int, marker string, err error) {
	for _, s := range v["sort"] {
		key, dir, _ := strings.Cut(s, ":")
		if !slices.Contains(keys, key) || (dir != "" && dir != "asc" && dir != "desc") {
			return nil, 0, "", alarms.Invalidf("Invalid input for field/attribute sort. Value: '%s'. the sort parameter should be a pair of sort key and sort dir combined with ':', or only sort key specified and sort dir will be default 'asc', the supported sort keys are: %s", s, pyTuple(keys))
		}
		sort = append(sort, alarms.Order{Field: key, Desc: dir == "desc"})
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return nil, 0, "", alarms.Invalidf("Invalid input for field/attribute limit. Value: '%s'. unable to convert to int", l)
		}
		if n < 0 {
			return nil, 0, "", alarms.Invalidf("Invalid input for field/attribute limit. Value: '%d'. it should be a positive integer.", n)
		}
		limit = n
	}
	return sort, limit, v.Get("marker"), nil
}

var listFields = []string{"all_projects", "alarm_id", "enabled", "name", "project_id", "repeat_actions", "severity", "state", "type", "user_id"}

func (h *handler) listAlarms(w http.ResponseWriter, r *http.Request, id Identity) error {
	v := r.URL.Query()
	qs, err := parseQuery(v)
	if err != nil {
		return err
	}
	var o store.ListOptions
	allProjects := false
	for _, q := range qs {
		if q.Field == "timestamp" {
			return alarms.Invalidf("Unknown argument: \"timestamp\": not valid for this resource")
		}
		if !slices.Contains(listFields, q.Field) {
			return unknownField(q.Field, listFields)
		}
		if q.Op != "eq" {
			return unimplementedOp(q)
		}
		val := q.Value
		switch q.Field {
		case "all_projects":
			if allProjects, err = boolValue(q); err != nil {
				return err
			}
		case "enabled", "repeat_actions":
			b, err := boolValue(q)
			if err != nil {
				return err
			}
			if q.Field == "enabled" {
				o.Enabled = &b
			} else {
				o.RepeatActions = &b
			}
		case "alarm_id":
			o.AlarmID = &val
		case "name":
			o.Name = &val
		case "project_id":
			if !id.Admin && val != id.ProjectID {
				return &alarms.ProjectNotAuthorizedError{Aspect: "project", ID: val}
			}
			o.ProjectID = &val
		case "user_id":
			o.UserID = &val
		case "type":
			o.Type = &val
		case "state":
			o.State = &val
		case "severity":
			o.Severity = &val
		}
	}
	switch {
	case !id.Admin && allProjects:
		return errf(http.StatusForbidden, "RBAC Authorization Failed")
	case !id.Admin:
		p := id.ProjectID
		o.ProjectID = &p
	case !allProjects && o.ProjectID == nil && id.ProjectID != "":
		// Admins see their own project unless they ask for all.
		p := id.ProjectID
		o.ProjectID = &p
	}
	if o.Sort, o.Limit, o.Marker, err = paging(v, alarmSortKeys); err != nil {
		return err
	}
	list, err := h.d.Store.List(r.Context(), o)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(list))
	for i, a := range list {
		out[i] = renderAlarm(a, false)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ownership applies Aodh's rules for user_id and project_id on create:
// non-admins may only name themselves (401 otherwise); unnamed, they are
// the caller.
func ownership(b *body, id Identity) error {
	a := b.a
	if !id.Admin {
		if b.hasUser && a.UserID != id.UserID {
			return &alarms.ProjectNotAuthorizedError{Aspect: "user", ID: a.UserID}
		}
		if b.hasProject && a.ProjectID != id.ProjectID {
			return &alarms.ProjectNotAuthorizedError{Aspect: "project", ID: a.ProjectID}
		}
		a.UserID, a.ProjectID = id.UserID, id.ProjectID
		return nil
	}
	if !b.hasUser {
		a.UserID = id.UserID
	}
	if !b.hasProject {
		a.ProjectID = id.ProjectID
	}
	return nil
}

// scopeRule restricts a by-resources query to the alarm's project when the
// caller is not an admin, or is an admin acting for another project.
func scopeRule(a *alarms.Alarm, id Identity) {
	r, ok := a.Rule.(*alarms.ThresholdRule)
	if !ok || r.Type != alarms.TypeAggregationByResources {
		return
	}
	project := ""
	switch {
	case !id.Admin:
		project = id.ProjectID
	case a.ProjectID != id.ProjectID:
		project = a.ProjectID
	}
	if project != "" {
		c := *r
		c.Query = alarms.ScopeResourceQuery(r.Query, project)
		a.Rule = &c
	}
}

func (h *handler) checkSearch(r *http.Request, a *alarms.Alarm) error {
	if h.d.CheckSearch == nil {
		return nil
	}
	tr, ok := a.Rule.(*alarms.ThresholdRule)
	if !ok || tr.Type != alarms.TypeAggregationByResources {
		return nil
	}
	if err := h.d.CheckSearch(r.Context(), tr.ResourceType, tr.Query); err != nil {
		var ie *alarms.InvalidError
		if errors.As(err, &ie) {
			return err
		}
		return alarms.Invalidf("%v", err)
	}
	return nil
}

func (h *handler) change(r *http.Request, id Identity, alarmID, typ string, detail any, onBehalfOf, severity string, at time.Time) alarms.Change {
	d, _ := json.Marshal(detail)
	return alarms.Change{EventID: uuid.NewString(), AlarmID: alarmID, Type: typ, Detail: d,
		UserID: id.UserID, ProjectID: id.ProjectID, OnBehalfOf: onBehalfOf, Severity: severity, Timestamp: at}
}

func (h *handler) createAlarm(w http.ResponseWriter, r *http.Request, id Identity) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	b, err := h.decodeAlarm(raw)
	if err != nil {
		return err
	}
	a := b.a
	if err := h.checkActions(a, id); err != nil {
		return err
	}
	if err := ownership(b, id); err != nil {
		return err
	}
	scopeRule(a, id)
	if err := h.checkSearch(r, a); err != nil {
		return err
	}
	now := utcNow(h.d.Now)
	a.ID = uuid.NewString()
	a.Timestamp, a.StateTimestamp = now, now
	if a.EvaluateTimestamp.IsZero() {
		a.EvaluateTimestamp = now
	}
	a.StateReason = alarms.ReasonNotEvaluated
	if _, err := h.trustActions(r, a, nil, id); err != nil {
		return err
	}
	c := h.change(r, id, a.ID, alarms.ChangeCreation, a.StorageMap(), id.ProjectID, a.Severity, now)
	if err := h.d.Store.Create(r.Context(), a, c, h.d.Quotas); err != nil {
		h.deleteTrusts(r, id, ownedTrusts(a))
		return err
	}
	h.changed(r.Context(), a.ID)
	w.Header().Set("Location", baseURL(r)+"/v2/alarms/"+a.ID)
	writeJSON(w, http.StatusCreated, renderAlarm(a, false))
	return nil
}

func (h *handler) load(r *http.Request, id Identity) (*alarms.Alarm, error) {
	alarmID := r.PathValue("id")
	return h.d.Store.Get(r.Context(), alarmID, limitedProject(id))
}

func (h *handler) getAlarm(w http.ResponseWriter, r *http.Request, id Identity) error {
	a, err := h.load(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderAlarm(a, false))
	return nil
}

// putAlarm is Aodh's full replacement: omitted fields take their defaults.
func (h *handler) putAlarm(w http.ResponseWriter, r *http.Request, id Identity) error {
	old, err := h.load(r, id)
	if err != nil {
		return err
	}
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	b, err := h.decodeAlarm(raw)
	if err != nil {
		return err
	}
	a := b.a
	if err := h.checkActions(a, id); err != nil {
		return err
	}
	now := utcNow(h.d.Now)
	a.ID = old.ID
	switch {
	case !id.Admin:
		a.UserID, a.ProjectID = id.UserID, id.ProjectID
	default:
		if !b.hasUser {
			a.UserID = old.UserID
		}
		if !b.hasProject {
			a.ProjectID = old.ProjectID
		}
	}
	a.Timestamp = now
	if a.State != old.State {
		a.StateTimestamp, a.StateReason = now, alarms.ReasonManual
	} else {
		a.StateTimestamp, a.StateReason = old.StateTimestamp, old.StateReason
	}
	// A by-resources query keeps the scope it was stored with.
	if tr, ok := a.Rule.(*alarms.ThresholdRule); ok && tr.Type == alarms.TypeAggregationByResources {
		if ot, ok := old.Rule.(*alarms.ThresholdRule); !ok || ot.Query != tr.Query {
			scopeRule(a, id)
		}
	}
	if err := h.checkSearch(r, a); err != nil {
		return err
	}
	obsolete, err := h.trustActions(r, a, old, id)
	if err != nil {
		return err
	}
	diff := a.Changed(old)
	var c *alarms.Change
	if len(diff) > 0 {
		sev, _ := diff["severity"].(string)
		ch := h.change(r, id, a.ID, alarms.ChangeRule, diff, a.ProjectID, sev, now)
		c = &ch
	}
	if err := h.d.Store.Update(r.Context(), a, c); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errf(http.StatusConflict, "Alarm with name=%s exists", a.Name)
		}
		return err
	}
	h.deleteTrusts(r, id, obsolete)
	h.changed(r.Context(), a.ID)
	writeJSON(w, http.StatusOK, renderAlarm(a, false))
	return nil
}

func (h *handler) deleteAlarm(w http.ResponseWriter, r *http.Request, id Identity) error {
	a, err := h.load(r, id)
	if err != nil {
		return err
	}
	c := h.change(r, id, a.ID, alarms.ChangeDeletion, map[string]any{"state": a.State}, id.ProjectID, a.Severity, utcNow(h.d.Now))
	if err := h.d.Store.Delete(r.Context(), a.ID, c); err != nil {
		return err
	}
	h.deleteTrusts(r, id, ownedTrusts(a))
	h.changed(r.Context(), a.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) getState(w http.ResponseWriter, r *http.Request, id Identity) error {
	a, err := h.load(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.State)
	return nil
}

// putState sets the state; the body is a JSON string. A history entry is
// recorded even when the state does not change.
func (h *handler) putState(w http.ResponseWriter, r *http.Request, id Identity) error {
	a, err := h.load(r, id)
	if err != nil {
		return err
	}
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return alarms.Invalidf("state invalid")
	}
	st, err := alarms.ParseState(s)
	if err != nil {
		return alarms.Invalidf("state invalid")
	}
	now := utcNow(h.d.Now)
	c := h.change(r, id, a.ID, alarms.ChangeStateTransition, map[string]any{"state": st, "state_reason": alarms.ReasonManual}, a.ProjectID, "", now)
	if err := h.d.Store.SetState(r.Context(), a.ID, st, alarms.ReasonManual, now, c); err != nil {
		return err
	}
	h.changed(r.Context(), a.ID)
	writeJSON(w, http.StatusOK, st)
	return nil
}

var historyFields = []string{"project_id", "search_offset", "severity", "timestamp", "type", "user_id"}

func (h *handler) history(w http.ResponseWriter, r *http.Request, id Identity) error {
	a, err := h.load(r, id)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	qs, err := parseQuery(v)
	if err != nil {
		return err
	}
	var o store.HistoryOptions
	if !id.Admin {
		p := id.ProjectID
		o.OnBehalfOf = &p
	}
	hasTS, offset := false, 0
	for _, q := range qs {
		if !slices.Contains(historyFields, q.Field) {
			return unknownField(q.Field, historyFields)
		}
		val := q.Value
		switch q.Field {
		case "timestamp":
			t, err := alarms.ParseTime(val)
			if err != nil {
				return alarms.Invalidf("Invalid input for field/attribute timestamp. Value: '%s'. invalid timestamp format", val)
			}
			switch q.Op {
			case "gt", "ge":
				o.Start, o.StartInclusive = t, q.Op == "ge"
			case "lt", "le":
				o.End, o.EndInclusive = t, q.Op == "le"
			default:
				return unimplementedOp(q)
			}
			hasTS = true
			continue
		case "search_offset":
			if q.Op != "eq" {
				return unimplementedOp(q)
			}
			n, err := strconv.Atoi(val)
			if err != nil {
				return alarms.Invalidf("Invalid input for field/attribute search_offset. Value: '%s'. unable to convert to int", val)
			}
			offset = n
			continue
		}
		if q.Op != "eq" {
			return unimplementedOp(q)
		}
		switch q.Field {
		case "project_id":
			if !id.Admin && val != id.ProjectID {
				return &alarms.ProjectNotAuthorizedError{Aspect: "project", ID: val}
			}
			o.ProjectID = &val
		case "user_id":
			o.UserID = &val
		case "type":
			o.Type = &val
		case "severity":
			o.Severity = &val
		}
	}
	if offset != 0 {
		if !hasTS {
			return alarms.Invalidf("Invalid input for field/attribute field. Value: 'search_offset'. search_offset cannot be used without timestamp")
		}
		d := time.Duration(offset) * time.Minute
		if !o.Start.IsZero() {
			o.Start = o.Start.Add(-d)
		}
		if !o.End.IsZero() {
			o.End = o.End.Add(d)
		}
	}
	if o.Sort, o.Limit, o.Marker, err = paging(v, historySortKeys); err != nil {
		return err
	}
	list, err := h.d.Store.History(r.Context(), a.ID, o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderChanges(list))
	return nil
}

func renderChanges(list []alarms.Change) []map[string]any {
	out := make([]map[string]any, len(list))
	for i := range list {
		out[i] = renderChange(&list[i])
	}
	return out
}

// complexBody decodes {"filter": "...", "orderby": "...", "limit": n}.
func complexBody(raw []byte, fields alarms.QueryFields) (*alarms.ComplexQuery, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		raw = []byte("{}")
	}
	o, err := alarms.DecodeObject(raw, "")
	if err != nil {
		return nil, err
	}
	filter, err := o.String("filter", "", false)
	if err != nil {
		return nil, err
	}
	orderby, err := o.String("orderby", "", false)
	if err != nil {
		return nil, err
	}
	var limit *int
	if o.Has("limit") {
		n, err := o.Int("limit", 0, -1<<31, false)
		if err != nil {
			return nil, err
		}
		limit = &n
	}
	if err := o.Unknown(); err != nil {
		return nil, err
	}
	return alarms.ParseComplexQuery(filter, orderby, limit, fields)
}

func (h *handler) queryAlarms(w http.ResponseWriter, r *http.Request, id Identity) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	q, err := complexBody(raw, alarms.AlarmQueryFields)
	if err != nil {
		return err
	}
	if !id.Admin {
		if err := q.Restrict("project_id", id.ProjectID); err != nil {
			return err
		}
	}
	list, err := h.d.Store.QueryAlarms(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(list))
	for i, a := range list {
		// Aodh does not scrub trust ids here.
		out[i] = renderAlarm(a, true)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) queryHistory(w http.ResponseWriter, r *http.Request, id Identity) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	q, err := complexBody(raw, alarms.HistoryQueryFields)
	if err != nil {
		return err
	}
	if !id.Admin {
		if err := q.Restrict("on_behalf_of", id.ProjectID); err != nil {
			return err
		}
	}
	list, err := h.d.Store.QueryHistory(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderChanges(list))
	return nil
}
