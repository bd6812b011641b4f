package notify

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// defValue is one value of a meter or event definition, as Ceilometer's
// declarative.Definition reads it: a constant number, a field expression,
// a list of expressions (the first that matches wins), or
// {fields: <expression or list>, plugin: <plugin>}.
type defValue struct {
	src      string
	constant any
	isConst  bool
	fields   []*FieldExpr
	plugin   plugin
}

// literalKind says how a plain string is read.
type literalKind uint8

const (
	// stringIsField: a string is a field expression (volume,
	// resource_id, traits' fields, ...).
	stringIsField literalKind = iota
	// stringIsLiteralUnlessDollar: a string is a literal unless it starts
	// with '$' (a meter's name, unit and type: `name: memory`).
	stringIsLiteralUnlessDollar
)

func parseDefValue(n *yaml.Node, path string, kind literalKind) (*defValue, error) {
	n = yamlnode.Resolve(n)
	d := &defValue{}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, yamlnode.ErrAt(n, path, "want a value, got null")
		}
		d.src = n.Value
		if n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool" {
			d.constant, d.isConst = yamlScalar(n), true
			return d, nil
		}
		if kind == stringIsLiteralUnlessDollar && !strings.HasPrefix(strings.TrimSpace(n.Value), "$") {
			d.constant, d.isConst = n.Value, true
			return d, nil
		}
		e, err := ParseField(n.Value)
		if err != nil {
			return nil, yamlnode.ErrAt(n, path, "cannot parse field expression %q: %v", n.Value, err)
		}
		d.fields = []*FieldExpr{e}
		return d, nil
	case yaml.SequenceNode:
		return d, d.parseFields(n, path)
	case yaml.MappingNode:
		ps, err := yamlnode.Pairs(n, path)
		if err != nil {
			return nil, err
		}
		var fieldsN, pluginN *yaml.Node
		for _, p := range ps {
			switch p.Key {
			case "fields":
				fieldsN = p.Value
			case "plugin":
				pluginN = p.Value
			default:
				return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want fields and plugin", p.Key)
			}
		}
		if fieldsN == nil || yamlnode.IsNull(fieldsN) {
			return nil, yamlnode.ErrAt(n, path+".fields", "required")
		}
		if err := d.parseFields(fieldsN, path+".fields"); err != nil {
			return nil, err
		}
		if pluginN != nil && !yamlnode.IsNull(pluginN) {
			if d.plugin, err = parsePlugin(pluginN, path+".plugin"); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	return nil, yamlnode.ErrAt(n, path, "want a value, got %s", yamlnode.Describe(n))
}

func (d *defValue) parseFields(n *yaml.Node, path string) error {
	n = yamlnode.Resolve(n)
	if n.Kind == yaml.ScalarNode {
		e, err := ParseField(n.Value)
		if err != nil {
			return yamlnode.ErrAt(n, path, "cannot parse field expression %q: %v", n.Value, err)
		}
		d.src = n.Value
		d.fields = []*FieldExpr{e}
		return nil
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return yamlnode.ErrAt(n, path, "want a field expression or a non-empty list of them, got %s", yamlnode.Describe(n))
	}
	var srcs []string
	for i, c := range n.Content {
		s, err := yamlnode.ScalarString(c, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return err
		}
		e, err := ParseField(s)
		if err != nil {
			return yamlnode.ErrAt(c, fmt.Sprintf("%s[%d]", path, i), "cannot parse field expression %q: %v", s, err)
		}
		d.fields = append(d.fields, e)
		srcs = append(srcs, s)
	}
	d.src = strings.Join(srcs, " | ")
	return nil
}

// values appends the definition's values for msg to dst: the constant, or
// every match of the fields in order (nulls kept when keepNull), through
// the plugin.
func (d *defValue) values(dst []any, msg any, keepNull bool) []any {
	if d.isConst {
		return append(dst, d.constant)
	}
	start := len(dst)
	for _, f := range d.fields {
		if keepNull && d.plugin == nil {
			dst = f.EvalAll(dst, msg)
		} else {
			dst = f.Eval(dst, msg)
		}
	}
	if d.plugin == nil {
		return dst
	}
	out := d.plugin.apply(dst[start:], msg)
	n := copy(dst[start:], out)
	dst = dst[:start+n]
	return append(dst, out[n:]...)
}

// first returns the first non-null value.
func (d *defValue) first(msg any) (any, bool) {
	if d.isConst {
		return d.constant, true
	}
	if d.plugin == nil {
		for _, f := range d.fields {
			if v, ok := f.First(msg); ok {
				return v, true
			}
		}
		return nil, false
	}
	var buf [4]any
	for _, v := range d.values(buf[:0], msg, false) {
		if v != nil {
			return v, true
		}
	}
	return nil, false
}
