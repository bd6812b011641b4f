package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
)

// Target is where the points of one series go.
type Target struct {
	Metric uuid.UUID
	Policy *archive.Policy
}

type nameKey struct {
	resource uuid.UUID
	name     string
}

// Resolver maps series to metrics. The map (resource, name) → metric lives
// in memory, so the hot path makes no query; a miss creates the resource and
// the metric in the index, once and race-free (the index's Ensure methods
// settle races between processors). It is safe for concurrent use.
//
// The resource definitions (gnocchi_resources.yaml) decide the resource
// type of a series whose resource has none, the archive policy of a new
// metric and the attributes taken from the resource's metadata; see
// pipeline/resources/RESOURCES.md.
type Resolver struct {
	idx  *index.Index
	defs *resources.Definitions
	log  *slog.Logger
	met  resolverMetrics

	mu       sync.RWMutex // guards the maps below
	byName   map[nameKey]Target
	byID     map[uuid.UUID]Target
	policies map[string]*archive.Policy
	attrs    map[uuid.UUID]resourceState
	types    map[string]cachedType
	seed     maphash.Seed

	warned  sync.Map     // one-time warnings already logged, by key
	nWarned atomic.Int64 // entries of warned
}

// maxWarned bounds the one-time warnings remembered: their keys hold
// meter names, which notifications choose. Past it they are logged at
// debug level.
const maxWarned = 10000

// resourceState is what the resolver last applied to a resource: the hash
// of the metadata it came from (to skip equal metadata without decoding
// it) and the hash of the attributes it made of it (to skip metadata that
// changed in keys the definitions do not read).
type resourceState struct {
	raw, applied uint64
}

type cachedType struct {
	rt index.ResourceType
	at time.Time
}

// typeTTL is how long a resource type read from the index is used before
// it is read again, so that an attribute added through the API is filled
// soon after without a query per resource.
const typeTTL = 10 * time.Second

type resolverMetrics struct {
	filled, invalid, truncated, fallbacks, policyFallbacks *metrics.Counter
}

// NewResolver returns a resolver over idx that applies defs (nil: the
// default definitions) and counts on set (nil: privately).
func NewResolver(idx *index.Index, defs *resources.Definitions, set *metrics.Set, log *slog.Logger) *Resolver {
	if defs == nil {
		defs = resources.Default()
	}
	if set == nil {
		set = metrics.NewSet()
	}
	return &Resolver{
		idx: idx, defs: defs, log: log,
		met: resolverMetrics{
			filled:          set.GetOrCreateCounter(`vigil_ingest_resource_attributes_total{outcome="filled"}`),
			invalid:         set.GetOrCreateCounter(`vigil_ingest_resource_attributes_total{outcome="dropped"}`),
			truncated:       set.GetOrCreateCounter(`vigil_ingest_resource_attributes_total{outcome="truncated"}`),
			fallbacks:       set.GetOrCreateCounter(`vigil_ingest_resource_type_fallbacks_total`),
			policyFallbacks: set.GetOrCreateCounter(`vigil_ingest_archive_policy_fallbacks_total`),
		},
		byName:   make(map[nameKey]Target),
		byID:     make(map[uuid.UUID]Target),
		policies: make(map[string]*archive.Policy),
		attrs:    make(map[uuid.UUID]resourceState),
		types:    make(map[string]cachedType),
		seed:     maphash.MakeSeed(),
	}
}

// Definitions returns the resource definitions the resolver applies.
func (r *Resolver) Definitions() *resources.Definitions { return r.defs }

// warnOnce logs msg the first time key is seen.
func (r *Resolver) warnOnce(key, msg string, args ...any) {
	if _, seen := r.warned.Load(key); seen {
		return
	}
	if r.nWarned.Load() >= maxWarned {
		r.log.Debug(msg, args...)
		return
	}
	if _, seen := r.warned.LoadOrStore(key, struct{}{}); !seen {
		r.nWarned.Add(1)
		r.log.Warn(msg, args...)
	}
}

// Warm loads every metric of the index into the map.
func (r *Resolver) Warm(ctx context.Context) error {
	return r.idx.ForEachMetric(ctx, func(m index.Metric) error {
		p, err := r.policy(ctx, m.ArchivePolicyName)
		if err != nil {
			return err
		}
		t := Target{Metric: m.ID, Policy: p}
		r.mu.Lock()
		r.byID[m.ID] = t
		if m.ResourceID != nil {
			r.byName[nameKey{*m.ResourceID, m.Name}] = t
		}
		r.mu.Unlock()
		return nil
	})
}

// ForgetMetric drops a deleted metric from the map.
func (r *Resolver) ForgetMetric(id uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byID, id)
	for k, t := range r.byName {
		if t.Metric == id {
			delete(r.byName, k)
		}
	}
}

