package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/search"
)

// CheckDefinitions reports what of defs the store cannot use, naming the
// line: an archive policy Gnocchi would refuse, or an associated-resources
// query that is not a search filter. A processor given such definitions
// would only log the problem, so a process checks them as it starts.
func CheckDefinitions(defs *resources.Definitions) error {
	var errs []error
	for _, p := range defs.ArchivePolicies {
		if _, err := archivePolicyOf(p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range defs.Resources {
		for _, a := range r.Associated {
			if _, err := search.ParseJSON(a.Filter("00000000-0000-4000-8000-000000000000")); err != nil {
				errs = append(errs, fmt.Errorf("line %d: resource type %s: event_associated_resources %s: %w", r.Line, r.Type, a.Type, err))
			}
		}
	}
	return errors.Join(errs...)
}

// archivePolicyOf converts an archive_policies entry, with Gnocchi's
// default aggregation methods when it names none.
func archivePolicyOf(p resources.ArchivePolicy) (archive.Policy, error) {
	ms, err := archive.ExpandMethods(p.AggregationMethods, archive.DefaultMethods())
	if err != nil {
		return archive.Policy{}, fmt.Errorf("line %d: archive policy %s: %w", p.Line, p.Name, err)
	}
	ap := archive.Policy{Name: p.Name, BackWindow: p.BackWindow, Methods: ms}
	for _, d := range p.Definitions {
		ap.Definitions = append(ap.Definitions, archive.Definition{Granularity: d.Granularity, Timespan: d.Timespan, Points: d.Points})
	}
	if err := ap.Validate(); err != nil {
		return archive.Policy{}, fmt.Errorf("line %d: archive policy %s: %w", p.Line, p.Name, err)
	}
	return ap, nil
}

// ensurePolicies creates the definitions' archive policies that the index
// does not have, as Ceilometer's publisher does on its first batch. One it
// cannot create is logged: its metrics fall back to the rules.
func ensurePolicies(ctx context.Context, idx *index.Index, defs *resources.Definitions, log *slog.Logger) {
	for _, p := range defs.ArchivePolicies {
		if _, err := idx.ArchivePolicy(ctx, p.Name); !errors.Is(err, index.ErrNotFound) {
			continue
		}
		ap, err := archivePolicyOf(p)
		if err == nil {
			err = idx.CreateArchivePolicy(ctx, ap)
		}
		if err != nil && !errors.Is(err, index.ErrExists) {
			log.Warn("cannot create an archive policy of the resource definitions", "policy", p.Name, "err", err)
			continue
		}
		log.Info("created an archive policy of the resource definitions", "policy", p.Name)
	}
}
