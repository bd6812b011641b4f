package notify

import (
	_ "embed"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// DefaultEventDefinitionsYAML is vigil's event_definitions.yaml.
//
//go:embed event_definitions.yaml
var DefaultEventDefinitionsYAML []byte

// TraitType is the type of a trait, with Ceilometer's codes.
type TraitType uint8

// Trait types.
const (
	TraitText     TraitType = 1
	TraitInt      TraitType = 2
	TraitFloat    TraitType = 3
	TraitDatetime TraitType = 4
)

// String returns the name event_definitions.yaml uses.
func (t TraitType) String() string {
	switch t {
	case TraitText:
		return "text"
	case TraitInt:
		return "int"
	case TraitFloat:
		return "float"
	case TraitDatetime:
		return "datetime"
	}
	return fmt.Sprintf("TraitType(%d)", uint8(t))
}

func parseTraitType(s string) (TraitType, error) {
	switch s {
	case "text", "string":
		return TraitText, nil
	case "int", "integer":
		return TraitInt, nil
	case "float":
		return TraitFloat, nil
	case "datetime":
		return TraitDatetime, nil
	}
	return 0, fmt.Errorf("invalid trait type %q: want text, int, float or datetime", s)
}

// Trait is one typed value of an event. Value is a string, an int64, a
// float64 or a time.Time (UTC), as Type says.
type Trait struct {
	Name  string
	Type  TraitType
	Value any
}

// Event is a notification as event_definitions.yaml turns it into an
// event: its id, type, time and traits (sorted by name).
//
// It lives here until the pipeline package takes the event model: the
// event alarms and the event API read it from the bus as JSON (AppendJSON).
type Event struct {
	MessageID string
	EventType string
	Generated time.Time
	Traits    []Trait
	// Raw is the whole notification message when its priority is one of
	// the definitions' store_raw priorities, nil otherwise.
	Raw map[string]any
}

// Trait returns the trait called name.
func (e *Event) Trait(name string) (Trait, bool) {
	i := sort.Search(len(e.Traits), func(i int) bool { return e.Traits[i].Name >= name })
	if i < len(e.Traits) && e.Traits[i].Name == name {
		return e.Traits[i], true
	}
	return Trait{}, false
}

// EventOptions are Ceilometer's [event] options.
type EventOptions struct {
	// DropUnmatched drops notifications no definition matches; otherwise
	// (Ceilometer's default) a catch-all with the default traits makes an
	// event of each.
	DropUnmatched bool
	// StoreRaw lists the priorities whose notifications are kept whole
	// in Event.Raw.
	StoreRaw []string
}

// EventDefinitions turn notifications into events as Ceilometer's
// event_definitions.yaml defines: the last definition whose event_type
// matches (fnmatch globs, `!` excluding) gives the event's traits, plus
// the default traits. It is immutable and safe for concurrent use.
type EventDefinitions struct {
	defs     []*eventDef // searched from the end
	storeRaw map[string]bool
	byType   sync.Map // string → *eventDef (nil: none)
	cached   atomic.Int64
}

type eventDef struct {
	line     int
	include  []*pipeline.MeterFilter
	exclude  []*pipeline.MeterFilter
	catchAll bool
	traits   []traitDef // sorted by name
}

type traitDef struct {
	name string
	typ  TraitType
	v    *defValue
}

// defaultTraits are added to every definition that does not define them.
const defaultTraitsYAML = `
service: {type: text, fields: publisher_id}
request_id: {type: text, fields: ctxt.request_id}
project_id: {type: text, fields: [payload.tenant_id, ctxt.project_id]}
user_id: {type: text, fields: [payload.user_id, ctxt.user_id]}
tenant_id: {type: text, fields: [payload.tenant_id, ctxt.project_id]}
`

var defaultTraits = func() []traitDef {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(defaultTraitsYAML), &doc); err != nil {
		panic("BUG: default traits: " + err.Error())
	}
	ts, err := parseTraits(doc.Content[0], "default traits")
	if err != nil {
		panic("BUG: default traits: " + err.Error())
	}
	return ts
}()

// ParseEvents parses an event_definitions.yaml: a list of {event_type:
// <glob or list>, traits: {name: {fields, type, plugin}}}. An invalid
// definition fails the whole file with its line and reason.
func ParseEvents(data []byte, opts EventOptions) (*EventDefinitions, error) {
	root, err := parseYAMLDocument(data, "event definitions")
	if err != nil {
		return nil, err
	}
	if root.Kind != yaml.SequenceNode {
		return nil, yamlnode.ErrAt(root, "events", "want a list of event definitions, got %s", yamlnode.Describe(root))
	}
	e := &EventDefinitions{storeRaw: map[string]bool{}}
	for _, p := range opts.StoreRaw {
		e.storeRaw[strings.ToLower(p)] = true
	}
	hasCatchAll := false
	for i, n := range root.Content {
		d, err := parseEventDef(n, i)
		if err != nil {
			return nil, err
		}
		hasCatchAll = hasCatchAll || d.catchAll
		e.defs = append(e.defs, d)
	}
	if !hasCatchAll && !opts.DropUnmatched {
		all, _ := pipeline.NewMeterFilter([]string{"*"})
		catch := &eventDef{include: []*pipeline.MeterFilter{all}, catchAll: true, traits: defaultTraits}
		e.defs = append([]*eventDef{catch}, e.defs...) // searched last
	}
	return e, nil
}

// LoadEvents loads the event definitions at path, or vigil's defaults
// when path is empty.
func LoadEvents(path string, opts EventOptions) (*EventDefinitions, error) {
	if path == "" {
		e, err := ParseEvents(DefaultEventDefinitionsYAML, opts)
		if err != nil {
			return nil, fmt.Errorf("BUG: the default event_definitions.yaml is invalid: %w", err)
		}
		return e, nil
	}
	data, err := readDefinitionFile(path)
	if err != nil {
		return nil, err
	}
	e, err := ParseEvents(data, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot load event definitions %s: %w", path, err)
	}
	return e, nil
}

func parseEventDef(n *yaml.Node, i int) (*eventDef, error) {
	path := fmt.Sprintf("events[%d]", i)
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	d := &eventDef{line: yamlnode.Resolve(n).Line}
	var typesN, traitsN *yaml.Node
	for _, p := range ps {
		switch p.Key {
		case "event_type":
			typesN = p.Value
		case "traits":
			traitsN = p.Value
		default:
			return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want event_type and traits", p.Key)
		}
	}
	if typesN == nil || yamlnode.IsNull(typesN) {
		return nil, yamlnode.ErrAt(n, path+".event_type", "required")
	}
	tn := yamlnode.Resolve(typesN)
	var types []string
	if tn.Kind == yaml.ScalarNode {
		types = []string{tn.Value}
	} else if types, err = yamlnode.StringList(tn, path+".event_type"); err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, yamlnode.ErrAt(tn, path+".event_type", "empty list")
	}
	path = fmt.Sprintf("events[%d] (%s)", i, strings.Join(types, ", "))
	for _, t := range types {
		pat, excl := strings.CutPrefix(t, "!")
		if pat == "" {
			return nil, yamlnode.ErrAt(tn, path+".event_type", "empty pattern")
		}
		f, err := pipeline.NewMeterFilter([]string{pat})
		if err != nil {
			return nil, yamlnode.ErrAt(tn, path+".event_type", "%v", err)
		}
		if excl {
			d.exclude = append(d.exclude, f)
		} else {
			d.include = append(d.include, f)
			if pat == "*" {
				d.catchAll = true
			}
		}
	}
	if len(d.include) == 0 {
		all, _ := pipeline.NewMeterFilter([]string{"*"})
		d.include = append(d.include, all)
	}
	d.catchAll = d.catchAll && len(d.exclude) == 0
	var own []traitDef
	if traitsN != nil && !yamlnode.IsNull(traitsN) {
		if own, err = parseTraits(traitsN, path+".traits"); err != nil {
			return nil, err
		}
	}
	d.traits = mergeTraits(own, defaultTraits)
	return d, nil
}

func parseTraits(n *yaml.Node, path string) ([]traitDef, error) {
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	out := make([]traitDef, 0, len(ps))
	for _, p := range ps {
		tp := path + "." + p.Key
		td := traitDef{name: p.Key, typ: TraitText}
		vn := yamlnode.Resolve(p.Value)
		if vn.Kind != yaml.MappingNode {
			return nil, yamlnode.ErrAt(vn, tp, "want a mapping with fields (and type, plugin), got %s", yamlnode.Describe(vn))
		}
		fields := &yaml.Node{Kind: yaml.MappingNode, Line: vn.Line}
		tps, err := yamlnode.Pairs(vn, tp)
		if err != nil {
			return nil, err
		}
		for _, kv := range tps {
			switch kv.Key {
			case "type":
				s, err := yamlnode.ScalarString(kv.Value, tp+".type")
				if err != nil {
					return nil, err
				}
				if td.typ, err = parseTraitType(s); err != nil {
					return nil, yamlnode.ErrAt(kv.Value, tp+".type", "%v", err)
				}
			case "fields", "plugin":
				fields.Content = append(fields.Content, kv.KeyNode, kv.Value)
			default:
				return nil, yamlnode.ErrAt(kv.KeyNode, tp, "unknown key %q: want fields, type and plugin", kv.Key)
			}
		}
		if td.v, err = parseDefValue(fields, tp, stringIsField); err != nil {
			return nil, err
		}
		out = append(out, td)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// mergeTraits returns own plus the defaults it does not define, sorted.
func mergeTraits(own, defaults []traitDef) []traitDef {
	out := append([]traitDef(nil), own...)
	for _, d := range defaults {
		found := false
		for _, o := range own {
			found = found || o.name == d.name
		}
		if !found {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (d *eventDef) matches(eventType string) bool {
	for _, f := range d.exclude {
		if f.Match(eventType) {
			return false
		}
	}
	for _, f := range d.include {
		if f.Match(eventType) {
			return true
		}
	}
	return false
}

func (e *EventDefinitions) definition(eventType string) *eventDef {
	if v, ok := e.byType.Load(eventType); ok {
		return v.(*eventDef)
	}
	var found *eventDef
	for i := len(e.defs) - 1; i >= 0; i-- {
		if e.defs[i].matches(eventType) {
			found = e.defs[i]
			break
		}
	}
	if e.cached.Load() < maxCachedEventTypes {
		if _, loaded := e.byType.LoadOrStore(strings.Clone(eventType), found); !loaded {
			e.cached.Add(1)
		}
	}
	return found
}

// TraitErrorFunc is told of a trait whose value does not convert to its
// type (an int trait given "abc"); the trait is left out.
type TraitErrorFunc func(trait string, err error)

// Event converts n, or reports false when no definition matches.
func (e *EventDefinitions) Event(n *Notification, traitErr TraitErrorFunc) (*Event, bool) {
	d := e.definition(n.EventType)
	if d == nil {
		return nil, false
	}
	ev := &Event{MessageID: n.MessageID, EventType: n.EventType, Generated: n.Timestamp, Traits: make([]Trait, 0, len(d.traits))}
	for _, td := range d.traits {
		v, ok := td.v.first(n.Message)
		if !ok {
			continue
		}
		val, keep, err := convertTrait(td.typ, v)
		if err != nil {
			if traitErr != nil {
				traitErr(td.name, err)
			}
			continue
		}
		if keep {
			ev.Traits = append(ev.Traits, Trait{Name: td.name, Type: td.typ, Value: val})
		}
	}
	if e.storeRaw[n.Priority] {
		ev.Raw = n.Message
	}
	return ev, true
}

// maxTextTrait is how much of a text trait is kept, in characters.
const maxTextTrait = 255

// convertTrait is Ceilometer's Trait.convert_value: text is str() cut to
// 255 characters, int is int() (a float truncated), float is float(),
// datetime an ISO 8601 time in UTC. A non-text ” is left out (keep false).
func convertTrait(t TraitType, v any) (any, bool, error) {
	if s, ok := v.(string); ok && s == "" && t != TraitText {
		return nil, false, nil
	}
	switch t {
	case TraitText:
		s := pyStr(v)
		if utf8.RuneCountInString(s) > maxTextTrait {
			s = string([]rune(s)[:maxTextTrait])
		}
		return s, true, nil
	case TraitInt:
		if i, ok := toInt(v); ok {
			return i, true, nil
		}
		if f, ok := toNumber(v); ok && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<63 {
			return int64(f), true, nil
		}
		if s, ok := v.(string); ok {
			if i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				return i, true, nil
			}
		}
		return nil, false, fmt.Errorf("%s is not an integer", truncate(pyStr(v), 40))
	case TraitFloat:
		if f, ok := toNumber(v); ok {
			return f, true, nil
		}
		if s, ok := v.(string); ok {
			if f, ok := parsePyFloat(s); ok {
				return f, true, nil
			}
		}
		return nil, false, fmt.Errorf("%s is not a number", truncate(pyStr(v), 40))
	case TraitDatetime:
		s, ok := v.(string)
		if !ok {
			return nil, false, fmt.Errorf("%s is not a timestamp", truncate(pyStr(v), 40))
		}
		ts, err := parseTimestamp(s)
		if err != nil {
			return nil, false, err
		}
		return ts, true, nil
	}
	return nil, false, fmt.Errorf("BUG: trait type %d", t)
}
