package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// commonFields are the fields every resource body may carry besides its
// type's attributes.
var commonFields = []string{"started_at", "ended_at", "user_id", "project_id", "metrics"}

// resourceBody is a parsed resource creation or patch.
type resourceBody struct {
	rawID      string
	id         uuid.UUID
	startedAt  *time.Time
	endedAt    **time.Time
	userID     **string
	projectID  **string
	attributes map[string]any
	metrics    map[string]index.MetricSpec
	hasMetrics bool
}

// parseResourceBody validates a resource body against its type as
// Gnocchi's ResourceSchema does: creating requires id and the type's
// required attributes; a patch requires nothing and may not carry id.
func (s *Server) parseResourceBody(ctx context.Context, v any, rt *index.ResourceType, creating bool) (resourceBody, error) {
	var b resourceBody
	o, err := asObject(v)
	if err != nil {
		return b, err
	}
	allowed := append([]string(nil), commonFields...)
	if creating {
		allowed = append(allowed, "id")
	}
	for name := range rt.Attributes {
		allowed = append(allowed, name)
	}
	if err := o.only(allowed...); err != nil {
		return b, err
	}
	id := identityFrom(ctx)
	if creating {
		if err := o.require("id"); err != nil {
			return b, err
		}
		raw, _, err := o.str("id")
		if err != nil {
			return b, err
		}
		rid, err := pipeline.ResourceUUID(raw, id.Creator())
		if err != nil {
			return b, invalidInput(resourceIDReason(err)+" for dictionary value", "id")
		}
		b.rawID, b.id = raw, rid
		for _, name := range sortedKeys(rt.Attributes) {
			if rt.Attributes[name].Required && !o.has(name) {
				return b, invalidInput("required key not provided", name)
			}
		}
	}
	now := s.d.Now()
	if t, has, err := o.datetime("started_at", now); err != nil {
		return b, err
	} else if has {
		b.startedAt = &t
	}
	if raw, has := o.m["ended_at"]; has {
		var e *time.Time
		if raw != nil {
			t, _, err := o.datetime("ended_at", now)
			if err != nil {
				return b, err
			}
			e = &t
		}
		b.endedAt = &e
	}
	for _, f := range []struct {
		key string
		dst ***string
	}{{"user_id", &b.userID}, {"project_id", &b.projectID}} {
		p, has, err := o.nullableStr(f.key)
		if err != nil {
			return b, err
		}
		if has {
			*f.dst = &p
		}
	}
	for name, spec := range rt.Attributes {
		raw, has := o.m[name]
		if !has {
			continue
		}
		if b.attributes == nil {
			b.attributes = map[string]any{}
		}
		if raw == nil {
			if spec.Required {
				return b, invalidInput(nullMessage(spec.Type)+" for dictionary value", name)
			}
			b.attributes[name] = nil
			continue
		}
		val, err := checkFill(spec, raw)
		if err != nil {
			return b, invalidInput(err.Error()+" for dictionary value", name)
		}
		b.attributes[name] = val
	}
	if raw, has := o.m["metrics"]; has {
		ms, err := s.parseMetricsBody(ctx, raw, "metrics")
		if err != nil {
			return b, err
		}
		b.metrics, b.hasMetrics = ms, true
	}
	return b, nil
}

// resourceIDReason words a refused resource id as Gnocchi does.
func resourceIDReason(err error) string {
	switch msg := err.Error(); {
	case strings.Contains(msg, "'/' is not supported"):
		return "'/' is not supported in resource id"
	case strings.Contains(msg, ">255"):
		return "transformable resource id >255 max allowed characters"
	}
	return "not a valid value"
}

// checkLifespan refuses an ended_at before started_at, in Gnocchi's words.
func checkLifespan(typ string, started time.Time, ended *time.Time) error {
	if ended != nil && ended.Before(started) {
		return errorf(http.StatusBadRequest, "Value %s for attribute ended_at on resource type %s is invalid", pyDatetime(*ended), typ)
	}
	return nil
}

// pyDatetime writes t as Python's str of an aware datetime in UTC.
func pyDatetime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 != 0 {
		return t.Format("2006-01-02 15:04:05.000000+00:00")
	}
	return t.Format("2006-01-02 15:04:05+00:00")
}