// RefreshPolicies re-reads the archive policies, so that a changed
// definition reaches the processors.
func (r *Resolver) RefreshPolicies(ctx context.Context) error {
	ps, err := r.idx.ArchivePolicies(ctx)
	if err != nil {
		return fmt.Errorf("cannot refresh archive policies: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range ps {
		p := ps[i]
		if old, ok := r.policies[p.Name]; ok {
			*old = p // targets hold the pointer; update it in place
		} else {
			r.policies[p.Name] = &p
		}
	}
	return nil
}

func (r *Resolver) policy(ctx context.Context, name string) (*archive.Policy, error) {
	r.mu.RLock()
	p, ok := r.policies[name]
	r.mu.RUnlock()
	if ok {
		return p, nil
	}
	ap, err := r.idx.ArchivePolicy(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cannot load archive policy %q: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.policies[name]; ok {
		return p, nil
	}
	r.policies[name] = &ap
	return &ap, nil
}

// ErrUnknownMetric is returned for a series naming a metric id that does not
// exist (any more).
var ErrUnknownMetric = errors.New("unknown metric")

// ErrNotMapped is returned for a series whose resource has no type and
// whose meter the resource definitions do not list: Ceilometer's "metric
// X is not handled by Gnocchi". Its measures are not stored.
var ErrNotMapped = errors.New("meter is not handled by the resource definitions")

// ErrUnstorable is returned for a series that no retry can store: its
// resource id is invalid, or its metric cannot be created.
var ErrUnstorable = errors.New("series cannot be stored")

// Resolve returns the target of series s of batch b.
func (r *Resolver) Resolve(ctx context.Context, b *wire.Batch, s *wire.Series) (Target, error) {
	if len(s.MetricId) == 16 {
		id := uuid.UUID(s.MetricId)
		r.mu.RLock()
		t, ok := r.byID[id]
		r.mu.RUnlock()
		if ok {
			return t, nil
		}
		m, err := r.idx.Metric(ctx, id)
		if errors.Is(err, index.ErrNotFound) {
			return Target{}, fmt.Errorf("%w %s", ErrUnknownMetric, id)
		}
		if err != nil {
			return Target{}, fmt.Errorf("cannot look up metric %s: %w", id, err)
		}
		return r.rememberMetric(ctx, m)
	}
	res := b.Resources[*s.Resource]
	typ := res.Type
	var def *resources.Resource
	if typ == "" {
		if def = r.defs.ForMeter(s.Name); def == nil {
			return Target{}, fmt.Errorf("%w: %s", ErrNotMapped, s.Name)
		}
		typ = def.Type
	}
	rid, err := pipeline.ResourceUUID(res.Id, res.Creator)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %w", ErrUnstorable, err)
	}
	if err := r.syncResource(ctx, rid, res, typ, s); err != nil {
		return Target{}, err
	}
	k := nameKey{rid, s.Name}
	r.mu.RLock()
	t, ok := r.byName[k]
	r.mu.RUnlock()
	if ok {
		return t, nil
	}
	return r.createMetric(ctx, rid, res, typ, def, s)
}

// createMetric creates the metric of series s on resource rid, with the
// series' archive policy, else the one the definitions give its meter on
// its type, else the one the archive policy rules choose. A policy that
// does not exist falls back to the rules, logged once.
func (r *Resolver) createMetric(ctx context.Context, rid uuid.UUID, res *wire.Resource, typ string, def *resources.Resource, s *wire.Series) (Target, error) {
	policy := s.ArchivePolicy
	if policy == "" {
		if def == nil {
			def = r.defs.ForType(typ)
		}
		if def != nil {
			policy, _ = def.Policy(s.Name)
		}
	}
	m, _, err := r.idx.EnsureMetric(ctx, rid, s.Name, s.Unit, policy, res.Creator)
	if errors.Is(err, index.ErrInvalid) && policy != "" {
		if _, perr := r.idx.ArchivePolicy(ctx, policy); errors.Is(perr, index.ErrNotFound) {
			r.met.policyFallbacks.Inc()
			r.warnOnce("policy:"+policy, "archive policy does not exist; metrics that ask for it get the one the archive policy rules choose",
				"policy", policy, "metric", s.Name)
			m, _, err = r.idx.EnsureMetric(ctx, rid, s.Name, s.Unit, "", res.Creator)
		}
	}
	if errors.Is(err, index.ErrInvalid) {
		return Target{}, fmt.Errorf("%w: cannot create metric %q of resource %s: %w", ErrUnstorable, s.Name, rid, err)
	}
	if err != nil {
		return Target{}, fmt.Errorf("cannot create metric %q of resource %s: %w", s.Name, rid, err)
	}
	return r.rememberMetric(ctx, m)
}

func (r *Resolver) rememberMetric(ctx context.Context, m index.Metric) (Target, error) {
	p, err := r.policy(ctx, m.ArchivePolicyName)
	if err != nil {
		return Target{}, err
	}
	t := Target{Metric: m.ID, Policy: p}
	r.mu.Lock()
	r.byID[m.ID] = t
	if m.ResourceID != nil {
		r.byName[nameKey{*m.ResourceID, m.Name}] = t
	}
	r.mu.Unlock()
	return t, nil
}

// syncResource creates the resource on first sight and applies changed
// attributes (which records history). The metadata hash keeps this off the
// hot path when nothing changed.
func (r *Resolver) syncResource(ctx context.Context, rid uuid.UUID, res *wire.Resource, typ string, s *wire.Series) error {
	var mh maphash.Hash // on the stack: the hot path does not allocate
	mh.SetSeed(r.seed)
	mh.Write(res.MetadataJson)
	for _, f := range [...]string{typ, res.ProjectId, res.UserId} {
		mh.WriteByte(0)
		mh.WriteString(f)
	}
	h := mh.Sum64()
	r.mu.RLock()
	prev, seen := r.attrs[rid]
	r.mu.RUnlock()
	if seen && prev.raw == h {
		return nil
	}
	var md map[string]any
	if len(res.MetadataJson) > 0 {
		if err := json.Unmarshal(res.MetadataJson, &md); err != nil {
			// Valid JSON (the batch was validated) but not an object: no
			// attribute can come from it.
			r.warnOnce("metadata:"+s.Name, "resource metadata is not a JSON object; ignored", "resource", res.Id, "meter", s.Name, "err", err)
			md = nil
		}
	}
	rt, err := r.resourceType(ctx, typ)
	if errors.Is(err, index.ErrNotFound) && typ != "generic" {
		r.warnOnce("type:"+typ, "resource type does not exist in the index; its resources are created as generic",
			"type", typ, "meter", s.Name)
		typ = "generic"
		rt, err = r.resourceType(ctx, typ)
	}
	if err != nil {
		return fmt.Errorf("cannot use resource type %q for resource %q: %w", typ, res.Id, err)
	}
	values := r.extract(typ, &rt, res, s, md)
	applied := r.attrHash(typ, res, values)
	if seen && prev.applied == applied {
		r.rememberResource(rid, resourceState{raw: h, applied: applied})
		return nil
	}
	if err := r.applyResource(ctx, rid, res, typ, &rt, values, s.Name); err != nil {
		return err
	}
	r.rememberResource(rid, resourceState{raw: h, applied: applied})
	return nil
}

func (r *Resolver) rememberResource(rid uuid.UUID, st resourceState) {
	r.mu.Lock()
	r.attrs[rid] = st
	r.mu.Unlock()
}

// extract takes the attribute values of a resource of type typ from its
// sample: the definitions' attributes of the type when it has a
// definition, else (a type of vigil's own pollers) the metadata keys named
// like the type's attributes.
func (r *Resolver) extract(typ string, rt *index.ResourceType, res *wire.Resource, s *wire.Series, md map[string]any) map[string]any {
	if def := r.defs.ForType(typ); def != nil {
		sample := map[string]any{
			"name": s.Name, "type": pipeline.Type(s.Type).String(), "unit": s.Unit, "resource_id": res.Id,
			"user_id": nullable(res.UserId), "project_id": nullable(res.ProjectId), "source": res.Source,
			"resource_metadata": md,
		}
		return def.Extract(sample, nil)
	}
	out := make(map[string]any, len(rt.Attributes))
	for name := range rt.Attributes {
		if v, ok := md[name]; ok {
			out[name] = v
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// attrHash digests what applying values to a resource writes.
func (r *Resolver) attrHash(typ string, res *wire.Resource, values map[string]any) uint64 {
	b, err := json.Marshal(values) // sorted keys
	if err != nil {
		b = nil
	}
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(typ + "\x00" + res.ProjectId + "\x00" + res.UserId + "\x00")
	h.Write(b)
	return h.Sum64()
}

// applyResource creates resource rid of type typ with values, or patches
// the attributes of the existing one that differ. Values that do not fit
// are dropped, required attributes without a value are filled, and a
// resource that its type cannot take at all is created as generic: each
// counted and logged once, so that no resource makes its measures wait.
func (r *Resolver) applyResource(ctx context.Context, rid uuid.UUID, res *wire.Resource, typ string, rt *index.ResourceType, values map[string]any, meter string) error {
	attrs, notes := conform(rt, values, true)
	user, project := optional(res.UserId), optional(res.ProjectId)
	cu, cp, _ := cutCreator(res.Creator)
	want := index.Resource{
		ID: rid, OriginalResourceID: res.Id, Type: typ, Creator: res.Creator,
		CreatedByUserID: cu, CreatedByProjectID: cp,
		UserID: user, ProjectID: project, StartedAt: time.Now().UTC(), Attributes: attrs,
	}
	fallback := notes.unfillable != ""
	if fallback {
		want.Type, want.Attributes = "generic", nil
	}
	got, created, err := r.idx.EnsureResource(ctx, want)
	if errors.Is(err, index.ErrInvalid) && want.Type != "generic" {
		r.warnOnce("invalid:"+typ, "resource type refuses a resource made from a sample; such resources are created as generic",
			"type", typ, "resource", res.Id, "meter", meter, "err", err)
		fallback = true
		want.Type, want.Attributes = "generic", nil
		got, created, err = r.idx.EnsureResource(ctx, want)
	}
	if errors.Is(err, index.ErrInvalid) {
		return fmt.Errorf("%w: cannot create resource %q: %w", ErrUnstorable, res.Id, err)
	}
	if err != nil {
		return fmt.Errorf("cannot create resource %q of type %s: %w", res.Id, typ, err)
	}
	if created {
		if fallback {
			r.met.fallbacks.Inc()
			if notes.unfillable != "" {
				r.warnOnce("unfillable:"+typ+"."+notes.unfillable, "a required attribute has no value in the sample and cannot be filled; such resources are created as generic",
					"type", typ, "attribute", notes.unfillable, "resource", res.Id, "meter", meter)
			}
			return nil
		}
		r.note(typ, res.Id, meter, notes)
		return nil
	}
	prt := rt
	if got.Type != typ {
		t, err := r.resourceType(ctx, got.Type)
		if err != nil {
			return fmt.Errorf("cannot use resource type %q of resource %q: %w", got.Type, res.Id, err)
		}
		prt = &t
	}
	patch, pnotes := conform(prt, values, false)
	if !changed(got.Attributes, patch) {
		return nil
	}
	r.note(got.Type, res.Id, meter, pnotes)
	_, err = r.idx.UpdateResource(ctx, got.Type, rid, index.ResourcePatch{Attributes: patch}, 0)
	switch {
	case errors.Is(err, index.ErrInvalid):
		r.met.invalid.Inc()
		r.warnOnce("patch:"+got.Type, "cannot apply the attributes of a sample to its resource; they are left as they are",
			"type", got.Type, "resource", res.Id, "meter", meter, "err", err)
	case errors.Is(err, index.ErrNotFound):
		// Deleted since EnsureResource: the next sample creates it again.
	case err != nil:
		return fmt.Errorf("cannot update attributes of resource %q: %w", res.Id, err)
	}
	return nil
}

// note counts and logs once what conform did to a resource's values.
func (r *Resolver) note(typ, resource, meter string, c conformed) {
	for _, a := range c.filled {
		r.met.filled.Inc()
		r.warnOnce("fill:"+typ+"."+a, "a required attribute has no value in the sample; filled with an empty string",
			"type", typ, "attribute", a, "resource", resource, "meter", meter)
	}
	for _, a := range c.invalid {
		r.met.invalid.Inc()
		r.warnOnce("drop:"+typ+"."+a, "an attribute's value in the sample does not fit its type; left out",
			"type", typ, "attribute", a, "resource", resource, "meter", meter)
	}
	for _, a := range c.truncated {
		r.met.truncated.Inc()
		r.warnOnce("cut:"+typ+"."+a, "an attribute's value in the sample is longer than its type allows; cut",
			"type", typ, "attribute", a, "resource", resource, "meter", meter)
	}
}

// resourceType returns resource type name, read from the index at most
// every typeTTL.
func (r *Resolver) resourceType(ctx context.Context, name string) (index.ResourceType, error) {
	now := time.Now()
	r.mu.RLock()
	c, ok := r.types[name]
	r.mu.RUnlock()
	if ok && now.Sub(c.at) < typeTTL {
		return c.rt, nil
	}
	rt, err := r.idx.ResourceType(ctx, name)
	if err != nil {
		return rt, err
	}
	r.mu.Lock()
	r.types[name] = cachedType{rt: rt, at: now}
	r.mu.Unlock()
	return rt, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func cutCreator(c string) (user, project string, ok bool) {
	for i := 0; i < len(c); i++ {
		if c[i] == ':' {
			return c[:i], c[i+1:], true
		}
	}
	return c, "", false
}

func changed(have, want map[string]any) bool {
	for k, v := range want {
		hv, ok := have[k]
		if !ok || fmt.Sprint(hv) != fmt.Sprint(v) {
			return true
		}
	}
	return false
}
