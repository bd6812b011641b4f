package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Deps is what the billing routes need from the API server. Identity is
// required, and Source with Config.
type Deps struct {
	Source Source
	// Config is the rating configuration; nil answers every request with
	// 501, billing being off.
	Config *Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Identity authenticates a request: the user, the project and whether
	// the caller is an admin. An error answers the request: with the
	// status of an error that has an HTTPStatus() int method, 401
	// otherwise.
	Identity func(r *http.Request) (user, project string, admin bool, err error)
	// Logger receives the errors answered with 500; nil discards them.
	Logger *slog.Logger
}

// Register mounts GET /v1/billing/export and GET /v1/billing/summary on
// mux. An admin may ask for any project or, leaving project out, for all;
// anyone else only for their own, which is also what they get without a
// project parameter.
func Register(mux *http.ServeMux, d Deps) {
	if d.Identity == nil || (d.Config != nil && d.Source == nil) {
		panic("BUG: billing.Register needs Identity, and Source when Config is set")
	}
	h := &handlers{d: d}
	if h.d.Now == nil {
		h.d.Now = time.Now
	}
	if h.d.Logger == nil {
		h.d.Logger = slog.New(slog.DiscardHandler)
	}
	mux.HandleFunc("GET /v1/billing/export", h.export)
	mux.HandleFunc("GET /v1/billing/summary", h.summary)
}

type handlers struct {
	d Deps
}

// httpError is an answer in Gnocchi's error shape.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, code int, desc string) {
	body, _ := json.Marshal(map[string]any{"code": code, "description": desc, "title": http.StatusText(code)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.code, he.msg)
	case errors.Is(err, ErrInvalidPeriod):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		h.d.Logger.Error("billing request failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot rate the period: "+err.Error())
	}
}

type request struct {
	from, to time.Time
	project  string // "" for every project (admins only)
}

// parse reads from, to and project and applies the project rule.
func (h *handlers) parse(w http.ResponseWriter, r *http.Request, withFormat bool) (*request, bool) {
	if h.d.Config == nil {
		writeError(w, http.StatusNotImplemented, "billing is not configured")
		return nil, false
	}
	_, project, admin, err := h.d.Identity(r)
	if err != nil {
		code := http.StatusUnauthorized
		var hs interface{ HTTPStatus() int }
		if errors.As(err, &hs) {
			code = hs.HTTPStatus()
		}
		writeError(w, code, "Authentication required")
		return nil, false
	}
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "from", "to", "project", "format":
			if k == "format" && !withFormat {
				h.fail(w, r, badRequest("unknown parameter %q", k))
				return nil, false
			}
			if len(v) > 1 {
				h.fail(w, r, badRequest("parameter %s is given %d times", k, len(v)))
				return nil, false
			}
		default:
			h.fail(w, r, badRequest("unknown parameter %q", k))
			return nil, false
		}
	}
	req := &request{}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &req.from}, {"to", &req.to}} {
		s := q.Get(p.name)
		if s == "" {
			h.fail(w, r, badRequest("parameter %s is required", p.name))
			return nil, false
		}
		t, err := ParseTime(s)
		if err != nil {
			h.fail(w, r, badRequest("parameter %s: %v", p.name, err))
			return nil, false
		}
		*p.dst = t
	}
	req.project = q.Get("project")
	if !admin {
		if req.project != "" && req.project != project {
			writeError(w, http.StatusForbidden, "Access was denied to this resource.")
			return nil, false
		}
		if project == "" {
			writeError(w, http.StatusForbidden, "Access was denied to this resource.")
			return nil, false
		}
		req.project = project
	}
	return req, true
}

func (h *handlers) rate(w http.ResponseWriter, r *http.Request, req *request) (*Report, bool) {
	rep, err := Rate(r.Context(), h.d.Source, h.d.Config, Query{From: req.from, To: req.to, Project: req.project, Now: h.d.Now()})
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return rep, true
}

// export answers GET /v1/billing/export?from=&to=&project=&format=.
func (h *handlers) export(w http.ResponseWriter, r *http.Request) {
	req, ok := h.parse(w, r, true)
	if !ok {
		return
	}
	name := r.URL.Query().Get("format")
	if name == "" {
		name = "csv"
	}
	f, err := ParseFormat(name)
	if err != nil {
		h.fail(w, r, badRequest("parameter format: %v", err))
		return
	}
	rep, ok := h.rate(w, r, req)
	if !ok {
		return
	}
	// Rendered whole before the answer starts, so that a failure is an
	// error answer rather than a truncated file.
	var buf bytes.Buffer
	if err := rep.Write(&buf, f); err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ContentType())
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", FileName(req.from, req.to, req.project, f)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// summary answers GET /v1/billing/summary?from=&to=&project=.
func (h *handlers) summary(w http.ResponseWriter, r *http.Request) {
	req, ok := h.parse(w, r, false)
	if !ok {
		return
	}
	rep, ok := h.rate(w, r, req)
	if !ok {
		return
	}
	var projects []string
	if req.project != "" {
		projects = []string{req.project}
	}
	body, err := json.Marshal(rep.Summarize(projects...))
	if err != nil {
		h.fail(w, r, fmt.Errorf("cannot encode the summary: %w", err))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
