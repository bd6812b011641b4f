package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ops"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// aggArgs are the query parameters of the aggregation endpoints, after
// Gnocchi's validate_qs.
type aggArgs struct {
	start, stop *time.Time
	granularity time.Duration
	opts        ops.Options
}

func (s *Server) aggArgs(r *http.Request, defaultFill bool) (aggArgs, error) {
	var a aggArgs
	q := r.URL.Query()
	if v := q.Get("needed_overlap"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return a, cause(http.StatusBadRequest, "Argument value error", "Must be a number", "needed_overlap")
		}
		a.opts.NeededOverlap = &f
	}
	fill := q.Get("fill")
	if fill == "" && defaultFill && a.opts.NeededOverlap == nil {
		fill = "dropna"
	}
	if fill != "" {
		f, err := ops.ParseFill(fill)
		if err != nil {
			return a, err
		}
		a.opts.Fill = f
	}
	var err error
	if a.start, err = s.timeArg(r, "start"); err != nil {
		return a, err
	}
	if a.stop, err = s.timeArg(r, "stop"); err != nil {
		return a, err
	}
	if a.granularity, err = granularityArg(r); err != nil {
		return a, err
	}
	a.opts.Granularity = int64(a.granularity)
	if a.start != nil {
		n := a.start.UnixNano()
		a.opts.Start = &n
	}
	if a.stop != nil {
		n := a.stop.UnixNano()
		a.opts.Stop = &n
	}
	return a, nil
}

// fetch reads the series of metric m for method name agg: one per
// granularity of its policy (or only a.granularity), coarsest first.
func (s *Server) fetch(ctx context.Context, m *index.Metric, p *archive.Policy, agg string, a aggArgs) ([]ops.Series, error) {
	method, err := parseMethod(agg)
	if err != nil || !policyHas(p, method) {
		return nil, cause(http.StatusNotFound, "Metrics with unknown aggregation", "", [][2]string{{m.ID.String(), agg}})
	}
	o := query.MeasuresOptions{Method: method, Granularity: a.granularity}
	if a.start != nil {
		o.Start = a.start.UnixNano()
	}
	if a.stop != nil {
		o.Stop = a.stop.UnixNano()
	}
	if o.Granularity != 0 && !hasGranularity(p, o.Granularity) {
		return nil, nil
	}
	bp := fetchBufs.Get().(*[]query.Measure)
	defer fetchBufs.Put(bp)
	ms, err := s.d.Reader.AppendMeasures(ctx, (*bp)[:0], m.ID, p, o)
	*bp = ms[:0]
	if errors.Is(err, query.ErrNoAggregation) {
		return nil, cause(http.StatusNotFound, "Metrics with unknown aggregation", "", [][2]string{{m.ID.String(), agg}})
	}
	if err != nil {
		return nil, err
	}
	var out []ops.Series
	grans := p.Granularities()
	sort.Slice(grans, func(i, j int) bool { return grans[i] > grans[j] })
	i := 0
	for _, g := range grans {
		if o.Granularity != 0 && g != o.Granularity {
			continue
		}
		j := i
		for j < len(ms) && ms[j].Granularity == g {
			j++
		}
		ser := ops.Series{Granularity: int64(g), Timestamps: make([]int64, j-i), Values: make([]float64, j-i)}
		for k := i; k < j; k++ {
			ser.Timestamps[k-i], ser.Values[k-i] = ms[k].Timestamp, ms[k].Value
		}
		i = j
		out = append(out, ser)
	}
	return out, nil
}

// fetchBufs pools the measures a fetch reads before it converts them to
// series: they are garbage right after, and at aggregates' sizes the
// garbage made the collector the tail of every request.
var fetchBufs = sync.Pool{New: func() any { return new([]query.Measure) }}

// fetchJob is one series read of an aggregation.
type fetchJob struct {
	m      *index.Metric
	p      *archive.Policy
	agg    string
	series []ops.Series
}

