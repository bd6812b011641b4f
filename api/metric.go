package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ops"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// metric reads a metric of a path and its policy, checking that the caller
// may read it: 404 for an unknown or malformed id, 403 for one the caller
// may not see, as Gnocchi answers.
func (s *Server) metric(ctx context.Context, rawID string) (index.Metric, *archive.Policy, *index.Resource, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return index.Metric{}, nil, nil, notFound("Metric %s does not exist", rawID)
	}
	m, err := s.d.Index.Metric(ctx, id)
	if errors.Is(err, index.ErrNotFound) {
		return m, nil, nil, notFound("Metric %s does not exist", rawID)
	}
	if err != nil {
		return m, nil, nil, err
	}
	var res *index.Resource
	if m.ResourceID != nil {
		caller := identityFrom(ctx)
		if !caller.ownsCreator(m.Creator, m.CreatedByProjectID) {
			r, err := s.d.Index.Resource(ctx, "generic", *m.ResourceID)
			if err != nil && !errors.Is(err, index.ErrNotFound) {
				return m, nil, nil, err
			}
			if err == nil {
				res = &r
			}
		}
	}
	if !identityFrom(ctx).canReadMetric(&m, res) {
		return m, nil, nil, forbidden()
	}
	p, err := s.cachedPolicy(ctx, m.ArchivePolicyName)
	if err != nil {
		return m, nil, nil, err
	}
	return m, p, res, nil
}

