package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Resource routes of the plugin (GET unless said), for the query editor:
//
//	resource-types                     [{name, attributes}]
//	resources?type=T&filter=F&limit=N  [{id, name, type, project_id, metrics}]
//	metric-names?type=T&filter=F       [name], the union over the resources
//	archive-policies                   [{name, aggregation_methods, granularities}]
//	alarms                             [{alarm_id, name, state, severity}]
//	variable (POST {"query": Q})       [{text, value}], see Variable
const (
	routeResourceTypes   = "resource-types"
	routeResources       = "resources"
	routeMetricNames     = "metric-names"
	routeArchivePolicies = "archive-policies"
	routeAlarms          = "alarms"
	routeVariable        = "variable"
)

// maxEditorResources bounds the resources one editor call reads.
const maxEditorResources = 1000

// maxResourceBody bounds the body of a resource call.
const maxResourceBody = 64 << 10

// CallResource serves the query editor's lookups.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	ctx = d.ctxWithToken(ctx, req.GetHTTPHeader)
	v, err := d.resource(ctx, req)
	if err != nil {
		status := http.StatusBadGateway
		var ae *APIError
		var qe *queryError
		switch {
		case errors.As(err, &qe):
			status = http.StatusBadRequest
		case errors.As(err, &ae) && ae.Status < 500:
			status = ae.Status
		}
		return sendJSON(sender, status, map[string]string{"message": err.Error()})
	}
	return sendJSON(sender, http.StatusOK, v)
}

func sendJSON(sender backend.CallResourceResponseSender, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"cannot encode the answer"}`)
	}
	return sender.Send(&backend.CallResourceResponse{
		Status:  status,
		Headers: map[string][]string{"Content-Type": {"application/json"}},
		Body:    b,
	})
}

func (d *Datasource) resource(ctx context.Context, req *backend.CallResourceRequest) (any, error) {
	path := strings.Trim(req.Path, "/")
	var params url.Values
	if u, err := url.Parse(req.URL); err == nil {
		params = u.Query()
	}
	switch path {
	case routeResourceTypes:
		return d.resourceTypes(ctx)
	case routeResources:
		return d.resources(ctx, params)
	case routeMetricNames:
		return d.metricNames(ctx, params.Get("type"), params.Get("filter"))
	case routeArchivePolicies:
		return d.archivePolicies(ctx)
	case routeAlarms:
		return d.alarmList(ctx)
	case routeVariable:
		if req.Method != http.MethodPost {
			return nil, badQuery("%s takes POST with {\"query\": ...}", routeVariable)
		}
		if len(req.Body) > maxResourceBody {
			return nil, badQuery("variable query of %d bytes is over %d", len(req.Body), maxResourceBody)
		}
		var body struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return nil, badQuery("cannot decode the variable query: %v", err)
		}
		return d.Variable(ctx, body.Query)
	}
	return nil, badQuery("unknown resource %q: want %s, %s, %s, %s, %s or %s", path,
		routeResourceTypes, routeResources, routeMetricNames, routeArchivePolicies, routeAlarms, routeVariable)
}

type typeInfo struct {
	Name       string   `json:"name"`
	Attributes []string `json:"attributes"`
}

func (d *Datasource) resourceTypes(ctx context.Context) ([]typeInfo, error) {
	ts, err := d.client.ResourceTypes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]typeInfo, len(ts))
	for i, t := range ts {
		out[i] = typeInfo{Name: t.Name, Attributes: t.AttributeNames()}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type resourceInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	ProjectID string   `json:"project_id,omitempty"`
	Metrics   []string `json:"metrics"`
}

func (d *Datasource) resources(ctx context.Context, p url.Values) ([]resourceInfo, error) {
	limit := 100
	if s := p.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEditorResources {
			return nil, badQuery("limit %q: want 1 to %d", s, maxEditorResources)
		}
		limit = n
	}
	rs, err := d.client.SearchResources(ctx, p.Get("type"), p.Get("filter"), limit)
	if err != nil {
		return nil, err
	}
	out := make([]resourceInfo, len(rs))
	for i := range rs {
		r := &rs[i]
		out[i] = resourceInfo{ID: r.ID, Name: r.DisplayName(), Type: r.Type, ProjectID: r.Attr("project_id"), Metrics: sortedKeys(r.Metrics)}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *Datasource) metricNames(ctx context.Context, typ, filter string) ([]string, error) {
	rs, err := d.client.SearchResources(ctx, typ, filter, maxEditorResources)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range rs {
		for name := range rs[i].Metrics {
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

type policyInfo struct {
	Name               string    `json:"name"`
	AggregationMethods []string  `json:"aggregation_methods"`
	Granularities      []float64 `json:"granularities"`
}

func (d *Datasource) archivePolicies(ctx context.Context) ([]policyInfo, error) {
	ps, err := d.client.ArchivePolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]policyInfo, len(ps))
	for i, p := range ps {
		gs := make([]float64, len(p.Definitions))
		for j, def := range p.Definitions {
			gs[j] = def.Granularity.Seconds()
		}
		methods := append([]string(nil), p.AggregationMethods...)
		sort.Strings(methods)
		out[i] = policyInfo{Name: p.Name, AggregationMethods: methods, Granularities: gs}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type alarmInfo struct {
	ID       string `json:"alarm_id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Severity string `json:"severity"`
}

func (d *Datasource) alarmList(ctx context.Context) ([]alarmInfo, error) {
	as, err := d.client.Alarms(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]alarmInfo, len(as))
	for i, a := range as {
		out[i] = alarmInfo{ID: a.ID, Name: a.Name, State: a.State, Severity: a.Severity}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