func nullMessage(typ string) string {
	switch typ {
	case index.TypeString:
		return "expected str"
	case index.TypeBool:
		return "expected bool"
	case index.TypeNumber:
		return "expected Real"
	}
	return "not a valid value"
}

// parseMetricsBody reads the metrics of a resource, Gnocchi's
// MetricsSchema: name → the id of an existing metric, or the definition
// of a new one ({"archive_policy_name", "unit"}).
func (s *Server) parseMetricsBody(ctx context.Context, v any, path ...any) (map[string]index.MetricSpec, error) {
	o, err := asObject(v, path...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]index.MetricSpec, len(o.m))
	for _, name := range sortedKeys(o.m) {
		switch def := o.m[name].(type) {
		case string:
			id, err := uuid.Parse(def)
			if err != nil {
				return nil, invalidInput("not a valid value for dictionary value", o.at(name)...)
			}
			if _, err := s.d.Index.Metric(ctx, id); errors.Is(err, index.ErrNotFound) {
				return nil, errorf(http.StatusBadRequest, "Metric %s does not exist", id)
			} else if err != nil {
				return nil, err
			}
			out[name] = index.MetricSpec{ID: id}
		case map[string]any:
			spec, err := s.parseMetricDefinition(ctx, name, object{m: def, path: o.at(name)})
			if err != nil {
				return nil, err
			}
			out[name] = spec
		default:
			return nil, invalidInput("not a valid value for dictionary value", o.at(name)...)
		}
	}
	return out, nil
}

// parseMetricDefinition validates the definition of a new named metric of
// a resource and resolves its archive policy.
func (s *Server) parseMetricDefinition(ctx context.Context, name string, o object) (index.MetricSpec, error) {
	var spec index.MetricSpec
	if err := o.only("archive_policy_name", "unit", "name", "resource_id"); err != nil {
		return spec, err
	}
	var err error
	if spec.ArchivePolicyName, _, err = o.str("archive_policy_name"); err != nil {
		return spec, err
	}
	if spec.Unit, _, err = o.str("unit"); err != nil {
		return spec, err
	}
	if len(spec.Unit) > 31 {
		return spec, invalidInput("length of value must be at most 31 for dictionary value", o.at("unit")...)
	}
	if strings.Contains(name, "/") {
		return spec, errorf(http.StatusBadRequest, "'/' is not supported in metric name")
	}
	if err := s.checkPolicyFor(ctx, name, spec.ArchivePolicyName); err != nil {
		return spec, err
	}
	return spec, nil
}

// checkPolicyFor answers Gnocchi's 400s for a metric's archive policy: an
// unknown one named, or none named and no rule matching the metric name.
func (s *Server) checkPolicyFor(ctx context.Context, name, policy string) error {
	if policy == "" {
		if _, err := s.d.Index.PolicyForMetricName(ctx, name); errors.Is(err, index.ErrNotFound) {
			return errorf(http.StatusBadRequest, "No archive policy name specified and no archive policy rule found matching the metric name %s", name)
		} else if err != nil {
			return err
		}
		return nil
	}
	if _, err := s.d.Index.ArchivePolicy(ctx, policy); errors.Is(err, index.ErrNotFound) {
		return errorf(http.StatusBadRequest, "Archive policy %s does not exist", policy)
	} else if err != nil {
		return err
	}
	return nil
}

