package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
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
type Resolver struct {
	idx *index.Index
	log *slog.Logger

	mu       sync.RWMutex // guards the maps below
	byName   map[nameKey]Target
	byID     map[uuid.UUID]Target
	policies map[string]*archive.Policy
	attrs    map[uuid.UUID]uint64 // hash of the metadata last applied
	seed     maphash.Seed
}

// NewResolver returns a resolver over idx.
func NewResolver(idx *index.Index, log *slog.Logger) *Resolver {
	return &Resolver{
		idx: idx, log: log,
		byName:   make(map[nameKey]Target),
		byID:     make(map[uuid.UUID]Target),
		policies: make(map[string]*archive.Policy),
		attrs:    make(map[uuid.UUID]uint64),
		seed:     maphash.MakeSeed(),
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
		return r.remember(ctx, m)
	}
	res := b.Resources[*s.Resource]
	rid, err := pipeline.ResourceUUID(res.Id, res.Creator)
	if err != nil {
		return Target{}, err
	}
	if err := r.syncResource(ctx, rid, res); err != nil {
		return Target{}, err
	}
	k := nameKey{rid, s.Name}
	r.mu.RLock()
	t, ok := r.byName[k]
	r.mu.RUnlock()
	if ok {
		return t, nil
	}
	policy := s.ArchivePolicy
	if policy == "" {
		rule, err := r.idx.PolicyForMetricName(ctx, s.Name)
		if err != nil {
			return Target{}, fmt.Errorf("no archive policy for metric %q: %w", s.Name, err)
		}
		policy = rule
	}
	m, _, err := r.idx.EnsureMetric(ctx, rid, s.Name, s.Unit, policy, res.Creator)
	if err != nil {
		return Target{}, fmt.Errorf("cannot create metric %q of resource %s: %w", s.Name, rid, err)
	}
	return r.remember(ctx, m)
}

func (r *Resolver) remember(ctx context.Context, m index.Metric) (Target, error) {
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
// metadata to its attributes (which records history). The metadata hash
// keeps this off the hot path when nothing changed.
func (r *Resolver) syncResource(ctx context.Context, rid uuid.UUID, res *wire.Resource) error {
	h := maphash.Bytes(r.seed, res.MetadataJson) ^ maphash.String(r.seed, res.Type+"\x00"+res.ProjectId+"\x00"+res.UserId)
	r.mu.RLock()
	prev, seen := r.attrs[rid]
	r.mu.RUnlock()
	if seen && prev == h {
		return nil
	}
	typ := res.Type
	if typ == "" {
		typ = "generic"
	}
	rt, err := r.idx.ResourceType(ctx, typ)
	if err != nil {
		return fmt.Errorf("cannot use resource type %q for resource %q: %w", typ, res.Id, err)
	}
	var md map[string]any
	if len(res.MetadataJson) > 0 {
		if err := json.Unmarshal(res.MetadataJson, &md); err != nil {
			return fmt.Errorf("cannot decode metadata of resource %q: %w", res.Id, err)
		}
	}
	attrs := make(map[string]any)
	for name := range rt.Attributes {
		if v, ok := md[name]; ok {
			attrs[name] = v
		}
	}
	now := time.Now().UTC()
	user, project := optional(res.UserId), optional(res.ProjectId)
	cu, cp, _ := cutCreator(res.Creator)
	got, created, err := r.idx.EnsureResource(ctx, index.Resource{
		ID: rid, OriginalResourceID: res.Id, Type: typ, Creator: res.Creator,
		CreatedByUserID: cu, CreatedByProjectID: cp,
		UserID: user, ProjectID: project, StartedAt: now, Attributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("cannot create resource %q of type %s: %w", res.Id, typ, err)
	}
	if !created && changed(got.Attributes, attrs) {
		if _, err := r.idx.UpdateResource(ctx, got.Type, rid, index.ResourcePatch{Attributes: attrs}, 0); err != nil {
			return fmt.Errorf("cannot update attributes of resource %q: %w", res.Id, err)
		}
	}
	r.mu.Lock()
	r.attrs[rid] = h
	r.mu.Unlock()
	return nil
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
