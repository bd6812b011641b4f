package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// Source is what rating reads from the store: resources with their
// revisions, archive policies, and aggregated measures. IndexSource is the
// implementation over the index and the series storage. Its methods may
// run concurrently.
type Source interface {
	// Resources returns the resources of type q.Type that existed during
	// [q.From, q.To) and, when q.Project is not empty, belonged to it for
	// some of that time, sorted by id. Each carries its revisions that
	// overlap [q.From, q.To), oldest first, restricted to those of
	// q.Project when it is set, and its metrics of the names in q.Metrics.
	// An unknown type wraps index.ErrNotFound.
	Resources(ctx context.Context, q ResourceQuery) ([]Resource, error)
	// HasMetric reports whether any active metric is called name.
	HasMetric(ctx context.Context, name string) (bool, error)
	// Policy returns the archive policy called name.
	Policy(ctx context.Context, name string) (archive.Policy, error)
	// Measures returns the points of metric id, of policy p, that o
	// selects (one granularity), by ascending timestamp.
	Measures(ctx context.Context, id uuid.UUID, p *archive.Policy, o query.MeasuresOptions) ([]query.Measure, error)
}

// ResourceQuery selects resources for Source.Resources.
type ResourceQuery struct {
	Type     string
	From, To time.Time
	Project  string
	Metrics  []string
}

// Resource is a resource as rating sees it.
type Resource struct {
	ID                 uuid.UUID
	OriginalResourceID string
	Type               string
	// StartedAt and EndedAt (zero: still running) are the resource's
	// lifetime, from its current revision.
	StartedAt, EndedAt time.Time
	// Revisions tile time, oldest first; see Revision.
	Revisions []Revision
	// Metrics by name, of the names asked for.
	Metrics map[string]MetricRef
}

// Revision is the state of a resource during [Start, End). A zero Start
// means since the resource began (its first revision), a zero End until
// now (its current revision).
type Revision struct {
	Start, End time.Time
	// ProjectID is the project billed: the resource's project_id, or the
	// project that created it when it has none.
	ProjectID  string
	UserID     string
	Attributes map[string]any
}

// MetricRef is a metric of a resource and the name of its archive policy.
type MetricRef struct {
	ID     uuid.UUID
	Policy string
}

// IndexSource is the Source over the SQL index and the series storage.
type IndexSource struct {
	ix *index.Index
	rd *query.Reader
}

// NewIndexSource returns the Source reading resources from ix and
// measures through rd.
func NewIndexSource(ix *index.Index, rd *query.Reader) *IndexSource {
	return &IndexSource{ix: ix, rd: rd}
}

// Resources implements Source with one history listing of the type: the
// current revision of every resource alive in the period, and the past
// revisions that ended inside or after it.
func (s *IndexSource) Resources(ctx context.Context, q ResourceQuery) ([]Resource, error) {
	from := q.From.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	// The index keeps microseconds: round the end up so that the filter
	// keeps everything that starts before it.
	to := ceilMicro(q.To).Format(time.RFC3339Nano)
	filter := search.Or{
		search.And{
			search.Cmp{Op: search.OpEq, Attr: "revision_end", Value: nil},
			search.Cmp{Op: search.OpLt, Attr: "started_at", Value: to},
			search.Or{
				search.Cmp{Op: search.OpEq, Attr: "ended_at", Value: nil},
				search.Cmp{Op: search.OpGt, Attr: "ended_at", Value: from},
			},
		},
		search.And{
			search.Cmp{Op: search.OpGt, Attr: "revision_end", Value: from},
			search.Cmp{Op: search.OpLt, Attr: "revision_start", Value: to},
		},
	}
	opts := index.ListOptions{
		Type:    q.Type,
		History: true,
		Filter:  filter,
		Sort:    []index.SortKey{{Key: "id"}, {Key: "revision"}},
	}
	if q.Project != "" {
		opts.ProjectScope = &q.Project
	}
	rows, err := s.ix.ListResources(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot list the resources of type %s: %w", q.Type, err)
	}
	policies := make(map[uuid.UUID]string)
	for _, name := range q.Metrics {
		mo := index.ListMetricOptions{Name: name}
		if q.Project != "" {
			mo.ProjectScope = &q.Project
		}
		ms, err := s.ix.ListMetrics(ctx, mo)
		if err != nil {
			return nil, fmt.Errorf("cannot list the metrics called %s: %w", name, err)
		}
		for _, m := range ms {
			policies[m.ID] = m.ArchivePolicyName
		}
	}
	var out []Resource
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].ID == rows[i].ID {
			j++
		}
		group := rows[i:j]
		i = j
		cur := &group[len(group)-1]
		if cur.RevisionEnd != nil {
			// The current revision is outside the listing: the resource
			// moved to another project, or ended before the period.
			r, err := s.ix.Resource(ctx, q.Type, cur.ID)
			if errors.Is(err, index.ErrNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("cannot read resource %s: %w", cur.ID, err)
			}
			cur = &r
		}
		if !cur.StartedAt.Before(q.To) || (cur.EndedAt != nil && !cur.EndedAt.After(q.From)) {
			continue
		}
		res := Resource{
			ID:                 cur.ID,
			OriginalResourceID: cur.OriginalResourceID,
			Type:               cur.Type,
			StartedAt:          cur.StartedAt,
			Metrics:            map[string]MetricRef{},
		}
		if cur.EndedAt != nil {
			res.EndedAt = *cur.EndedAt
		}
		for _, name := range q.Metrics {
			if id, ok := cur.Metrics[name]; ok {
				if p, ok := policies[id]; ok {
					res.Metrics[name] = MetricRef{ID: id, Policy: p}
				}
			}
		}
		for _, g := range group {
			rev := Revision{Attributes: g.Attributes, ProjectID: g.CreatedByProjectID}
			if g.Revision > 1 {
				rev.Start = g.RevisionStart
			}
			if g.RevisionEnd != nil {
				rev.End = *g.RevisionEnd
			}
			if g.ProjectID != nil {
				rev.ProjectID = *g.ProjectID
			}
			if g.UserID != nil {
				rev.UserID = *g.UserID
			}
			if q.Project != "" && rev.ProjectID != q.Project {
				continue
			}
			res.Revisions = append(res.Revisions, rev)
		}
		if len(res.Revisions) > 0 {
			out = append(out, res)
		}
	}
	return out, nil
}

func ceilMicro(t time.Time) time.Time {
	t = t.UTC()
	if c := t.Truncate(time.Microsecond); c.Before(t) {
		return c.Add(time.Microsecond)
	}
	return t
}

// HasMetric implements Source.
func (s *IndexSource) HasMetric(ctx context.Context, name string) (bool, error) {
	ms, err := s.ix.ListMetrics(ctx, index.ListMetricOptions{Name: name, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("cannot look for metrics called %s: %w", name, err)
	}
	return len(ms) > 0, nil
}

// Policy implements Source.
func (s *IndexSource) Policy(ctx context.Context, name string) (archive.Policy, error) {
	p, err := s.ix.ArchivePolicy(ctx, name)
	if err != nil {
		return p, fmt.Errorf("cannot read archive policy %s: %w", name, err)
	}
	return p, nil
}

// Measures implements Source.
func (s *IndexSource) Measures(ctx context.Context, id uuid.UUID, p *archive.Policy, o query.MeasuresOptions) ([]query.Measure, error) {
	return s.rd.Measures(ctx, id, p, o)
}