// fetchAll runs the reads of jobs concurrently, one per core, and returns
// the first error.
func (s *Server) fetchAll(ctx context.Context, jobs []fetchJob, a aggArgs) error {
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	if workers <= 1 {
		for i := range jobs {
			var err error
			if jobs[i].series, err = s.fetch(ctx, jobs[i].m, jobs[i].p, jobs[i].agg, a); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) || errs[wk] != nil {
					return
				}
				jobs[i].series, errs[wk] = s.fetch(ctx, jobs[i].m, jobs[i].p, jobs[i].agg, a)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// jsonToOps turns a decoded body (json.Number numbers) into the values
// ops.ParseValue reads (float64 numbers).
func jsonToOps(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonToOps(e)
		}
		return out
	}
	return v
}

// aggregates is POST /v1/aggregates.
func (s *Server) aggregates(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	details, err := detailsParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	a, err := s.aggArgs(r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := asObject(v)
	if err == nil {
		err = o.only("operations", "resource_type", "search")
	}
	if err == nil {
		err = o.require("operations")
	}
	if err == nil && (o.has("resource_type") || o.has("search")) {
		err = o.require("resource_type", "search")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	node, err := ops.ParseValue(jsonToOps(o.m["operations"]))
	if err != nil {
		writeError(w, err)
		return
	}
	refs := ops.References(node)
	if len(refs) == 0 {
		writeError(w, cause(http.StatusBadRequest, "Operations is invalid", "At least one 'metric' is required", o.m["operations"]))
		return
	}
	if !o.has("resource_type") {
		s.aggregatesByIDs(w, r, node, refs, a, details)
		return
	}
	typ, _, err := o.str("resource_type")
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.d.Index.ResourceType(ctx, typ); errors.Is(err, index.ErrNotFound) {
		writeError(w, cause(http.StatusBadRequest, "Resource type does not exist", "", typ))
		return
	}
	var filter search.Expr
	switch sv := o.m["search"].(type) {
	case string:
		filter, err = search.ParseString(sv)
	default:
		if filter, err = search.ParseValue(sv); err != nil {
			err = jsonFilterError(err)
		}
	}
	if err != nil {
		writeError(w, filterError(err))
		return
	}
	groupby := groupbyArg(r)
	s.aggregatesBySearch(w, r, node, refs, typ, filter, groupby, a, details)
}

func groupbyArg(r *http.Request) []string {
	set := map[string]bool{}
	var out []string
	for _, v := range r.URL.Query()["groupby"] {
		for _, g := range strings.Split(v, ",") {
			if g = strings.TrimSpace(g); g != "" && !set[g] {
				set[g] = true
				out = append(out, g)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) aggregatesByIDs(w http.ResponseWriter, r *http.Request, node ops.Node, refs []ops.Ref, a aggArgs, details bool) {
	ctx := r.Context()
	var ids []any
	seen := map[uuid.UUID]bool{}
	for _, ref := range refs {
		id, err := uuid.Parse(ref.Metric)
		if err != nil {
			detail := make([][2]string, len(refs))
			for i, x := range refs {
				detail[i] = [2]string{x.Metric, x.Aggregation}
			}
			writeError(w, cause(http.StatusBadRequest, "Invalid metric references", "badly formed hexadecimal UUID string", detail))
			return
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id.String())
		}
	}
	ms, err := s.d.Index.ListMetrics(ctx, index.ListMetricOptions{Filter: search.In{Attr: "id", Values: ids}})
	if err != nil {
		writeError(w, err)
		return
	}
	byID := map[uuid.UUID]*index.Metric{}
	for i := range ms {
		byID[ms[i].ID] = &ms[i]
	}
	var missing []string
	for _, x := range ids {
		id := uuid.MustParse(x.(string))
		if byID[id] == nil {
			missing = append(missing, id.String())
		}
	}
	if len(missing) > 0 {
		writeError(w, cause(http.StatusNotFound, "Unknown metrics", "Provided metrics don't exists", missing))
		return
	}
	if err := s.checkReadMetrics(ctx, ms); err != nil {
		writeError(w, err)
		return
	}
	inputs := make([]ops.Input, len(refs))
	jobs := make([]fetchJob, len(refs))
	for i, ref := range refs {
		m := byID[uuid.MustParse(ref.Metric)]
		p, err := s.cachedPolicy(ctx, m.ArchivePolicyName)
		if err != nil {
			writeError(w, err)
			return
		}
		jobs[i] = fetchJob{m: m, p: p, agg: ref.Aggregation}
		inputs[i] = ops.Input{Ref: ref, Label: m.ID.String()}
	}
	if err := s.fetchAll(ctx, jobs, a); err != nil {
		writeError(w, err)
		return
	}
	for i := range jobs {
		inputs[i].Series = jobs[i].series
	}
	res, err := ops.Eval(ctx, node, inputs, a.opts)
	if err != nil {
		writeError(w, err)
		return
	}
	// A pooled buffer: a response over 10 metrics of a day at 60 s is
	// about 70 KB, grown from nothing in a dozen copies otherwise.
	bp := measureBufs.Get().(*[]byte)
	defer putMeasureBuf(bp)
	buf := append((*bp)[:0], `{"measures": `...)
	buf = res.AppendJSON(buf)
	*bp = buf
	if details {
		refsOut, err := s.renderMetricList(ctx, ms)
		if err != nil {
			writeError(w, err)
			return
		}
		enc, _ := json.Marshal(refsOut)
		buf = append(append(buf, `, "references": `...), enc...)
	}
	buf = append(buf, '}')
	*bp = buf
	writeRaw(w, http.StatusOK, buf)
}

// checkReadMetrics applies "get metric" to each metric.
func (s *Server) checkReadMetrics(ctx context.Context, ms []index.Metric) error {
	caller := identityFrom(ctx)
	for i := range ms {
		m := &ms[i]
		if caller.ownsCreator(m.Creator, m.CreatedByProjectID) {
			continue
		}
		var res *index.Resource
		if m.ResourceID != nil {
			if got, err := s.d.Index.Resource(ctx, "generic", *m.ResourceID); err == nil {
				res = &got
			}
		}
		if !caller.canReadMetric(m, res) {
			return forbidden()
		}
	}
	return nil
}

// fnmatch is Python's fnmatch.fnmatch on POSIX, which the resource form
// matches metric names with: *, ?, [seq] and [!seq].
func fnmatch(pattern, name string) bool {
	ok, err := path.Match(strings.ReplaceAll(pattern, "[!", "[^"), name)
	return err == nil && ok
}

// searchResourcesAll lists every resource of typ a filter selects among
// those the caller may read, in the order of sorts.
func (s *Server) searchResourcesAll(ctx context.Context, typ string, filter search.Expr, sorts []string) ([]index.Resource, error) {
	var keys []index.SortKey
	for _, k := range sorts {
		keys = append(keys, index.SortKey{Key: k})
	}
	rs, err := s.d.Index.ListResources(ctx, index.ListOptions{
		Type: typ, ProjectScope: projectScope(ctx), Filter: filter, Sort: keys,
		Creator: identityFrom(ctx).Creator(), Details: true,
	})
	return rs, err
}

// groups cuts resources sorted by groupby into runs of equal values.
func groups(rs []index.Resource, groupby []string) ([]map[string]any, [][]index.Resource) {
	var keys []map[string]any
	var runs [][]index.Resource
	var prev string
	for i := range rs {
		doc := renderResource(&rs[i], true, true, nil)
		key := map[string]any{}
		for _, g := range groupby {
			key[g] = doc[g]
		}
		enc, _ := json.Marshal(key)
		if i == 0 || string(enc) != prev {
			keys = append(keys, key)
			runs = append(runs, nil)
			prev = string(enc)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], rs[i])
	}
	return keys, runs
}

// errNoMetrics is the resource form finding no metric for the references.
func errNoMetrics(refs []ops.Ref) error {
	var names []string
	for _, r := range refs {
		if !contains(names, r.Metric) {
			names = append(names, r.Metric)
		}
	}
	return cause(http.StatusBadRequest, "Metrics not found", "", names)
}

// inputsByName builds one input per resource, reference and metric whose
// name matches the reference's pattern.
func (s *Server) inputsByName(ctx context.Context, rs []index.Resource, refs []ops.Ref, a aggArgs, ps *policies) ([]ops.Input, error) {
	var inputs []ops.Input
	for i := range rs {
		res := &rs[i]
		names := sortedKeys(res.Metrics)
		for _, ref := range refs {
			for _, name := range names {
				if !fnmatch(ref.Metric, name) {
					continue
				}
				m, err := s.d.Index.Metric(ctx, res.Metrics[name])
				if errors.Is(err, index.ErrNotFound) {
					continue
				}
				if err != nil {
					return nil, err
				}
				p, err := ps.get(ctx, m.ArchivePolicyName)
				if err != nil {
					return nil, err
				}
				series, err := s.fetch(ctx, &m, p, ref.Aggregation, a)
				if err != nil {
					return nil, err
				}
				inputs = append(inputs, ops.Input{Ref: ref, ResourceID: res.ID.String(), Label: name, Series: series})
			}
		}
	}
	return inputs, nil
}

func (s *Server) aggregatesBySearch(w http.ResponseWriter, r *http.Request, node ops.Node, refs []ops.Ref, typ string, filter search.Expr, groupby []string, a aggArgs, details bool) {
	ctx := r.Context()
	sorts := groupby
	if len(sorts) == 0 {
		sorts = []string{"revision_start", "started_at"}
	}
	rs, err := s.searchResourcesAll(ctx, typ, filter, sorts)
	if err != nil {
		writeError(w, listError(err, typ))
		return
	}
	ps := policies{s: s}
	answer := func(rs []index.Resource) ([]byte, bool, error) {
		inputs, err := s.inputsByName(ctx, rs, refs, a, &ps)
		if err != nil {
			return nil, false, err
		}
		if len(inputs) == 0 {
			return nil, false, nil
		}
		res, err := ops.Eval(ctx, node, inputs, a.opts)
		if err != nil {
			return nil, false, err
		}
		buf := append(make([]byte, 0, 4096), `{"measures": `...)
		buf = res.AppendJSON(buf)
		if details {
			used := map[string]bool{}
			for _, in := range inputs {
				used[in.ResourceID] = true
			}
			var docs []any
			for i := range rs {
				if used[rs[i].ID.String()] {
					docs = append(docs, renderResource(&rs[i], true, false, nil))
				}
			}
			enc, _ := json.Marshal(docs)
			buf = append(append(buf, `, "references": `...), enc...)
		}
		return append(buf, '}'), true, nil
	}
	if len(groupby) == 0 {
		body, ok, err := answer(rs)
		if err == nil && !ok {
			err = errNoMetrics(refs)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, body)
		return
	}
	keys, runs := groups(rs, groupby)
	buf := []byte{'['}
	n := 0
	for i, run := range runs {
		body, ok, err := answer(run)
		if err != nil {
			writeError(w, err)
			return
		}
		if !ok {
			continue
		}
		if n > 0 {
			buf = append(buf, ", "...)
		}
		n++
		enc, _ := json.Marshal(keys[i])
		buf = append(append(append(buf, `{"group": `...), enc...), `, "measures": `...)
		buf = append(append(buf, body...), '}')
	}
	if n == 0 {
		writeError(w, errNoMetrics(refs))
		return
	}
	writeRaw(w, http.StatusOK, append(buf, ']'))
}

// oldArgs are the extra parameters of the older /v1/aggregation API.
type oldArgs struct {
	aggregation, reaggregation string
	resample                   time.Duration
	refresh                    bool
}

func (s *Server) oldAggArgs(r *http.Request) (aggArgs, oldArgs, error) {
	var o oldArgs
	a, err := s.aggArgs(r, false)
	if err != nil {
		return a, o, err
	}
	q := r.URL.Query()
	o.aggregation = q.Get("aggregation")
	if o.aggregation == "" {
		o.aggregation = "mean"
	}
	o.reaggregation = q.Get("reaggregation")
	if o.reaggregation == "" {
		o.reaggregation = opsMethod(o.aggregation)
	}
	if o.resample, err = resampleArg(r, a.granularity); err != nil {
		return a, o, err
	}
	if o.refresh, err = boolParam(r, "refresh"); err != nil {
		return a, o, err
	}
	if a.opts.NeededOverlap == nil {
		full := 100.0
		a.opts.NeededOverlap = &full
	}
	return a, o, nil
}

// crossMetric is Gnocchi's get_cross_metric_measures_from_objs: the
// measures of one metric, or the re-aggregation of several, as a list of
// [timestamp, granularity, value].
func (s *Server) crossMetric(ctx context.Context, ms []index.Metric, a aggArgs, o oldArgs) ([]byte, error) {
	if len(ms) == 0 {
		return []byte("[]"), nil
	}
	if err := s.checkReadMetrics(ctx, ms); err != nil {
		return nil, err
	}
	ps := policies{s: s}
	pols := make([]*archive.Policy, len(ms))
	for i := range ms {
		p, err := ps.get(ctx, ms[i].ArchivePolicyName)
		if err != nil {
			return nil, err
		}
		pols[i] = p
	}
	grans := []time.Duration{a.granularity}
	if a.granularity == 0 {
		count := map[time.Duration]int{}
		for _, p := range pols {
			for _, g := range p.Granularities() {
				count[g]++
			}
		}
		grans = nil
		for g, n := range count {
			if n == len(ms) {
				grans = append(grans, g)
			}
		}
		if len(grans) == 0 {
			detail := make([][2]string, len(ms))
			for i := range ms {
				detail[i] = [2]string{ms[i].ID.String(), o.aggregation}
			}
			return nil, cause(http.StatusBadRequest, "Metrics can't being aggregated", "No granularity match", detail)
		}
	}
	method, merr := parseMethod(o.aggregation)
	for i := range ms {
		for _, g := range grans {
			if merr != nil || !policyHas(pols[i], method) || !hasGranularity(pols[i], g) {
				if len(ms) == 1 && (merr != nil || !policyHas(pols[i], method)) {
					return nil, noAggregation(&ms[0], o.aggregation)
				}
				return nil, notFound("Aggregation method '%s' at granularity '%s' for metric %s does not exist", o.aggregation, seconds(g), ms[i].ID)
			}
		}
	}
	if o.refresh {
		ids := make([]uuid.UUID, len(ms))
		for i := range ms {
			ids[i] = ms[i].ID
		}
		if err := s.refresh(ctx, ids); err != nil {
			return nil, err
		}
	}
	metricNode := []any{"metric"}
	for i := range ms {
		metricNode = append(metricNode, []any{ms[i].ID.String(), o.aggregation})
	}
	var tree []any
	switch {
	case len(ms) == 1 && o.resample == 0:
		tree = metricNode
	case len(ms) == 1:
		tree = []any{"resample", opsMethod(o.aggregation), o.resample.Seconds(), metricNode}
	case o.resample == 0:
		tree = []any{"aggregate", o.reaggregation, metricNode}
	default:
		tree = []any{"aggregate", o.reaggregation, []any{"resample", opsMethod(o.aggregation), o.resample.Seconds(), metricNode}}
	}
	node, err := ops.ParseValue(tree)
	if err != nil {
		return nil, err
	}
	inputs := make([]ops.Input, len(ms))
	for i := range ms {
		series, err := s.fetch(ctx, &ms[i], pols[i], o.aggregation, a)
		if err != nil {
			return nil, err
		}
		if a.granularity == 0 {
			kept := series[:0]
			for _, ser := range series {
				for _, g := range grans {
					if ser.Granularity == int64(g) {
						kept = append(kept, ser)
					}
				}
			}
			series = kept
		}
		inputs[i] = ops.Input{Ref: ops.Ref{Metric: ms[i].ID.String(), Aggregation: o.aggregation}, Series: series}
	}
	res, err := ops.Eval(ctx, node, inputs, a.opts)
	if err != nil {
		return nil, err
	}
	if res.Aggregated {
		return appendPoints(nil, res.Points), nil
	}
	if len(res.Series) == 0 {
		return []byte("[]"), nil
	}
	return appendPoints(nil, res.Series[0].Points), nil
}

// aggregationMetric is GET (metric=ID, repeatable) and POST (a list of ids)
// /v1/aggregation/metric.
func (s *Server) aggregationMetric(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var raw []string
	if r.Method == http.MethodPost {
		v, err := decodeBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, ok := v.([]any)
		if !ok {
			writeError(w, invalidInput("expected a list"))
			return
		}
		for i, x := range list {
			str, ok := x.(string)
			if _, err := uuid.Parse(str); !ok || err != nil {
				writeError(w, invalidInput("not a valid value", i))
				return
			}
			raw = append(raw, str)
		}
	} else {
		raw = r.URL.Query()["metric"]
	}
	var ids []any
	for i, x := range raw {
		id, err := uuid.Parse(x)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, "Invalid input: not a valid value @ data[%d]", i))
			return
		}
		ids = append(ids, id.String())
	}
	a, o, err := s.oldAggArgs(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var ms []index.Metric
	if len(ids) > 0 {
		ms, err = s.d.Index.ListMetrics(ctx, index.ListMetricOptions{Filter: search.In{Attr: "id", Values: ids}})
		if err != nil {
			writeError(w, err)
			return
		}
		found := map[string]bool{}
		for _, m := range ms {
			found[m.ID.String()] = true
		}
		for _, id := range ids {
			if !found[id.(string)] {
				writeError(w, notFound("Metric %s does not exist", id))
				return
			}
		}
	}
	body, err := s.crossMetric(ctx, ms, a, o)
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, http.StatusOK, body)
}

