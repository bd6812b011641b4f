// Package resources loads Ceilometer's gnocchi_resources.yaml, which says
// how samples and events become Gnocchi resources: the resource type of
// each meter, the archive policy of its metric, the resource attributes
// taken from the sample, and which events create, update or end
// resources. RESOURCES.md beside this file describes the format and how
// vigil applies it; gnocchi_resources.yaml here is the default.
//
// The package only reads the file: the processor (tsdb/ingest) applies it
// to the resources it creates, and the gnocchi:// publisher uses it when
// its URL names a file of its own.
package resources

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// DefaultYAML is vigil's gnocchi_resources.yaml: Ceilometer's mapping for
// every resource type ceilometer-upgrade creates.
//
//go:embed gnocchi_resources.yaml
var DefaultYAML []byte

// DefaultArchivePolicy is the policy of a mapped meter when the file has
// no archive_policy_default, as in Ceilometer.
const DefaultArchivePolicy = "ceilometer-low"

// Definitions is a loaded gnocchi_resources.yaml. It is immutable but for
// an internal cache, and safe for concurrent use.
type Definitions struct {
	// ArchivePolicyDefault is the policy of a meter that names none.
	ArchivePolicyDefault string
	// ArchivePolicies are the policies to create when they do not exist.
	ArchivePolicies []ArchivePolicy
	// Resources are the resource definitions in file order.
	Resources []*Resource

	byMeter map[string]*Resource
	byType  map[string]*Resource

	mu     sync.Mutex // guards events
	events map[string]eventMatch
}

// ArchivePolicy is an entry of archive_policies, as Gnocchi's API takes
// it. Line is where it starts in the file, for the errors of whoever
// creates it.
type ArchivePolicy struct {
	Name       string
	Line       int
	BackWindow int64
	// AggregationMethods as written (nil: Gnocchi's defaults).
	AggregationMethods []string
	Definitions        []PolicyDefinition
}

// PolicyDefinition is one granularity of an archive policy; two of the
// three are set (zero means absent).
type PolicyDefinition struct {
	Granularity time.Duration
	Timespan    time.Duration
	Points      int64
}

// Resource is one entry of resources.
type Resource struct {
	// Type is the Gnocchi resource type.
	Type string
	// Line is where the entry starts in the file.
	Line int
	// Metrics maps each meter of the type to its archive policy.
	Metrics map[string]string
	// Attributes are the resource attributes taken from samples, by name.
	Attributes []Attribute
	// EventCreate, EventDelete and EventUpdate are the event types (fnmatch
	// globs) that create, end and update resources of the type.
	EventCreate, EventDelete, EventUpdate []string
	// EventAttributes maps resource fields to the event traits they are
	// read from: "id" (always there when an event is handled), "user_id"
	// and "project_id" are the resource's own fields, the others
	// attributes of the type.
	EventAttributes map[string]string
	// Associated are the resources that an event on this one also ends
	// or updates: those of another type that a search filter finds.
	Associated []Associated

	create, del, update []*pipeline.MeterFilter
}

// Attribute is one entry of a resource's attributes: a path into the
// sample, or a constant.
type Attribute struct {
	Name  string
	Path  *Path // nil for a constant
	Const any   // int64 or float64 when Path is nil
}

// Associated is an entry of event_associated_resources.
type Associated struct {
	Type string
	// Query is Gnocchi's JSON search filter with one %s for the id.
	Query string
}

// EventOp is what an event does to the resources of a definition.
type EventOp uint8

// The event operations, in the order Ceilometer tries them.
const (
	EventNone EventOp = iota
	EventCreate
	EventDelete
	EventUpdate
)

// String returns the operation's name in the file, less "event_".
func (o EventOp) String() string {
	switch o {
	case EventCreate:
		return "create"
	case EventDelete:
		return "delete"
	case EventUpdate:
		return "update"
	}
	return "none"
}

type eventMatch struct {
	r  *Resource
	op EventOp
}

// maxCachedEventTypes bounds the cache of event type lookups: event types
// come from notifications, which anyone on the bus can send.
const maxCachedEventTypes = 4096

// Load reads the file at path, or the default definitions when path is
// empty. Errors name the file and the line.
func Load(path string) (*Definitions, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read resource definitions: %w", err)
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Default returns the default definitions (DefaultYAML).
func Default() *Definitions {
	d, err := Parse(DefaultYAML)
	if err != nil {
		panic("BUG: the default gnocchi_resources.yaml does not load: " + err.Error())
	}
	return d
}

// ForMeter returns the definition that lists meter, or nil: such a meter
// is not handled by Gnocchi.
func (d *Definitions) ForMeter(meter string) *Resource { return d.byMeter[meter] }

// ForType returns the definition of resource type typ, or nil.
func (d *Definitions) ForType(typ string) *Resource { return d.byType[typ] }

// ForEvent returns the first definition (in file order) that handles
// events of eventType, and how: its event_create patterns are tried
// first, then event_delete, then event_update, as in Ceilometer.
func (d *Definitions) ForEvent(eventType string) (*Resource, EventOp) {
	d.mu.Lock()
	m, ok := d.events[eventType]
	d.mu.Unlock()
	if ok {
		return m.r, m.op
	}
	m = d.matchEvent(eventType)
	d.mu.Lock()
	if len(d.events) < maxCachedEventTypes {
		d.events[eventType] = m
	}
	d.mu.Unlock()
	return m.r, m.op
}

func (d *Definitions) matchEvent(eventType string) eventMatch {
	matches := func(fs []*pipeline.MeterFilter) bool {
		for _, f := range fs {
			if f.Match(eventType) {
				return true
			}
		}
		return false
	}
	for _, r := range d.Resources {
		switch {
		case matches(r.create):
			return eventMatch{r, EventCreate}
		case matches(r.del):
			return eventMatch{r, EventDelete}
		case matches(r.update):
			return eventMatch{r, EventUpdate}
		}
	}
	return eventMatch{}
}

// Policy returns the archive policy of meter, when the type lists it.
func (r *Resource) Policy(meter string) (string, bool) {
	p, ok := r.Metrics[meter]
	return p, ok
}

// Extract evaluates the attributes on sample, Ceilometer's sample dict (a
// map with name, type, unit, resource_id, user_id, project_id, source and
// resource_metadata), adds those that have a value to dst (made when nil)
// and returns it.
func (r *Resource) Extract(sample map[string]any, dst map[string]any) map[string]any {
	for _, a := range r.Attributes {
		var v any
		if a.Path == nil {
			v = a.Const
		} else if x, ok := a.Path.First(sample); ok {
			v = x
		} else {
			continue
		}
		if dst == nil {
			dst = make(map[string]any, len(r.Attributes))
		}
		dst[a.Name] = v
	}
	return dst
}

// EventValues returns the event_attributes whose trait the event has, by
// resource field; traits maps trait names to values.
func (r *Resource) EventValues(traits map[string]any) map[string]any {
	out := make(map[string]any, len(r.EventAttributes))
	for field, trait := range r.EventAttributes {
		if v, ok := traits[trait]; ok && v != nil {
			out[field] = v
		}
	}
	return out
}

// Filter returns the search filter for the resources associated with the
// resource id: Query with %s replaced by id, escaped as the inside of a
// JSON string (the templates quote it), and %% by %.
func (a Associated) Filter(id string) []byte {
	q, _ := json.Marshal(id)
	esc := string(q[1 : len(q)-1])
	var b strings.Builder
	for i := 0; i < len(a.Query); i++ {
		if a.Query[i] == '%' && i+1 < len(a.Query) {
			switch a.Query[i+1] {
			case 's':
				b.WriteString(esc)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(a.Query[i])
	}
	return []byte(b.String())
}

// Parse decodes a gnocchi_resources.yaml strictly: unknown keys, a meter
// mapped twice, a type defined twice, a bad path or event pattern fail
// with the line and the key path.
func Parse(data []byte) (*Definitions, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the file is empty: want a mapping with resources")
	}
	top, err := yamlnode.Pairs(doc.Content[0], "gnocchi_resources")
	if err != nil {
		return nil, err
	}
	d := &Definitions{
		ArchivePolicyDefault: DefaultArchivePolicy,
		byMeter:              map[string]*Resource{},
		byType:               map[string]*Resource{},
		events:               map[string]eventMatch{},
	}
	var resNode *yaml.Node
	for _, p := range top {
		switch p.Key {
		case "archive_policy_default":
			if d.ArchivePolicyDefault, err = nonEmpty(p.Value, p.Key); err != nil {
				return nil, err
			}
		case "archive_policies":
			if d.ArchivePolicies, err = parsePolicies(p.Value); err != nil {
				return nil, err
			}
		case "resources":
			resNode = p.Value
		default:
			return nil, yamlnode.ErrAt(p.KeyNode, "gnocchi_resources", "unknown key %q: want archive_policy_default, archive_policies or resources", p.Key)
		}
	}
	if resNode == nil || yamlnode.IsNull(resNode) {
		return nil, yamlnode.ErrAt(doc.Content[0], "resources", "required: the list of resource definitions")
	}
	list := yamlnode.Resolve(resNode)
	if list.Kind != yaml.SequenceNode {
		return nil, yamlnode.ErrAt(list, "resources", "want a list, got %s", yamlnode.Describe(list))
	}
	for i, n := range list.Content {
		r, err := d.parseResource(n, fmt.Sprintf("resources[%d]", i))
		if err != nil {
			return nil, err
		}
		d.Resources = append(d.Resources, r)
	}
	return d, nil
}

func nonEmpty(n *yaml.Node, path string) (string, error) {
	s, err := yamlnode.ScalarString(n, path)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", yamlnode.ErrAt(n, path, "must not be empty")
	}
	return s, nil
}

// stringOrList reads a string or a list of strings.
func stringOrList(n *yaml.Node, path string) ([]string, error) {
	if r := yamlnode.Resolve(n); r != nil && r.Kind == yaml.SequenceNode {
		return yamlnode.StringList(r, path)
	}
	s, err := yamlnode.ScalarString(n, path)
	if err != nil {
		return nil, yamlnode.ErrAt(n, path, "want a string or a list of strings, got %s", yamlnode.Describe(yamlnode.Resolve(n)))
	}
	return []string{s}, nil
}

var resourceKeys = []string{"resource_type", "metrics", "attributes", "archive_policy", "event_create", "event_delete",
	"event_update", "event_attributes", "event_associated_resources"}

func (d *Definitions) parseResource(n *yaml.Node, path string) (*Resource, error) {
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if v := yamlnode.Resolve(p.Value); p.Key == "resource_type" && v.Kind == yaml.ScalarNode && v.Value != "" {
			path = fmt.Sprintf("%s (%s)", path, v.Value)
		}
	}
	vals := map[string]yamlnode.Pair{}
	for _, p := range ps {
		if !slices.Contains(resourceKeys, p.Key) {
			return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want %s", p.Key, strings.Join(resourceKeys, ", "))
		}
		vals[p.Key] = p
	}
	r := &Resource{Line: yamlnode.Resolve(n).Line, Metrics: map[string]string{}}
	tp, ok := vals["resource_type"]
	if !ok {
		return nil, yamlnode.ErrAt(n, path, "required field resource_type not specified")
	}
	if r.Type, err = nonEmpty(tp.Value, path+".resource_type"); err != nil {
		return nil, err
	}
	if err := checkName(r.Type, false); err != nil {
		return nil, yamlnode.ErrAt(tp.Value, path+".resource_type", "%v", err)
	}
	if prev, ok := d.byType[r.Type]; ok {
		return nil, yamlnode.ErrAt(tp.Value, path, "resource type %s is already defined at line %d", r.Type, prev.Line)
	}
	d.byType[r.Type] = r
	typePolicy := ""
	if p, ok := vals["archive_policy"]; ok {
		if typePolicy, err = nonEmpty(p.Value, path+".archive_policy"); err != nil {
			return nil, err
		}
	}
	mp, ok := vals["metrics"]
	if !ok {
		return nil, yamlnode.ErrAt(n, path, "required field metrics not specified")
	}
	if err := d.parseMetrics(r, mp.Value, path+".metrics", typePolicy); err != nil {
		return nil, err
	}
	if p, ok := vals["attributes"]; ok && !yamlnode.IsNull(p.Value) {
		if r.Attributes, err = parseAttributes(p.Value, path+".attributes"); err != nil {
			return nil, err
		}
	}
	for _, ev := range []struct {
		key      string
		patterns *[]string
		filters  *[]*pipeline.MeterFilter
	}{{"event_create", &r.EventCreate, &r.create}, {"event_delete", &r.EventDelete, &r.del}, {"event_update", &r.EventUpdate, &r.update}} {
		p, ok := vals[ev.key]
		if !ok || yamlnode.IsNull(p.Value) {
			continue
		}
		pats, err := stringOrList(p.Value, path+"."+ev.key)
		if err != nil {
			return nil, err
		}
		for i, pat := range pats {
			f, err := eventFilter(pat)
			if err != nil {
				return nil, yamlnode.ErrAt(p.Value, fmt.Sprintf("%s.%s[%d]", path, ev.key, i), "%v", err)
			}
			*ev.filters = append(*ev.filters, f)
		}
		*ev.patterns = pats
	}
	handles := len(r.create)+len(r.del)+len(r.update) > 0
	ea, hasEA := vals["event_attributes"]
	if hasEA && !yamlnode.IsNull(ea.Value) {
		if r.EventAttributes, err = parseEventAttributes(ea.Value, path+".event_attributes"); err != nil {
			return nil, err
		}
	}
	if handles {
		if _, ok := r.EventAttributes["id"]; !ok {
			node := n
			if hasEA {
				node = ea.Value
			}
			return nil, yamlnode.ErrAt(node, path+".event_attributes", "required: a resource type that handles events needs event_attributes with id (the trait holding the resource id)")
		}
	}
	if p, ok := vals["event_associated_resources"]; ok && !yamlnode.IsNull(p.Value) {
		if r.Associated, err = parseAssociated(p.Value, path+".event_associated_resources"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (d *Definitions) parseMetrics(r *Resource, n *yaml.Node, path, typePolicy string) error {
	policyOf := func(explicit string) string {
		switch {
		case typePolicy != "":
			return typePolicy
		case explicit != "":
			return explicit
		}
		return d.ArchivePolicyDefault
	}
	add := func(name string, at *yaml.Node, policy string) error {
		if strings.TrimSpace(name) == "" {
			return yamlnode.ErrAt(at, path, "a meter name must not be empty")
		}
		if prev, ok := d.byMeter[name]; ok {
			return yamlnode.ErrAt(at, path, "meter %s is already mapped to resource type %s (line %d)", name, prev.Type, prev.Line)
		}
		d.byMeter[name] = r
		r.Metrics[name] = policyOf(policy)
		return nil
	}
	n = yamlnode.Resolve(n)
	switch {
	case yamlnode.IsNull(n):
		return yamlnode.ErrAt(n, path, "want a mapping of meters or a list of meter names, got null")
	case n.Kind == yaml.SequenceNode:
		names, err := yamlnode.StringList(n, path)
		if err != nil {
			return err
		}
		for i, name := range names {
			if err := add(name, n.Content[i], ""); err != nil {
				return err
			}
		}
		return nil
	case n.Kind != yaml.MappingNode:
		return yamlnode.ErrAt(n, path, "want a mapping of meters or a list of meter names, got %s", yamlnode.Describe(n))
	}
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return err
	}
	for _, p := range ps {
		mpath := path + "." + p.Key
		policy := ""
		if !yamlnode.IsNull(p.Value) {
			extra, err := yamlnode.Pairs(p.Value, mpath)
			if err != nil {
				return err
			}
			for _, e := range extra {
				if e.Key != "archive_policy_name" {
					return yamlnode.ErrAt(e.KeyNode, mpath, "unknown key %q: want archive_policy_name", e.Key)
				}
				if policy, err = nonEmpty(e.Value, mpath+".archive_policy_name"); err != nil {
					return err
				}
			}
		}
		if err := add(p.Key, p.KeyNode, policy); err != nil {
			return err
		}
	}
	return nil
}

func parseAttributes(n *yaml.Node, path string) ([]Attribute, error) {
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	out := make([]Attribute, 0, len(ps))
	for _, p := range ps {
		apath := path + "." + p.Key
		if err := checkName(p.Key, true); err != nil {
			return nil, yamlnode.ErrAt(p.KeyNode, apath, "%v", err)
		}
		a, err := parseAttribute(p.Key, p.Value, apath)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Attribute) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// parseAttribute reads Ceilometer's attribute definition: a path, a list
// of paths (the first that has a value), {fields: path or list}, or an
// integer constant.
func parseAttribute(name string, n *yaml.Node, path string) (Attribute, error) {
	a := Attribute{Name: name}
	n = yamlnode.Resolve(n)
	if n != nil && n.Kind == yaml.MappingNode {
		ps, err := yamlnode.Pairs(n, path)
		if err != nil {
			return a, err
		}
		var fields *yaml.Node
		for _, p := range ps {
			switch p.Key {
			case "fields":
				fields = p.Value
			case "plugin":
				return a, yamlnode.ErrAt(p.KeyNode, path, "trait plugins are not supported in resource attributes")
			default:
				return a, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want fields", p.Key)
			}
		}
		if fields == nil {
			return a, yamlnode.ErrAt(n, path, "required: fields")
		}
		n, path = yamlnode.Resolve(fields), path+".fields"
	}
	switch {
	case yamlnode.IsNull(n):
		return a, yamlnode.ErrAt(n, path, "want a path into the sample, got null")
	case n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float"):
		if n.Tag == "!!int" {
			v, err := yamlnode.IntValue(n, path)
			a.Const = v
			return a, err
		}
		v, err := yamlnode.FloatValue(n, path)
		a.Const = v
		return a, err
	case n.Kind == yaml.SequenceNode:
		paths, err := yamlnode.StringList(n, path)
		if err != nil {
			return a, err
		}
		if len(paths) == 0 {
			return a, yamlnode.ErrAt(n, path, "want at least one path")
		}
		src := paths[0]
		if len(paths) > 1 {
			src = "(" + strings.Join(paths, ")|(") + ")"
		}
		if a.Path, err = ParsePath(src); err != nil {
			return a, yamlnode.ErrAt(n, path, "%v", err)
		}
		return a, nil
	}
	src, err := yamlnode.ScalarString(n, path)
	if err != nil {
		return a, err
	}
	if a.Path, err = ParsePath(src); err != nil {
		return a, yamlnode.ErrAt(n, path, "%v", err)
	}
	return a, nil
}

func parseEventAttributes(n *yaml.Node, path string) (map[string]string, error) {
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		switch p.Key {
		case "id", "user_id", "project_id":
		default:
			if err := checkName(p.Key, true); err != nil {
				return nil, yamlnode.ErrAt(p.KeyNode, path+"."+p.Key, "%v", err)
			}
		}
		trait, err := nonEmpty(p.Value, path+"."+p.Key)
		if err != nil {
			return nil, err
		}
		out[p.Key] = trait
	}
	return out, nil
}

// sampleID is what a template's %s is tried with at load.
const sampleID = "00000000-0000-4000-8000-000000000000"

func parseAssociated(n *yaml.Node, path string) ([]Associated, error) {
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	var out []Associated
	for _, p := range ps {
		apath := path + "." + p.Key
		if err := checkName(p.Key, false); err != nil {
			return nil, yamlnode.ErrAt(p.KeyNode, apath, "%v", err)
		}
		q, err := nonEmpty(p.Value, apath)
		if err != nil {
			return nil, err
		}
		if err := checkTemplate(q); err != nil {
			return nil, yamlnode.ErrAt(p.Value, apath, "%v", err)
		}
		a := Associated{Type: p.Key, Query: q}
		var v map[string]any
		if err := json.Unmarshal(a.Filter(sampleID), &v); err != nil {
			return nil, yamlnode.ErrAt(p.Value, apath, "not a JSON search filter once %%s is the id: %v", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// checkTemplate accepts what Python's query % id accepts: exactly one %s,
// and %% for a percent sign.
func checkTemplate(q string) error {
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '%' {
			continue
		}
		if i+1 == len(q) {
			return errors.New("the query ends with a lone %")
		}
		switch q[i+1] {
		case 's':
			n++
		case '%':
		default:
			return fmt.Errorf("%%%c is not supported: the query takes the id as %%s", q[i+1])
		}
		i++
	}
	if n != 1 {
		return fmt.Errorf("the query must hold the id as %%s exactly once, not %d times", n)
	}
	return nil
}

// eventFilter compiles one event pattern: an fnmatch glob, matched as
// Ceilometer does (a leading '!' would be literal there and an exclusion
// in a meter list, so it is refused).
func eventFilter(pat string) (*pipeline.MeterFilter, error) {
	if strings.TrimSpace(pat) == "" {
		return nil, errors.New("an event type pattern must not be empty")
	}
	if pat[0] == '!' {
		return nil, fmt.Errorf("event type pattern %q: a leading '!' is not supported", pat)
	}
	return pipeline.NewMeterFilter([]string{pat})
}

// reserved are the resource fields Gnocchi keeps apart from attributes.
var reserved = []string{"id", "type", "metrics", "revision", "revision_start", "revision_end", "started_at", "ended_at",
	"user_id", "project_id", "created_by_user_id", "created_by_project_id", "get_metric", "creator",
	"original_resource_id", "lifespan"}

// checkName applies Gnocchi's rules for attribute names (attr true) or
// resource type names.
func checkName(name string, attr bool) error {
	what, maxLen := "resource type name", 255
	if attr {
		what, maxLen = "attribute name", 63
	}
	if name == "" || len(name) > maxLen {
		return fmt.Errorf("%s %q must be 1 to %d characters", what, name, maxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' && (!attr || i > 0) || c == '-' && !attr
		if !ok {
			allowed := "letters, digits, '_' and '-'"
			if attr {
				allowed = "letters, digits and '_', not starting with '_'"
			}
			return fmt.Errorf("%s %q: only %s are allowed", what, name, allowed)
		}
	}
	if attr && slices.Contains(reserved, name) {
		return fmt.Errorf("attribute name %q is a field of every resource, not an attribute", name)
	}
	return nil
}

var policyKeys = []string{"name", "aggregation_methods", "back_window", "definition"}

func parsePolicies(n *yaml.Node) ([]ArchivePolicy, error) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, yamlnode.ErrAt(n, "archive_policies", "want a list, got %s", yamlnode.Describe(n))
	}
	var out []ArchivePolicy
	seen := map[string]int{}
	for i, pn := range n.Content {
		path := fmt.Sprintf("archive_policies[%d]", i)
		ps, err := yamlnode.Pairs(pn, path)
		if err != nil {
			return nil, err
		}
		p := ArchivePolicy{Line: yamlnode.Resolve(pn).Line}
		var defs *yaml.Node
		for _, kv := range ps {
			switch kv.Key {
			case "name":
				if p.Name, err = nonEmpty(kv.Value, path+".name"); err != nil {
					return nil, err
				}
			case "aggregation_methods":
				if p.AggregationMethods, err = yamlnode.StringList(kv.Value, path+".aggregation_methods"); err != nil {
					return nil, err
				}
			case "back_window":
				if p.BackWindow, err = yamlnode.IntValue(kv.Value, path+".back_window"); err != nil {
					return nil, err
				}
				if p.BackWindow < 0 {
					return nil, yamlnode.ErrAt(kv.Value, path+".back_window", "must not be negative")
				}
			case "definition":
				defs = kv.Value
			default:
				return nil, yamlnode.ErrAt(kv.KeyNode, path, "unknown key %q: want %s", kv.Key, strings.Join(policyKeys, ", "))
			}
		}
		if p.Name == "" {
			return nil, yamlnode.ErrAt(pn, path, "required field name not specified")
		}
		if prev, ok := seen[p.Name]; ok {
			return nil, yamlnode.ErrAt(pn, path, "archive policy %s is already defined at line %d", p.Name, prev)
		}
		seen[p.Name] = p.Line
		path = fmt.Sprintf("%s (%s)", path, p.Name)
		dl := yamlnode.Resolve(defs)
		if defs == nil || yamlnode.IsNull(dl) || dl.Kind != yaml.SequenceNode || len(dl.Content) == 0 {
			return nil, yamlnode.ErrAt(pn, path+".definition", "required: a non-empty list of {granularity, timespan, points}")
		}
		for j, dn := range dl.Content {
			def, err := parsePolicyDefinition(dn, fmt.Sprintf("%s.definition[%d]", path, j))
			if err != nil {
				return nil, err
			}
			p.Definitions = append(p.Definitions, def)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePolicyDefinition(n *yaml.Node, path string) (PolicyDefinition, error) {
	var d PolicyDefinition
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return d, err
	}
	for _, p := range ps {
		switch p.Key {
		case "granularity", "timespan":
			s, err := yamlnode.ScalarString(p.Value, path+"."+p.Key)
			if err != nil {
				return d, err
			}
			v, err := ParseTimespan(s)
			if err != nil {
				return d, yamlnode.ErrAt(p.Value, path+"."+p.Key, "%v", err)
			}
			if p.Key == "granularity" {
				d.Granularity = v
			} else {
				d.Timespan = v
			}
		case "points":
			if d.Points, err = yamlnode.IntValue(p.Value, path+".points"); err != nil {
				return d, err
			}
			if d.Points <= 0 {
				return d, yamlnode.ErrAt(p.Value, path+".points", "must be positive")
			}
		default:
			return d, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want granularity, timespan or points", p.Key)
		}
	}
	set := 0
	for _, ok := range []bool{d.Granularity > 0, d.Timespan > 0, d.Points > 0} {
		if ok {
			set++
		}
	}
	if set < 2 {
		return d, yamlnode.ErrAt(n, path, "two of granularity, timespan and points are needed")
	}
	return d, nil
}

var spanUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// maxSpan bounds a timespan: 100 years.
const maxSpan = 100 * 365 * 24 * time.Hour

// ParseTimespan reads a Gnocchi timespan: seconds as a number, or a number
// and a unit ("5 minutes", "1h", "365 days").
func ParseTimespan(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("timespan %q: want seconds or a number and a unit (5 minutes, 1h, 30 days)", s)
	}
	scale := time.Second
	if unit != "" {
		var ok bool
		if scale, ok = spanUnits[unit]; !ok {
			return 0, fmt.Errorf("timespan %q: unknown unit %q", s, unit)
		}
	}
	v := f * float64(scale)
	if v <= 0 || v > float64(maxSpan) {
		return 0, fmt.Errorf("timespan %q: want more than 0 and at most 100 years", s)
	}
	return time.Duration(v), nil
}
