package api

import (
	"context"

	"github.com/vigil-telemetry/vigil/tsdb/index"
)

// Gnocchi's default policy, which vigil applies in every auth mode:
//
//	admin_or_creator: role:admin or user:%(creator)s or project_id:%(created_by_project_id)s
//	resource_owner:   project_id:%(project_id)s
//	metric_owner:     project_id:%(resource.project_id)s
//
// Reading a resource takes admin_or_creator or resource_owner, changing or
// deleting it admin_or_creator; reading a metric or its measures takes
// admin_or_creator or metric_owner, posting measures or deleting it
// admin_or_creator; archive policies, their rules and resource types are
// changed by admins only, and /v1/status is for admins. A refused request
// on one object is a 403, as in Gnocchi; listings and searches leave out
// what the caller may not read.

// ownsCreator is admin_or_creator.
func (id Identity) ownsCreator(creator, createdByProject string) bool {
	return id.Admin || id.Creator() == creator || (id.ProjectID != "" && id.ProjectID == createdByProject)
}

func (id Identity) project(p *string) bool {
	return p != nil && id.ProjectID != "" && *p == id.ProjectID
}

// canReadResource is "get resource".
func (id Identity) canReadResource(r *index.Resource) bool {
	return id.ownsCreator(r.Creator, r.CreatedByProjectID) || id.project(r.ProjectID)
}

// canChangeResource is "update resource" and "delete resource".
func (id Identity) canChangeResource(r *index.Resource) bool {
	return id.ownsCreator(r.Creator, r.CreatedByProjectID)
}

// canReadMetric is "get metric" and "get measures"; res is the metric's
// resource, nil for a stand-alone metric.
func (id Identity) canReadMetric(m *index.Metric, res *index.Resource) bool {
	return id.ownsCreator(m.Creator, m.CreatedByProjectID) || (res != nil && id.project(res.ProjectID))
}

// canChangeMetric is "post measures" and "delete metric".
func (id Identity) canChangeMetric(m *index.Metric) bool {
	return id.ownsCreator(m.Creator, m.CreatedByProjectID)
}

// projectScope is the project a non-admin's listings are confined to; nil
// for admins.
func projectScope(ctx context.Context) *string {
	id := identityFrom(ctx)
	if id.Admin {
		return nil
	}
	p := id.ProjectID
	return &p
}

// requireAdmin refuses non-admins.
func requireAdmin(ctx context.Context) error {
	if !identityFrom(ctx).Admin {
		return forbidden()
	}
	return nil
}
