package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
)

func (s *Server) listArchivePolicies(w http.ResponseWriter, r *http.Request) {
	ps, err := s.d.Index.ArchivePolicies(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]any, len(ps))
	for i := range ps {
		out[i] = renderPolicy(&ps[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getArchivePolicy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, err := s.d.Index.ArchivePolicy(r.Context(), name)
	if errors.Is(err, index.ErrNotFound) {
		err = notFound("Archive policy %s does not exist", name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderPolicy(&p))
}

// parseDefinitions reads a policy's "definition" list as Gnocchi's
// ArchivePolicyDefinitionSchema does.
func parseDefinitions(v any) ([]archive.Definition, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, invalidInput("expected a list for dictionary value", "definition")
	}
	if len(list) == 0 {
		return nil, invalidInput("length of value must be at least 1 for dictionary value", "definition")
	}
	defs := make([]archive.Definition, len(list))
	for i, item := range list {
		o, err := asObject(item, "definition", i)
		if err != nil {
			return nil, err
		}
		if err := o.only("granularity", "points", "timespan"); err != nil {
			return nil, err
		}
		g, hasG, err := o.timespan("granularity")
		if err != nil {
			return nil, err
		}
		ts, hasTS, err := o.timespan("timespan")
		if err != nil {
			return nil, err
		}
		pts, hasP, err := o.integer("points")
		if err != nil {
			return nil, err
		}
		if hasP && pts < 1 {
			return nil, invalidInput("value must be at least 1 for dictionary value", "definition", i, "points")
		}
		n := 0
		for _, has := range []bool{hasG, hasTS, hasP} {
			if has {
				n++
			}
		}
		if n < 2 {
			return nil, errorf(http.StatusBadRequest, "At least two of granularity/points/timespan must be provided")
		}
		defs[i] = archive.Definition{Granularity: g, Points: pts, Timespan: ts}
	}
	return defs, nil
}

func (s *Server) createArchivePolicy(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r.Context()); err != nil {
		writeError(w, err)
		return
	}
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := parsePolicy(v)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.Index.CreateArchivePolicy(r.Context(), p); err != nil {
		if errors.Is(err, index.ErrExists) {
			err = errorf(http.StatusConflict, "Archive policy %s already exists", p.Name)
		}
		writeError(w, err)
		return
	}
	stored, err := s.d.Index.ArchivePolicy(r.Context(), p.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	location(w, r, "/archive_policy/"+url.PathEscape(p.Name))
	writeJSON(w, http.StatusCreated, renderPolicy(&stored))
}

func parsePolicy(v any) (archive.Policy, error) {
	var p archive.Policy
	o, err := asObject(v)
	if err != nil {
		return p, err
	}
	if err := o.only("name", "back_window", "aggregation_methods", "definition"); err != nil {
		return p, err
	}
	if err := o.require("name", "definition"); err != nil {
		return p, err
	}
	if p.Name, _, err = o.str("name"); err != nil {
		return p, err
	}
	bw, has, err := o.integer("back_window")
	if err != nil {
		return p, err
	}
	if has && bw < 0 {
		return p, invalidInput("value must be at least 0 for dictionary value", "back_window")
	}
	p.BackWindow = bw
	p.Methods = archive.DefaultMethods()
	if raw, ok := o.m["aggregation_methods"]; ok {
		list, ok := raw.([]any)
		if !ok {
			return p, invalidInput("expected a list for dictionary value", "aggregation_methods")
		}
		names := make([]string, len(list))
		for i, x := range list {
			s, ok := x.(string)
			if !ok || !validMethodName(s) {
				return p, invalidInput("not a valid value", "aggregation_methods", i)
			}
			names[i] = archiveName(s)
		}
		ms, err := archive.ExpandMethods(names, archive.DefaultMethods())
		if err != nil {
			return p, errorf(http.StatusBadRequest, "%s", userMessage(err))
		}
		p.Methods = ms
	}
	if p.Definitions, err = parseDefinitions(o.m["definition"]); err != nil {
		return p, err
	}
	if strings.TrimSpace(p.Name) == "" || strings.Contains(p.Name, "/") {
		return p, errorf(http.StatusBadRequest, "Invalid archive policy name %q", p.Name)
	}
	return p, nil
}

// validMethodName is Gnocchi's VALID_AGGREGATION_METHODS_VALUES: a method,
// or "*", each possibly prefixed by "+" or "-".
func validMethodName(s string) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "*" {
		return true
	}
	_, err := parseMethod(s)
	return err == nil
}

func (s *Server) patchArchivePolicy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx := r.Context()
	cur, err := s.d.Index.ArchivePolicy(ctx, name)
	if err != nil {
		if errors.Is(err, index.ErrNotFound) {
			err = notFound("Archive policy %s does not exist", name)
		}
		writeError(w, err)
		return
	}
	if err := requireAdmin(ctx); err != nil {
		writeError(w, err)
		return
	}
	v, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := asObject(v)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := o.only("definition"); err != nil {
		writeError(w, err)
		return
	}
	if err := o.require("definition"); err != nil {
		writeError(w, err)
		return
	}
	defs, err := parseDefinitions(o.m["definition"])
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkPolicyChange(name, cur.Definitions, defs); err != nil {
		writeError(w, err)
		return
	}
	s.forgetPolicy(name)
	p, err := s.d.Index.UpdateArchivePolicy(ctx, name, defs)
	s.forgetPolicy(name)
	if err != nil {
		if errors.Is(err, index.ErrInvalid) || errors.Is(err, archive.ErrInvalid) {
			err = errorf(http.StatusBadRequest, "Archive policy %s does not support change: %s", name, userMessage(err))
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderPolicy(&p))
}

func (s *Server) deleteArchivePolicy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := requireAdmin(r.Context()); err != nil {
		writeError(w, err)
		return
	}
	err := s.d.Index.DeleteArchivePolicy(r.Context(), name)
	s.forgetPolicy(name)
	switch {
	case errors.Is(err, index.ErrNotFound):
		err = notFound("Archive policy %s does not exist", name)
	case errors.Is(err, index.ErrInUse):
		err = errorf(http.StatusBadRequest, "Archive policy %s is still in use", name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w, http.StatusNoContent)
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.d.Index.ArchivePolicyRules(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]any, len(rules))
	for i := range rules {
		out[i] = renderRule(&rules[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) rule(r *http.Request) (archive.Rule, error) {
	name := r.PathValue("name")
	rule, err := s.d.Index.ArchivePolicyRule(r.Context(), name)
	if errors.Is(err, index.ErrNotFound) {
		err = notFound("Archive policy rule %s does not exist", name)
	}
	return rule, err
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) {
	rule, err := s.rule(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderRule(&rule))
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := requireAdmin(ctx); err != nil {
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
		err = o.only("name", "metric_pattern", "archive_policy_name")
	}
	if err == nil {
		err = o.require("name", "metric_pattern", "archive_policy_name")
	}
	var rule archive.Rule
	if err == nil {
		rule.Name, _, err = o.str("name")
	}
	if err == nil {
		rule.MetricPattern, _, err = o.str("metric_pattern")
	}
	if err == nil {
		rule.PolicyName, _, err = o.str("archive_policy_name")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.d.Index.ArchivePolicy(ctx, rule.PolicyName); errors.Is(err, index.ErrNotFound) {
		writeError(w, cause(http.StatusBadRequest, "Archive policy does not exist", "", rule.PolicyName))
		return
	}
	if err := s.d.Index.CreateArchivePolicyRule(ctx, rule); err != nil {
		if errors.Is(err, index.ErrExists) {
			err = errorf(http.StatusConflict, "Archive policy rule %s already exists", rule.Name)
		}
		writeError(w, err)
		return
	}
	location(w, r, "/archive_policy_rule/"+url.PathEscape(rule.Name))
	writeJSON(w, http.StatusCreated, renderRule(&rule))
}

func (s *Server) patchRule(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rule, err := s.rule(r)
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
		err = o.only("name")
	}
	if err == nil {
		err = o.require("name")
	}
	var next string
	if err == nil {
		next, _, err = o.str("name")
	}
	if err == nil {
		err = requireAdmin(ctx)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	renamed, err := s.d.Index.RenameArchivePolicyRule(ctx, rule.Name, next)
	if err != nil {
		if errors.Is(err, index.ErrExists) || errors.Is(err, index.ErrInvalid) {
			err = errorf(http.StatusBadRequest, "Archive policy rule %s does not support change: %s", rule.Name, userMessage(err))
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renderRule(&renamed))
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	rule, err := s.rule(r)
	if err == nil {
		err = requireAdmin(r.Context())
	}
	if err == nil {
		err = s.d.Index.DeleteArchivePolicyRule(r.Context(), rule.Name)
		if errors.Is(err, index.ErrNotFound) {
			err = notFound("Archive policy rule %s does not exist", rule.Name)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w, http.StatusNoContent)
}

// checkPolicyChange refuses, in Gnocchi's words, a change of the set of
// granularities of a policy: only the retention of each may change.
func checkPolicyChange(name string, cur, next []archive.Definition) error {
	if len(cur) != len(next) {
		return errorf(http.StatusBadRequest, "Archive policy %s does not support change: Cannot add or drop granularities", name)
	}
	a := make([]time.Duration, len(cur))
	for i, d := range cur {
		a[i] = d.Granularity
	}
	b := make([]time.Duration, len(next))
	for i, d := range next {
		g := d.Granularity
		if g == 0 && d.Points > 0 {
			g = d.Timespan / time.Duration(d.Points)
		}
		b[i] = g
	}
	slices.Sort(a)
	slices.Sort(b)
	for i := range a {
		if a[i] != b[i] {
			return errorf(http.StatusBadRequest, "Archive policy %s does not support change: %s granularity interval was changed", name, seconds(a[i]))
		}
	}
	return nil
}
