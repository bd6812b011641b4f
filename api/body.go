package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request bodies are validated the way Gnocchi validates them with
// voluptuous, and refused with the same messages: a 400 whose description
// is {"cause": "Invalid input", "reason": "<what> @ data['key'][0]",
// "detail": ["key", "0"]}. The helpers below walk a body decoded into
// generic values (map[string]any, []any, string, json.Number, bool, nil)
// and build those errors.

// invalidInput is Gnocchi's answer to a body that breaks its schema at path.
func invalidInput(reason string, path ...any) *Error {
	detail := make([]string, len(path))
	var b strings.Builder
	for i, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
			detail[i] = strconv.Itoa(p)
		default:
			fmt.Fprintf(&b, "[%s]", pyRepr(fmt.Sprint(p)))
			detail[i] = fmt.Sprint(p)
		}
	}
	if len(path) > 0 {
		reason += " @ data" + b.String()
	}
	return &Error{Code: http.StatusBadRequest, Description: map[string]any{
		"cause": "Invalid input", "reason": reason, "detail": detail,
	}}
}

// pyRepr quotes s as Python's repr does for the simple strings of paths.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// checkContentType refuses a body that is not of one of the given media
// types with a 415, as Gnocchi does.
func checkContentType(r *http.Request, types ...string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil {
		for _, t := range types {
			if mt == t {
				return nil
			}
		}
	}
	return &Error{Code: http.StatusUnsupportedMediaType, Description: fmt.Sprintf("The Content-Type %q is not supported; send %s", r.Header.Get("Content-Type"), strings.Join(types, " or "))}
}

// readBody reads the whole request body; an oversized one is a 413.
func readBody(r *http.Request) ([]byte, error) {
	// With a declared length the body is read in one allocation; the
	// server's MaxBytesReader still bounds what is read.
	size := 512
	if r.ContentLength > 0 && r.ContentLength < 1<<30 {
		size = int(r.ContentLength) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, bodyError(err)
	}
	return buf.Bytes(), nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "Request body exceeds the limit of %d bytes", tooBig.Limit)
	}
	return errorf(http.StatusBadRequest, "Cannot read the request body: %v", err)
}

// decodeBody reads a JSON body of one of the given media types (JSON when
// none) into generic values, numbers kept as json.Number.
func decodeBody(r *http.Request, types ...string) (any, error) {
	if len(types) == 0 {
		types = []string{"application/json"}
	}
	if err := checkContentType(r, types...); err != nil {
		return nil, err
	}
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return parseJSONValue(b)
}

// parseJSONValue decodes b into generic values, with numbers as
// json.Number; trailing data is an error.
func parseJSONValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("extra data after the JSON document")
		}
	}
	if err != nil {
		return nil, &Error{Code: http.StatusBadRequest, Description: map[string]any{
			"cause": "Unable to decode body", "reason": err.Error(),
		}}
	}
	return v, nil
}

// object is a JSON object of a body under validation, at a path.
type object struct {
	m    map[string]any
	path []any
}

func (o object) at(key any) []any {
	return append(append(make([]any, 0, len(o.path)+1), o.path...), key)
}

// asObject requires v to be a JSON object.
func asObject(v any, path ...any) (object, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return object{}, invalidInput("expected a dictionary", path...)
	}
	return object{m: m, path: path}, nil
}

// only refuses keys other than allowed, naming the first in sorted order.
func (o object) only(allowed ...string) error {
	var extra []string
	for k := range o.m {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return invalidInput("extra keys not allowed", o.at(extra[0])...)
	}
	return nil
}

func (o object) has(key string) bool {
	_, ok := o.m[key]
	return ok
}

// require checks that every key is present.
func (o object) require(keys ...string) error {
	for _, k := range keys {
		if !o.has(k) {
			return invalidInput("required key not provided", o.at(k)...)
		}
	}
	return nil
}

// str returns the string at key; absent gives "" and false.
func (o object) str(key string) (string, bool, error) {
	v, ok := o.m[key]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, invalidInput("expected str for dictionary value", o.at(key)...)
	}
	return s, true, nil
}

// nullableStr returns the string or null at key: nil for null.
func (o object) nullableStr(key string) (*string, bool, error) {
	v, ok := o.m[key]
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return nil, true, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return nil, true, invalidInput("not a valid value for dictionary value", o.at(key)...)
	}
	return &s, true, nil
}

// integer returns the integer at key, coercing as voluptuous's Coerce(int)
// does: integral numbers, floats truncated, numeric strings.
func (o object) integer(key string) (int64, bool, error) {
	v, ok := o.m[key]
	if !ok {
		return 0, false, nil
	}
	n, err := coerceInt(v)
	if err != nil {
		return 0, true, invalidInput("expected int for dictionary value", o.at(key)...)
	}
	return n, true, nil
}

func coerceInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<62 {
			return 0, errors.New("not an integer")
		}
		return int64(f), nil
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, errors.New("not an integer")
}

// boolean returns the boolean at key.
func (o object) boolean(key string) (bool, bool, error) {
	v, ok := o.m[key]
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, true, invalidInput("expected bool for dictionary value", o.at(key)...)
	}
	return b, true, nil
}

// timespan reads a granularity or timespan as Gnocchi's Timespan does:
// seconds as a number or numeric string, or a text span ("1 hour").
func (o object) timespan(key string) (time.Duration, bool, error) {
	v, ok := o.m[key]
	if !ok {
		return 0, false, nil
	}
	var d time.Duration
	var err error
	switch x := v.(type) {
	case json.Number:
		d, err = parseDuration(x.String())
	case string:
		d, err = parseDuration(x)
	default:
		err = reasonError("Invalid timespan")
	}
	if err != nil {
		reason := "Unable to parse timespan"
		if strings.Contains(err.Error(), "positive") {
			reason = "Timespan must be positive"
		}
		return 0, true, invalidInput(reason+" for dictionary value", o.at(key)...)
	}
	return d, true, nil
}

// datetime reads a timestamp value (ISO 8601, epoch seconds or a relative
// form) as Gnocchi's to_datetime does.
func (o object) datetime(key string, now time.Time) (time.Time, bool, error) {
	v, ok := o.m[key]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err := timestampValue(v, now)
	if err != nil {
		return time.Time{}, true, invalidInput("not a valid value for dictionary value", o.at(key)...)
	}
	return t, true, nil
}

// timestampValue reads a decoded JSON value as a timestamp.
func timestampValue(v any, now time.Time) (time.Time, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return time.Time{}, reasonError("Unable to convert timestamps")
	}
	t, err := parseTimestamp(s, now)
	if err != nil {
		return time.Time{}, reasonError("Unable to convert timestamps")
	}
	if t.Before(time.Unix(0, 0)) {
		return time.Time{}, reasonError("Timestamp must be after Epoch")
	}
	return t, nil
}

// boolParam reads a boolean query parameter as Gnocchi's strtobool does.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "y", "yes", "t", "true", "on", "1":
		return true, nil
	case "n", "no", "f", "false", "off", "0":
		return false, nil
	}
	return false, errorf(http.StatusBadRequest, "Unable to parse `%s': invalid truth value %s", name, pyRepr(v))
}

// reasonError is an error worded as Gnocchi's messages are, capitalised,
// for the reason of an invalid input.
type reasonError string

func (e reasonError) Error() string { return string(e) }
