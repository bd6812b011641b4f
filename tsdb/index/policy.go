package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// maxName bounds the names of policies, rules and resource types, as
// Gnocchi's columns do.
const maxName = 255

func builtinPolicies() []archive.Policy { return archive.Builtins() }

func defaultRule() archive.Rule { return archive.DefaultRule() }

// definitionJSON is one definition as the definition column stores it.
type definitionJSON struct {
	GranularityNS int64 `json:"granularity_ns"`
	Points        int64 `json:"points"`
	TimespanNS    int64 `json:"timespan_ns"`
}

func encodeDefinitions(defs []archive.Definition) string {
	out := make([]definitionJSON, len(defs))
	for i, d := range defs {
		out[i] = definitionJSON{int64(d.Granularity), d.Points, int64(d.Timespan)}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic("BUG: cannot encode definitions: " + err.Error())
	}
	return string(b)
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalid, what)
	}
	if len(name) > maxName {
		return fmt.Errorf("%w: %s name is %d bytes long, the most is %d", ErrInvalid, what, len(name), maxName)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: %s name %q holds invalid or control characters", ErrInvalid, what, name)
	}
	return nil
}

func (ix *Index) insertPolicy(ctx context.Context, q querier, p archive.Policy) error {
	methods, err := json.Marshal(archive.MethodNames(p.Methods))
	if err != nil {
		return fmt.Errorf("BUG: cannot encode methods: %w", err)
	}
	res, err := q.ExecContext(ctx, ix.q(`INSERT INTO archive_policy (name, back_window, aggregation_methods, definition)
		VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`), p.Name, p.BackWindow, string(methods), encodeDefinitions(p.Definitions))
	if err != nil {
		return fmt.Errorf("cannot create archive policy %s: %w", p.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("archive policy %s: %w", p.Name, ErrExists)
	}
	return nil
}

const policyColumns = "name, back_window, aggregation_methods, definition"

func scanPolicy(sc interface{ Scan(...any) error }) (archive.Policy, error) {
	var p archive.Policy
	var methods, defs string
	if err := sc.Scan(&p.Name, &p.BackWindow, &methods, &defs); err != nil {
		return p, err
	}
	var names []string
	if err := json.Unmarshal([]byte(methods), &names); err != nil {
		return p, fmt.Errorf("cannot decode the methods of archive policy %s: %w", p.Name, err)
	}
	for _, n := range names {
		m, err := archive.ParseMethod(n)
		if err != nil {
			return p, fmt.Errorf("cannot decode the methods of archive policy %s: %w", p.Name, err)
		}
		p.Methods = append(p.Methods, m)
	}
	var dj []definitionJSON
	if err := json.Unmarshal([]byte(defs), &dj); err != nil {
		return p, fmt.Errorf("cannot decode the definition of archive policy %s: %w", p.Name, err)
	}
	for _, d := range dj {
		p.Definitions = append(p.Definitions, archive.Definition{
			Granularity: time.Duration(d.GranularityNS), Points: d.Points, Timespan: time.Duration(d.TimespanNS)})
	}
	return p, nil
}

// ArchivePolicies returns every archive policy, by name.
func (ix *Index) ArchivePolicies(ctx context.Context) ([]archive.Policy, error) {
	rows, err := ix.r.QueryContext(ctx, "SELECT "+policyColumns+" FROM archive_policy ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("cannot list archive policies: %w", err)
	}
	defer rows.Close()
	var out []archive.Policy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list archive policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list archive policies: %w", err)
	}
	return out, nil
}

// ArchivePolicy returns the policy called name, or ErrNotFound.
func (ix *Index) ArchivePolicy(ctx context.Context, name string) (archive.Policy, error) {
	return ix.policyIn(ctx, ix.r, name, false)
}

