// Package events serves the events that the notification listeners keep in
// the bus's events stream through Panko's v2 API (GET /v2/events,
// /v2/events/{message_id}, /v2/event_types and their traits), so that the
// clients of OpenStack's event service can query them. The stream's
// max_age is the events' retention.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/alarms"
)

// Identity is who makes a request.
type Identity struct {
	UserID, ProjectID string
	Admin             bool
}

// Deps are what the handlers serve from.
type Deps struct {
	JetStream jetstream.JetStream
	// Stream is the events stream (<stream_prefix>_EVENTS).
	Stream string
	// Auth authenticates a request; an error with an HTTPStatus() int
	// method sets the status, 401 otherwise.
	Auth func(r *http.Request) (Identity, error)
	Log  *slog.Logger
}

// DefaultLimit and MaxLimit bound a listing, as Panko's
// default_api_return_limit does.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	// maxScan bounds the messages one request reads from the stream.
	maxScan = 1_000_000
)

// Register mounts the handlers on mux.
func Register(mux *http.ServeMux, d Deps) {
	h := &handlers{d: d}
	mux.HandleFunc("GET /v2/events", h.auth(h.list))
	mux.HandleFunc("GET /v2/events/{id}", h.auth(h.get))
	mux.HandleFunc("GET /v2/event_types", h.auth(h.types))
	mux.HandleFunc("GET /v2/event_types/{type}/traits", h.auth(h.traits))
}

type handlers struct{ d Deps }

func (h *handlers) auth(f func(http.ResponseWriter, *http.Request, Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := h.d.Auth(r)
		if err != nil {
			code := http.StatusUnauthorized
			var hs interface{ HTTPStatus() int }
			if errors.As(err, &hs) {
				code = hs.HTTPStatus()
			}
			writeError(w, code, err.Error())
			return
		}
		f(w, r, id)
	}
}

// writeError answers in the shape of the OpenStack v2 (WSME) APIs.
func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(map[string]any{"error_message": map[string]any{"faultstring": msg, "faultcode": "Client", "debuginfo": nil}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// filter is a parsed event query.
type filter struct {
	eventType, messageID string
	start, end           time.Time
	traits               []traitFilter
	project              string // non-admins: only events of their project
}

type traitFilter struct {
	name, op string
	value    any
}

var typeNames = map[string]bool{"string": true, "integer": true, "float": true, "datetime": true}

// parseQuery reads Panko's q.field / q.op / q.value / q.type lists.
func parseQuery(r *http.Request, id Identity) (filter, error) {
	q := r.URL.Query()
	fields, ops, values, types := q["q.field"], q["q.op"], q["q.value"], q["q.type"]
	if len(values) != len(fields) {
		return filter{}, fmt.Errorf("q.field and q.value must come in pairs: %d fields, %d values", len(fields), len(values))
	}
	var f filter
	for i, field := range fields {
		op := "eq"
		if i < len(ops) && ops[i] != "" {
			op = ops[i]
		}
		typ := "string"
		if i < len(types) && types[i] != "" {
			typ = types[i]
		}
		v := values[i]
		switch field {
		case "event_type", "message_id":
			if op != "eq" {
				return f, fmt.Errorf("operator %s is not supported for field %s, only eq", op, field)
			}
			if field == "event_type" {
				f.eventType = v
			} else {
				f.messageID = v
			}
		case "start_timestamp", "end_timestamp":
			t, err := alarms.ParseTime(v)
			if err != nil {
				return f, fmt.Errorf("invalid %s %q: %v", field, v, err)
			}
			if field == "start_timestamp" {
				f.start = t
			} else {
				f.end = t
			}
		default:
			if !slices.Contains([]string{"eq", "ne", "lt", "le", "gt", "ge"}, op) {
				return f, fmt.Errorf("operator %s is not supported; use eq, ne, lt, le, gt or ge", op)
			}
			if !typeNames[typ] {
				return f, fmt.Errorf("invalid q.type %q: must be string, integer, float or datetime", typ)
			}
			var val any = v
			switch typ {
			case "integer", "float":
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return f, fmt.Errorf("trait %s: %q is not a number", field, v)
				}
				val = x
			case "datetime":
				t, err := alarms.ParseTime(v)
				if err != nil {
					return f, fmt.Errorf("trait %s: %q is not a datetime", field, v)
				}
				val = t
			}
			f.traits = append(f.traits, traitFilter{name: field, op: op, value: val})
		}
	}
	if !id.Admin {
		f.project = id.ProjectID
	}
	return f, nil
}

func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return strings.Compare(x, y), ok
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case time.Time:
		y, ok := b.(time.Time)
		return x.Compare(y), ok
	}
	return 0, false
}

