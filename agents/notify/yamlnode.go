package notify

// The helpers below walk yaml.v3 nodes with line numbers, aliases and merge
// keys; pipeline/sink has the same few for pipeline.yaml, since a package
// of YAML helpers shared by both would be a dumping ground.

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// configError is a problem at one place of a YAML file: its line and the
// path of keys that lead there, so that the message says where to look.
type configError struct {
	line int
	path string
	msg  string
}

func (e *configError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.line, e.path, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.path, e.msg)
}

func errAt(n *yaml.Node, path, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &configError{line: line, path: path, msg: fmt.Sprintf(format, args...)}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// pair is one key of a mapping with its value.
type pair struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

// pairs returns the keys of a mapping in order, with YAML merge keys (<<)
// applied: explicit keys win over merged ones, earlier merged mappings over
// later ones. A key given twice is an error.
func pairs(n *yaml.Node, path string) ([]pair, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errAt(n, path, "want a mapping, got %s", describe(n))
	}
	var out, merged []pair
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, path, "keys must be strings, got %s", describe(k))
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
			return nil, errAt(k, path, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		out = append(out, pair{k.Value, k, v})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func mergeSources(v *yaml.Node, path string) ([]pair, error) {
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range v.Content {
			ps, err := pairs(m, path)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	}
	return nil, errAt(v, path, "<< must merge a mapping or a list of mappings, got %s", describe(v))
}

func describe(n *yaml.Node) string {
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

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// scalarString accepts any scalar but null, as Python's str() of a YAML
// value would.
func scalarString(n *yaml.Node, path string) (string, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", errAt(n, path, "want a string, got %s", describe(n))
	}
	return n.Value, nil
}

func stringList(n *yaml.Node, path string) ([]string, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "want a list of strings, got %s", describe(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		s, err := scalarString(c, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func intValue(n *yaml.Node, path string) (int64, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return 0, errAt(n, path, "want an integer, got %s", describe(n))
	}
	v, err := strconv.ParseInt(strings.TrimSpace(n.Value), 0, 64)
	if err != nil {
		return 0, errAt(n, path, "want an integer, got %q", n.Value)
	}
	return v, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1", "t", "y":
		return true, true
	case "false", "no", "off", "0", "f", "n":
		return false, true
	}
	return false, false
}
