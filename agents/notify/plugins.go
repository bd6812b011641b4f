package notify

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// plugin is one of Ceilometer's trait plugins, which meter and event
// definitions share: it turns the values a definition's fields matched
// into the definition's values.
type plugin interface {
	// apply maps matches (nulls dropped, in the fields' order) to values.
	apply(matches []any, msg any) []any
	// perValue reports whether the plugin maps each match on its own,
	// which lookup definitions need.
	perValue() bool
}

// parsePlugin reads `plugin: name` or `plugin: {name: ..., parameters: {...}}`.
func parsePlugin(n *yaml.Node, path string) (plugin, error) {
	n = yamlnode.Resolve(n)
	var name string
	var params *yaml.Node
	if n.Kind == yaml.ScalarNode {
		name = n.Value
	} else {
		ps, err := yamlnode.Pairs(n, path)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			switch p.Key {
			case "name":
				if name, err = yamlnode.ScalarString(p.Value, path+".name"); err != nil {
					return nil, err
				}
			case "parameters":
				if !yamlnode.IsNull(p.Value) {
					params = p.Value
				}
			default:
				return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want name and parameters", p.Key)
			}
		}
		if name == "" {
			return nil, yamlnode.ErrAt(n, path+".name", "plugin specified, but no plugin name supplied")
		}
	}
	pp := path + ".parameters"
	read := func(allowed ...string) (map[string]*yaml.Node, error) {
		out := map[string]*yaml.Node{}
		if params == nil {
			return out, nil
		}
		ps, err := yamlnode.Pairs(params, pp)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			ok := false
			for _, a := range allowed {
				ok = ok || a == p.Key
			}
			if !ok {
				return nil, yamlnode.ErrAt(p.KeyNode, pp, "unknown parameter %q of plugin %s", p.Key, name)
			}
			out[p.Key] = p.Value
		}
		return out, nil
	}
	switch name {
	case "split":
		p, err := read("separator", "segment", "max_split")
		if err != nil {
			return nil, err
		}
		s := &splitPlugin{sep: ".", maxSplit: -1}
		if v := p["separator"]; v != nil {
			if s.sep, err = yamlnode.ScalarString(v, pp+".separator"); err != nil {
				return nil, err
			}
			if s.sep == "" {
				return nil, yamlnode.ErrAt(v, pp+".separator", "empty separator")
			}
		}
		if v := p["segment"]; v != nil {
			i, err := yamlnode.IntValue(v, pp+".segment")
			if err != nil {
				return nil, err
			}
			if i < -(1<<20) || i > 1<<20 {
				return nil, yamlnode.ErrAt(v, pp+".segment", "out of range")
			}
			s.segment = int(i)
		}
		if v := p["max_split"]; v != nil && !yamlnode.IsNull(v) {
			i, err := yamlnode.IntValue(v, pp+".max_split")
			if err != nil {
				return nil, err
			}
			if i < -1 || i > 1<<20 {
				return nil, yamlnode.ErrAt(v, pp+".max_split", "out of range")
			}
			s.maxSplit = int(i)
		}
		return s, nil
	case "bitfield":
		p, err := read("initial_bitfield", "flags")
		if err != nil {
			return nil, err
		}
		b := &bitfieldPlugin{}
		if v := p["initial_bitfield"]; v != nil {
			if b.initial, err = yamlnode.IntValue(v, pp+".initial_bitfield"); err != nil {
				return nil, err
			}
		}
		if v := p["flags"]; v != nil {
			fl := yamlnode.Resolve(v)
			if fl.Kind != yaml.SequenceNode {
				return nil, yamlnode.ErrAt(fl, pp+".flags", "want a list, got %s", yamlnode.Describe(fl))
			}
			for i, f := range fl.Content {
				fp := fmt.Sprintf("%s.flags[%d]", pp, i)
				fps, err := yamlnode.Pairs(f, fp)
				if err != nil {
					return nil, err
				}
				var flag bitFlag
				var havePath, haveBit bool
				for _, kv := range fps {
					switch kv.Key {
					case "path":
						src, err := yamlnode.ScalarString(kv.Value, fp+".path")
						if err != nil {
							return nil, err
						}
						if flag.path, err = ParseField(src); err != nil {
							return nil, yamlnode.ErrAt(kv.Value, fp+".path", "%v", err)
						}
						havePath = true
					case "bit":
						bit, err := yamlnode.IntValue(kv.Value, fp+".bit")
						if err != nil {
							return nil, err
						}
						if bit < 0 || bit > 62 {
							return nil, yamlnode.ErrAt(kv.Value, fp+".bit", "%d is out of range [0, 62]", bit)
						}
						flag.bit = uint(bit)
						haveBit = true
					case "value":
						flag.value, flag.hasValue = yamlScalar(kv.Value), true
					default:
						return nil, yamlnode.ErrAt(kv.KeyNode, fp, "unknown key %q: want path, bit and value", kv.Key)
					}
				}
				if !havePath || !haveBit {
					return nil, yamlnode.ErrAt(f, fp, "a flag needs path and bit")
				}
				b.flags = append(b.flags, flag)
			}
		}
		return b, nil
	case "timedelta":
		if _, err := read(); err != nil {
			return nil, err
		}
		return timedeltaPlugin{}, nil
	}
	return nil, yamlnode.ErrAt(n, path, "no plugin named %q: want split, bitfield or timedelta", name)
}

