package ingest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/index"
)

// conformed is what conform made of the values it was given: which
// attributes it filled, dropped or cut, and the first required one it
// could not fill.
type conformed struct {
	filled, invalid, truncated []string
	unfillable                 string
}

// conform fits values taken from a sample or an event to the attributes
// of rt, in the form the index stores them, so that a value Gnocchi would
// refuse never fails a write and a stored value compares equal to the one
// it came from. Values of attributes rt does not have are left out; a
// value that cannot be the attribute's type is dropped; a string longer
// than the attribute allows is cut. With full (a new resource), a required
// attribute without a value is filled: a string with "" (Gnocchi's fill
// for flavor_name), when the attribute's min_length allows it; another
// type cannot be filled and is named in unfillable.
func conform(rt *index.ResourceType, in map[string]any, full bool) (map[string]any, conformed) {
	var c conformed
	out := make(map[string]any, len(in))
	for name, spec := range rt.Attributes {
		v, ok := in[name]
		if ok && v != nil {
			cv, cut, good := coerce(spec, v)
			if good {
				out[name] = cv
				if cut {
					c.truncated = append(c.truncated, name)
				}
				continue
			}
			c.invalid = append(c.invalid, name)
		}
		if !full || !spec.Required {
			continue
		}
		if spec.Type == index.TypeString && (spec.MinLength == nil || *spec.MinLength == 0) {
			out[name] = ""
			c.filled = append(c.filled, name)
			continue
		}
		if c.unfillable == "" {
			c.unfillable = name
		}
	}
	return out, c
}

// storedDatetime is the index's layout of datetime attributes.
const storedDatetime = "2006-01-02T15:04:05.000000+00:00"

var datetimeInputs = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02",
}

// coerce converts v to what spec stores, reporting whether a string was
// cut and whether v fits at all.
func coerce(spec index.AttributeSpec, v any) (out any, cut, ok bool) {
	switch spec.Type {
	case index.TypeString:
		s, ok := scalarString(v)
		if !ok {
			return nil, false, false
		}
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		if spec.MaxLength != nil && utf8.RuneCountInString(s) > *spec.MaxLength {
			s = string([]rune(s)[:*spec.MaxLength])
			cut = true
		}
		if spec.MinLength != nil && utf8.RuneCountInString(s) < *spec.MinLength {
			return nil, false, false
		}
		return s, cut, true
	case index.TypeUUID:
		s, ok := v.(string)
		if !ok {
			return nil, false, false
		}
		u, err := uuid.Parse(s)
		if err != nil {
			return nil, false, false
		}
		return u.String(), false, true
	case index.TypeNumber:
		f, ok := toFloat(v)
		if !ok || spec.Min != nil && f < *spec.Min || spec.Max != nil && f > *spec.Max {
			return nil, false, false
		}
		return f, false, true
	case index.TypeBool:
		switch x := v.(type) {
		case bool:
			return x, false, true
		case string:
			switch strings.ToLower(x) {
			case "true":
				return true, false, true
			case "false":
				return false, false, true
			}
		}
		return nil, false, false
	case index.TypeDatetime:
		t, ok := toTime(v)
		if !ok {
			return nil, false, false
		}
		return t.UTC().Truncate(time.Microsecond).Format(storedDatetime), false, true
	}
	return nil, false, false
}

// scalarString spells a scalar as Ceilometer's samples would: numbers
// without a needless fraction, booleans as Python does.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	}
	return "", false
}

func toFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// toTime reads a datetime as the services write them (ISO 8601 with a T
// or a space, with or without a zone; naive is UTC) or seconds since the
// Epoch. An empty string, which Nova sends for a time not yet reached, is
// no time.
func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return time.Time{}, false
		}
		for _, l := range datetimeInputs {
			if t, err := time.Parse(l, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	f, ok := toFloat(v)
	if !ok || f < 0 || f > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), true
}
