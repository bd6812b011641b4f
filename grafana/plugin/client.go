package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// APIError is an error answer of the vigil API, with the message of its
// Gnocchi or Aodh error body.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("vigil API %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// ErrTooLarge is the cause of an answer larger than the response bound.
var ErrTooLarge = errors.New("response too large")

// Client calls the vigil API. It is safe for concurrent use; connections
// are kept alive and reused across calls.
type Client struct {
	base *url.URL
	s    Settings
	hc   *http.Client
	// bufs holds answer buffers for reuse: a day of 200 series is some
	// 13 MB of JSON, not worth allocating and zeroing each time. A
	// channel, unlike a sync.Pool, keeps them across garbage collections.
	bufs chan *bytes.Buffer
}

// NewClient returns a client for the settings. rt, when not nil, replaces
// the client's own transport (tests).
func NewClient(s Settings, rt http.RoundTripper) (*Client, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the data source URL %q: %w", s.URL, err)
	}
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: s.Timeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	return &Client{base: u, s: s, hc: &http.Client{Transport: rt, Timeout: s.Timeout}, bufs: make(chan *bytes.Buffer, pooledBuffers)}, nil
}

// Close frees the idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

type tokenKey struct{}

// WithToken returns a context whose API calls send tok as X-Auth-Token
// (Keystone pass-through of the Grafana request's token).
func WithToken(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, tokenKey{}, tok)
}

func (c *Client) authorize(ctx context.Context, h http.Header) {
	switch c.s.AuthMode {
	case AuthNoAuth:
		if c.s.UserID != "" {
			h.Set("X-User-Id", c.s.UserID)
		}
		if c.s.ProjectID != "" {
			h.Set("X-Project-Id", c.s.ProjectID)
		}
		if c.s.Roles != "" {
			h.Set("X-Roles", c.s.Roles)
		}
	case AuthBasic:
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.s.BasicUser+":"+c.s.BasicPassword)))
	case AuthKeystone:
		tok := c.s.Token
		if fwd, _ := ctx.Value(tokenKey{}).(string); c.s.ForwardToken && fwd != "" {
			tok = fwd
		}
		if tok != "" {
			h.Set("X-Auth-Token", tok)
		}
	}
}

// Answer buffers kept for reuse: at most pooledBuffers of at most
// maxPooledBuffer bytes.
const (
	pooledBuffers   = 4
	maxPooledBuffer = 16 << 20
)

// call sends a request and hands the body of a 2xx answer, at most
// MaxResponseBytes of it, to f. The body is only valid during f: its buffer
// is reused by later calls. body, when not nil, is sent as JSON.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body any, f func([]byte) error) error {
	return c.callWithHeader(ctx, method, path, q, body, func(_ http.Header, b []byte) error { return f(b) })
}

// callWithHeader is call, handing f the answer's header too.
func (c *Client) callWithHeader(ctx context.Context, method, path string, q url.Values, body any, f func(http.Header, []byte) error) error {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("cannot encode the body of %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("cannot make request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "vigil-grafana-datasource")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(ctx, req.Header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the vigil API at %s (%s %s): %w", c.s.URL, method, path, err)
	}
	defer resp.Body.Close()
	limit := c.s.MaxResponseBytes
	if resp.StatusCode >= 300 {
		limit = 64 << 10
	}
	if resp.ContentLength > limit && resp.StatusCode < 300 {
		return fmt.Errorf("vigil API %s %s: answer of %d bytes: %w (limit %d bytes; narrow the query or raise the limit)", method, path, resp.ContentLength, ErrTooLarge, limit)
	}
	var buf *bytes.Buffer
	select {
	case buf = <-c.bufs:
		buf.Reset()
	default:
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			select {
			case c.bufs <- buf:
			default:
			}
		}
	}()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("cannot read the answer of vigil API %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: errorMessage(buf.Bytes())}
	}
	if n > limit {
		return fmt.Errorf("vigil API %s %s: answer over %d bytes: %w (narrow the query or raise the limit)", method, path, limit, ErrTooLarge)
	}
	return f(resp.Header, buf.Bytes())
}

// getJSON sends a request and decodes the JSON answer into out.
func (c *Client) getJSON(ctx context.Context, method, path string, q url.Values, body, out any) error {
	return c.call(ctx, method, path, q, body, func(b []byte) error {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("cannot decode the answer of vigil API %s %s: %w", method, path, err)
		}
		return nil
	})
}

// errorMessage extracts the message of Gnocchi's ({"description": ...}),
// Aodh's ({"error_message": {"faultstring": ...}}) and webob's error
// bodies, or returns the start of a plain text body.
func errorMessage(b []byte) string {
	var body struct {
		Description  json.RawMessage `json:"description"`
		Title        string          `json:"title"`
		ErrorMessage json.RawMessage `json:"error_message"`
	}
	if json.Unmarshal(b, &body) == nil {
		for _, raw := range []json.RawMessage{body.Description, body.ErrorMessage} {
			if m := messageOf(raw); m != "" {
				return m
			}
		}
		if body.Title != "" {
			return body.Title
		}
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "no error message"
	}
	return s
}

