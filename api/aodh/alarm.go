package aodh

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// ruleKinds are the "<kind>_rule" attributes an Aodh alarm body may carry,
// including Aodh kinds vigil does not evaluate (so that naming two gets
// Aodh's message rather than "unknown attribute").
var ruleKinds = append(slices.Clone(alarms.Types), "threshold", "loadbalancer_member_health", "prometheus", "combination")

// body is an alarm as a POST or PUT carries it, decoded and validated as
// far as the body alone allows.
type body struct {
	a *alarms.Alarm
	// Fields the caller set (the rest take defaults or come from the
	// stored alarm).
	hasUser, hasProject bool
}

var severities = []string{alarms.SeverityLow, alarms.SeverityModerate, alarms.SeverityCritical}
var states = []string{string(alarms.StateOK), string(alarms.StateAlarm), string(alarms.StateInsufficient)}

// decodeAlarm decodes a POST/PUT body with Aodh's defaults and checks.
func (h *handler) decodeAlarm(raw []byte) (*body, error) {
	o, err := alarms.DecodeObject(raw, "")
	if err != nil {
		return nil, err
	}
	a := &alarms.Alarm{}
	b := &body{a: a}
	// Read-only fields a GET returns; aodhclient's update sends them back.
	o.Skip("alarm_id", "timestamp", "state_timestamp", "state_reason")
	if a.Name, err = o.String("name", "", true); err != nil {
		return nil, err
	}
	if len(a.Name) > 255 {
		return nil, alarms.Invalidf("Invalid input for field/attribute name. Value: '%s...'. At most 255 characters", a.Name[:32])
	}
	if a.Type, err = o.String("type", "", true); err != nil {
		return nil, err
	}
	if !slices.Contains(alarms.Types, a.Type) {
		return nil, alarms.Invalidf("Invalid input for field/attribute type. Value: '%s'. Value should be one of: %s", a.Type, strings.Join(alarms.Types, ", "))
	}
	if a.Description, err = o.String("description", "", false); err != nil {
		return nil, err
	}
	if a.Enabled, err = o.Bool("enabled", true); err != nil {
		return nil, err
	}
	if a.RepeatActions, err = o.Bool("repeat_actions", false); err != nil {
		return nil, err
	}
	st, err := o.Enum("state", string(alarms.StateInsufficient), states...)
	if err != nil {
		return nil, err
	}
	a.State = alarms.State(st)
	if a.Severity, err = o.Enum("severity", alarms.SeverityLow, severities...); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *[]string
	}{{"ok_actions", &a.OKActions}, {"alarm_actions", &a.AlarmActions}, {"insufficient_data_actions", &a.InsufficientDataActions}} {
		if *f.dst, err = o.Strings(f.key, false); err != nil {
			return nil, err
		}
	}
	b.hasUser, b.hasProject = o.Has("user_id"), o.Has("project_id")
	if a.UserID, err = o.String("user_id", "", false); err != nil {
		return nil, err
	}
	if a.ProjectID, err = o.String("project_id", "", false); err != nil {
		return nil, err
	}
	if ev, ok := o.Raw("evaluate_timestamp"); ok {
		var s string
		if json.Unmarshal(ev, &s) != nil {
			return nil, alarms.Invalidf("Invalid input for field/attribute evaluate_timestamp. Value: '%s'. Wrong type. Expected 'datetime'.", ev)
		}
		t, err := alarms.ParseTime(s)
		if err != nil {
			return nil, alarms.Invalidf("Invalid input for field/attribute evaluate_timestamp. Value: '%s'. Wrong type. Expected 'datetime'.", s)
		}
		a.EvaluateTimestamp = t
	}
	if tc, ok := o.Raw("time_constraints"); ok {
		if a.TimeConstraints, err = alarms.ParseTimeConstraints(tc); err != nil {
			return nil, err
		}
	}
	// Exactly one rule, named after the type.
	var set []string
	var ruleRaw json.RawMessage
	for _, k := range ruleKinds {
		v, ok := o.Raw(k + "_rule")
		if !ok {
			continue
		}
		set = append(set, k+"_rule")
		if k == a.Type {
			ruleRaw = v
		}
	}
	if err := o.Unknown(); err != nil {
		return nil, err
	}
	if ruleRaw == nil {
		return nil, alarms.Invalidf("%s_rule must be set for %s type alarm", a.Type, a.Type)
	}
	if len(set) > 1 {
		slices.Sort(set)
		return nil, alarms.Invalidf("%s and %s cannot be set at the same time", set[0], set[1])
	}
	if a.Rule, err = alarms.ParseRule(a.Type, ruleRaw, &alarms.ParseOptions{AggregationMethods: h.d.AggregationMethods}); err != nil {
		return nil, err
	}
	if a.Description == "" {
		a.Description = alarms.DefaultDescription(a.Type, a.Rule)
	}
	return b, nil
}