func (s *Server) getMetric(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, p, res, err := s.metric(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if res == nil && m.ResourceID != nil {
		if got, err := s.d.Index.Resource(ctx, "generic", *m.ResourceID); err == nil {
			res = &got
		}
	}
	writeJSON(w, http.StatusOK, renderMetric(&m, p, res, metricDetailed))
}

// removeMetric deletes a metric the caller may change and frees its series.
func (s *Server) removeMetric(ctx context.Context, m *index.Metric) error {
	if !identityFrom(ctx).canChangeMetric(m) {
		return forbidden()
	}
	if err := s.d.Index.DeleteMetric(ctx, m.ID); err != nil {
		if errors.Is(err, index.ErrNotFound) {
			return notFound("Metric %s does not exist", m.ID)
		}
		return err
	}
	s.metricsDeleted(ctx, []uuid.UUID{m.ID})
	return nil
}

func (s *Server) deleteMetric(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, _, _, err := s.metric(ctx, r.PathValue("id"))
	if err == nil {
		err = s.removeMetric(ctx, &m)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w, http.StatusNoContent)
}

func (s *Server) createMetric(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := asObject(v)
	if err == nil {
		err = o.only("archive_policy_name", "resource_id", "name", "unit")
	}
	var m index.Metric
	var rawRID string
	var hasRID bool
	if err == nil {
		m.ArchivePolicyName, _, err = o.str("archive_policy_name")
	}
	if err == nil {
		m.Name, _, err = o.str("name")
	}
	if err == nil {
		m.Unit, _, err = o.str("unit")
		if err == nil && len(m.Unit) > 31 {
			err = invalidInput("length of value must be at most 31 for dictionary value", "unit")
		}
	}
	if err == nil {
		rawRID, hasRID, err = o.str("resource_id")
	}
	caller := identityFrom(ctx)
	var rid uuid.UUID
	if err == nil && hasRID {
		rid, err = pipeline.ResourceUUID(rawRID, caller.Creator())
		if err != nil {
			err = invalidInput("not a valid value for dictionary value", "resource_id")
		}
	}
	if err == nil && strings.Contains(m.Name, "/") {
		err = errorf(http.StatusBadRequest, "'/' is not supported in metric name")
	}
	if err == nil && m.ArchivePolicyName == "" {
		name := m.Name
		if !o.has("name") {
			name = "None"
		}
		if _, perr := s.d.Index.PolicyForMetricName(ctx, m.Name); errors.Is(perr, index.ErrNotFound) {
			err = errorf(http.StatusBadRequest, "No archive policy name specified and no archive policy rule found matching the metric name %s", name)
		} else if perr != nil {
			err = perr
		}
	}
	if err == nil && hasRID {
		if !o.has("name") {
			err = cause(http.StatusBadRequest, "Attribute value error", "Name cannot be null if resource_id is not null", "name")
		} else {
			res, rerr := s.d.Index.Resource(ctx, "generic", rid)
			switch {
			case errors.Is(rerr, index.ErrNotFound):
				err = notFound("Resource %s does not exist", rid)
			case rerr != nil:
				err = rerr
			case !caller.canChangeResource(&res):
				err = forbidden()
			default:
				m.ResourceID = &rid
			}
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	m.Creator = caller.Creator()
	created, err := s.d.Index.CreateMetric(ctx, m)
	if err != nil {
		switch {
		case errors.Is(err, index.ErrExists):
			err = cause(http.StatusBadRequest, "Named metric already exists", "", m.Name)
		case errors.Is(err, index.ErrInvalid) && m.ArchivePolicyName != "":
			err = errorf(http.StatusBadRequest, "Archive policy %s does not exist", m.ArchivePolicyName)
		case errors.Is(err, index.ErrNotFound):
			err = notFound("Resource %s does not exist", rid)
		}
		writeError(w, err)
		return
	}
	location(w, r, "/metric/"+created.ID.String())
	writeJSON(w, http.StatusCreated, renderMetric(&created, nil, nil, metricCreated))
}

// metricFilter builds the filter of GET /v1/metric from its query, as
// Gnocchi's MetricListSchema reads it: equality on name, id, unit,
// archive_policy_name, creator (or user_id and project_id, which make
// one); status=delete lists nothing, deleted metrics being invisible.
func metricFilter(r *http.Request) (search.Expr, bool) {
	q := r.URL.Query()
	var and search.And
	for _, k := range []string{"name", "id", "unit", "archive_policy_name", "resource_id"} {
		if v, ok := q[k]; ok {
			and = append(and, search.Cmp{Op: search.OpEq, Attr: k, Value: v[len(v)-1]})
		}
	}
	user, hasUser := q["user_id"]
	project, hasProject := q["project_id"]
	switch {
	case hasUser || hasProject:
		u, p := "", ""
		if hasUser {
			u = user[len(user)-1]
		}
		if hasProject {
			p = project[len(project)-1]
		}
		and = append(and, search.Cmp{Op: search.OpEq, Attr: "creator", Value: u + ":" + p})
	case q.Has("creator"):
		and = append(and, search.Cmp{Op: search.OpEq, Attr: "creator", Value: q.Get("creator")})
	}
	if st := q.Get("status"); st == "delete" {
		return nil, false
	}
	if len(and) == 0 {
		return nil, true
	}
	return and, true
}

func (s *Server) listMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if st := r.URL.Query().Get("status"); st != "" && st != "active" && st != "delete" {
		writeError(w, errorf(http.StatusBadRequest, "Invalid input: not a valid value for dictionary value @ data['status']"))
		return
	}
	p, err := s.parsePage(r, metricDefaultSort, false)
	if err != nil {
		writeError(w, err)
		return
	}
	filter, selects := metricFilter(r)
	if !selects {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	s.writeMetrics(w, r, index.ListMetricOptions{
		ProjectScope: projectScope(ctx), Limit: p.limit, Marker: p.marker, Sort: p.keys,
		Filter: filter, Creator: identityFrom(ctx).Creator(),
	}, p)
}

func (s *Server) writeMetrics(w http.ResponseWriter, r *http.Request, o index.ListMetricOptions, p page) {
	ctx := r.Context()
	ms, err := s.d.Index.ListMetrics(ctx, o)
	if err != nil {
		writeError(w, listError(err, "metric"))
		return
	}
	out, err := s.renderMetricList(ctx, ms)
	if err != nil {
		writeError(w, err)
		return
	}
	if n := len(ms); n > 0 {
		setNextLink(w, r, p, n, ms[n-1].ID.String())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getMeasures(w http.ResponseWriter, r *http.Request) {
	m, p, _, err := s.metric(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.measures(w, r, &m, p)
}

func (s *Server) postMeasures(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, notFound("Metric %s does not exist", r.PathValue("id")))
		return
	}
	m, err := s.d.Index.Metric(ctx, id)
	if errors.Is(err, index.ErrNotFound) {
		err = notFound("Metric %s does not exist", id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.acceptMeasures(w, r, &m)
}

// timeArg reads a start or stop query parameter, answering Gnocchi's 400.
func (s *Server) timeArg(r *http.Request, key string) (*time.Time, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return nil, nil
	}
	t, err := parseTimestamp(v, s.d.Now())
	if err != nil {
		return nil, cause(http.StatusBadRequest, "Argument value error", "Must be a datetime or a timestamp", key)
	}
	return &t, nil
}

// granularityArg reads the granularity query parameter.
func granularityArg(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("granularity")
	if v == "" {
		return 0, nil
	}
	g, err := parseDuration(v)
	if err != nil {
		reason := "Unable to parse timespan"
		if strings.Contains(err.Error(), "positive") {
			reason = "Timespan must be positive"
		}
		return 0, cause(http.StatusBadRequest, "Argument value error", reason, "granularity")
	}
	return g, nil
}

// resampleArg reads resample: a timespan; Gnocchi's calendar groupings
// (Y, H, Q, M, W) are not supported.
func resampleArg(r *http.Request, granularity time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("resample")
	if v == "" {
		return 0, nil
	}
	if granularity == 0 {
		return 0, errorf(http.StatusBadRequest, "A granularity must be specified to resample")
	}
	switch v {
	case "Y", "H", "Q", "M", "W":
		return 0, errorf(http.StatusBadRequest, "Calendar resampling (%s) is not supported; resample to a timespan", v)
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "Unable to parse timespan")
	}
	return d, nil
}

func noAggregation(m *index.Metric, method string) error {
	return cause(http.StatusNotFound, "Aggregation method does not exist for this metric", "",
		map[string]any{"metric": m.ID.String(), "aggregation_method": method})
}

func policyHas(p *archive.Policy, method archive.Method) bool {
	for _, m := range p.Methods {
		if m == method {
			return true
		}
	}
	return false
}

var measureBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// putMeasureBuf returns a response buffer to the pool unless one huge
// answer grew it past what is worth keeping.
func putMeasureBuf(bp *[]byte) {
	if cap(*bp) <= 4<<20 {
		measureBufs.Put(bp)
	}
}

// measures answers GET .../measures of one metric.
func (s *Server) measures(w http.ResponseWriter, r *http.Request, m *index.Metric, p *archive.Policy) {
	ctx := r.Context()
	q := r.URL.Query()
	aggName := q.Get("aggregation")
	if aggName == "" {
		aggName = "mean"
	}
	g, err := granularityArg(r)
	if err != nil {
		writeError(w, err)
		return
	}
	resample, err := resampleArg(r, g)
	if err != nil {
		writeError(w, err)
		return
	}
	start, err := s.timeArg(r, "start")
	if err != nil {
		writeError(w, err)
		return
	}
	stop, err := s.timeArg(r, "stop")
	if err != nil {
		writeError(w, err)
		return
	}
	refresh, err := boolParam(r, "refresh")
	if err != nil {
		writeError(w, err)
		return
	}
	if v := q.Get("fill"); v != "" {
		if _, err := ops.ParseFill(v); err != nil {
			writeError(w, err)
			return
		}
	}
	method, err := parseMethod(aggName)
	if err != nil || !policyHas(p, method) {
		writeError(w, noAggregation(m, aggName))
		return
	}
	if g != 0 && !hasGranularity(p, g) {
		writeError(w, notFound("Aggregation method '%s' at granularity '%s' for metric %s does not exist", aggName, seconds(g), m.ID))
		return
	}
	if refresh {
		if err := s.refresh(ctx, []uuid.UUID{m.ID}); err != nil {
			writeError(w, err)
			return
		}
	}
	o := query.MeasuresOptions{Method: method, Granularity: g}
	if start != nil {
		o.Start = start.UnixNano()
	}
	if stop != nil {
		o.Stop = stop.UnixNano()
	}
	ms, err := s.d.Reader.Measures(ctx, m.ID, p, o)
	if err != nil {
		if errors.Is(err, query.ErrNoAggregation) {
			err = noAggregation(m, aggName)
		}
		writeError(w, err)
		return
	}
	bp := measureBufs.Get().(*[]byte)
	defer putMeasureBuf(bp)
	buf := (*bp)[:0]
	if resample != 0 {
		res, err := resampleMeasures(ctx, ms, g, resample, aggName, q.Get("resample_method"), m)
		if err != nil {
			writeError(w, err)
			return
		}
		buf = appendPoints(buf, res)
	} else {
		buf = appendMeasures(buf, ms)
	}
	*bp = buf
	writeRaw(w, http.StatusOK, buf)
}

func hasGranularity(p *archive.Policy, g time.Duration) bool {
	for _, d := range p.Definitions {
		if d.Granularity == g {
			return true
		}
	}
	return false
}

// resampleMeasures regroups one granularity's points into buckets of
// resample with the aggregation method, as Gnocchi's carbonara does, or
// with resampleMethod (an operations method: mean, median, std, var, min,
// max, sum, count, first, last, NNpct) when one is given.
func resampleMeasures(ctx context.Context, ms []query.Measure, g, resample time.Duration, method, resampleMethod string, m *index.Metric) ([]ops.Point, error) {
	ser := ops.Series{Granularity: int64(g)}
	for _, x := range ms {
		ser.Timestamps = append(ser.Timestamps, x.Timestamp)
		ser.Values = append(ser.Values, x.Value)
	}
	opMethod := opsMethod(method)
	if resampleMethod != "" {
		opMethod = resampleMethod
	}
	node, err := ops.ParseValue([]any{"resample", opMethod, resample.Seconds(), []any{"metric", m.ID.String(), method}})
	if err != nil {
		return nil, err
	}
	ref := ops.Ref{Metric: m.ID.String(), Aggregation: method}
	res, err := ops.Eval(ctx, node, []ops.Input{{Ref: ref, Series: []ops.Series{ser}}}, ops.Options{Granularity: int64(g)})
	if err != nil {
		return nil, err
	}
	if len(res.Series) == 0 {
		return nil, nil
	}
	return res.Series[0].Points, nil
}

// refresh waits, bounded by RefreshTimeout, until the measures accepted
// for the metrics are processed; Gnocchi answers 503 when it cannot.
func (s *Server) refresh(ctx context.Context, ids []uuid.UUID) error {
	if s.d.Backlog == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.d.RefreshTimeout)
	defer cancel()
	if err := s.d.Backlog.WaitProcessed(ctx, ids); err != nil {
		return errorf(http.StatusServiceUnavailable, "Unable to refresh metric: %s. Metric is locked. Please try again.", ids[0])
	}
	return nil
}
