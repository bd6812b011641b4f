package api

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ops"
	"github.com/vigil-telemetry/vigil/tsdb/query"
)

// formatTimedelta writes a duration as Python's str(timedelta), which is how
// Gnocchi shows granularities and timespans: "0:05:00", "1 day, 0:00:00".
func formatTimedelta(d time.Duration) string {
	days := int64(d / (24 * time.Hour))
	rest := d - time.Duration(days)*24*time.Hour
	h := int64(rest / time.Hour)
	m := int64(rest % time.Hour / time.Minute)
	s := rest % time.Minute
	sec := fmt.Sprintf("%02d", int64(s/time.Second))
	if frac := s % time.Second; frac != 0 {
		sec = fmt.Sprintf("%02d.%06d", int64(s/time.Second), int64(frac/time.Microsecond))
	}
	clock := fmt.Sprintf("%d:%02d:%s", h, m, sec)
	switch days {
	case 0:
		return clock
	case 1, -1:
		return fmt.Sprintf("%d day, %s", days, clock)
	}
	return fmt.Sprintf("%d days, %s", days, clock)
}

func renderPolicy(p *archive.Policy) map[string]any {
	defs := make([]any, len(p.Definitions))
	for i, d := range p.Definitions {
		defs[i] = map[string]any{
			"granularity": formatTimedelta(d.Granularity),
			"points":      d.Points,
			"timespan":    formatTimedelta(d.Timespan),
		}
	}
	return map[string]any{
		"name":                p.Name,
		"back_window":         p.BackWindow,
		"aggregation_methods": methodNames(p.Methods),
		"definition":          defs,
	}
}

func renderRule(r *archive.Rule) map[string]any {
	return map[string]any{"name": r.Name, "metric_pattern": r.MetricPattern, "archive_policy_name": r.PolicyName}
}

func renderAttributeSpec(a index.AttributeSpec) map[string]any {
	out := map[string]any{"type": a.Type, "required": a.Required}
	switch a.Type {
	case index.TypeString:
		minLen, maxLen := 0, 255
		if a.MinLength != nil {
			minLen = *a.MinLength
		}
		if a.MaxLength != nil {
			maxLen = *a.MaxLength
		}
		out["min_length"], out["max_length"] = minLen, maxLen
	case index.TypeNumber:
		out["min"], out["max"] = optFloat(a.Min), optFloat(a.Max)
	}
	return out
}

func optFloat(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func renderResourceType(rt *index.ResourceType) map[string]any {
	attrs := make(map[string]any, len(rt.Attributes))
	for name, a := range rt.Attributes {
		attrs[name] = renderAttributeSpec(a)
	}
	state := rt.State
	if state == "" {
		state = "active"
	}
	return map[string]any{"name": rt.Name, "state": state, "attributes": attrs}
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTimestamp(*t)
}

func optString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// renderResource is Gnocchi's resource document: the common fields, the
// type's attributes flattened beside them (when typed is set: Gnocchi shows
// them for typed reads and detailed listings only), and the metrics by
// name (unless noMetrics). attrs, when not empty, keeps only those keys.
func renderResource(r *index.Resource, typed, noMetrics bool, attrs []string) map[string]any {
	out := make(map[string]any, 16+len(r.Attributes))
	if typed {
		for k, v := range r.Attributes {
			out[k] = v
		}
	}
	out["id"] = r.ID.String()
	out["type"] = r.Type
	out["original_resource_id"] = r.OriginalResourceID
	out["creator"] = r.Creator
	out["created_by_user_id"] = r.CreatedByUserID
	out["created_by_project_id"] = r.CreatedByProjectID
	out["user_id"] = optString(r.UserID)
	out["project_id"] = optString(r.ProjectID)
	out["started_at"] = formatTimestamp(r.StartedAt)
	out["ended_at"] = optTime(r.EndedAt)
	out["revision_start"] = formatTimestamp(r.RevisionStart)
	out["revision_end"] = optTime(r.RevisionEnd)
	if !noMetrics {
		metrics := make(map[string]any, len(r.Metrics))
		for name, id := range r.Metrics {
			metrics[name] = id.String()
		}
		out["metrics"] = metrics
	}
	if len(attrs) > 0 {
		kept := make(map[string]any, len(attrs))
		for _, a := range attrs {
			if v, ok := out[a]; ok {
				kept[a] = v
			}
		}
		return kept
	}
	return out
}

// etag is Gnocchi's ETag of a resource revision: the SHA-1 of its id and
// revision_start in Python's isoformat, so that the tags agree with those
// Gnocchi handed out for the same revision.
func etag(r *index.Resource) string {
	h := sha1.New()
	h.Write([]byte(r.ID.String()))
	h.Write([]byte(formatTimestamp(r.RevisionStart)))
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// metricForm says which of Gnocchi's three metric documents to write.
type metricForm int

const (
	// metricCreated is the answer to a creation: resource_id and
	// archive_policy_name.
	metricCreated metricForm = iota
	// metricListed is a listing's: resource_id and the archive_policy.
	metricListed
	// metricDetailed is a read of one metric: the resource and the
	// archive_policy.
	metricDetailed
)

func renderMetric(m *index.Metric, p *archive.Policy, res *index.Resource, form metricForm) map[string]any {
	out := map[string]any{
		"id":                    m.ID.String(),
		"name":                  nullIfEmpty(m.Name),
		"unit":                  nullIfEmpty(m.Unit),
		"creator":               m.Creator,
		"created_by_user_id":    m.CreatedByUserID,
		"created_by_project_id": m.CreatedByProjectID,
	}
	switch form {
	case metricCreated, metricListed:
		out["resource_id"] = nil
		if m.ResourceID != nil {
			out["resource_id"] = m.ResourceID.String()
		}
	case metricDetailed:
		out["resource"] = nil
		if res != nil {
			out["resource"] = renderResource(res, false, true, nil)
		}
	}
	if form == metricCreated || p == nil {
		out["archive_policy_name"] = m.ArchivePolicyName
	} else {
		out["archive_policy"] = renderPolicy(p)
	}
	return out
}

// seconds writes a duration as Python prints its total seconds: "60.0".
func seconds(d time.Duration) string { return string(ops.AppendPyFloat(nil, d.Seconds())) }

// appendMeasures writes measures as Gnocchi's JSON list of
// [timestamp, granularity, value] triples, without allocating beyond dst.
func appendMeasures(dst []byte, ms []query.Measure) []byte {
	dst = append(dst, '[')
	// The granularity is the same over long runs: it is formatted once
	// per run.
	var gbuf [32]byte
	var g []byte
	lastG := time.Duration(-1)
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if m.Granularity != lastG {
			g, lastG = ops.AppendPyFloat(gbuf[:0], m.Granularity.Seconds()), m.Granularity
		}
		dst = append(dst, "[\""...)
		dst = ops.AppendTimestamp(dst, m.Timestamp)
		dst = append(dst, "\", "...)
		dst = append(dst, g...)
		dst = append(dst, ", "...)
		dst = appendValue(dst, m.Value)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// appendPoints writes ops points as appendMeasures writes measures.
func appendPoints(dst []byte, ps []ops.Point) []byte {
	dst = append(dst, '[')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, "[\""...)
		dst = ops.AppendTimestamp(dst, p.Timestamp)
		dst = append(dst, "\", "...)
		dst = ops.AppendPyFloat(dst, float64(p.Granularity)/1e9)
		dst = append(dst, ", "...)
		dst = appendValue(dst, p.Value)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

func appendValue(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return ops.AppendPyFloat(dst, v)
}
