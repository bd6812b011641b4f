package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/query"
)

// Publisher puts a batch of measures on the durable path; a nil return
// means every point of the batch is in JetStream. A retry with the same
// options.MsgID must not store twice what an earlier attempt stored
// (*bus.Bus does this).
type Publisher interface {
	PublishWith(ctx context.Context, b *wire.Batch, opts bus.PublishOptions) error
}

// HealthCheck is one part whose state /healthz reports.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// Optional parts (a pollster without its source, say) report "off"
	// with the reason when Check fails, without making the process
	// unhealthy.
	Optional bool
}

// Status is what /v1/status reports beyond the index.
type Status interface {
	// DroppedLate returns per metric the points dropped as older than
	// the back window.
	DroppedLate() map[uuid.UUID]int64
}

// BacklogReport is the measures accepted but not yet processed into
// storage, as /v1/status shows them.
type BacklogReport struct {
	// Metrics is how many metrics have unprocessed measures.
	Metrics int64
	// Measures is how many measures wait.
	Measures int64
	// PerMetric holds the waiting measures of each metric.
	PerMetric map[uuid.UUID]int64
}

// Backlog tells what waits between the bus and storage.
type Backlog interface {
	// Backlog reports the measures accepted and not yet processed.
	Backlog(ctx context.Context) (BacklogReport, error)
	// WaitProcessed returns once every measure of the given metrics
	// accepted before the call is in storage, or with ctx's error. It is
	// what refresh=true waits for.
	WaitProcessed(ctx context.Context, metrics []uuid.UUID) error
}

// Deps are what the API serves from.
type Deps struct {
	Index     *index.Index
	Reader    *query.Reader
	Publisher Publisher
	Auth      Authenticator
	Metrics   *metrics.Set
	Health    []HealthCheck
	Status    Status
	// Backlog, when set, feeds /v1/status and refresh=true; without it
	// the backlog reads as empty and refresh returns at once.
	Backlog Backlog
	// MaxBodyBytes bounds request bodies (16 MiB when 0); a larger one
	// is answered 413.
	MaxBodyBytes int64
	// MaxLimit is the largest page of a listing and its default size,
	// Gnocchi's api.max_limit (1000 when 0).
	MaxLimit int
	// RefreshTimeout bounds how long refresh=true waits for the backlog
	// of the metrics read (Gnocchi's api.operation_timeout; 10 s when 0).
	RefreshTimeout time.Duration
	// CORSAllowedOrigins are the origins browsers may call the API from
	// (api.cors.allowed_origins); "*" allows any. Empty allows none.
	CORSAllowedOrigins []string
	// Routes register more routes on the server's mux (the Aodh v2 API),
	// so that they share its body limit, CORS, metrics and error pages.
	Routes []func(mux *http.ServeMux)
	Log    *slog.Logger
	// MetricDeleted, when set, is told of each deleted metric so that an
	// in-process processor forgets it and its series are freed.
	MetricDeleted func(ctx context.Context, id uuid.UUID)
	// Now is the clock, for relative timestamps; time.Now when nil.
	Now func() time.Time
}

// Server is the HTTP API.
type Server struct {
	d        Deps
	mux      *http.ServeMux
	policies policyCache
}

