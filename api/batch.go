package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// A measures request is validated whole — syntax, every timestamp and
// value, every metric known and writable by the caller — before anything is
// published, and then published whole: the points go out in as few bus
// batches as the message size allows, each under a message id derived from
// the request's content, and a failed publish is retried under the same
// ids, so that JetStream stores each part once. A 202 means every point is
// durable; an error means the client should retry, which is harmless. The
// metrics create_metrics=true creates are made once the whole request has
// been validated, before the points are published; a publish that fails
// leaves them, empty, for the retry.

// maxChunkPoints bounds the points of one published batch so that no
// partition message can pass the bus's payload limit (16 bytes a point
// plus the series headers, under wire.MaxBatchBytes).
const maxChunkPoints = 200_000

// publishAttempts is how many times a failed publish is tried.
const publishAttempts = 3

// series is the decoded points of one metric of a request.
type series struct {
	metric   uuid.UUID
	resource *uuid.UUID
	ts       []int64
	vs       []float64
}

var batchPool = sync.Pool{New: func() any { return new(wire.Batch) }}

// publish puts the series on the bus, whole (see above).
func (s *Server) publish(ctx context.Context, ss []series) error {
	total := 0
	for i := range ss {
		total += len(ss[i].ts)
	}
	if total == 0 {
		return nil
	}
	base := contentID(ss)
	chunk := 0
	b := batchPool.Get().(*wire.Batch)
	defer batchPool.Put(b)
	reset := func() {
		b.Version, b.Producer = wire.Version, "api"
		b.Resources, b.Series = b.Resources[:0], b.Series[:0]
	}
	reset()
	points := 0
	resIndex := map[uuid.UUID]uint32{}
	flush := func() error {
		if len(b.Series) == 0 {
			return nil
		}
		id := base + "-" + strconv.Itoa(chunk)
		chunk++
		var err error
		for attempt := 0; attempt < publishAttempts; attempt++ {
			if err = s.d.Publisher.PublishWith(ctx, b, bus.PublishOptions{MsgID: id}); err == nil || ctx.Err() != nil {
				break
			}
			s.d.Log.Warn("cannot publish measures; retrying", "err", err, "attempt", attempt+1)
			time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
		}
		reset()
		clear(resIndex)
		points = 0
		return err
	}
	for i := range ss {
		x := &ss[i]
		for off := 0; off < len(x.ts); {
			n := min(len(x.ts)-off, maxChunkPoints-points)
			ser := &wire.Series{MetricId: x.metric[:], Timestamps: x.ts[off : off+n], Values: x.vs[off : off+n]}
			if x.resource != nil {
				ri, ok := resIndex[*x.resource]
				if !ok {
					ri = uint32(len(b.Resources))
					resIndex[*x.resource] = ri
					b.Resources = append(b.Resources, &wire.Resource{Id: x.resource.String()})
				}
				ser.Resource = &ri
			}
			b.Series = append(b.Series, ser)
			points += n
			off += n
			if points >= maxChunkPoints {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// contentID names the content of a request: the same points give the same
// id, so that a client's retry of a request whose answer it lost is
// stored once.
func contentID(ss []series) string {
	h := sha256.New()
	var buf [8]byte
	for i := range ss {
		h.Write(ss[i].metric[:])
		binary.LittleEndian.PutUint64(buf[:], uint64(len(ss[i].ts)))
		h.Write(buf[:])
		h.Write(int64Bytes(ss[i].ts))
		h.Write(float64Bytes(ss[i].vs))
	}
	return "api-" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (s *Server) publishError(err error) error {
	s.d.Log.Error("cannot publish measures", "err", err)
	return errorf(http.StatusServiceUnavailable, "Unable to store the measures now, retry later: %v", err)
}

// acceptMeasures is POST .../measures of one metric.
func (s *Server) acceptMeasures(w http.ResponseWriter, r *http.Request, m *index.Metric) {
	if !identityFrom(r.Context()).canChangeMetric(m) {
		writeError(w, forbidden())
		return
	}
	if err := checkContentType(r, "application/json"); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ts, vs, err := decodeMeasureList(body, s.d.Now())
	if err != nil {
		writeError(w, measuresError(err))
		return
	}
	if err := s.publish(r.Context(), []series{{metric: m.ID, resource: m.ResourceID, ts: ts, vs: vs}}); err != nil {
		writeError(w, s.publishError(err))
		return
	}
	writeEmpty(w, http.StatusAccepted)
}

// measuresError words a decoding error of a measures body, at path.
func measuresError(err error, path ...any) error {
	var em *errMeasure
	if errors.As(err, &em) {
		return invalidInput(em.reason+forDict(path), path...)
	}
	var se *errSyntax
	if errors.As(err, &se) {
		return &Error{Code: http.StatusBadRequest, Description: map[string]any{"cause": "Unable to decode body", "reason": se.Error()}}
	}
	return err
}

func forDict(path []any) string {
	if len(path) == 0 {
		return ""
	}
	return " for dictionary value"
}

// batchMetrics is POST /v1/batch/metrics/measures: {metric id: measures}.
func (s *Server) batchMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := checkContentType(r, "application/json"); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ss, err := decodeMetricBatch(body, s.d.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	if len(ss) == 0 {
		writeEmpty(w, http.StatusAccepted)
		return
	}
	ids := make([]any, 0, len(ss))
	seen := make(map[uuid.UUID]bool, len(ss))
	for _, x := range ss {
		if !seen[x.metric] {
			seen[x.metric] = true
			ids = append(ids, x.metric.String())
		}
	}
	metrics, err := s.d.Index.ListMetrics(ctx, index.ListMetricOptions{Filter: search.In{Attr: "id", Values: ids}})
	if err != nil {
		writeError(w, err)
		return
	}
	known := make(map[uuid.UUID]*index.Metric, len(metrics))
	for i := range metrics {
		known[metrics[i].ID] = &metrics[i]
	}
	if len(known) != len(seen) {
		var missing []string
		for id := range seen {
			if known[id] == nil {
				missing = append(missing, id.String())
			}
		}
		sort.Strings(missing)
		writeError(w, errorf(http.StatusBadRequest, "Unknown metrics: %s", strings.Join(missing, ", ")))
		return
	}
	caller := identityFrom(ctx)
	for i := range ss {
		m := known[ss[i].metric]
		if !caller.canChangeMetric(m) {
			writeError(w, forbidden())
			return
		}
		ss[i].resource = m.ResourceID
	}
	if err := s.publish(ctx, ss); err != nil {
		writeError(w, s.publishError(err))
		return
	}
	writeEmpty(w, http.StatusAccepted)
}

// decodeMetricBatch reads {metric id: [measures], ...}.
func decodeMetricBatch(b []byte, now time.Time) ([]series, error) {
	sc := scanner{b: b, now: now}
	if sc.peek() != '{' {
		if err := sc.skip(0); err != nil {
			return nil, measuresError(err)
		}
		return nil, invalidInput("expected a dictionary")
	}
	sc.i++
	n := estimateMeasures(b)
	ts, vs := make([]int64, 0, n), make([]float64, 0, n)
	var out []series
	var bad error
	if sc.peek() == '}' {
		sc.i++
		return nil, measuresError(sc.end())
	}
	for {
		key, err := sc.str()
		if err != nil {
			return nil, measuresError(err)
		}
		if err := sc.expect(':'); err != nil {
			return nil, measuresError(err)
		}
		id, idErr := uuid.Parse(key)
		if idErr != nil && bad == nil {
			bad = invalidInput("extra keys not allowed", strings.Clone(key))
		}
		start := len(ts)
		ts, vs, err = sc.measures(ts, vs)
		if err != nil {
			var em *errMeasure
			if !errors.As(err, &em) {
				return nil, measuresError(err)
			}
			if bad == nil {
				bad = measuresError(err, strings.Clone(key))
			}
		}
		if bad == nil {
			// Sub-slices of one backing array: capacity is capped so that an
			// append to one series can never overwrite the next.
			out = append(out, series{metric: id, ts: ts[start:len(ts):len(ts)], vs: vs[start:len(vs):len(vs)]})
		}
		switch sc.peek() {
		case ',':
			sc.i++
			continue
		case '}':
			sc.i++
		default:
			return nil, measuresError(sc.syntax("expected ',' or '}'"))
		}
		break
	}
	if err := sc.end(); err != nil {
		return nil, measuresError(err)
	}
	if bad != nil {
		return nil, bad
	}
	return out, nil
}

// resourceMeasures is one metric of one resource in a resources batch.
type resourceMeasures struct {
	rawID  string
	id     uuid.UUID
	name   string
	policy string
	unit   string
	hasDef bool
	ts     []int64
	vs     []float64
}

// batchResources is POST /v1/batch/resources/metrics/measures:
// {resource id: {metric name: measures or {"archive_policy_name", "unit",
// "measures"}}}, creating the missing metrics with create_metrics=true.
func (s *Server) batchResources(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	create, err := boolParam(r, "create_metrics")
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkContentType(r, "application/json"); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	caller := identityFrom(ctx)
	entries, err := decodeResourceBatch(body, s.d.Now(), caller.Creator())
	if err != nil {
		writeError(w, err)
		return
	}
	if len(entries) == 0 {
		writeEmpty(w, http.StatusAccepted)
		return
	}
	// The metrics the resources have, by resource and name.
	var or search.Or
	byResource := map[uuid.UUID][]any{}
	for _, e := range entries {
		byResource[e.id] = append(byResource[e.id], e.name)
	}
	for _, rid := range sortedUUIDs(byResource) {
		or = append(or, search.And{search.Cmp{Op: search.OpEq, Attr: "resource_id", Value: rid.String()}, search.In{Attr: "name", Values: byResource[rid]}})
	}
	existing, err := s.d.Index.ListMetrics(ctx, index.ListMetricOptions{Filter: or})
	if err != nil {
		writeError(w, err)
		return
	}
	type key struct {
		r    uuid.UUID
		name string
	}
	have := make(map[key]*index.Metric, len(existing))
	for i := range existing {
		if existing[i].ResourceID != nil {
			have[key{*existing[i].ResourceID, existing[i].Name}] = &existing[i]
		}
	}
	var unknownMetrics []string
	var unknownResources []any
	resources := map[uuid.UUID]*index.Resource{}
	var toCreate []int
	for i, e := range entries {
		if have[key{e.id, e.name}] != nil {
			continue
		}
		if !create {
			unknownMetrics = append(unknownMetrics, e.id.String()+"/"+e.name)
			continue
		}
		res, seen := resources[e.id]
		if !seen {
			got, err := s.d.Index.Resource(ctx, "generic", e.id)
			switch {
			case errors.Is(err, index.ErrNotFound):
				unknownResources = append(unknownResources, map[string]any{"resource_id": e.id.String(), "original_resource_id": e.rawID})
			case err != nil:
				writeError(w, err)
				return
			default:
				res = &got
			}
			resources[e.id] = res
		}
		if res == nil {
			continue
		}
		if strings.Contains(e.name, "/") {
			writeError(w, errorf(http.StatusBadRequest, "'/' is not supported in metric name"))
			return
		}
		if err := s.checkPolicyFor(ctx, e.name, e.policy); err != nil {
			writeError(w, err)
			return
		}
		if !caller.canChangeResource(res) {
			writeError(w, forbidden())
			return
		}
		toCreate = append(toCreate, i)
	}
	if len(unknownResources) > 0 {
		writeError(w, cause(http.StatusBadRequest, "Unknown resources", "", unknownResources))
		return
	}
	if len(unknownMetrics) > 0 {
		sort.Strings(unknownMetrics)
		writeError(w, errorf(http.StatusBadRequest, "Unknown metrics: %s", strings.Join(unknownMetrics, ", ")))
		return
	}
	for _, e := range entries {
		if m := have[key{e.id, e.name}]; m != nil && !caller.canChangeMetric(m) {
			writeError(w, forbidden())
			return
		}
	}
	for _, i := range toCreate {
		e := entries[i]
		m, _, err := s.d.Index.EnsureMetric(ctx, e.id, e.name, e.unit, e.policy, caller.Creator())
		if err != nil {
			if errors.Is(err, index.ErrInvalid) {
				err = errorf(http.StatusBadRequest, "%s", userMessage(err))
			}
			writeError(w, err)
			return
		}
		have[key{e.id, e.name}] = &m
	}
	ss := make([]series, 0, len(entries))
	for _, e := range entries {
		m := have[key{e.id, e.name}]
		ss = append(ss, series{metric: m.ID, resource: m.ResourceID, ts: e.ts, vs: e.vs})
	}
	if err := s.publish(ctx, ss); err != nil {
		writeError(w, s.publishError(err))
		return
	}
	writeEmpty(w, http.StatusAccepted)
}

func sortedUUIDs[V any](m map[uuid.UUID]V) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// decodeResourceBatch reads the body of the resources batch.
func decodeResourceBatch(b []byte, now time.Time, creator string) ([]resourceMeasures, error) {
	sc := scanner{b: b, now: now}
	if sc.peek() != '{' {
		if err := sc.skip(0); err != nil {
			return nil, measuresError(err)
		}
		return nil, invalidInput("expected a dictionary")
	}
	sc.i++
	var out []resourceMeasures
	var bad error
	note := func(err error) {
		if bad == nil {
			bad = err
		}
	}
	n := estimateMeasures(b)
	ts, vs := make([]int64, 0, n), make([]float64, 0, n)
	if sc.peek() == '}' {
		sc.i++
		return nil, measuresError(sc.end())
	}
	for {
		rawKey, err := sc.str()
		if err != nil {
			return nil, measuresError(err)
		}
		rawID := strings.Clone(rawKey)
		if err := sc.expect(':'); err != nil {
			return nil, measuresError(err)
		}
		rid, idErr := pipeline.ResourceUUID(rawID, creator)
		if idErr != nil {
			note(invalidInput("extra keys not allowed", rawID))
		}
		if sc.peek() != '{' {
			if err := sc.skip(0); err != nil {
				return nil, measuresError(err)
			}
			note(invalidInput("expected a dictionary for dictionary value", rawID))
		} else {
			sc.i++
			if sc.peek() == '}' {
				sc.i++
			} else {
				for {
					nameRaw, err := sc.str()
					if err != nil {
						return nil, measuresError(err)
					}
					name := strings.Clone(nameRaw)
					if err := sc.expect(':'); err != nil {
						return nil, measuresError(err)
					}
					e := resourceMeasures{rawID: rawID, id: rid, name: name}
					start := len(ts)
					if sc.peek() == '{' {
						e.hasDef = true
						ts, vs, err = sc.metricDefinition(&e, ts, vs, rawID, name)
					} else {
						ts, vs, err = sc.measures(ts, vs)
						if err != nil {
							var em *errMeasure
							if errors.As(err, &em) {
								err = measuresError(err, rawID, name)
							}
						}
					}
					if err != nil {
						var ae *Error
						if !errors.As(err, &ae) {
							return nil, measuresError(err)
						}
						note(err)
					}
					e.ts, e.vs = ts[start:len(ts):len(ts)], vs[start:len(vs):len(vs)]
					out = append(out, e)
					switch sc.peek() {
					case ',':
						sc.i++
						continue
					case '}':
						sc.i++
					default:
						return nil, measuresError(sc.syntax("expected ',' or '}'"))
					}
					break
				}
			}
		}
		switch sc.peek() {
		case ',':
			sc.i++
			continue
		case '}':
			sc.i++
		default:
			return nil, measuresError(sc.syntax("expected ',' or '}'"))
		}
		break
	}
	if err := sc.end(); err != nil {
		return nil, measuresError(err)
	}
	if bad != nil {
		return nil, bad
	}
	// A resource named twice (its raw id and its UUID) merges, as the
	// last key wins in Gnocchi; the order of the body is kept.
	return out, nil
}

// metricDefinition reads {"archive_policy_name", "unit", "measures"}.
func (sc *scanner) metricDefinition(e *resourceMeasures, ts []int64, vs []float64, rawID, name string) ([]int64, []float64, error) {
	sc.i++ // '{'
	var bad error
	hasMeasures := false
	if sc.peek() == '}' {
		sc.i++
		return ts, vs, invalidInput("required key not provided", rawID, name, "measures")
	}
	for {
		k, err := sc.str()
		if err != nil {
			return ts, vs, err
		}
		key := strings.Clone(k)
		if err := sc.expect(':'); err != nil {
			return ts, vs, err
		}
		switch key {
		case "measures":
			hasMeasures = true
			ts, vs, err = sc.measures(ts, vs)
			if err != nil {
				var em *errMeasure
				if !errors.As(err, &em) {
					return ts, vs, err
				}
				if bad == nil {
					bad = measuresError(err, rawID, name, "measures")
				}
			}
		case "archive_policy_name", "unit":
			if sc.peek() != '"' {
				if err := sc.skip(0); err != nil {
					return ts, vs, err
				}
				if bad == nil {
					bad = invalidInput("expected str for dictionary value", rawID, name, key)
				}
				break
			}
			v, err := sc.str()
			if err != nil {
				return ts, vs, err
			}
			if key == "unit" {
				e.unit = strings.Clone(v)
			} else {
				e.policy = strings.Clone(v)
			}
		default:
			if err := sc.skip(0); err != nil {
				return ts, vs, err
			}
			if bad == nil {
				bad = invalidInput("extra keys not allowed", rawID, name, key)
			}
		}
		switch sc.peek() {
		case ',':
			sc.i++
			continue
		case '}':
			sc.i++
		default:
			return ts, vs, sc.syntax("expected ',' or '}'")
		}
		break
	}
	if bad == nil && !hasMeasures {
		bad = invalidInput("required key not provided", rawID, name, "measures")
	}
	return ts, vs, bad
}

// int64Bytes and float64Bytes view columns as their bytes (in the
// machine's order) for hashing, without copying.
func int64Bytes(v []int64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v))
}

func float64Bytes(v []float64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v))
}