// checkActions applies Aodh's action rules: duplicates dropped, the count
// bounded, supported schemes only, log:// (and vigil's nats://) for admins
// only, and no trust id given by the caller.
func (h *handler) checkActions(a *alarms.Alarm, id Identity) error {
	for _, f := range []struct {
		name string
		l    *[]string
	}{{"ok_actions", &a.OKActions}, {"alarm_actions", &a.AlarmActions}, {"insufficient_data_actions", &a.InsufficientDataActions}} {
		seen := map[string]bool{}
		out := (*f.l)[:0]
		for _, act := range *f.l {
			if !seen[act] {
				seen[act] = true
				out = append(out, act)
			}
		}
		*f.l = out
		if h.d.MaxActions > 0 && len(out) > h.d.MaxActions {
			return alarms.Invalidf("%s count exceeds maximum value %d", f.name, h.d.MaxActions)
		}
		for _, act := range out {
			u, err := alarms.ParseAction(act)
			if err != nil {
				return err
			}
			if !id.Admin && (u.Scheme == alarms.SchemeLog || u.Scheme == alarms.SchemeNATS) {
				return errf(http.StatusUnauthorized, "You are not authorized to create action: %s", act)
			}
		}
	}
	return nil
}

// renderAlarm is the REST form of an alarm: storage fields plus the rule
// under "<type>_rule"; trust ids are scrubbed unless raw.
func renderAlarm(a *alarms.Alarm, raw bool) map[string]any {
	m := a.StorageMap()
	delete(m, "rule")
	m[a.Type+"_rule"] = a.Rule
	if !a.EvaluateTimestamp.IsZero() {
		m["evaluate_timestamp"] = alarms.FormatTime(a.EvaluateTimestamp)
	} else {
		m["evaluate_timestamp"] = nil
	}
	if !raw {
		for _, k := range []string{"ok_actions", "alarm_actions", "insufficient_data_actions"} {
			l := m[k].([]string)
			out := make([]string, len(l))
			for i, act := range l {
				out[i] = alarms.ScrubAction(act)
			}
			m[k] = out
		}
	}
	return m
}

// renderChange is the REST form of a history entry; detail is a JSON
// string.
func renderChange(c *alarms.Change) map[string]any {
	return map[string]any{
		"event_id":     c.EventID,
		"alarm_id":     c.AlarmID,
		"type":         c.Type,
		"detail":       string(c.Detail),
		"user_id":      nullable(c.UserID),
		"project_id":   nullable(c.ProjectID),
		"on_behalf_of": nullable(c.OnBehalfOf),
		"timestamp":    alarms.FormatTime(c.Timestamp),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// trustActions gives trust+ actions without a trust id one, as Aodh's
// update_actions: the trust of the previous definition is reused (one per
// alarm, owned ":delete" by the first action using it), else one is
// created. It returns the trusts the new definition no longer uses.
func (h *handler) trustActions(r *http.Request, a *alarms.Alarm, old *alarms.Alarm, id Identity) (obsolete []string, err error) {
	prev := ownedTrusts(old)
	var trust string
	if len(prev) > 0 {
		trust, prev = prev[0], prev[1:]
	}
	used := false
	for _, l := range []*[]string{&a.OKActions, &a.AlarmActions, &a.InsufficientDataActions} {
		for i, act := range *l {
			u, err := alarms.ParseAction(act)
			if err != nil || !strings.HasPrefix(u.Scheme, "trust+") {
				continue
			}
			if u.User != nil {
				return nil, alarms.Invalidf("trust URL cannot contain a trust ID.")
			}
			if trust == "" {
				if h.d.Trusts == nil {
					return nil, errf(http.StatusInternalServerError, "trust+ actions need Keystone, which is not configured")
				}
				if trust, err = h.d.Trusts.CreateTrust(r.Context(), id.Token, id.UserID, id.ProjectID, id.Roles); err != nil {
					return nil, fmt.Errorf("cannot create a trust for action %s: %w", act, err)
				}
			}
			pw := ""
			if !used {
				pw, used = ":delete", true
			}
			(*l)[i] = strings.Replace(act, "://", "://"+trust+pw+"@", 1)
		}
	}
	if trust != "" && !used {
		prev = append(prev, trust)
	}
	return prev, nil
}

// ownedTrusts lists the trusts an alarm owns (userinfo "<id>:delete").
func ownedTrusts(a *alarms.Alarm) []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, l := range [][]string{a.OKActions, a.AlarmActions, a.InsufficientDataActions} {
		for _, act := range l {
			u, err := alarms.ParseAction(act)
			if err != nil || !strings.HasPrefix(u.Scheme, "trust+") || u.User == nil {
				continue
			}
			if pw, ok := u.User.Password(); ok && pw == "delete" && !slices.Contains(out, u.User.Username()) {
				out = append(out, u.User.Username())
			}
		}
	}
	return out
}

func (h *handler) deleteTrusts(r *http.Request, id Identity, trusts []string) {
	if h.d.Trusts == nil {
		return
	}
	for _, t := range trusts {
		if err := h.d.Trusts.DeleteTrust(r.Context(), id.Token, t); err != nil {
			h.d.Log.Warn("cannot delete an alarm trust", "trust", t, "err", err)
		}
	}
}

func utcNow(now func() time.Time) time.Time {
	// Aodh keeps microseconds; so does the store.
	return now().UTC().Truncate(time.Microsecond)
}
