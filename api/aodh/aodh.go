// Package aodh serves Aodh's v2 alarm API (/v2/alarms, /v2/query/alarms,
// /v2/capabilities) over the alarm store, with Aodh's paths, JSON shapes,
// status codes and error bodies, so that aodhclient, Heat and Horizon work
// unchanged. Register mounts it on the main API's mux; the main API's
// authentication supplies the caller's identity.
package aodh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/alarms/store"
)

// Identity is who makes a request, as the main API's authentication found
// it. Token is the caller's Keystone token when there is one (trust+
// actions need it to create trusts).
type Identity struct {
	UserID    string
	ProjectID string
	Roles     []string
	Admin     bool
	Token     string
}

// ChangeListener is told of every alarm the API creates, changes or
// deletes (the evaluator, or an evaluator.Announcer in an API-only
// process).
type ChangeListener interface {
	AlarmChanged(ctx context.Context, id string)
}

// Trusts creates and deletes the Keystone trusts of trust+ actions
// (*notifier.Keystone).
type Trusts interface {
	CreateTrust(ctx context.Context, callerToken, trustorUserID, projectID string, roles []string) (string, error)
	DeleteTrust(ctx context.Context, callerToken, trustID string) error
}

// Deps are what the handlers serve from.
type Deps struct {
	Store *store.Store
	// Evaluator, when set, is told of changes.
	Evaluator ChangeListener
	// Auth returns the caller's identity or an error to answer with; an
	// error with an HTTPStatus() int method sets the status (401
	// otherwise).
	Auth func(r *http.Request) (Identity, error)
	Log  *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Quotas limit alarms per project and user; the zero value (no limit
	// set, no per-project entry) means unlimited.
	Quotas store.Quotas
	// MaxActions bounds each action list (Aodh's alarm_max_actions);
	// 0 or less is unlimited.
	MaxActions int
	// AggregationMethods are the methods rules may use; nil means
	// alarms.DefaultAggregationMethods.
	AggregationMethods []string
	// Trusts, when set, makes trust+ actions possible.
	Trusts Trusts
	// CheckSearch, when set, validates a by-resources rule's search filter
	// against the metering store (Aodh asks Gnocchi); its error is a 400.
	CheckSearch func(ctx context.Context, resourceType, query string) error
	// MaxBodyBytes bounds request bodies (1 MiB when 0).
	MaxBodyBytes int64
}

type handler struct {
	d Deps
}

// Register mounts the Aodh v2 routes on mux. Unknown paths under /v2/ get
// Aodh's 404 and wrong methods its 405 with an Allow header.
func Register(mux *http.ServeMux, d Deps) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Quotas.Project == 0 && d.Quotas.User == 0 && d.Quotas.Projects == nil {
		d.Quotas = store.Unlimited
	}
	h := &handler{d: d}
	routes := []struct {
		pattern string
		f       func(w http.ResponseWriter, r *http.Request, id Identity) error
	}{
		{"GET /v2/alarms", h.listAlarms},
		{"POST /v2/alarms", h.createAlarm},
		{"GET /v2/alarms/{id}", h.getAlarm},
		{"PUT /v2/alarms/{id}", h.putAlarm},
		{"DELETE /v2/alarms/{id}", h.deleteAlarm},
		{"GET /v2/alarms/{id}/state", h.getState},
		{"PUT /v2/alarms/{id}/state", h.putState},
		{"GET /v2/alarms/{id}/history", h.history},
		{"POST /v2/query/alarms", h.queryAlarms},
		{"POST /v2/query/alarms/history", h.queryHistory},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.wrap(rt.f, true))
	}
	mux.Handle("GET /v2/capabilities", h.wrap(h.capabilities, false))
	// aodhclient asks for "v2/capabilities/"; Aodh's router takes a
	// trailing slash on collections.
	mux.Handle("GET /v2/capabilities/{$}", h.wrap(h.capabilities, false))
	mux.Handle("GET /v2/alarms/{$}", h.wrap(h.listAlarms, true))
	mux.Handle("POST /v2/alarms/{$}", h.wrap(h.createAlarm, true))
	mux.Handle("POST /v2/query/alarms/{$}", h.wrap(h.queryAlarms, true))
	mux.Handle("POST /v2/query/alarms/history/{$}", h.wrap(h.queryHistory, true))
	for path, allow := range map[string]string{
		"/v2/alarms":               "GET, POST",
		"/v2/alarms/{id}":          "GET, PUT, DELETE",
		"/v2/alarms/{id}/state":    "GET, PUT",
		"/v2/alarms/{id}/history":  "GET",
		"/v2/query/alarms":         "POST",
		"/v2/query/alarms/history": "POST",
		"/v2/capabilities":         "GET",
	} {
		mux.Handle(path, h.wrap(methodNotAllowed(allow), false))
	}
	mux.Handle("/v2/", h.wrap(func(http.ResponseWriter, *http.Request, Identity) error {
		return &apiError{code: http.StatusNotFound, msg: "The resource could not be found."}
	}, false))
}

