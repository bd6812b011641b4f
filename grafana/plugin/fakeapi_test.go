package plugin

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPI is an httptest server answering the Gnocchi v1 and Aodh v2
// endpoints the plugin uses, with the JSON shapes of the real services
// (Gnocchi's rest/api.py and rest/aggregates, Aodh's v2 controllers). Its
// measures are a deterministic function of metric and time, so that tests
// can compute what they expect. The tests against the real in-process
// vigil check the same code paths against the real shapes.
type fakeAPI struct {
	srv *httptest.Server
	now time.Time

	mu        sync.Mutex // guards the fields below
	policies  map[string]fakePolicy
	types     []string
	resources []*fakeResource
	metrics   map[string]*fakeMetric
	alarms    []map[string]any
	history   []map[string]any
	// cache memoises answers by request when set (benchmarks measure the
	// plugin, not the fake's encoding).
	cache map[string]cachedAnswer

	requests atomic.Int64
	// auth checks a request's credentials; nil accepts all.
	auth func(r *http.Request) bool
}

// fakeMaxLimit is the fake's api.max_limit.
const fakeMaxLimit = 50

type cachedAnswer struct {
	header http.Header
	body   []byte
}

type fakePolicy struct {
	name    string
	methods []string
	defs    []Definition
}

type fakeResource struct {
	id, typ string
	attrs   map[string]any
	metrics map[string]string
}

type fakeMetric struct {
	id, name, unit, resourceID, policy string
}

// fakeValue is the value of a metric's series at t for a granularity and
// method: a smooth wave unique to the metric, scaled for max and min so
// that the methods differ.
func fakeValue(metricID string, t time.Time, method string) float64 {
	h := fnv.New32a()
	h.Write([]byte(metricID))
	base := float64(h.Sum32()%1000) / 10
	v := base + 10*math.Sin(float64(t.Unix())/3600)
	switch method {
	case "max":
		v += 5
	case "min":
		v -= 5
	case "count":
		v = 1
	}
	return math.Round(v*1000) / 1000
}

func newFakeAPI(t testing.TB, now time.Time) *fakeAPI {
	f := &fakeAPI{
		now:      now.UTC(),
		policies: map[string]fakePolicy{},
		metrics:  map[string]*fakeMetric{},
		types:    []string{"generic"},
	}
	f.addPolicy("low", []string{"mean", "min", "max", "sum", "count", "last", "rate:mean"},
		Definition{Granularity: 5 * time.Minute, Points: 8640, Timespan: 30 * 24 * time.Hour})
	f.addPolicy("medium", []string{"mean", "min", "max", "sum", "count", "last", "rate:mean"},
		Definition{Granularity: time.Minute, Points: 10080, Timespan: 7 * 24 * time.Hour},
		Definition{Granularity: time.Hour, Points: 8760, Timespan: 365 * 24 * time.Hour})
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) addPolicy(name string, methods []string, defs ...Definition) {
	f.policies[name] = fakePolicy{name: name, methods: methods, defs: defs}
}

func (f *fakeAPI) addType(name string) {
	for _, t := range f.types {
		if t == name {
			return
		}
	}
	f.types = append(f.types, name)
}

// addResource adds a resource with metrics of the given names (unit and
// policy per name from units and "medium").
func (f *fakeAPI) addResource(id, typ string, attrs map[string]any, metrics ...string) *fakeResource {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addType(typ)
	r := &fakeResource{id: id, typ: typ, attrs: attrs, metrics: map[string]string{}}
	for i, name := range metrics {
		mid := fmt.Sprintf("%s-m%02d", id, i)
		unit := ""
		switch {
		case strings.Contains(name, "util") || strings.HasSuffix(name, "cpu"):
			unit = "%"
		case strings.Contains(name, "bytes"):
			unit = "B/s"
		case strings.Contains(name, "memory"):
			unit = "MB"
		}
		f.metrics[mid] = &fakeMetric{id: mid, name: name, unit: unit, resourceID: id, policy: "medium"}
		r.metrics[name] = mid
	}
	f.resources = append(f.resources, r)
	return r
}

func (f *fakeAPI) url() string { return f.srv.URL }

func writeFakeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// gnocchiError writes Gnocchi's error body.
func gnocchiError(w http.ResponseWriter, code int, desc any) {
	writeFakeJSON(w, code, map[string]any{"code": code, "description": desc, "title": http.StatusText(code)})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.URL.Path == "/" {
		writeFakeJSON(w, 200, map[string]any{"build": "4.4.2", "versions": []any{map[string]any{"id": "v1.0", "status": "CURRENT"}}})
		return
	}
	if f.auth != nil && !f.auth(r) {
		gnocchiError(w, http.StatusUnauthorized, "Authentication required")
		return
	}
	key := r.Method + " " + r.URL.String() + " " + string(body)
	f.mu.Lock()
	if a, ok := f.cache[key]; ok {
		f.mu.Unlock()
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
		_, _ = w.Write(a.body)
		return
	}
	f.mu.Unlock()
	rec := httptest.NewRecorder()
	f.route(rec, r, body)
	f.mu.Lock()
	if f.cache != nil && rec.Code == 200 {
		f.cache[key] = cachedAnswer{rec.Header().Clone(), rec.Body.Bytes()}
	}
	f.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (f *fakeAPI) route(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == "GET" && p == "/v1/archive_policy":
		var out []any
		for _, name := range sortedPolicyNames(f.policies) {
			out = append(out, f.policyDoc(name))
		}
		writeFakeJSON(w, 200, out)
	case r.Method == "GET" && p == "/v1/resource_type":
		var out []any
		for _, t := range f.types {
			out = append(out, map[string]any{"name": t, "state": "active", "attributes": map[string]any{"display_name": map[string]any{"type": "string", "required": false}}})
		}
		writeFakeJSON(w, 200, out)
	case r.Method == "POST" && strings.HasPrefix(p, "/v1/search/resource/"):
		typ := strings.TrimPrefix(p, "/v1/search/resource/")
		rs, err := f.search(typ, r.URL.Query().Get("filter"))
		if err != nil {
			gnocchiError(w, 400, map[string]any{"cause": "Invalid filter", "reason": err.Error()})
			return
		}
		if m := r.URL.Query().Get("marker"); m != "" {
			for i, x := range rs {
				if x.id == m {
					rs = rs[i+1:]
					break
				}
			}
		}
		// Gnocchi caps pages at api.max_limit; the fake at 50, so
		// that tests see several pages.
		n, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || n > fakeMaxLimit {
			n = fakeMaxLimit
		}
		if n < len(rs) {
			rs = rs[:n]
		}
		if len(rs) == n {
			w.Header().Add("Link", `<`+f.srv.URL+r.URL.Path+`?limit=`+strconv.Itoa(n)+`&marker=`+rs[n-1].id+`>; rel="next"`)
		}
		out := []any{}
		for _, x := range rs {
			out = append(out, f.resourceDoc(x))
		}
		writeFakeJSON(w, 200, out)
	case r.Method == "GET" && strings.HasPrefix(p, "/v1/metric/") && strings.HasSuffix(p, "/measures"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/v1/metric/"), "/measures")
		m := f.metrics[id]
		if m == nil {
			gnocchiError(w, 404, fmt.Sprintf("Metric %s does not exist", id))
			return
		}
		q := r.URL.Query()
		agg := q.Get("aggregation")
		if agg == "" {
			agg = "mean"
		}
		pts, err := f.points(m, q, agg)
		if err != nil {
			gnocchiError(w, 400, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(appendFakeMeasures(nil, pts))
	case r.Method == "GET" && strings.HasPrefix(p, "/v1/metric/"):
		id := strings.TrimPrefix(p, "/v1/metric/")
		m := f.metrics[id]
		if m == nil {
			gnocchiError(w, 404, fmt.Sprintf("Metric %s does not exist", id))
			return
		}
		doc := map[string]any{"id": m.id, "name": m.name, "unit": m.unit, "archive_policy": f.policyDoc(m.policy), "creator": "admin", "resource": nil}
		for _, x := range f.resources {
			if x.id == m.resourceID {
				// Gnocchi shows the metric's resource as a generic one:
				// the common fields, not the type's attributes.
				rd := f.resourceDoc(x)
				for k := range x.attrs {
					delete(rd, k)
				}
				delete(rd, "metrics")
				doc["resource"] = rd
			}
		}
		writeFakeJSON(w, 200, doc)
	case r.Method == "GET" && strings.HasPrefix(p, "/v1/resource/"):
		parts := strings.Split(strings.TrimPrefix(p, "/v1/resource/"), "/")
		for _, x := range f.resources {
			if len(parts) == 2 && x.id == parts[1] && (x.typ == parts[0] || parts[0] == "generic") {
				writeFakeJSON(w, 200, f.resourceDoc(x))
				return
			}
		}
		gnocchiError(w, 404, "Resource does not exist")
	case r.Method == "POST" && p == "/v1/aggregates":
		f.aggregates(w, r, body)
	case r.Method == "GET" && p == "/v2/alarms":
		out := []any{}
		state := ""
		q := r.URL.Query()
		for i, field := range q["q.field"] {
			if field == "state" && i < len(q["q.value"]) {
				state = q["q.value"][i]
			}
		}
		for _, a := range f.alarms {
			if state == "" || a["state"] == state {
				out = append(out, a)
			}
		}
		writeFakeJSON(w, 200, out)
	case r.Method == "POST" && p == "/v2/query/alarms/history":
		writeFakeJSON(w, 200, f.history)
	case r.Method == "GET" && strings.HasPrefix(p, "/v2/alarms/") && strings.HasSuffix(p, "/history"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/v2/alarms/"), "/history")
		out := []any{}
		for _, h := range f.history {
			if h["alarm_id"] == id {
				out = append(out, h)
			}
		}
		writeFakeJSON(w, 200, out)
	default:
		gnocchiError(w, 404, "The resource could not be found.")
	}
}

func sortedPolicyNames(m map[string]fakePolicy) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func timedelta(d time.Duration) string {
	days := d / (24 * time.Hour)
	rest := d - days*24*time.Hour
	clock := fmt.Sprintf("%d:%02d:%02d", rest/time.Hour, rest%time.Hour/time.Minute, rest%time.Minute/time.Second)
	switch days {
	case 0:
		return clock
	case 1:
		return "1 day, " + clock
	}
	return fmt.Sprintf("%d days, %s", days, clock)
}

func (f *fakeAPI) policyDoc(name string) map[string]any {
	p := f.policies[name]
	var defs []any
	for _, d := range p.defs {
		defs = append(defs, map[string]any{"granularity": timedelta(d.Granularity), "points": d.Points, "timespan": timedelta(d.Timespan)})
	}
	return map[string]any{"name": p.name, "back_window": 0, "aggregation_methods": p.methods, "definition": defs}
}

func (f *fakeAPI) resourceDoc(r *fakeResource) map[string]any {
	doc := map[string]any{
		"id": r.id, "type": r.typ, "original_resource_id": r.id, "user_id": nil, "project_id": nil,
		"started_at": "2024-01-01T00:00:00+00:00", "ended_at": nil, "creator": "admin",
	}
	for k, v := range r.attrs {
		doc[k] = v
	}
	ms := map[string]any{}
	for k, v := range r.metrics {
		ms[k] = v
	}
	doc["metrics"] = ms
	return doc
}

var fakeCond = regexp.MustCompile(`^\s*([a-z_]+)\s*(=|!=|in)\s*(.+?)\s*$`)

// search applies a subset of Gnocchi's string filters: conditions
// `attr = 'v'`, `attr != 'v'` and `attr in ['a', 'b']` joined by and.
func (f *fakeAPI) search(typ, filter string) ([]*fakeResource, error) {
	var conds [][3]string
	if strings.TrimSpace(filter) != "" {
		for _, part := range strings.Split(filter, " and ") {
			m := fakeCond.FindStringSubmatch(part)
			if m == nil {
				return nil, fmt.Errorf("cannot parse %q", part)
			}
			conds = append(conds, [3]string{m[1], m[2], m[3]})
		}
	}
	var out []*fakeResource
	for _, r := range f.resources {
		if typ != "generic" && r.typ != typ {
			continue
		}
		ok := true
		for _, c := range conds {
			v := attrText(r.attrs[c[0]])
			if c[0] == "id" {
				v = r.id
			}
			switch c[1] {
			case "=":
				ok = ok && v == strings.Trim(c[2], `'"`)
			case "!=":
				ok = ok && v != strings.Trim(c[2], `'"`)
			case "in":
				found := false
				for _, x := range strings.Split(strings.Trim(c[2], "[]"), ",") {
					if strings.Trim(strings.TrimSpace(x), `'"`) == v {
						found = true
					}
				}
				ok = ok && found
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

type fakePoint struct {
	t time.Time
	g time.Duration
	v float64
}

// points is a metric's series in [start, stop] at the query's (or the
// policy's finest) granularity, start rounded down as Gnocchi rounds it.
func (f *fakeAPI) points(m *fakeMetric, q map[string][]string, method string) ([]fakePoint, error) {
	p := f.policies[m.policy]
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	found := false
	for _, x := range p.methods {
		found = found || x == method
	}
	if !found {
		return nil, fmt.Errorf("Aggregation method '%s' at granularity '%s' for metric %s does not exist", method, get("granularity"), m.id)
	}
	g := p.defs[0].Granularity
	span := p.defs[0].Timespan
	if s := get("granularity"); s != "" {
		sec, _ := strconv.ParseFloat(s, 64)
		g = time.Duration(sec * 1e9)
		found := false
		for _, d := range p.defs {
			if d.Granularity == g {
				found, span = true, d.Timespan
			}
		}
		if !found {
			return nil, fmt.Errorf("Aggregation method '%s' at granularity '%s' for metric %s does not exist", method, s, m.id)
		}
	}
	oldest := f.now.Add(-span).Truncate(g)
	start, stop := oldest, f.now
	if s := get("start"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("Invalid value for start")
		}
		start = t.Truncate(g)
	}
	if s := get("stop"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("Invalid value for stop")
		}
		stop = t
	}
	if start.Before(oldest) {
		start = oldest
	}
	if stop.After(f.now) {
		stop = f.now
	}
	var out []fakePoint
	for t := start; t.Before(stop); t = t.Add(g) {
		out = append(out, fakePoint{t, g, fakeValue(m.id, t, method)})
	}
	return out, nil
}

func appendFakeMeasures(dst []byte, pts []fakePoint) []byte {
	dst = append(dst, '[')
	for i, p := range pts {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, `["`...)
		dst = p.t.UTC().AppendFormat(dst, "2006-01-02T15:04:05+00:00")
		dst = append(dst, `", `...)
		dst = strconv.AppendFloat(dst, p.g.Seconds(), 'f', 1, 64)
		dst = append(dst, ", "...)
		dst = strconv.AppendFloat(dst, p.v, 'f', -1, 64)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

var (
	fakeMetricList   = regexp.MustCompile(`^\(metric((?:\s*\([^()]+\))+)\s*\)$`)
	fakeMetricPair   = regexp.MustCompile(`\(\s*(\S+)\s+(\S+)\s*\)`)
	fakeMetricSingle = regexp.MustCompile(`^\(metric\s+(\S+)\s+(\S+)\)$`)
	fakeAggregate    = regexp.MustCompile(`^\(aggregate\s+(\S+)\s+\(metric\s+(\S+)\s+(\S+)\)\)$`)
)

// aggregates answers the operation forms the plugin and the dashboards
// send: (metric (ID M) ...), and over a search (metric NAME M) and
// (aggregate A (metric NAME M)), grouped or not.
func (f *fakeAPI) aggregates(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Operations   string `json:"operations"`
		ResourceType string `json:"resource_type"`
		Search       any    `json:"search"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		gnocchiError(w, 400, "Unable to decode body")
		return
	}
	q := r.URL.Query()
	ops := strings.TrimSpace(req.Operations)
	if req.ResourceType == "" {
		m := fakeMetricList.FindStringSubmatch(ops)
		if m == nil {
			gnocchiError(w, 400, map[string]any{"cause": "Invalid operations", "reason": "the fake knows only (metric (ID M) ...)", "detail": ops})
			return
		}
		var buf []byte
		buf = append(buf, `{"measures": {`...)
		for i, pair := range fakeMetricPair.FindAllStringSubmatch(m[1], -1) {
			metric := f.metrics[pair[1]]
			if metric == nil {
				gnocchiError(w, 404, map[string]any{"cause": "Unknown metrics", "detail": []string{pair[1]}})
				return
			}
			pts, err := f.points(metric, q, pair[2])
			if err != nil {
				gnocchiError(w, 400, err.Error())
				return
			}
			if i > 0 {
				buf = append(buf, ", "...)
			}
			buf = fmt.Appendf(buf, `%q: {%q: `, pair[1], pair[2])
			buf = appendFakeMeasures(buf, pts)
			buf = append(buf, '}')
		}
		buf = append(buf, "}}"...)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(buf)
		return
	}
	filter, _ := req.Search.(string)
	rs, err := f.search(req.ResourceType, filter)
	if err != nil {
		gnocchiError(w, 400, err.Error())
		return
	}
	var name, method, agg string
	if m := fakeMetricSingle.FindStringSubmatch(ops); m != nil {
		name, method = m[1], m[2]
	} else if m := fakeAggregate.FindStringSubmatch(ops); m != nil {
		agg, name, method = m[1], m[2], m[3]
	} else {
		gnocchiError(w, 400, map[string]any{"cause": "Invalid operations", "detail": ops})
		return
	}
	groupby := q["groupby"]
	sort.Strings(groupby)
	type group struct {
		key map[string]any
		rs  []*fakeResource
	}
	var groups []*group
	idx := map[string]*group{}
	for _, x := range rs {
		key := map[string]any{}
		var parts []string
		for _, g := range groupby {
			key[g] = x.attrs[g]
			parts = append(parts, attrText(x.attrs[g]))
		}
		k := strings.Join(parts, "\x00")
		if idx[k] == nil {
			idx[k] = &group{key: key}
			groups = append(groups, idx[k])
		}
		idx[k].rs = append(idx[k].rs, x)
	}
	result := func(rs []*fakeResource) (any, error) {
		var refs []any
		measures := map[string]any{}
		sums := map[time.Time][]float64{}
		var g time.Duration
		for _, x := range rs {
			mid, ok := x.metrics[name]
			if !ok {
				continue
			}
			pts, err := f.points(f.metrics[mid], q, method)
			if err != nil {
				return nil, err
			}
			refs = append(refs, f.resourceDoc(x))
			var triples []any
			for _, p := range pts {
				triples = append(triples, []any{p.t.Format("2006-01-02T15:04:05+00:00"), p.g.Seconds(), p.v})
				sums[p.t] = append(sums[p.t], p.v)
				g = p.g
			}
			if agg == "" {
				measures[x.id] = map[string]any{name: map[string]any{method: triples}}
			}
		}
		if len(refs) == 0 {
			return nil, fmt.Errorf("Metrics not found")
		}
		if agg != "" {
			var ts []time.Time
			for t := range sums {
				ts = append(ts, t)
			}
			sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
			triples := []any{}
			for _, t := range ts {
				vs := sums[t]
				v := 0.0
				for _, x := range vs {
					v += x
				}
				if agg == "mean" {
					v /= float64(len(vs))
				}
				triples = append(triples, []any{t.Format("2006-01-02T15:04:05+00:00"), g.Seconds(), v})
			}
			measures = map[string]any{"aggregated": triples}
		}
		out := map[string]any{"measures": measures}
		if q.Get("details") == "true" {
			out["references"] = refs
		}
		return out, nil
	}
	if len(groupby) == 0 {
		res, err := result(rs)
		if err != nil {
			gnocchiError(w, 400, map[string]any{"cause": err.Error(), "detail": []string{name}})
			return
		}
		writeFakeJSON(w, 200, res)
		return
	}
	out := []any{}
	for _, g := range groups {
		res, err := result(g.rs)
		if err != nil {
			gnocchiError(w, 400, map[string]any{"cause": err.Error(), "detail": []string{name}})
			return
		}
		out = append(out, map[string]any{"group": g.key, "measures": res})
	}
	writeFakeJSON(w, 200, out)
}