func (s *Server) listResourceTypeLinks(w http.ResponseWriter, r *http.Request) {
	rts, err := s.d.Index.ResourceTypes(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make(map[string]any, len(rts))
	for _, rt := range rts {
		out[rt.Name] = baseURL(r) + "/v1/resource/" + rt.Name
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createResource(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	rt, err := s.resourceType(r, typ)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := s.parseResourceBody(ctx, v, &rt, true)
	if err != nil {
		writeError(w, err)
		return
	}
	id := identityFrom(ctx)
	res := index.Resource{
		ID: b.id, OriginalResourceID: b.rawID, Type: typ,
		Creator: id.Creator(), CreatedByUserID: id.UserID, CreatedByProjectID: id.ProjectID,
		Attributes: b.attributes,
	}
	if b.startedAt != nil {
		res.StartedAt = *b.startedAt
	}
	if b.endedAt != nil {
		res.EndedAt = *b.endedAt
	}
	if b.userID != nil {
		res.UserID = *b.userID
	}
	if b.projectID != nil {
		res.ProjectID = *b.projectID
	}
	started := s.d.Now()
	if b.startedAt != nil {
		started = *b.startedAt
	}
	if err := checkLifespan(typ, started, res.EndedAt); err != nil {
		writeError(w, err)
		return
	}
	created, err := s.d.Index.CreateResource(ctx, res, b.metrics)
	if err != nil {
		switch {
		case errors.Is(err, index.ErrExists) && strings.HasPrefix(err.Error(), "resource "):
			err = errorf(http.StatusConflict, "Resource %s already exists", b.id)
		case errors.Is(err, index.ErrExists):
			err = errorf(http.StatusBadRequest, "%s", userMessage(err))
		case errors.Is(err, index.ErrNotFound):
			err = errorf(http.StatusBadRequest, "%s", userMessage(err))
		case errors.Is(err, index.ErrInvalid):
			err = errorf(http.StatusBadRequest, "%s", userMessage(err))
		}
		writeError(w, err)
		return
	}
	location(w, r, "/resource/"+url.PathEscape(typ)+"/"+created.ID.String())
	setETag(w, &created)
	writeJSON(w, http.StatusCreated, renderResource(&created, true, false, nil))
}

func setETag(w http.ResponseWriter, res *index.Resource) {
	w.Header().Set("ETag", etag(res))
	w.Header().Set("Last-Modified", httpDate(res.RevisionStart))
}

// resourceID maps the id of a resource path as Gnocchi does; an id it
// cannot map is an unknown resource.
func resourceID(ctx context.Context, raw string) (uuid.UUID, error) {
	id, err := pipeline.ResourceUUID(raw, identityFrom(ctx).Creator())
	if err != nil {
		return id, notFound("Resource %s does not exist", raw)
	}
	return id, nil
}

// resource reads the current revision of a resource of a path, checking
// that the caller may read it (403 as Gnocchi answers otherwise).
func (s *Server) resource(ctx context.Context, typ, raw string) (index.Resource, error) {
	id, err := resourceID(ctx, raw)
	if err != nil {
		return index.Resource{}, err
	}
	res, err := s.d.Index.Resource(ctx, typ, id)
	if errors.Is(err, index.ErrNotFound) {
		if _, terr := s.d.Index.ResourceType(ctx, typ); errors.Is(terr, index.ErrNotFound) {
			return res, notFound("Resource type %s does not exist", typ)
		}
		return res, notFound("Resource %s does not exist", id)
	}
	if err != nil {
		return res, err
	}
	if !identityFrom(ctx).canReadResource(&res) {
		return res, forbidden()
	}
	return res, nil
}

// preconditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since to a resource revision in RFC 7232's order, as Gnocchi
// does; it returns 0 to go on, or 304 or 412.
func preconditions(r *http.Request, res *index.Resource) int {
	tag := etag(res)
	lastMod := res.RevisionStart.UTC().Truncate(time.Second)
	readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead
	if im := r.Header.Get("If-Match"); im != "" {
		if !etagListed(im, tag) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && t.Before(lastMod) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagListed(inm, tag) {
			if readOnly {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" && readOnly {
		if t, err := http.ParseTime(ims); err == nil && !t.Before(lastMod) {
			return http.StatusNotModified
		}
	}
	return 0
}

// etagListed reports whether an If-Match or If-None-Match list names tag
// or is "*".
func etagListed(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// conditional reports whether the request carries a precondition on the
// revision, so that a change must apply to that revision only.
func conditional(r *http.Request) bool {
	return r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != ""
}

// answerPrecondition writes a failed precondition.
func answerPrecondition(w http.ResponseWriter, res *index.Resource, code int) {
	if code == http.StatusNotModified {
		setETag(w, res)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeError(w, errorf(http.StatusPreconditionFailed, "Precondition Failed"))
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	res, err := s.resource(r.Context(), typ, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if code := preconditions(r, &res); code != 0 {
		answerPrecondition(w, &res, code)
		return
	}
	setETag(w, &res)
	writeJSON(w, http.StatusOK, renderResource(&res, typ != "generic" || res.Type == "generic", false, nil))
}

func (s *Server) patchResource(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	res, err := s.resource(ctx, typ, r.PathValue("id"))
	if err == nil && !identityFrom(ctx).canChangeResource(&res) {
		err = forbidden()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if code := preconditions(r, &res); code != 0 {
		answerPrecondition(w, &res, code)
		return
	}
	rt, err := s.resourceType(r, typ)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := s.parseResourceBody(ctx, v, &rt, false)
	if err != nil {
		writeError(w, err)
		return
	}
	started, ended := res.StartedAt, res.EndedAt
	if b.startedAt != nil {
		started = *b.startedAt
	}
	if b.endedAt != nil {
		ended = *b.endedAt
	}
	if err := checkLifespan(typ, started, ended); err != nil {
		writeError(w, err)
		return
	}
	p := index.ResourcePatch{StartedAt: b.startedAt, EndedAt: b.endedAt, UserID: b.userID, ProjectID: b.projectID, Attributes: b.attributes}
	if b.hasMetrics {
		p.Metrics = b.metrics
		if p.Metrics == nil {
			p.Metrics = map[string]index.MetricSpec{}
		}
	}
	var ifRevision int64
	if conditional(r) {
		ifRevision = res.Revision
	}
	updated, err := s.d.Index.UpdateResource(ctx, typ, res.ID, p, ifRevision)
	if err != nil {
		switch {
		case errors.Is(err, index.ErrConflict):
			err = errorf(http.StatusPreconditionFailed, "Precondition Failed")
		case errors.Is(err, index.ErrNotFound) && strings.HasPrefix(err.Error(), "metric "):
			err = errorf(http.StatusBadRequest, "%s", userMessage(err))
		case errors.Is(err, index.ErrNotFound):
			err = notFound("Resource %s does not exist", res.ID)
		case errors.Is(err, index.ErrExists), errors.Is(err, index.ErrInvalid):
			err = errorf(http.StatusBadRequest, "%s", userMessage(err))
		}
		writeError(w, err)
		return
	}
	setETag(w, &updated)
	writeJSON(w, http.StatusOK, renderResource(&updated, typ != "generic" || updated.Type == "generic", false, nil))
}

func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	res, err := s.resource(ctx, typ, r.PathValue("id"))
	if err == nil && !identityFrom(ctx).canChangeResource(&res) {
		err = forbidden()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if code := preconditions(r, &res); code != 0 {
		answerPrecondition(w, &res, code)
		return
	}
	metrics, err := s.d.Index.DeleteResource(ctx, typ, res.ID)
	if errors.Is(err, index.ErrNotFound) {
		err = notFound("Resource %s does not exist", res.ID)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.metricsDeleted(ctx, metrics)
	writeEmpty(w, http.StatusNoContent)
}

// metricsDeleted tells the MetricDeleted hook, so that the series of the
// metrics are freed.
func (s *Server) metricsDeleted(ctx context.Context, ids []uuid.UUID) {
	if s.d.MetricDeleted == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, id := range ids {
		s.d.MetricDeleted(ctx, id)
	}
}

// listOptions builds the index listing of resources of typ for a request:
// pagination, details, history, and the caller's project scope.
func (s *Server) listOptions(r *http.Request, typ string, filter search.Expr) (index.ListOptions, page, []string, error) {
	var o index.ListOptions
	details, err := detailsParam(r)
	if err != nil {
		return o, page{}, nil, err
	}
	history, err := boolParam(r, "history")
	if err != nil {
		return o, page{}, nil, err
	}
	p, err := s.parsePage(r, resourceDefaultSort, history)
	if err != nil {
		return o, p, nil, err
	}
	ctx := r.Context()
	o = index.ListOptions{
		Type: typ, ProjectScope: projectScope(ctx), Limit: p.limit, Marker: p.marker, MarkerRevision: p.markerRevision,
		Sort: p.keys, Filter: filter, Creator: identityFrom(ctx).Creator(), Details: details, History: history,
	}
	var attrs []string
	for _, a := range r.URL.Query()["attrs"] {
		attrs = append(attrs, strings.Split(a, ",")...)
	}
	return o, p, attrs, nil
}

// writeResources answers a listing, with the Link to the next page.
func writeResources(w http.ResponseWriter, r *http.Request, rs []index.Resource, o index.ListOptions, p page, attrs []string) {
	out := make([]any, len(rs))
	typed := o.Details || (o.Type != "" && o.Type != "generic")
	for i := range rs {
		out[i] = renderResource(&rs[i], typed, false, attrs)
	}
	if n := len(rs); n > 0 {
		last := rs[n-1]
		marker := last.ID.String()
		if o.History {
			marker = fmt.Sprintf("%s@%d", last.ID, last.Revision)
		}
		setNextLink(w, r, p, n, marker)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listResources(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if _, err := s.resourceType(r, typ); err != nil {
		writeError(w, err)
		return
	}
	o, p, attrs, err := s.listOptions(r, typ, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	rs, err := s.d.Index.ListResources(r.Context(), o)
	if err != nil {
		writeError(w, listError(err, typ))
		return
	}
	writeResources(w, r, rs, o, p, attrs)
}

func (s *Server) searchResources(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if _, err := s.resourceType(r, typ); err != nil {
		writeError(w, err)
		return
	}
	filter, _, err := readFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, p, attrs, err := s.listOptions(r, typ, filter)
	if err != nil {
		writeError(w, err)
		return
	}
	rs, err := s.d.Index.ListResources(r.Context(), o)
	if err != nil {
		writeError(w, listError(err, typ))
		return
	}
	writeResources(w, r, rs, o, p, attrs)
}

func (s *Server) resourceHistory(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	res, err := s.resource(ctx, typ, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	details, err := detailsParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.parsePage(r, resourceDefaultSort, true)
	if err != nil {
		writeError(w, err)
		return
	}
	o := index.ListOptions{
		Type: typ, Limit: p.limit, Marker: p.marker, MarkerRevision: p.markerRevision, Sort: p.keys,
		Filter: search.Cmp{Op: search.OpEq, Attr: "id", Value: res.ID.String()}, Creator: identityFrom(ctx).Creator(),
		Details: details, History: true,
	}
	rs, err := s.d.Index.ListResources(ctx, o)
	if err != nil {
		writeError(w, listError(err, typ))
		return
	}
	writeResources(w, r, rs, o, p, nil)
}

// deleteResources is the batch delete: every resource of the type the
// filter selects (which must not be empty), among those the caller may
// delete.
func (s *Server) deleteResources(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	if _, err := s.resourceType(r, typ); err != nil {
		writeError(w, err)
		return
	}
	filter, _, err := readFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if filter == nil {
		writeError(w, errorf(http.StatusBadRequest, "caution: the query can not be empty, or it will delete entire database"))
		return
	}
	id := identityFrom(ctx)
	if !id.Admin {
		// "delete resources" is admin_or_creator: a member deletes what
		// its project created, not what merely belongs to it.
		filter = search.And{search.Cmp{Op: search.OpEq, Attr: "created_by_project_id", Value: id.ProjectID}, filter}
	}
	n, metrics, err := s.d.Index.DeleteResources(ctx, index.DeleteResourcesOptions{Type: typ, Filter: filter, Creator: id.Creator()})
	if err != nil {
		writeError(w, listError(err, typ))
		return
	}
	s.metricsDeleted(ctx, metrics)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": n})
}

// policies caches the archive policies one request renders.
type policies struct {
	s  *Server
	by map[string]*archive.Policy
}

func (p *policies) get(ctx context.Context, name string) (*archive.Policy, error) {
	if ap, ok := p.by[name]; ok {
		return ap, nil
	}
	ap, err := p.s.cachedPolicy(ctx, name)
	if err != nil {
		return nil, err
	}
	if p.by == nil {
		p.by = map[string]*archive.Policy{}
	}
	p.by[name] = ap
	return ap, nil
}

// renderMetricList renders metrics as a listing does, with their policies.
func (s *Server) renderMetricList(ctx context.Context, ms []index.Metric) ([]any, error) {
	ps := policies{s: s}
	out := make([]any, len(ms))
	for i := range ms {
		p, err := ps.get(ctx, ms[i].ArchivePolicyName)
		if err != nil {
			return nil, err
		}
		out[i] = renderMetric(&ms[i], p, nil, metricListed)
	}
	return out, nil
}

func (s *Server) listResourceMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	res, err := s.resource(ctx, r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	rid := res.ID
	ms, err := s.d.Index.ListMetrics(ctx, index.ListMetricOptions{ResourceID: &rid})
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.renderMetricList(ctx, ms)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addResourceMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	res, err := s.resource(ctx, typ, r.PathValue("id"))
	if err == nil && !identityFrom(ctx).canChangeResource(&res) {
		err = forbidden()
	}
	var v any
	if err == nil {
		v, err = decodeBody(r)
	}
	var specs map[string]index.MetricSpec
	if err == nil {
		specs, err = s.parseMetricsBody(ctx, v)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	for name := range specs {
		if _, ok := res.Metrics[name]; ok {
			writeError(w, errorf(http.StatusConflict, "Named metric %s already exists", name))
			return
		}
	}
	updated, err := s.d.Index.AddResourceMetrics(ctx, typ, res.ID, specs)
	if err != nil {
		switch {
		case errors.Is(err, index.ErrExists):
			err = errorf(http.StatusConflict, "%s", userMessage(err))
		case errors.Is(err, index.ErrNotFound), errors.Is(err, index.ErrInvalid):
			err = errorf(http.StatusBadRequest, "%s", userMessage(err))
		}
		writeError(w, err)
		return
	}
	rid := updated.ID
	ms, err := s.d.Index.ListMetrics(ctx, index.ListMetricOptions{ResourceID: &rid})
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.renderMetricList(ctx, ms)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// resourceMetric reads the metric called name of a resource path, checking
// the caller may read it.
func (s *Server) resourceMetric(ctx context.Context, typ, rawID, name string) (index.Metric, *archive.Policy, *index.Resource, error) {
	id, err := resourceID(ctx, rawID)
	if err != nil {
		return index.Metric{}, nil, nil, err
	}
	res, err := s.d.Index.Resource(ctx, typ, id)
	if errors.Is(err, index.ErrNotFound) {
		return index.Metric{}, nil, nil, notFound("Resource %s does not exist", id)
	}
	if err != nil {
		return index.Metric{}, nil, nil, err
	}
	mid, ok := res.Metrics[name]
	if !ok {
		return index.Metric{}, nil, nil, notFound("Metric %s does not exist", name)
	}
	m, err := s.d.Index.Metric(ctx, mid)
	if errors.Is(err, index.ErrNotFound) {
		return m, nil, nil, notFound("Metric %s does not exist", name)
	}
	if err != nil {
		return m, nil, nil, err
	}
	if !identityFrom(ctx).canReadMetric(&m, &res) {
		return m, nil, nil, forbidden()
	}
	p, err := s.cachedPolicy(ctx, m.ArchivePolicyName)
	if err != nil {
		return m, nil, nil, err
	}
	return m, p, &res, nil
}

func (s *Server) getResourceMetric(w http.ResponseWriter, r *http.Request) {
	m, p, res, err := s.resourceMetric(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderMetric(&m, p, res, metricDetailed))
}

func (s *Server) deleteResourceMetric(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, _, _, err := s.resourceMetric(ctx, r.PathValue("type"), r.PathValue("id"), r.PathValue("name"))
	if err == nil {
		err = s.removeMetric(ctx, &m)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w, http.StatusNoContent)
}

func (s *Server) getResourceMeasures(w http.ResponseWriter, r *http.Request) {
	m, p, _, err := s.resourceMetric(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.measures(w, r, &m, p)
}

func (s *Server) postResourceMeasures(w http.ResponseWriter, r *http.Request) {
	m, _, _, err := s.resourceMetric(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.acceptMeasures(w, r, &m)
}