// yamlScalar is a YAML scalar as Python's yaml.safe_load gives it.
func yamlScalar(n *yaml.Node) any {
	n = yamlnode.Resolve(n)
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	switch n.Tag {
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	case "!!bool":
		b, _ := yamlnode.ParseBool(n.Value)
		return b
	case "!!null":
		return nil
	}
	return n.Value
}

// splitPlugin is Ceilometer's split: str(value).split(separator,
// max_split)[segment].
type splitPlugin struct {
	sep      string
	segment  int
	maxSplit int
}

func (s *splitPlugin) perValue() bool { return true }

func (s *splitPlugin) apply(matches []any, _ any) []any {
	out := matches[:0:0]
	for _, m := range matches {
		parts := pySplit(pyStr(m), s.sep, s.maxSplit)
		i := s.segment
		if i < 0 {
			i += len(parts)
		}
		if i >= 0 && i < len(parts) {
			out = append(out, parts[i])
		}
	}
	return out
}

// bitfieldPlugin is Ceilometer's bitfield: initial_bitfield with bit set
// for each flag whose path matches in the message (and equals its value
// when one is given). Ceilometer looks the flag's path up among the
// trait's own matches; this evaluates it on the message, which agrees
// whenever the trait's fields cover the flag's path.
type bitfieldPlugin struct {
	initial int64
	flags   []bitFlag
}

type bitFlag struct {
	path     *FieldExpr
	bit      uint
	value    any
	hasValue bool
}

func (b *bitfieldPlugin) perValue() bool { return false }

func (b *bitfieldPlugin) apply(_ []any, msg any) []any {
	v := b.initial
	for _, f := range b.flags {
		got, ok := f.path.First(msg)
		if !ok {
			continue
		}
		if f.hasValue && !pyEqual(got, f.value) {
			continue
		}
		v |= 1 << f.bit
	}
	return []any{v}
}

// pyEqual is Python's == between a decoded JSON value and a YAML scalar.
func pyEqual(a, b any) bool {
	if fa, ok := toNumber(a); ok {
		if _, isBool := a.(bool); !isBool {
			if fb, ok := toNumber(b); ok {
				return fa == fb
			}
			return false
		}
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		switch y := b.(type) {
		case bool:
			return x == y
		case int64:
			return (x && y == 1) || (!x && y == 0)
		}
	case nil:
		return b == nil
	}
	return false
}

// timedeltaPlugin is Ceilometer's timedelta: the seconds between exactly
// two timestamps, as a non-negative float.
type timedeltaPlugin struct{}

func (timedeltaPlugin) perValue() bool { return false }

func (timedeltaPlugin) apply(matches []any, _ any) []any {
	if len(matches) != 2 {
		return nil
	}
	var ts [2]time.Time
	for i, m := range matches {
		s, ok := m.(string)
		if !ok {
			return nil
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return nil
		}
		ts[i] = t
	}
	return []any{math.Abs(ts[1].Sub(ts[0]).Seconds())}
}