func messageOf(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o map[string]any
	if json.Unmarshal(raw, &o) != nil {
		return string(raw)
	}
	if f, ok := o["faultstring"].(string); ok {
		return f
	}
	var parts []string
	for _, k := range []string{"cause", "reason"} {
		if v, ok := o[k].(string); ok && v != "" {
			parts = append(parts, v)
		}
	}
	if d, ok := o["detail"]; ok && d != nil {
		b, _ := json.Marshal(d)
		parts = append(parts, string(b))
	}
	if len(parts) == 0 {
		return string(raw)
	}
	return strings.Join(parts, ": ")
}

// Version returns the build version the API's root reports.
func (c *Client) Version(ctx context.Context) (string, error) {
	var root struct {
		Build    string `json:"build"`
		Versions []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"versions"`
	}
	if err := c.getJSON(ctx, http.MethodGet, "/", nil, nil, &root); err != nil {
		return "", err
	}
	if root.Build == "" && len(root.Versions) == 0 {
		return "", fmt.Errorf("the API at %s does not answer as Gnocchi does: its root lists no versions", c.s.URL)
	}
	v := root.Build
	for _, x := range root.Versions {
		if x.Status == "CURRENT" {
			v = strings.TrimSpace(v + " (API " + x.ID + ")")
		}
	}
	return v, nil
}

// ResourceTypes lists the resource types.
func (c *Client) ResourceTypes(ctx context.Context) ([]ResourceType, error) {
	var out []ResourceType
	return out, c.getJSON(ctx, http.MethodGet, "/v1/resource_type", nil, nil, &out)
}

// ResourceType returns one resource type.
func (c *Client) ResourceType(ctx context.Context, name string) (ResourceType, error) {
	var out ResourceType
	return out, c.getJSON(ctx, http.MethodGet, "/v1/resource_type/"+url.PathEscape(name), nil, nil, &out)
}

// searchPage is the page size of resource searches: Gnocchi's default
// api.max_limit, which caps the pages it answers anyway.
const searchPage = 1000

// SearchResources returns at most limit resources of a type matching a
// Gnocchi string filter (all of them when filter is empty), sorted by id,
// reading as many pages as that takes.
func (c *Client) SearchResources(ctx context.Context, typ, filter string, limit int) ([]Resource, error) {
	if typ == "" {
		typ = "generic"
	}
	var out []Resource
	marker := ""
	for len(out) < limit {
		n := min(limit-len(out), searchPage)
		q := url.Values{"limit": {fmt.Sprint(n)}, "sort": {"id:asc"}}
		if typ != "generic" {
			q.Set("details", "true")
		}
		if strings.TrimSpace(filter) != "" {
			q.Set("filter", filter)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		var page []Resource
		next := false
		path := "/v1/search/resource/" + url.PathEscape(typ)
		err := c.callWithHeader(ctx, http.MethodPost, path, q, nil, func(h http.Header, b []byte) error {
			// Gnocchi links the next page when the page is full, also
			// when it capped the page below the limit asked for.
			for _, l := range h.Values("Link") {
				next = next || strings.Contains(l, `rel="next"`)
			}
			if err := json.Unmarshal(b, &page); err != nil {
				return fmt.Errorf("cannot decode the answer of vigil API POST %s: %w", path, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) == 0 || (len(page) < n && !next) {
			break
		}
		marker = page[len(page)-1].ID
	}
	return out, nil
}

// Resource returns one resource with its type's attributes.
func (c *Client) Resource(ctx context.Context, typ, id string) (Resource, error) {
	var r Resource
	return r, c.getJSON(ctx, http.MethodGet, "/v1/resource/"+url.PathEscape(typ)+"/"+url.PathEscape(id), nil, nil, &r)
}

// Metric returns a metric with its archive policy.
func (c *Client) Metric(ctx context.Context, id string) (Metric, error) {
	var m Metric
	if err := c.getJSON(ctx, http.MethodGet, "/v1/metric/"+url.PathEscape(id), nil, nil, &m); err != nil {
		return Metric{}, err
	}
	if len(m.Policy.Definitions) == 0 {
		return Metric{}, fmt.Errorf("metric %s: the API did not give its archive policy", id)
	}
	return m, nil
}

// MeasuresOptions select the measures of a metric.
type MeasuresOptions struct {
	Start, Stop time.Time
	Granularity time.Duration
	Aggregation string
}

func (o MeasuresOptions) query() url.Values {
	q := url.Values{}
	if !o.Start.IsZero() {
		q.Set("start", o.Start.UTC().Format(time.RFC3339Nano))
	}
	if !o.Stop.IsZero() {
		q.Set("stop", o.Stop.UTC().Format(time.RFC3339Nano))
	}
	if o.Granularity > 0 {
		q.Set("granularity", formatSeconds(o.Granularity))
	}
	if o.Aggregation != "" {
		q.Set("aggregation", o.Aggregation)
	}
	return q
}

func formatSeconds(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.6f", d.Seconds()), "0"), ".")
}

// Measures returns the measures of a metric in [Start, Stop].
func (c *Client) Measures(ctx context.Context, id string, o MeasuresOptions) (Series, error) {
	path := "/v1/metric/" + url.PathEscape(id) + "/measures"
	var s Series
	err := c.call(ctx, http.MethodGet, path, o.query(), nil, func(b []byte) error {
		var err error
		if s, err = parseMeasures(b, o.window()); err != nil {
			return fmt.Errorf("cannot decode the answer of vigil API GET %s: %w", path, err)
		}
		return nil
	})
	return s, err
}

// window is the range of the options, with the number of points a series
// of the granularity has in it.
func (o MeasuresOptions) window() window {
	w := window{from: o.Start, to: o.Stop}
	if o.Granularity > 0 && !o.Start.IsZero() && o.Stop.After(o.Start) {
		w.hint = int(min(o.Stop.Sub(o.Start)/o.Granularity+2, maxHint))
	}
	return w
}

// maxHint bounds the points preallocated for one series.
const maxHint = 1 << 20

// AggregatesRequest is a POST /v1/aggregates.
type AggregatesRequest struct {
	Operations   string
	ResourceType string
	Search       string
	GroupBy      []string
	Details      bool
	MeasuresOptions
}

func (r AggregatesRequest) values() url.Values {
	q := r.MeasuresOptions.query()
	q.Del("aggregation")
	for _, g := range r.GroupBy {
		q.Add("groupby", g)
	}
	if r.Details {
		q.Set("details", "true")
	}
	return q
}

// Aggregates runs an aggregates operation.
func (c *Client) Aggregates(ctx context.Context, r AggregatesRequest) ([]AggGroup, error) {
	q := r.values()
	body := map[string]any{"operations": r.Operations}
	if r.ResourceType != "" {
		body["resource_type"] = r.ResourceType
		body["search"] = r.Search
		if strings.TrimSpace(r.Search) == "" {
			body["search"] = map[string]any{}
		}
	}
	var gs []AggGroup
	err := c.call(ctx, http.MethodPost, "/v1/aggregates", q, body, func(b []byte) error {
		var err error
		if gs, err = parseAggregates(b, r.MeasuresOptions.window()); err != nil {
			return fmt.Errorf("cannot decode the answer of vigil API POST /v1/aggregates: %w", err)
		}
		// The references point into the buffer, which is reused.
		for i := range gs {
			gs[i].References = bytes.Clone(gs[i].References)
		}
		return nil
	})
	return gs, err
}

// ArchivePolicies lists the archive policies.
func (c *Client) ArchivePolicies(ctx context.Context) ([]ArchivePolicy, error) {
	var out []ArchivePolicy
	return out, c.getJSON(ctx, http.MethodGet, "/v1/archive_policy", nil, nil, &out)
}

// Alarms lists the alarms, optionally only those in a state: those of
// every project for an admin (Aodh's all_projects), else the caller's.
func (c *Client) Alarms(ctx context.Context, state string) ([]Alarm, error) {
	list := func(all bool) ([]Alarm, error) {
		q := url.Values{}
		add := func(field, value string) {
			q.Add("q.field", field)
			q.Add("q.op", "eq")
			q.Add("q.value", value)
		}
		if all {
			add("all_projects", "true")
		}
		if state != "" {
			add("state", state)
		}
		var out []Alarm
		return out, c.getJSON(ctx, http.MethodGet, "/v2/alarms", q, nil, &out)
	}
	out, err := list(true)
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
		// Not an admin: its own project's alarms.
		return list(false)
	}
	return out, err
}

// AlarmHistory returns the history of one alarm in [from, to], or of all
// alarms the caller sees when alarmID is empty, newest first, at most
// limit entries.
func (c *Client) AlarmHistory(ctx context.Context, alarmID string, from, to time.Time, limit int) ([]AlarmChange, error) {
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }
	var out []AlarmChange
	if alarmID != "" {
		q := url.Values{}
		for _, c := range [][2]string{{"ge", ts(from)}, {"le", ts(to)}} {
			q.Add("q.field", "timestamp")
			q.Add("q.op", c[0])
			q.Add("q.value", c[1])
		}
		q.Set("limit", fmt.Sprint(limit))
		return out, c.getJSON(ctx, http.MethodGet, "/v2/alarms/"+url.PathEscape(alarmID)+"/history", q, nil, &out)
	}
	filter, _ := json.Marshal(map[string]any{"and": []any{
		map[string]any{">=": map[string]any{"timestamp": ts(from)}},
		map[string]any{"<=": map[string]any{"timestamp": ts(to)}},
	}})
	body := map[string]any{"filter": string(filter), "orderby": `[{"timestamp": "desc"}]`, "limit": limit}
	return out, c.getJSON(ctx, http.MethodPost, "/v2/query/alarms/history", nil, body, &out)
}
