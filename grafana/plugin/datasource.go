package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
)

// PluginID is the plugin's id in plugin.json.
const PluginID = "vigil-metering-datasource"

// Datasource is one configured vigil data source. It is safe for
// concurrent use.
type Datasource struct {
	settings Settings
	client   *Client
	now      func() time.Time

	mu       sync.Mutex // guards policies
	policies map[string]cachedPolicy
}

type cachedPolicy struct {
	policy  ArchivePolicy
	unit    string
	expires time.Time
}

// policyTTL is how long a metric's archive policy is trusted; policies
// rarely change and a stale one only picks a worse granularity.
const policyTTL = 5 * time.Minute

// maxCachedPolicies bounds the policy cache; past it the cache starts over.
const maxCachedPolicies = 10000

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewDatasource is the instance factory datasource.Manage calls for each
// data source configuration.
func NewDatasource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	st, err := ParseSettings(s)
	if err != nil {
		return nil, err
	}
	return New(st, nil)
}

// New returns a data source over the settings; rt, when not nil, is the
// HTTP transport (tests).
func New(s Settings, rt http.RoundTripper) (*Datasource, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	c, err := NewClient(s, rt)
	if err != nil {
		return nil, err
	}
	return &Datasource{settings: s, client: c, now: time.Now, policies: map[string]cachedPolicy{}}, nil
}

// Dispose frees the instance's connections when Grafana replaces it.
func (d *Datasource) Dispose() { d.client.Close() }

// ctxWithToken forwards the request's token when the settings ask: its
// X-Auth-Token, or the bearer token Grafana forwards with OAuth
// pass-through.
func (d *Datasource) ctxWithToken(ctx context.Context, header func(string) string) context.Context {
	if !d.settings.ForwardToken {
		return ctx
	}
	if tok := header("X-Auth-Token"); tok != "" {
		return WithToken(ctx, tok)
	}
	if tok, ok := strings.CutPrefix(header("Authorization"), "Bearer "); ok && strings.TrimSpace(tok) != "" {
		return WithToken(ctx, strings.TrimSpace(tok))
	}
	return ctx
}

// QueryData answers each query of the request on its own; one failing
// query leaves the others' answers intact.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	ctx = d.ctxWithToken(ctx, req.GetHTTPHeader)
	resp := backend.NewQueryDataResponse()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, q := range req.Queries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := d.query(ctx, q)
			mu.Lock()
			resp.Responses[q.RefID] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return resp, nil
}

// errorResponse says whose fault an error is: a 4xx of the API or a bad
// query is the user's (downstream of the plugin is the API: a refused
// query is its answer), the rest the plugin's or the API's.
func errorResponse(err error) backend.DataResponse {
	var ae *APIError
	var qe *queryError
	switch {
	case errors.As(err, &qe):
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		return backend.ErrDataResponseWithSource(backend.StatusUnauthorized, backend.ErrorSourceDownstream, err.Error())
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		return backend.ErrDataResponseWithSource(backend.StatusForbidden, backend.ErrorSourceDownstream, err.Error())
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return backend.ErrDataResponseWithSource(backend.StatusNotFound, backend.ErrorSourceDownstream, err.Error())
	case errors.As(err, &ae) && ae.Status < 500:
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return backend.ErrDataResponseWithSource(backend.StatusTimeout, backend.ErrorSourceDownstream, err.Error())
	case errors.Is(err, ErrTooLarge):
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourcePlugin, err.Error())
	}
	return backend.ErrDataResponseWithSource(backend.StatusBadGateway, backend.ErrorSourceDownstream, err.Error())
}

// queryError is a query the plugin cannot run as written.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

func badQuery(format string, args ...any) error {
	return &queryError{msg: fmt.Sprintf(format, args...)}
}

// CheckHealth reaches the API, reports its version, and checks that the
// credentials are accepted.
func (d *Datasource) CheckHealth(ctx context.Context, req *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	ctx = d.ctxWithToken(ctx, req.GetHTTPHeader)
	version, err := d.client.Version(ctx)
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: err.Error()}, nil
	}
	policies, err := d.client.ArchivePolicies(ctx)
	if err != nil {
		var ae *APIError
		msg := err.Error()
		if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
			msg = fmt.Sprintf("vigil %s answers, but refuses the credentials of auth mode %s: %s", version, d.settings.AuthMode, ae.Message)
		}
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: msg}, nil
	}
	details, _ := json.Marshal(map[string]any{"version": version, "authMode": d.settings.AuthMode, "archivePolicies": len(policies)})
	return &backend.CheckHealthResult{
		Status:      backend.HealthStatusOk,
		Message:     fmt.Sprintf("vigil %s: connected as %s, %d archive policies", version, d.identity(), len(policies)),
		JSONDetails: details,
	}, nil
}

func (d *Datasource) identity() string {
	switch d.settings.AuthMode {
	case AuthBasic:
		return "user " + d.settings.BasicUser
	case AuthKeystone:
		return "a Keystone token"
	}
	id := d.settings.UserID
	if d.settings.ProjectID != "" {
		id += "/" + d.settings.ProjectID
	}
	if d.settings.Roles != "" {
		id += " (" + d.settings.Roles + ")"
	}
	return id
}

// metricPolicy returns a metric's archive policy and unit, from the cache
// when it is fresh.
func (d *Datasource) metricPolicy(ctx context.Context, id string) (ArchivePolicy, string, error) {
	now := d.now()
	d.mu.Lock()
	c, ok := d.policies[id]
	d.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.policy, c.unit, nil
	}
	m, err := d.client.Metric(ctx, id)
	if err != nil {
		return ArchivePolicy{}, "", err
	}
	d.mu.Lock()
	if len(d.policies) >= maxCachedPolicies {
		d.policies = map[string]cachedPolicy{}
	}
	d.policies[id] = cachedPolicy{policy: m.Policy, unit: m.Unit, expires: now.Add(policyTTL)}
	d.mu.Unlock()
	return m.Policy, m.Unit, nil
}
