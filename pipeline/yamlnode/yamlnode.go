// Package yamlnode decodes Ceilometer's YAML configuration files
// (pipeline.yaml, meters.yaml, event_definitions.yaml) strictly: it walks
// yaml.v3 nodes with aliases and merge keys resolved, and every error names
// the line and the path of keys where the problem is.
package yamlnode

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem at one place of a YAML file: its line and the
// path of keys that lead there, so that the message says where to look.
type Error struct {
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

func ErrAt(n *yaml.Node, path, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Resolve follows aliases.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// Pair is one key of a mapping with its value.
type Pair struct {
	Key     string
	KeyNode *yaml.Node
	Value   *yaml.Node
}

// Pairs returns the keys of a mapping in order, with YAML merge keys (<<)
// applied: explicit keys win over merged ones, earlier merged mappings over
// later ones. A key given twice is an error.
func Pairs(n *yaml.Node, path string) ([]Pair, error) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, ErrAt(n, path, "want a mapping, got %s", Describe(n))
	}
	var out, merged []Pair
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, ErrAt(k, path, "keys must be strings, got %s", Describe(k))
		}
		if k.Tag == "!!merge" {
			m, err := mergeSources(v, path)
			if err != nil {
				return nil, err
			}
			merged = append(merged, m...)
			continue
		}
		if seen[k.Value] {
			return nil, ErrAt(k, path, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		out = append(out, Pair{k.Value, k, v})
	}
	for _, p := range merged {
		if !seen[p.Key] {
			seen[p.Key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func mergeSources(v *yaml.Node, path string) ([]Pair, error) {
	v = Resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return Pairs(v, path)
	case yaml.SequenceNode:
		var out []Pair
		for _, m := range v.Content {
			ps, err := Pairs(m, path)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	}
	return nil, ErrAt(v, path, "<< must merge a mapping or a list of mappings, got %s", Describe(v))
}

func Describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "an unknown node"
}

func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// ScalarString accepts any scalar but null, as Python's str() of a YAML
// value would.
func ScalarString(n *yaml.Node, path string) (string, error) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", ErrAt(n, path, "want a string, got %s", Describe(n))
	}
	return n.Value, nil
}

func StringList(n *yaml.Node, path string) ([]string, error) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, ErrAt(n, path, "want a list of strings, got %s", Describe(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		s, err := ScalarString(c, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func IntValue(n *yaml.Node, path string) (int64, error) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return 0, ErrAt(n, path, "want an integer, got %s", Describe(n))
	}
	v, err := strconv.ParseInt(strings.TrimSpace(n.Value), 0, 64)
	if err != nil {
		return 0, ErrAt(n, path, "want an integer, got %q", n.Value)
	}
	return v, nil
}

func FloatValue(n *yaml.Node, path string) (float64, error) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!str") {
		return 0, ErrAt(n, path, "want a number, got %s", Describe(n))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, ErrAt(n, path, "want a finite number, got %q", n.Value)
	}
	return v, nil
}

// BoolValue accepts YAML booleans and the strings Python code of
// Ceilometer's era treats as booleans in URL options.
func BoolValue(n *yaml.Node, path string) (bool, error) {
	n = Resolve(n)
	if n != nil && n.Kind == yaml.ScalarNode {
		if b, ok := ParseBool(n.Value); ok {
			return b, nil
		}
	}
	return false, ErrAt(n, path, "want true or false, got %s", Describe(n))
}

func ParseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1", "t", "y":
		return true, true
	case "false", "no", "off", "0", "f", "n":
		return false, true
	}
	return false, false
}