func (ix *Index) policyIn(ctx context.Context, q querier, name string, forUpdate bool) (archive.Policy, error) {
	query := "SELECT " + policyColumns + " FROM archive_policy WHERE name = ?"
	if forUpdate {
		query += ix.forUpdate()
	}
	p, err := scanPolicy(q.QueryRowContext(ctx, ix.q(query), name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("archive policy %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("cannot read archive policy %s: %w", name, err)
	}
	return p, nil
}

// forUpdate locks the rows a PostgreSQL SELECT reads until the transaction
// ends; SQLite needs nothing, its writer being alone.
func (ix *Index) forUpdate() string {
	if ix.pg() {
		return " FOR UPDATE"
	}
	return ""
}

// CreateArchivePolicy validates p as Gnocchi does (deriving the missing one
// of points and timespan) and stores it. ErrExists if the name is taken;
// ErrInvalid (with archive.ErrInvalid) if the policy is not valid.
func (ix *Index) CreateArchivePolicy(ctx context.Context, p archive.Policy) error {
	p.Definitions = slices.Clone(p.Definitions)
	p.Methods = slices.Clone(p.Methods)
	if err := checkName("archive policy", p.Name); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: archive policy %s: %w", ErrInvalid, p.Name, err)
	}
	return ix.write(ctx, func(tx *sql.Tx) error { return ix.insertPolicy(ctx, tx, p) })
}

// UpdateArchivePolicy replaces the definitions of policy name. As in
// Gnocchi only the retention may change: the new definitions must have
// exactly the granularities of the old ones. It returns the updated policy.
func (ix *Index) UpdateArchivePolicy(ctx context.Context, name string, defs []archive.Definition) (archive.Policy, error) {
	next := make([]archive.Definition, len(defs))
	seen := make(map[time.Duration]bool, len(defs))
	for i, d := range defs {
		nd, err := archive.NormaliseDefinition(d)
		if err != nil {
			return archive.Policy{}, fmt.Errorf("%w: archive policy %s: definition %d: %w", ErrInvalid, name, i, err)
		}
		if seen[nd.Granularity] {
			return archive.Policy{}, fmt.Errorf("%w: archive policy %s: more than one definition has granularity %v", ErrInvalid, name, nd.Granularity)
		}
		seen[nd.Granularity] = true
		next[i] = nd
	}
	var out archive.Policy
	err := ix.write(ctx, func(tx *sql.Tx) error {
		p, err := ix.policyIn(ctx, tx, name, true)
		if err != nil {
			return err
		}
		if err := archive.CheckUpdate(p.Definitions, next); err != nil {
			return fmt.Errorf("%w: archive policy %s: %w", ErrInvalid, name, err)
		}
		if _, err := tx.ExecContext(ctx, ix.q("UPDATE archive_policy SET definition = ? WHERE name = ?"), encodeDefinitions(next), name); err != nil {
			return fmt.Errorf("cannot update archive policy %s: %w", name, err)
		}
		p.Definitions = next
		out = p
		return nil
	})
	return out, err
}

// DeleteArchivePolicy deletes policy name: ErrNotFound if there is none,
// ErrInUse if a metric (even a deleted one whose series are not freed yet)
// or a rule uses it.
func (ix *Index) DeleteArchivePolicy(ctx context.Context, name string) error {
	return ix.write(ctx, func(tx *sql.Tx) error {
		if _, err := ix.policyIn(ctx, tx, name, true); err != nil {
			return err
		}
		var metrics, rules int64
		if err := tx.QueryRowContext(ctx, ix.q(`SELECT
			(SELECT COUNT(*) FROM metric WHERE archive_policy_name = ?),
			(SELECT COUNT(*) FROM archive_policy_rule WHERE archive_policy_name = ?)`), name, name).Scan(&metrics, &rules); err != nil {
			return fmt.Errorf("cannot check the use of archive policy %s: %w", name, err)
		}
		if metrics > 0 || rules > 0 {
			return fmt.Errorf("archive policy %s is used by %d metrics and %d rules: %w", name, metrics, rules, ErrInUse)
		}
		if _, err := tx.ExecContext(ctx, ix.q("DELETE FROM archive_policy WHERE name = ?"), name); err != nil {
			return fmt.Errorf("cannot delete archive policy %s: %w", name, err)
		}
		return nil
	})
}

// ArchivePolicyRules returns every rule, in Gnocchi's order (metric
// pattern descending).
func (ix *Index) ArchivePolicyRules(ctx context.Context) ([]archive.Rule, error) {
	return ix.rules(ctx)
}

func (ix *Index) rules(ctx context.Context) ([]archive.Rule, error) {
	rows, err := ix.r.QueryContext(ctx, "SELECT name, metric_pattern, archive_policy_name FROM archive_policy_rule ORDER BY metric_pattern DESC, name")
	if err != nil {
		return nil, fmt.Errorf("cannot list archive policy rules: %w", err)
	}
	defer rows.Close()
	var out []archive.Rule
	for rows.Next() {
		var r archive.Rule
		if err := rows.Scan(&r.Name, &r.MetricPattern, &r.PolicyName); err != nil {
			return nil, fmt.Errorf("cannot list archive policy rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list archive policy rules: %w", err)
	}
	return out, nil
}

// ArchivePolicyRule returns the rule called name, or ErrNotFound.
func (ix *Index) ArchivePolicyRule(ctx context.Context, name string) (archive.Rule, error) {
	return ix.ruleIn(ctx, ix.r, name)
}

func (ix *Index) ruleIn(ctx context.Context, q querier, name string) (archive.Rule, error) {
	var r archive.Rule
	err := q.QueryRowContext(ctx, ix.q("SELECT name, metric_pattern, archive_policy_name FROM archive_policy_rule WHERE name = ?"), name).
		Scan(&r.Name, &r.MetricPattern, &r.PolicyName)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("archive policy rule %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("cannot read archive policy rule %s: %w", name, err)
	}
	return r, nil
}

// CreateArchivePolicyRule stores r. ErrExists if its name is taken;
// ErrInvalid if a field is empty or its policy does not exist (Gnocchi
// answers 400 there).
func (ix *Index) CreateArchivePolicyRule(ctx context.Context, r archive.Rule) error {
	if err := checkName("archive policy rule", r.Name); err != nil {
		return err
	}
	if r.MetricPattern == "" || len(r.MetricPattern) > maxName || !utf8.ValidString(r.MetricPattern) {
		return fmt.Errorf("%w: archive policy rule %s: metric_pattern must be 1 to %d bytes of UTF-8", ErrInvalid, r.Name, maxName)
	}
	return ix.write(ctx, func(tx *sql.Tx) error {
		if _, err := ix.policyIn(ctx, tx, r.PolicyName, false); errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: archive policy rule %s: archive policy %s does not exist", ErrInvalid, r.Name, r.PolicyName)
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, ix.q(`INSERT INTO archive_policy_rule (name, metric_pattern, archive_policy_name)
			VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`), r.Name, r.MetricPattern, r.PolicyName)
		if err != nil {
			return fmt.Errorf("cannot create archive policy rule %s: %w", r.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("archive policy rule %s: %w", r.Name, ErrExists)
		}
		return nil
	})
}

// RenameArchivePolicyRule renames rule old to next, the one change Gnocchi
// allows on a rule, and returns it.
func (ix *Index) RenameArchivePolicyRule(ctx context.Context, old, next string) (archive.Rule, error) {
	if err := checkName("archive policy rule", next); err != nil {
		return archive.Rule{}, err
	}
	var out archive.Rule
	err := ix.write(ctx, func(tx *sql.Tx) error {
		r, err := ix.ruleIn(ctx, tx, old)
		if err != nil {
			return err
		}
		if old == next {
			out = r
			return nil
		}
		if _, err := ix.ruleIn(ctx, tx, next); err == nil {
			return fmt.Errorf("archive policy rule %s: %w", next, ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.ExecContext(ctx, ix.q("UPDATE archive_policy_rule SET name = ? WHERE name = ?"), next, old); err != nil {
			return fmt.Errorf("cannot rename archive policy rule %s to %s: %w", old, next, err)
		}
		r.Name = next
		out = r
		return nil
	})
	return out, err
}

// DeleteArchivePolicyRule deletes rule name, or returns ErrNotFound.
func (ix *Index) DeleteArchivePolicyRule(ctx context.Context, name string) error {
	return ix.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, ix.q("DELETE FROM archive_policy_rule WHERE name = ?"), name)
		if err != nil {
			return fmt.Errorf("cannot delete archive policy rule %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("archive policy rule %s: %w", name, ErrNotFound)
		}
		return nil
	})
}

// PolicyForMetricName returns the name of the archive policy the rules give
// a metric called name: the rule with the longest matching pattern wins;
// among patterns of one length the one sorting last (Gnocchi's order), then
// the rule name sorting first. ErrNotFound if no rule matches.
func (ix *Index) PolicyForMetricName(ctx context.Context, name string) (string, error) {
	rules, err := ix.rules(ctx)
	if err != nil {
		return "", err
	}
	r, ok := matchRule(rules, name)
	if !ok {
		return "", fmt.Errorf("no archive policy rule matches metric name %q: %w", name, ErrNotFound)
	}
	return r.PolicyName, nil
}

// matchRule picks the winning rule for name; see PolicyForMetricName.
func matchRule(rules []archive.Rule, name string) (archive.Rule, bool) {
	var best archive.Rule
	found := false
	for _, r := range rules {
		if !fnmatch(r.MetricPattern, name) {
			continue
		}
		if !found || better(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

func better(a, b archive.Rule) bool {
	la, lb := utf8.RuneCountInString(a.MetricPattern), utf8.RuneCountInString(b.MetricPattern)
	if la != lb {
		return la > lb
	}
	if a.MetricPattern != b.MetricPattern {
		return a.MetricPattern > b.MetricPattern
	}
	return a.Name < b.Name
}
