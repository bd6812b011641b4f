package alarms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// InvalidError is an alarm definition the API must refuse with a 400; its
// message is the one Aodh gives for the same mistake.
type InvalidError struct {
	Msg string
}

func (e *InvalidError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// invalidInput is wsme's InvalidInput message.
func invalidInput(field string, value any, msg string) error {
	m := fmt.Sprintf("Invalid input for field/attribute %s. Value: '%v'.", field, pyValue(value))
	if msg != "" {
		m += " " + msg
	}
	return &InvalidError{Msg: m}
}

// pyValue renders a decoded JSON value roughly as Python's str() would, for
// error messages.
func pyValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case json.RawMessage:
		var d any
		if json.Unmarshal(x, &d) == nil {
			return pyValue(d)
		}
		return string(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return PyFloat(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Object is a JSON object being decoded field by field, so that a field of
// the wrong type gets wsme's message and unknown fields can be reported.
type Object struct {
	path   string // e.g. "gnocchi_resources_threshold_rule"; "" at top level
	fields map[string]json.RawMessage
	used   map[string]bool
}

// DecodeObject decodes raw as a JSON object. path names it in messages.
func DecodeObject(raw json.RawMessage, path string) (*Object, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || m == nil {
		if path == "" {
			return nil, invalidf("Request is not in valid JSON format")
		}
		return nil, invalidInput(path, string(raw), "Expected an object")
	}
	return &Object{path: path, fields: m, used: make(map[string]bool, len(m))}, nil
}

// Has reports whether the field is present and not null.
func (o *Object) Has(k string) bool {
	v, ok := o.fields[k]
	return ok && !isNull(v)
}

// Raw returns a field's raw value and marks it used.
func (o *Object) Raw(k string) (json.RawMessage, bool) {
	o.used[k] = true
	v, ok := o.fields[k]
	if !ok || isNull(v) {
		return nil, false
	}
	return v, true
}

// Skip marks fields as known without reading them.
func (o *Object) Skip(ks ...string) {
	for _, k := range ks {
		o.used[k] = true
	}
}

// Unknown returns wsme's error for the fields nobody read, or nil.
func (o *Object) Unknown() error {
	var extra []string
	for k := range o.fields {
		if !o.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	arg := "data"
	if o.path != "" {
		arg = "data." + o.path
	}
	return invalidf("Unknown attribute for argument %s: %s", arg, strings.Join(extra, ", "))
}

func isNull(v json.RawMessage) bool {
	return len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null"
}

func missing(field string) error {
	return invalidInput(field, nil, "Mandatory field missing.")
}

// String reads a text field; def when absent; mandatory makes absence an error.
func (o *Object) String(k string, def string, mandatory bool) (string, error) {
	v, ok := o.Raw(k)
	if !ok {
		if mandatory {
			return "", missing(k)
		}
		return def, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		// wsme accepts numbers for text by converting them.
		var f json.Number
		if json.Unmarshal(v, &f) == nil {
			return f.String(), nil
		}
		return "", invalidInput(k, v, "Wrong type. Expected 'str'.")
	}
	return s, nil
}

// Bool reads a boolean field, accepting the strings wsme accepts.
func (o *Object) Bool(k string, def bool) (bool, error) {
	v, ok := o.Raw(k)
	if !ok {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		if b, ok := ParseBool(s); ok {
			return b, nil
		}
	}
	return false, invalidInput(k, v, "Wrong type. Expected 'bool'.")
}

// ParseBool parses the boolean spellings oslo's strict bool_from_string
// accepts.
func ParseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

// Int reads an integer field (numbers or numeric strings, as the aodh CLI
// sends granularity) with a minimum.
func (o *Object) Int(k string, def, minimum int, mandatory bool) (int, error) {
	v, ok := o.Raw(k)
	if !ok {
		if mandatory {
			return 0, missing(k)
		}
		return def, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, invalidInput(k, v, "Wrong type. Expected 'int'.")
		}
		n = json.Number(strings.TrimSpace(s))
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, invalidInput(k, v, "Wrong type. Expected 'int'.")
		}
		i = int64(f)
	}
	if i < int64(minimum) {
		return 0, invalidInput(k, i, fmt.Sprintf("Value should be greater or equal to %d", minimum))
	}
	if i > math.MaxInt32 {
		return 0, invalidInput(k, i, fmt.Sprintf("Value should be lower or equal to %d", math.MaxInt32))
	}
	return int(i), nil
}

// Float reads a float field (numbers or numeric strings).
func (o *Object) Float(k string, mandatory bool) (float64, error) {
	v, ok := o.Raw(k)
	if !ok {
		if mandatory {
			return 0, missing(k)
		}
		return 0, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err == nil {
		return f, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, invalidInput(k, v, "Wrong type. Expected 'float'.")
}

// Enum reads a text field that must be one of values.
func (o *Object) Enum(k, def string, values ...string) (string, error) {
	s, err := o.String(k, def, false)
	if err != nil {
		return "", err
	}
	if s == "" {
		return def, nil
	}
	if !slices.Contains(values, s) {
		return "", invalidInput(k, s, "Value should be one of: "+strings.Join(values, ", "))
	}
	return s, nil
}

// Strings reads a list of text.
func (o *Object) Strings(k string, mandatory bool) ([]string, error) {
	v, ok := o.Raw(k)
	if !ok {
		if mandatory {
			return nil, missing(k)
		}
		return nil, nil
	}
	var l []json.RawMessage
	if err := json.Unmarshal(v, &l); err != nil {
		return nil, invalidInput(k, v, "Wrong type. Expected '[str]'.")
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		var s string
		if err := json.Unmarshal(e, &s); err != nil {
			return nil, invalidInput(k, v, "Wrong type. Expected '[str]'.")
		}
		out = append(out, s)
	}
	return out, nil
}

// Invalidf returns an *InvalidError, for packages that validate alarm
// input beyond this one (the store's query compiler, the API).
func Invalidf(format string, args ...any) error { return invalidf(format, args...) }
