package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

const fileHeader = `Every key is shown with its default value. A key a.b_c can also be set by
the environment variable VIGIL_A_B_C, which wins over this file; the
command-line flags (--data-dir, --listen, --nats, --index, --log-format) win
over both. An unknown key or a bad value stops the start with a message
naming the key. Durations are Go durations (10s, 1m30s, 250ms) or numbers of
seconds; an empty value keeps the default.`

// DefaultYAML returns the default configuration file: every key with its
// default value and, above it, a comment on its meaning. Keys whose default
// depends on the machine (processor.id) are written empty, which Load reads
// as that machine's value, so the file can be copied between machines.
func DefaultYAML() []byte {
	var b bytes.Buffer
	b.WriteString("# vigil configuration file.\n#\n")
	writeComment(&b, "", fileHeader)
	cfg := Default()
	writeStruct(&b, reflect.ValueOf(cfg), 0)
	return b.Bytes()
}

func writeStruct(b *bytes.Buffer, v reflect.Value, depth int) {
	indent := strings.Repeat("  ", depth)
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		key := yamlKey(f)
		if depth == 0 || isSection(f.Type) && i > 0 {
			b.WriteByte('\n')
		}
		writeComment(b, indent, f.Tag.Get("doc"))
		switch {
		case isSection(f.Type):
			fmt.Fprintf(b, "%s%s:\n", indent, key)
			writeStruct(b, fv, depth+1)
		case f.Type.Kind() == reflect.Slice:
			writeList(b, f, fv, indent)
		case f.Tag.Get("machine") != "":
			fmt.Fprintf(b, "%s%s: %s\n", indent, key, scalarYAML(reflect.Zero(f.Type)))
		default:
			fmt.Fprintf(b, "%s%s: %s\n", indent, key, scalarYAML(fv))
		}
	}
}

func writeList(b *bytes.Buffer, f reflect.StructField, v reflect.Value, indent string) {
	key := yamlKey(f)
	elem := f.Type.Elem()
	if elem.Kind() == reflect.Struct {
		// The element's keys, documented where an operator adds one.
		writeComment(b, indent, "Each entry has the keys:")
		for i := range elem.NumField() {
			ef := elem.Field(i)
			for j, line := range wrap(yamlKey(ef)+": "+ef.Tag.Get("doc"), 72-len(indent)) {
				lead := "     "
				if j == 0 {
					lead = "   "
				}
				b.WriteString(indent + "#" + lead + line + "\n")
			}
		}
	}
	if v.Len() == 0 {
		fmt.Fprintf(b, "%s%s: []\n", indent, key)
		return
	}
	fmt.Fprintf(b, "%s%s:\n", indent, key)
	for i := range v.Len() {
		item := v.Index(i)
		if elem.Kind() != reflect.Struct {
			fmt.Fprintf(b, "%s  - %s\n", indent, scalarYAML(item))
			continue
		}
		for j := range elem.NumField() {
			lead := "    "
			if j == 0 {
				lead = "  - "
			}
			fmt.Fprintf(b, "%s%s%s: %s\n", indent, lead, yamlKey(elem.Field(j)), scalarYAML(item.Field(j)))
		}
	}
}

// isSection reports whether a field holds nested keys.
func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != durationType }

// scalarYAML renders one scalar value as YAML writes it, quoted if needed.
func scalarYAML(v reflect.Value) string {
	out, err := yaml.Marshal(v.Interface())
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot render the default %v: %v", v, err))
	}
	return strings.TrimSuffix(string(out), "\n")
}

// writeComment writes text as # lines of at most 80 columns.
func writeComment(b *bytes.Buffer, indent, text string) {
	for _, line := range wrap(text, 78-len(indent)) {
		b.WriteString(indent + "# " + line + "\n")
	}
}

// wrap splits text into lines of at most width columns at spaces.
func wrap(text string, width int) []string {
	var lines []string
	var line strings.Builder
	for _, w := range strings.Fields(text) {
		if line.Len() > 0 && line.Len()+1+len(w) > width {
			lines = append(lines, line.String())
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(w)
	}
	if line.Len() > 0 {
		lines = append(lines, line.String())
	}
	return lines
}

// reference renders reference.md: every key with its type, default,
// variable and meaning, from the same tags and defaults as DefaultYAML.
func reference() []byte {
	var b bytes.Buffer
	b.WriteString("# vigil configuration reference\n\n")
	b.WriteString("<!-- Generated from the Config struct tags and Default() by `go generate ./cmd/vigil/config`; do not edit. -->\n\n")
	b.WriteString(strings.ReplaceAll(fileHeader, "\n", " ") + "\n\n")
	b.WriteString("`vigil config default` prints the default file with every key documented. ")
	b.WriteString("A list of strings is set from the environment comma-separated (`VIGIL_API_CORS_ALLOWED_ORIGINS=https://a,https://b`); ")
	b.WriteString("a list of targets as YAML (`VIGIL_AGENTS_SNMP_TARGETS='[{address: \"192.0.2.1:161\", version: 2c, community: public}]'`).\n")
	def := reflect.ValueOf(Default())
	t := def.Type()
	var lists []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		fmt.Fprintf(&b, "\n## `%s`\n\n", yamlKey(f))
		if isSection(f.Type) {
			fmt.Fprintf(&b, "%s\n\n", mdText(f.Tag.Get("doc")))
		}
		b.WriteString("| key | type | default | environment | meaning |\n|---|---|---|---|---|\n")
		var rows func(f reflect.StructField, v reflect.Value, path string)
		rows = func(f reflect.StructField, v reflect.Value, path string) {
			if isSection(f.Type) {
				for j := range f.Type.NumField() {
					sf := f.Type.Field(j)
					rows(sf, v.Field(j), join(path, yamlKey(sf)))
				}
				return
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				lists = append(lists, f)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` | %s |\n", path, typeName(f.Type), defaultCell(f, v), envName(path), cell(f.Tag.Get("doc")))
		}
		rows(f, def.Field(i), yamlKey(f))
	}
	seen := map[reflect.Type]bool{}
	for _, f := range lists {
		elem := f.Type.Elem()
		if seen[elem] {
			continue
		}
		seen[elem] = true
		fmt.Fprintf(&b, "\n## %s\n\nThe keys of each entry of a list of %s; none has a default.\n\n", elem.Name(), elem.Name())
		b.WriteString("| key | type | meaning |\n|---|---|---|\n")
		for j := range elem.NumField() {
			ef := elem.Field(j)
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", yamlKey(ef), typeName(ef.Type), cell(ef.Tag.Get("doc")))
		}
	}
	return b.Bytes()
}

func typeName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "list of strings"
		}
		return "list of " + t.Elem().Name() + " (below)"
	}
	return t.String()
}

func defaultCell(f reflect.StructField, v reflect.Value) string {
	if m := f.Tag.Get("machine"); m != "" {
		return m
	}
	if v.Kind() == reflect.Slice {
		if v.Len() == 0 {
			return "none"
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = scalarYAML(v.Index(i))
		}
		return "`" + strings.Join(parts, ",") + "`"
	}
	return "`" + scalarYAML(v) + "`"
}

// mdText escapes what Markdown would read as markup: <key> as an HTML
// tag, * as emphasis.
func mdText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }
