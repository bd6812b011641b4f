package notify

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// DefaultMetersYAML is vigil's meters.yaml: every notification meter of
// Ceilometer's packaged definitions.
//
//go:embed meters.yaml
var DefaultMetersYAML []byte

// MaxDefinitionFileBytes bounds a meters.yaml or event_definitions.yaml.
const MaxDefinitionFileBytes = 4 << 20

// MeterDefinitions turn notifications into samples, as Ceilometer's
// meters.yaml defines. Every definition whose event_type matches produces
// its samples. It is immutable and safe for concurrent use.
type MeterDefinitions struct {
	defs []*meterDef
	// byType caches which definitions match an event type (sync.Map
	// guards itself); cached counts its entries.
	byType sync.Map // string → []*meterDef
	cached atomic.Int64
	// reservedNS and reservedLen filter user metadata as Ceilometer's
	// reserved_metadata_namespace (["metering."]) and
	// reserved_metadata_length (256) do.
	reservedNS  []string
	reservedLen int
}

// maxCachedEventTypes bounds the event-type cache: event types come from
// the network.
const maxCachedEventTypes = 10000

type meterDef struct {
	name     string // as written, for messages, metrics and overriding
	line     int
	patterns []eventMatcher

	nameV, typeV, unitV                        *defValue
	volume, resourceID, userID, projectID, tsV *defValue
	metadata                                   []metaValue
	userMeta                                   *defValue
	lookup                                     map[string]bool
	typ                                        pipeline.Type // when type is a constant
}

type metaValue struct {
	key string
	v   *defValue
}

// meterKeys are the keys of a definition.
var meterKeys = []string{"name", "event_type", "type", "unit", "volume", "resource_id", "user_id", "project_id", "timestamp", "metadata", "user_metadata", "lookup"}

// ParseMeters parses a meters.yaml: a top-level `metric` list of
// definitions. A definition needs name, event_type, type, unit, volume and
// resource_id; an invalid one fails the whole file with its line and
// reason (Ceilometer logs and skips it). A name defined twice keeps the
// last definition, as in Ceilometer.
func ParseMeters(data []byte) (*MeterDefinitions, error) {
	defs, err := parseMeterFile(data)
	if err != nil {
		return nil, err
	}
	return newMeterDefinitions(defs), nil
}

// LoadMeters loads the definitions of path followed by vigil's defaults, a
// name defined in path overriding the default of that name, as
// Ceilometer's /etc/ceilometer/meters.d overrides its packaged ones. An
// empty path loads the defaults alone.
func LoadMeters(path string) (*MeterDefinitions, error) {
	base, err := parseMeterFile(DefaultMetersYAML)
	if err != nil {
		return nil, fmt.Errorf("BUG: the default meters.yaml is invalid: %w", err)
	}
	if path == "" {
		return newMeterDefinitions(base), nil
	}
	data, err := readDefinitionFile(path)
	if err != nil {
		return nil, err
	}
	own, err := parseMeterFile(data)
	if err != nil {
		return nil, fmt.Errorf("cannot load meter definitions %s: %w", path, err)
	}
	seen := map[string]bool{}
	for _, d := range own {
		seen[d.name] = true
	}
	for _, d := range base {
		if !seen[d.name] {
			own = append(own, d)
		}
	}
	return newMeterDefinitions(own), nil
}

func readDefinitionFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open definitions: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDefinitionFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read definitions %s: %w", path, err)
	}
	return data, nil
}

func newMeterDefinitions(defs []*meterDef) *MeterDefinitions {
	return &MeterDefinitions{defs: defs, reservedNS: []string{"metering."}, reservedLen: 256}
}

// Len returns the number of definitions.
func (m *MeterDefinitions) Len() int { return len(m.defs) }

// Names returns the definitions' names as written, in order.
func (m *MeterDefinitions) Names() []string {
	out := make([]string, len(m.defs))
	for i, d := range m.defs {
		out[i] = d.name
	}
	return out
}

func parseYAMLDocument(data []byte, what string) (*yaml.Node, error) {
	if len(data) > MaxDefinitionFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, the limit is %d", what, len(data), MaxDefinitionFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is empty", what)
		}
		return nil, fmt.Errorf("cannot parse %s: %w", what, err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s holds more than one YAML document", what)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

func parseMeterFile(data []byte) ([]*meterDef, error) {
	root, err := parseYAMLDocument(data, "meter definitions")
	if err != nil {
		return nil, err
	}
	top, err := yamlnode.Pairs(root, "meters")
	if err != nil {
		return nil, err
	}
	var list *yaml.Node
	for _, p := range top {
		if p.Key != "metric" {
			return nil, yamlnode.ErrAt(p.KeyNode, "meters", "unknown key %q: want metric", p.Key)
		}
		list = yamlnode.Resolve(p.Value)
	}
	if list == nil || yamlnode.IsNull(list) {
		return nil, yamlnode.ErrAt(root, "metric", "required: the list of meter definitions")
	}
	if list.Kind != yaml.SequenceNode {
		return nil, yamlnode.ErrAt(list, "metric", "want a list, got %s", yamlnode.Describe(list))
	}
	var defs []*meterDef
	index := map[string]int{}
	for i, n := range list.Content {
		d, err := parseMeterDef(n, i)
		if err != nil {
			return nil, err
		}
		if j, ok := index[d.name]; ok {
			defs[j] = d // the last definition of a name wins
			continue
		}
		index[d.name] = len(defs)
		defs = append(defs, d)
	}
	return defs, nil
}

func parseMeterDef(n *yaml.Node, i int) (*meterDef, error) {
	path := fmt.Sprintf("metric[%d]", i)
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Key == "name" && yamlnode.Resolve(p.Value).Kind == yaml.ScalarNode {
			path = fmt.Sprintf("metric[%d] (%q)", i, yamlnode.Resolve(p.Value).Value)
		}
	}
	vals := map[string]yamlnode.Pair{}
	for _, p := range ps {
		known := false
		for _, k := range meterKeys {
			known = known || k == p.Key
		}
		if !known {
			return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want %s", p.Key, strings.Join(meterKeys, ", "))
		}
		if !yamlnode.IsNull(p.Value) {
			vals[p.Key] = p
		}
	}
	d := &meterDef{line: yamlnode.Resolve(n).Line}
	if p, ok := vals["name"]; ok {
		if d.name, err = yamlnode.ScalarString(p.Value, path+".name"); err != nil {
			return nil, err
		}
		path = fmt.Sprintf("metric[%d] (%q)", i, d.name)
	}
	var missing []string
	for _, k := range []string{"name", "event_type", "type", "unit", "volume", "resource_id"} {
		if _, ok := vals[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, yamlnode.ErrAt(n, path, "required field(s) %s not specified", strings.Join(missing, ", "))
	}
	if p, ok := vals["lookup"]; ok {
		d.lookup = map[string]bool{}
		ln := yamlnode.Resolve(p.Value)
		var names []string
		if ln.Kind == yaml.ScalarNode {
			names = []string{ln.Value}
		} else if names, err = yamlnode.StringList(ln, path+".lookup"); err != nil {
			return nil, err
		}
		for _, l := range names {
			switch l {
			case "name", "type", "unit", "volume", "resource_id", "user_id", "project_id", "timestamp":
				d.lookup[l] = true
			default:
				return nil, yamlnode.ErrAt(ln, path+".lookup", "%q is not a sample attribute", l)
			}
		}
	}
	// event_type: a pattern or a list of them.
	en := yamlnode.Resolve(vals["event_type"].Value)
	var pats []string
	if en.Kind == yaml.ScalarNode {
		pats = []string{en.Value}
	} else if pats, err = yamlnode.StringList(en, path+".event_type"); err != nil {
		return nil, err
	}
	if len(pats) == 0 {
		return nil, yamlnode.ErrAt(en, path+".event_type", "empty list")
	}
	for _, pat := range pats {
		m, err := compileEventPattern(pat)
		if err != nil {
			return nil, yamlnode.ErrAt(en, path+".event_type", "%v", err)
		}
		d.patterns = append(d.patterns, m)
	}
	value := func(key string, kind literalKind) (*defValue, error) {
		p, ok := vals[key]
		if !ok {
			return nil, nil
		}
		v, err := parseDefValue(p.Value, path+"."+key, kind)
		if err != nil {
			return nil, err
		}
		if v.plugin != nil && d.lookup[key] && !v.plugin.perValue() {
			return nil, yamlnode.ErrAt(p.Value, path+"."+key, "this plugin gives one value, and %s is looked up per meter", key)
		}
		return v, nil
	}
	if d.nameV, err = value("name", stringIsLiteralUnlessDollar); err != nil {
		return nil, err
	}
	if d.unitV, err = value("unit", stringIsLiteralUnlessDollar); err != nil {
		return nil, err
	}
	if d.typeV, err = value("type", stringIsLiteralUnlessDollar); err != nil {
		return nil, err
	}
	if d.typeV.isConst {
		s, _ := d.typeV.constant.(string)
		if d.typ, err = pipeline.ParseType(s); err != nil {
			return nil, yamlnode.ErrAt(vals["type"].Value, path+".type", "invalid type %q: want gauge, delta or cumulative", d.typeV.src)
		}
	} else if !d.lookup["type"] {
		return nil, yamlnode.ErrAt(vals["type"].Value, path+".type", "a type from a field expression must be in lookup")
	}
	for _, f := range []struct {
		key string
		dst **defValue
	}{{"volume", &d.volume}, {"resource_id", &d.resourceID}, {"user_id", &d.userID}, {"project_id", &d.projectID}, {"timestamp", &d.tsV}} {
		if *f.dst, err = value(f.key, stringIsField); err != nil {
			return nil, err
		}
	}
	if p, ok := vals["metadata"]; ok {
		mps, err := yamlnode.Pairs(p.Value, path+".metadata")
		if err != nil {
			return nil, err
		}
		for _, mp := range mps {
			v, err := parseDefValue(mp.Value, path+".metadata."+mp.Key, stringIsField)
			if err != nil {
				return nil, err
			}
			d.metadata = append(d.metadata, metaValue{mp.Key, v})
		}
	}
	if p, ok := vals["user_metadata"]; ok {
		if d.userMeta, err = parseDefValue(p.Value, path+".user_metadata", stringIsField); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// matching returns the definitions whose event_type matches.
func (m *MeterDefinitions) matching(eventType string) []*meterDef {
	if v, ok := m.byType.Load(eventType); ok {
		return v.([]*meterDef)
	}
	var out []*meterDef
	for _, d := range m.defs {
		for _, p := range d.patterns {
			if p.match(eventType) {
				out = append(out, d)
				break
			}
		}
	}
	if m.cached.Load() < maxCachedEventTypes {
		// The event type may share memory with a whole decoded message:
		// the cache keeps a copy.
		if _, loaded := m.byType.LoadOrStore(strings.Clone(eventType), out); !loaded {
			m.cached.Add(1)
		}
	}
	return out
}

// Skip reasons, the values of the reason label of
// vigil_notify_meters_skipped_total.
const (
	SkipNoName         = "no_name"
	SkipNoVolume       = "no_volume"
	SkipBadVolume      = "volume_not_a_number"
	SkipNoResourceID   = "no_resource_id"
	SkipBadTimestamp   = "bad_timestamp"
	SkipBadType        = "bad_type"
	SkipLookupMismatch = "lookup_mismatch"
	SkipNoValues       = "no_values"
)

// SkipFunc is told of a meter a notification matched but could not give:
// the definition's name and one of the Skip reasons.
type SkipFunc func(meter, reason string)

// Samples appends the samples n produces to dst. source is the samples'
// source (Ceilometer's sample_source, "openstack"). A definition whose
// payload lacks what it needs (a volume, a resource id) gives no sample and
// is reported to skip, which may be nil. It returns dst and the number of
// definitions that matched.
func (m *MeterDefinitions) Samples(dst []pipeline.Sample, n *Notification, source string, skip SkipFunc) ([]pipeline.Sample, int) {
	defs := m.matching(n.EventType)
	if len(defs) == 0 {
		return dst, 0
	}
	if skip == nil {
		skip = func(string, string) {}
	}
	b := sampleBuilder{m: m, n: n, source: source}
	for _, d := range defs {
		if d.lookup != nil {
			dst = b.lookupSamples(dst, d, skip)
		} else {
			dst = b.sample(dst, d, skip)
		}
	}
	return dst, len(defs)
}

// sampleBuilder holds what the definitions matching one notification share.
type sampleBuilder struct {
	m       *MeterDefinitions
	n       *Notification
	source  string
	wholeMD map[string]any // the payload copy, built once
	scratch []any
}

func (b *sampleBuilder) sample(dst []pipeline.Sample, d *meterDef, skip SkipFunc) []pipeline.Sample {
	msg := b.n.Message
	s := pipeline.Sample{Type: d.typ, Source: b.source, Timestamp: b.n.Timestamp}
	name, ok := d.nameV.first(msg)
	if !ok {
		skip(d.name, SkipNoName)
		return dst
	}
	s.Name = pyStr(name)
	if unit, ok := d.unitV.first(msg); ok {
		s.Unit = pyStr(unit)
	} else {
		s.Unit = d.unitV.src
	}
	vol, ok := d.volume.first(msg)
	if !ok {
		skip(d.name, SkipNoVolume)
		return dst
	}
	if s.Volume, ok = volumeOf(vol); !ok {
		skip(d.name, SkipBadVolume)
		return dst
	}
	rid, ok := d.resourceID.first(msg)
	if !ok {
		skip(d.name, SkipNoResourceID)
		return dst
	}
	s.ResourceID = pyStr(rid)
	if d.userID != nil {
		if v, ok := d.userID.first(msg); ok {
			s.UserID = pyStr(v)
		}
	}
	if d.projectID != nil {
		if v, ok := d.projectID.first(msg); ok {
			s.ProjectID = pyStr(v)
		}
	}
	if d.tsV != nil {
		if v, ok := d.tsV.first(msg); ok {
			t, ok := timestampOf(v)
			if !ok {
				skip(d.name, SkipBadTimestamp)
				return dst
			}
			s.Timestamp = t
		}
	}
	s.Metadata = b.metadata(d)
	return append(dst, s)
}

// metadata builds a definition's resource metadata: its metadata keys
// with a value Python finds true, plus the reserved user metadata; or, when
// that is empty, the whole payload with event_type and host.
func (b *sampleBuilder) metadata(d *meterDef) map[string]any {
	msg := b.n.Message
	var md map[string]any
	for _, mv := range d.metadata {
		v, ok := mv.v.first(msg)
		if !ok || !pyTruthy(v) {
			continue
		}
		if md == nil {
			md = make(map[string]any, len(d.metadata)+1)
		}
		md[mv.key] = v
	}
	if d.userMeta != nil {
		if v, ok := d.userMeta.first(msg); ok {
			if um, ok := v.(map[string]any); ok {
				if r := b.m.reserved(um, md); len(r) > 0 {
					if md == nil {
						md = map[string]any{}
					}
					md["user_metadata"] = r
				}
			}
		}
	}
	if len(md) > 0 {
		return md
	}
	if b.wholeMD == nil {
		p, _ := b.n.Payload.(map[string]any)
		b.wholeMD = make(map[string]any, len(p)+2)
		for k, v := range p {
			b.wholeMD[k] = v
		}
		b.wholeMD["event_type"] = b.n.EventType
		b.wholeMD["host"] = b.n.PublisherID
	}
	return b.wholeMD
}

// reserved is Ceilometer's add_reserved_user_metadata: the keys under a
// reserved namespace, without it and with '.' as '_', strings cut to the
// reserved length, unless the sample's metadata already has that key.
func (m *MeterDefinitions) reserved(src, dest map[string]any) map[string]any {
	var out map[string]any
	for _, ns := range m.reservedNS {
		for k, v := range src {
			rest, ok := strings.CutPrefix(k, ns)
			if !ok {
				continue
			}
			key := strings.ReplaceAll(rest, ".", "_")
			if _, taken := dest[key]; taken {
				continue
			}
			if s, ok := v.(string); ok && len([]rune(s)) > m.reservedLen {
				v = string([]rune(s)[:m.reservedLen])
			}
			if out == nil {
				out = map[string]any{}
			}
			out[key] = v
		}
	}
	return out
}

// lookupSamples expands a lookup definition: one sample per value of the
// looked-up attributes, the others repeated.
func (b *sampleBuilder) lookupSamples(dst []pipeline.Sample, d *meterDef, skip SkipFunc) []pipeline.Sample {
	msg := b.n.Message
	attr := func(v *defValue, key string) []any {
		if v == nil {
			return nil
		}
		start := len(b.scratch)
		b.scratch = v.values(b.scratch, msg, d.lookup[key] || key == "name")
		return b.scratch[start:len(b.scratch):len(b.scratch)]
	}
	b.scratch = b.scratch[:0]
	names := attr(d.nameV, "name")
	if len(names) == 0 {
		skip(d.name, SkipNoValues)
		return dst
	}
	cols := []struct {
		key  string
		vals []any
	}{
		{"type", attr(d.typeV, "type")}, {"unit", attr(d.unitV, "unit")}, {"volume", attr(d.volume, "volume")},
		{"resource_id", attr(d.resourceID, "resource_id")}, {"user_id", attr(d.userID, "user_id")},
		{"project_id", attr(d.projectID, "project_id")}, {"timestamp", attr(d.tsV, "timestamp")},
	}
	for _, c := range cols {
		switch {
		case len(c.vals) == len(names):
		case len(c.vals) <= 1 && !d.lookup[c.key]:
		default:
			skip(d.name, SkipLookupMismatch)
			return dst
		}
	}
	at := func(vals []any, i int) (any, bool) {
		switch {
		case len(vals) == 0:
			return nil, false
		case len(vals) == 1 && len(names) != 1:
			return vals[0], vals[0] != nil
		}
		return vals[i], vals[i] != nil
	}
	md := b.metadata(d)
	for i := range names {
		if names[i] == nil {
			skip(d.name, SkipNoName)
			continue
		}
		s := pipeline.Sample{Name: pyStr(names[i]), Type: d.typ, Source: b.source, Timestamp: b.n.Timestamp, Metadata: md}
		if v, ok := at(cols[0].vals, i); ok && !d.typeV.isConst {
			t, err := pipeline.ParseType(pyStr(v))
			if err != nil {
				skip(d.name, SkipBadType)
				continue
			}
			s.Type = t
		}
		if v, ok := at(cols[1].vals, i); ok {
			s.Unit = pyStr(v)
		}
		v, ok := at(cols[2].vals, i)
		if !ok {
			skip(d.name, SkipNoVolume)
			continue
		}
		if s.Volume, ok = volumeOf(v); !ok {
			skip(d.name, SkipBadVolume)
			continue
		}
		if v, ok = at(cols[3].vals, i); !ok {
			skip(d.name, SkipNoResourceID)
			continue
		}
		s.ResourceID = pyStr(v)
		if v, ok := at(cols[4].vals, i); ok {
			s.UserID = pyStr(v)
		}
		if v, ok := at(cols[5].vals, i); ok {
			s.ProjectID = pyStr(v)
		}
		if v, ok := at(cols[6].vals, i); ok {
			t, ok := timestampOf(v)
			if !ok {
				skip(d.name, SkipBadTimestamp)
				continue
			}
			s.Timestamp = t
		}
		dst = append(dst, s)
	}
	return dst
}

// volumeOf is Python's float() of a volume, refusing what the pipeline
// would drop (non-numbers, NaN, infinities).
func volumeOf(v any) (float64, bool) {
	var f float64
	var ok bool
	switch x := v.(type) {
	case string:
		f, ok = parsePyFloat(x)
	default:
		f, ok = toNumber(v)
	}
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func timestampOf(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := parseTimestamp(s)
	return t, err == nil
}

// pyTruthy is Python's truth value of a decoded JSON value.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	f, ok := toNumber(v)
	return !ok || f != 0
}