// New returns the API over d.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 16 << 20
	}
	if d.MaxLimit <= 0 {
		d.MaxLimit = 1000
	}
	if d.RefreshTimeout <= 0 {
		d.RefreshTimeout = 10 * time.Second
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{d: d, mux: http.NewServeMux()}
	s.routes()
	for _, f := range d.Routes {
		f(s.mux)
	}
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Authenticate returns the identity of the caller of r under the server's
// auth mode, for routes other packages mount; the error is an *Error.
func (s *Server) Authenticate(r *http.Request) (Identity, error) {
	return s.d.Auth.Authenticate(r)
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", s.versions)
	m.HandleFunc("GET /v1", s.v1Root)
	m.HandleFunc("GET /v1/status", s.auth(s.status))
	m.HandleFunc("GET /v1/capabilities", s.capabilities)

	m.HandleFunc("GET /v1/archive_policy", s.auth(s.listArchivePolicies))
	m.HandleFunc("POST /v1/archive_policy", s.auth(s.createArchivePolicy))
	m.HandleFunc("GET /v1/archive_policy/{name}", s.auth(s.getArchivePolicy))
	m.HandleFunc("PATCH /v1/archive_policy/{name}", s.auth(s.patchArchivePolicy))
	m.HandleFunc("DELETE /v1/archive_policy/{name}", s.auth(s.deleteArchivePolicy))

	m.HandleFunc("GET /v1/archive_policy_rule", s.auth(s.listRules))
	m.HandleFunc("POST /v1/archive_policy_rule", s.auth(s.createRule))
	m.HandleFunc("GET /v1/archive_policy_rule/{name}", s.auth(s.getRule))
	m.HandleFunc("PATCH /v1/archive_policy_rule/{name}", s.auth(s.patchRule))
	m.HandleFunc("DELETE /v1/archive_policy_rule/{name}", s.auth(s.deleteRule))

	m.HandleFunc("GET /v1/resource_type", s.auth(s.listResourceTypes))
	m.HandleFunc("POST /v1/resource_type", s.auth(s.createResourceType))
	m.HandleFunc("GET /v1/resource_type/{name}", s.auth(s.getResourceType))
	m.HandleFunc("PATCH /v1/resource_type/{name}", s.auth(s.patchResourceType))
	m.HandleFunc("DELETE /v1/resource_type/{name}", s.auth(s.deleteResourceType))

	m.HandleFunc("GET /v1/resource", s.auth(s.listResourceTypeLinks))
	m.HandleFunc("GET /v1/resource/{type}", s.auth(s.listResources))
	m.HandleFunc("POST /v1/resource/{type}", s.auth(s.createResource))
	m.HandleFunc("DELETE /v1/resource/{type}", s.auth(s.deleteResources))
	m.HandleFunc("GET /v1/resource/{type}/{id}", s.auth(s.getResource))
	m.HandleFunc("PATCH /v1/resource/{type}/{id}", s.auth(s.patchResource))
	m.HandleFunc("DELETE /v1/resource/{type}/{id}", s.auth(s.deleteResource))
	m.HandleFunc("GET /v1/resource/{type}/{id}/history", s.auth(s.resourceHistory))
	m.HandleFunc("GET /v1/resource/{type}/{id}/metric", s.auth(s.listResourceMetrics))
	m.HandleFunc("POST /v1/resource/{type}/{id}/metric", s.auth(s.addResourceMetrics))
	m.HandleFunc("GET /v1/resource/{type}/{id}/metric/{name}", s.auth(s.getResourceMetric))
	m.HandleFunc("DELETE /v1/resource/{type}/{id}/metric/{name}", s.auth(s.deleteResourceMetric))
	m.HandleFunc("GET /v1/resource/{type}/{id}/metric/{name}/measures", s.auth(s.getResourceMeasures))
	m.HandleFunc("POST /v1/resource/{type}/{id}/metric/{name}/measures", s.auth(s.postResourceMeasures))

	m.HandleFunc("POST /v1/search/resource/{type}", s.auth(s.searchResources))
	m.HandleFunc("POST /v1/search/metric", s.auth(s.searchMetrics))

	m.HandleFunc("GET /v1/metric", s.auth(s.listMetrics))
	m.HandleFunc("POST /v1/metric", s.auth(s.createMetric))
	m.HandleFunc("GET /v1/metric/{id}", s.auth(s.getMetric))
	m.HandleFunc("DELETE /v1/metric/{id}", s.auth(s.deleteMetric))
	m.HandleFunc("GET /v1/metric/{id}/measures", s.auth(s.getMeasures))
	m.HandleFunc("POST /v1/metric/{id}/measures", s.auth(s.postMeasures))

	m.HandleFunc("POST /v1/batch/metrics/measures", s.auth(s.batchMetrics))
	m.HandleFunc("POST /v1/batch/resources/metrics/measures", s.auth(s.batchResources))

	m.HandleFunc("POST /v1/aggregates", s.auth(s.aggregates))
	m.HandleFunc("GET /v1/aggregation/metric", s.auth(s.aggregationMetric))
	m.HandleFunc("POST /v1/aggregation/metric", s.auth(s.aggregationMetric))
	m.HandleFunc("POST /v1/aggregation/resource/{type}/metric/{name}", s.auth(s.aggregationResource))

	m.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		metrics.WriteProcessMetrics(w)
		if s.d.Metrics != nil {
			s.d.Metrics.WritePrometheus(w)
		}
	}))
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /healthcheck", s.healthcheck)
}