// aggregationResource is POST /v1/aggregation/resource/{type}/metric/{name}:
// the cross-metric aggregation of metric name of the resources a search
// selects, optionally grouped.
func (s *Server) aggregationResource(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ, name := r.PathValue("type"), r.PathValue("name")
	if _, err := s.resourceType(r, typ); err != nil {
		writeError(w, err)
		return
	}
	filter, _, err := readFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	a, o, err := s.oldAggArgs(r)
	if err != nil {
		writeError(w, err)
		return
	}
	groupby := groupbyArg(r)
	sorts := groupby
	if len(sorts) == 0 {
		sorts = []string{"revision_start", "started_at"}
	}
	rs, err := s.searchResourcesAll(ctx, typ, filter, sorts)
	if err != nil {
		if len(groupby) > 0 && errors.Is(err, index.ErrInvalid) && strings.Contains(err.Error(), "sort key") {
			err = errorf(http.StatusBadRequest, "Invalid groupby attribute")
		}
		writeError(w, listError(err, typ))
		return
	}
	metricsOf := func(rs []index.Resource) ([]index.Metric, error) {
		var ids []any
		for i := range rs {
			if id, ok := rs[i].Metrics[name]; ok {
				ids = append(ids, id.String())
			}
		}
		if len(ids) == 0 {
			return nil, nil
		}
		return s.d.Index.ListMetrics(ctx, index.ListMetricOptions{Filter: search.In{Attr: "id", Values: ids}})
	}
	if len(groupby) == 0 {
		ms, err := metricsOf(rs)
		var body []byte
		if err == nil {
			body, err = s.crossMetric(ctx, ms, a, o)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, body)
		return
	}
	keys, runs := groups(rs, groupby)
	buf := []byte{'['}
	for i, run := range runs {
		ms, err := metricsOf(run)
		var body []byte
		if err == nil {
			body, err = s.crossMetric(ctx, ms, a, o)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		if i > 0 {
			buf = append(buf, ", "...)
		}
		enc, _ := json.Marshal(keys[i])
		buf = append(append(append(buf, `{"group": `...), enc...), `, "measures": `...)
		buf = append(append(buf, body...), '}')
	}
	writeRaw(w, http.StatusOK, append(buf, ']'))
}