func (f *filter) match(e *alarms.Event) bool {
	if f.eventType != "" && e.EventType != f.eventType || f.messageID != "" && e.MessageID != f.messageID {
		return false
	}
	if !f.start.IsZero() && e.Generated.Before(f.start) || !f.end.IsZero() && e.Generated.After(f.end) {
		return false
	}
	if f.project != "" && e.ProjectID != f.project {
		return false
	}
	for _, t := range f.traits {
		v, ok := e.Traits[t.name]
		if !ok {
			return false
		}
		if n, isNum := v.(int64); isNum {
			v = float64(n)
		}
		c, ok := compare(v, t.value)
		if !ok {
			return false
		}
		switch t.op {
		case "eq":
			ok = c == 0
		case "ne":
			ok = c != 0
		case "lt":
			ok = c < 0
		case "le":
			ok = c <= 0
		case "gt":
			ok = c > 0
		case "ge":
			ok = c >= 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// scan reads the stream from its first message, or from a little before
// the start of the window, to its last at the time of the call, and calls
// fn with each event until fn returns false.
func (h *handlers) scan(ctx context.Context, f *filter, fn func(*alarms.Event) bool) error {
	st, err := h.d.JetStream.Stream(ctx, h.d.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // no listener has made an event yet
	}
	if err != nil {
		return fmt.Errorf("cannot open the events stream %s: %w", h.d.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the events stream %s: %w", h.d.Stream, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if !f.start.IsZero() {
		// Events are stored when made, after they were generated: an hour
		// of slack covers listeners that lag.
		t := f.start.Add(-time.Hour)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot read the events stream %s: %w", h.d.Stream, err)
	}
	for scanned := 0; scanned < maxScan; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("cannot read the events stream %s: %w", h.d.Stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			scanned++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if e, err := alarms.DecodeEvent(m.Data()); err == nil && f.match(e) && !fn(e) {
				return nil
			}
			if md.Sequence.Stream >= last {
				return nil
			}
		}
		if n == 0 {
			return nil // past what the stream held when the request came
		}
	}
	return nil
}

// render is Panko's event document.
func render(e *alarms.Event) map[string]any {
	traits := make([]map[string]any, 0, len(e.Traits))
	names := make([]string, 0, len(e.Traits))
	for name := range e.Traits {
		names = append(names, name)
	}
	slices.Sort(names)
	declared := rawTypes(e)
	for _, name := range names {
		typ, val := traitOf(declared[name], e.Traits[name])
		traits = append(traits, map[string]any{"name": name, "type": typ, "value": val})
	}
	raw := map[string]any{}
	if r, ok := e.Raw["raw"].(map[string]any); ok {
		raw = r
	}
	return map[string]any{
		"message_id": e.MessageID, "event_type": e.EventType,
		"generated": e.Generated.UTC().Format("2006-01-02T15:04:05.000000"), "traits": traits, "raw": raw,
	}
}

// rawTypes reads the declared type of each trait from the stored event:
// Ceilometer's [name, type code, value] triples or {"name", "type",
// "value"} objects. Decoding keeps numbers as floats, so the declared type
// is what tells an integer trait.
func rawTypes(e *alarms.Event) map[string]string {
	codes := map[string]string{"1": "string", "2": "integer", "3": "float", "4": "datetime"}
	out := map[string]string{}
	traits, _ := e.Raw["traits"].([]any)
	for _, t := range traits {
		switch x := t.(type) {
		case []any:
			if len(x) == 3 {
				name, _ := x[0].(string)
				if c, ok := codes[fmt.Sprint(x[1])]; ok {
					out[name] = c
				}
			}
		case map[string]any:
			name, _ := x["name"].(string)
			if typ, _ := x["type"].(string); typeNames[typ] {
				out[name] = typ
			} else if c, ok := codes[fmt.Sprint(x["type"])]; ok {
				out[name] = c
			}
		}
	}
	return out
}

// traitOf renders a trait's value for its declared type.
func traitOf(declared string, v any) (string, any) {
	typ, val := traitType(v)
	if declared == "integer" && typ == "float" {
		if f, err := strconv.ParseFloat(val.(string), 64); err == nil && f == float64(int64(f)) {
			return "integer", strconv.FormatInt(int64(f), 10)
		}
	}
	if declared != "" && declared != typ && typ != "float" {
		return typ, val
	}
	if declared != "" {
		return declared, val
	}
	return typ, val
}

func traitType(v any) (string, any) {
	switch x := v.(type) {
	case int64:
		return "integer", strconv.FormatInt(x, 10)
	case float64:
		return "float", strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return "datetime", x.UTC().Format("2006-01-02T15:04:05.000000")
	case json.Number:
		return "float", x.String()
	}
	return "string", fmt.Sprint(v)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request, id Identity) {
	f, err := parseQuery(r, id)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := DefaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 || limit > MaxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be an integer in 1..%d, got %q", MaxLimit, v))
			return
		}
	}
	out := []map[string]any{}
	if err := h.scan(r.Context(), &f, func(e *alarms.Event) bool {
		out = append(out, render(e))
		return len(out) < limit
	}); err != nil {
		h.d.Log.Error("cannot list events", "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, out)
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request, id Identity) {
	f := filter{messageID: r.PathValue("id")}
	if !id.Admin {
		f.project = id.ProjectID
	}
	var found *alarms.Event
	if err := h.scan(r.Context(), &f, func(e *alarms.Event) bool { found = e; return false }); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if found == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Event %s could not be found", f.messageID))
		return
	}
	writeJSON(w, render(found))
}

func (h *handlers) types(w http.ResponseWriter, r *http.Request, id Identity) {
	f := filter{}
	if !id.Admin {
		f.project = id.ProjectID
	}
	seen := map[string]bool{}
	if err := h.scan(r.Context(), &f, func(e *alarms.Event) bool { seen[e.EventType] = true; return true }); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	writeJSON(w, out)
}

func (h *handlers) traits(w http.ResponseWriter, r *http.Request, id Identity) {
	f := filter{eventType: r.PathValue("type")}
	if !id.Admin {
		f.project = id.ProjectID
	}
	seen := map[[2]string]bool{}
	if err := h.scan(r.Context(), &f, func(e *alarms.Event) bool {
		declared := rawTypes(e)
		for name, v := range e.Traits {
			typ, _ := traitOf(declared[name], v)
			seen[[2]string{name, typ}] = true
		}
		return true
	}); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := make([]map[string]string, 0, len(seen))
	for k := range seen {
		out = append(out, map[string]string{"name": k[0], "type": k[1]})
	}
	slices.SortFunc(out, func(a, b map[string]string) int { return strings.Compare(a["name"]+a["type"], b["name"]+b["type"]) })
	writeJSON(w, out)
}