// statusRecorder keeps the status code for the request metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			// A handler bug must not take the process down; the client gets a
			// 500 and the log the value.
			s.d.Log.Error("BUG: handler panicked", "path", r.URL.Path, "panic", v)
			writeError(rec, fmt.Errorf("internal error"))
		}
		if s.d.Metrics != nil {
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.d.Metrics.GetOrCreateHistogram(fmt.Sprintf(`vigil_http_request_duration_seconds{route=%q,code="%d"}`, route, rec.code)).UpdateDuration(start)
		}
	}()
	// Gnocchi answers a path with or without its trailing slash the same
	// (clients write both: gnocchiclient creates metrics on /v1/metric/).
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimRight(p, "/")
		if r.URL.Path == "" {
			r.URL.Path = "/"
		}
		r.URL.RawPath = ""
	}
	if s.cors(rec, r) {
		return
	}
	r.Body = http.MaxBytesReader(rec, r.Body, s.d.MaxBodyBytes)
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// Let the mux answer 405s with an Allow header, but in Gnocchi's
		// error shape.
		probe := &statusRecorder{ResponseWriter: discard{h: http.Header{}}, code: http.StatusOK}
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			if allow := probe.Header().Get("Allow"); allow != "" {
				rec.Header().Set("Allow", allow)
			}
			writeError(rec, errorf(http.StatusMethodNotAllowed, "The method %s is not allowed for this resource.", r.Method))
			return
		}
		writeError(rec, notFound("The resource could not be found."))
		return
	}
	s.mux.ServeHTTP(rec, r)
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// auth authenticates the request before h runs.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := s.d.Auth.Authenticate(r)
		if err != nil {
			writeError(w, err)
			return
		}
		h(w, r.WithContext(withIdentity(r.Context(), id)))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, fmt.Errorf("cannot encode response: %w", err))
		return
	}
	writeRaw(w, code, body)
}

// writeRaw answers code with body, already JSON.
func writeRaw(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// writeEmpty answers code without a body, as Gnocchi answers 202 and 204.
func writeEmpty(w http.ResponseWriter, code int) {
	if code != http.StatusNoContent {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(code)
}

// location sets the Location header of a created object, under /v1.
func location(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Location", baseURL(r)+"/v1"+path)
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"build": "4.4.2",
		"versions": []any{map[string]any{
			"id": "v1.0", "status": "CURRENT", "updated": "2015-03-19",
			"links": []any{map[string]any{"rel": "self", "href": baseURL(r) + "/v1/"}},
		}},
	})
}

func (s *Server) v1Root(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r) + "/v1"
	links := []any{map[string]any{"rel": "self", "href": base}}
	for _, rel := range []string{"aggregates", "aggregation", "archive_policy", "archive_policy_rule", "batch", "capabilities", "metric", "resource", "resource_type", "search", "status"} {
		links = append(links, map[string]any{"rel": rel, "href": base + "/" + rel})
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": "1.0", "links": links})
}

// baseURL is the URL of the server as the client called it, honouring the
// X-Forwarded-Proto of a TLS-terminating proxy.
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

func (s *Server) checkHealth(ctx context.Context) (map[string]any, []string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	parts := make(map[string]any, len(s.d.Health))
	var reasons []string
	for _, h := range s.d.Health {
		if err := h.Check(ctx); err != nil && h.Optional {
			parts[h.Name] = map[string]any{"status": "off", "reason": err.Error()}
		} else if err != nil {
			parts[h.Name] = map[string]any{"status": "down", "error": err.Error()}
			reasons = append(reasons, h.Name+": "+err.Error())
		} else {
			parts[h.Name] = map[string]any{"status": "up"}
		}
	}
	return parts, reasons
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	parts, reasons := s.checkHealth(r.Context())
	code, status := http.StatusOK, "ok"
	if len(reasons) > 0 {
		code, status = http.StatusServiceUnavailable, "down"
	}
	writeJSON(w, code, map[string]any{"status": status, "parts": parts})
}

// healthcheck answers as oslo.middleware's healthcheck does: 200 (204 to
// HEAD) when healthy, 503 with the reasons otherwise, as text or, when
// the client accepts it, JSON.
func (s *Server) healthcheck(w http.ResponseWriter, r *http.Request) {
	_, reasons := s.checkHealth(r.Context())
	code := http.StatusOK
	if len(reasons) > 0 {
		code = http.StatusServiceUnavailable
	}
	if r.Method == http.MethodHead {
		if code == http.StatusOK {
			code = http.StatusNoContent
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(code)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		if reasons == nil {
			reasons = []string{}
		}
		body, _ := json.MarshalIndent(map[string]any{"detailed": false, "reasons": reasons}, "", "    ")
		writeRaw(w, code, body)
		return
	}
	body := strings.Join(reasons, "\n")
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
