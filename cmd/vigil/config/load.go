package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that sets a key.
const EnvPrefix = "VIGIL_"

// maxFileBytes bounds the configuration file; a real one is a few KiB.
const maxFileBytes = 1 << 20

// maxErrors bounds the errors one load reports, so that a huge bad file
// does not make a huge message.
const maxErrors = 20

// Load returns the defaults, overridden by the YAML file (when file is not
// empty), overridden by the VIGIL_* variables of environ ("KEY=value"
// entries, as os.Environ returns them). The file is decoded strictly: an
// unknown key, a value of the wrong type or a second document is an error
// naming the key path and the line. Every key a.b_c is set by VIGIL_A_B_C;
// lists of strings are comma-separated, lists of targets are YAML
// ('[{address: "h:161", version: 2c, community: public}]'), and a VIGIL_
// variable that names no key is an error.
//
// Load does not call Validate: the caller applies its flags first.
func Load(file string, environ []string) (Config, error) {
	cfg := Default()
	if file != "" {
		data, err := readFile(file)
		if err != nil {
			return cfg, err
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", file, err)
		}
	}
	if err := applyEnv(environ, &cfg); err != nil {
		return cfg, err
	}
	if cfg.Processor.ID == "" {
		cfg.Processor.ID = hostname()
	}
	return cfg, nil
}

func readFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration %s: %w", file, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("cannot read the configuration %s: larger than %d bytes", file, maxFileBytes)
	}
	return data, nil
}

// decodeYAML decodes one YAML document onto cfg. Keys it does not hold
// keep their value; a null value keeps it too.
func decodeYAML(data []byte, cfg *Config) error {
	// The document is parsed into nodes and walked along the Config type
	// (decoder): stricter than yaml.v3's KnownFields, and every error
	// names the key's path, not only a Go field.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file
		}
		return fmt.Errorf("cannot parse: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("cannot parse: %w", err)
		}
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return fmt.Errorf("line %d: a second YAML document: the configuration is one", line)
	}
	d := &decoder{}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	d.value(root, reflect.ValueOf(cfg).Elem(), "")
	return d.err()
}

// decoder walks a YAML tree along the Config type, so that every error
// names the key path and the line.
type decoder struct {
	errs    []error
	dropped int
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	if path == "" {
		path = "(top level)"
	}
	d.errs = append(d.errs, fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, args...)))
}

func (d *decoder) err() error {
	if d.dropped > 0 {
		d.errs = append(d.errs, fmt.Errorf("and %d more errors", d.dropped))
	}
	return errors.Join(d.errs...)
}

var durationType = reflect.TypeFor[Duration]()

// value decodes n into v, which has the type of the key at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		// The walk follows the Config type, which has no cycles, so an
		// alias costs at most the size of the type.
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value keeps the default
	}
	if v.Type() == durationType {
		var dur Duration
		if err := n.Decode(&dur); err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got a %s", kindName(n))
			return
		}
		if len(n.Content) == 0 {
			v.Set(reflect.Zero(v.Type())) // as Default writes "none"
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a string, got a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(n, path, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	default:
		panic(fmt.Sprintf("BUG: config key %s has the unsupported type %s", path, v.Type()))
	}
}

// mapping decodes a YAML mapping into the struct v, key by key.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of keys, got %s", describe(n))
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a string, got a %s", kindName(k))
			continue
		}
		kp := join(path, k.Value)
		if k.ShortTag() == "!!merge" {
			d.fail(k, kp, "merge keys are not supported: write the keys out")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(k, kp, "set twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByKey(v.Type(), k.Value)
		if !ok {
			d.fail(k, kp, "unknown key")
			continue
		}
		d.value(val, v.FieldByIndex(f.Index), kp)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldByKey finds the field of struct type t whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return k
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

// describe shows a node in an error: a scalar's value, or its kind.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		v := n.Value
		if len(v) > 64 {
			v = v[:64] + "…"
		}
		return strconv.Quote(v)
	}
	return "a " + kindName(n)
}

// applyEnv sets the keys named by VIGIL_* variables of environ.
func applyEnv(environ []string, cfg *Config) error {
	byEnv := make(map[string]leaf)
	for _, l := range leaves() {
		byEnv[l.env] = l
	}
	root := reflect.ValueOf(cfg).Elem()
	var errs []error
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		l, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no configuration key is named by this variable (see `vigil config default`)", name))
			continue
		}
		if err := setFromEnv(root.FieldByIndex(l.index), l, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", name, l.path, err))
		}
	}
	return errors.Join(errs...)
}

// setFromEnv sets the key of l from the text of an environment variable.
func setFromEnv(v reflect.Value, l leaf, s string) error {
	if v.Type() == durationType {
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(i)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			var list []string
			for item := range strings.SplitSeq(s, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			v.Set(reflect.ValueOf(list).Convert(v.Type()))
			return nil
		}
		// A list of targets is YAML, flow style fits one line.
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			return fmt.Errorf("want a YAML list: %w", err)
		}
		if len(n.Content) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		d := &decoder{}
		d.value(n.Content[0], v, l.path)
		return d.err()
	default:
		panic(fmt.Sprintf("BUG: config key %s has the unsupported type %s", l.path, v.Type()))
	}
	return nil
}