func methodNotAllowed(allow string) func(http.ResponseWriter, *http.Request, Identity) error {
	return func(w http.ResponseWriter, r *http.Request, _ Identity) error {
		w.Header().Set("Allow", allow)
		return &apiError{code: http.StatusMethodNotAllowed, msg: fmt.Sprintf("The method %s is not allowed for this resource.", r.Method)}
	}
}

// apiError is an error with its status code.
type apiError struct {
	code int
	msg  any
}

func (e *apiError) Error() string { return fmt.Sprint(e.msg) }

func errf(code int, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// wrap authenticates (when auth), sets the request id and writes errors in
// Aodh's shape.
func (h *handler) wrap(f func(w http.ResponseWriter, r *http.Request, id Identity) error, auth bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Openstack-Request-Id", "req-"+uuid.NewString())
		r.Body = http.MaxBytesReader(w, r.Body, h.d.MaxBodyBytes)
		var id Identity
		if auth && h.d.Auth != nil {
			var err error
			if id, err = h.d.Auth(r); err != nil {
				code := http.StatusUnauthorized
				var hs interface{ HTTPStatus() int }
				if errors.As(err, &hs) {
					code = hs.HTTPStatus()
				}
				h.writeError(w, r, &apiError{code: code, msg: err.Error()})
				return
			}
		}
		if err := f(w, r, id); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// writeError maps errors to Aodh's codes in one place.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var msg any = err.Error()
	var (
		ae *apiError
		ie *alarms.InvalidError
		pe *alarms.ProjectNotAuthorizedError
		te *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		code, msg = ae.code, ae.msg
	case errors.As(err, &te):
		code, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body exceeds the limit of %d bytes", te.Limit)
	case errors.As(err, &ie):
		code, msg = http.StatusBadRequest, ie.Msg
	case errors.As(err, &pe):
		code = http.StatusUnauthorized
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrExists):
		code = http.StatusConflict
	case errors.Is(err, store.ErrOverQuota):
		code = http.StatusForbidden
	case errors.Is(err, store.ErrInvalidMarker):
		// Aodh answers an unknown marker with a 500.
		var me *store.MarkerError
		if errors.As(err, &me) {
			msg = me.Error()
		}
	default:
		h.d.Log.Error("alarm API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	fault := "Client"
	if code >= 500 {
		fault = "Server"
	}
	writeJSON(w, code, map[string]any{"error_message": map[string]any{"faultcode": fault, "faultstring": msg, "debuginfo": nil}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body = []byte(`{"error_message": {"faultcode": "Server", "faultstring": "cannot encode the response", "debuginfo": null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// readBody reads a request body within the limit.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var te *http.MaxBytesError
		if errors.As(err, &te) {
			return nil, err
		}
		return nil, errf(http.StatusBadRequest, "cannot read the request body: %v", err)
	}
	return b, nil
}

// limitedProject is the project a caller is confined to: "" for admins.
func limitedProject(id Identity) string {
	if id.Admin {
		return ""
	}
	return id.ProjectID
}

func (h *handler) changed(ctx context.Context, alarmID string) {
	if h.d.Evaluator != nil {
		h.d.Evaluator.AlarmChanged(context.WithoutCancel(ctx), alarmID)
	}
}

func (h *handler) capabilities(w http.ResponseWriter, _ *http.Request, _ Identity) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"api": map[string]bool{
			"alarms:query:simple": true, "alarms:query:complex": true,
			"alarms:history:query:simple": true, "alarms:history:query:complex": true,
		},
		"alarm_storage": map[string]bool{"storage:production_ready": true},
	})
	return nil
}

// baseURL is the absolute URL of the API root as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}
