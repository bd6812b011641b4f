package search

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Kind is the type of an attribute; it decides how a filter value is
// converted before it is bound.
type Kind int

// Attribute kinds.
const (
	// String compares as text; a number compares as its literal text.
	String Kind = iota
	// UUID takes a string (or a number's text) and, by default, requires it
	// to be a UUID; Column.Encode may map other strings instead, as
	// resource ids do with Gnocchi's UUIDv5 rule.
	UUID
	// Number takes a number or a numeric string, bound as float64.
	Number
	// Int takes an integral number or numeric string, bound as int64.
	Int
	// Bool takes true/false, 0/1, or the strings Gnocchi's strtobool knows.
	Bool
	// Time takes an ISO 8601 timestamp, seconds since the Epoch, or a
	// timespan relative to now ("-10 minutes"), bound as a UTC time.Time.
	Time
	// Duration takes seconds or a timespan ("1 hour", "1h30m", "01:30:00"),
	// bound as float64 seconds; Gnocchi's lifespan (ended_at - started_at)
	// is one.
	Duration
	// CreatorUser matches the user part of a "user_id:project_id" creator
	// column (Gnocchi's created_by_user_id); only =, != and like apply.
	CreatorUser
	// CreatorProject matches the project part of a creator column
	// (Gnocchi's created_by_project_id); only =, != and like apply.
	CreatorProject
)

var kindNames = [...]string{"string", "uuid", "number", "integer", "boolean", "datetime", "timespan", "creator user", "creator project"}

// String returns the kind's name as error messages use it.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

func invalid(attr string, v any, format string, args ...any) error {
	return fmt.Errorf("%w for attribute %s: %s: %s", ErrInvalidValue, attr, formatValue(v), fmt.Sprintf(format, args...))
}

// coerce converts a non-null filter value to the Go value of the kind:
// string for String, UUID and the creator kinds, float64, int64, bool,
// time.Time (UTC) or time.Duration. Relative times count from now.
func coerce(kind Kind, attr string, v any, now time.Time) (any, error) {
	switch kind {
	case String, UUID, CreatorUser, CreatorProject:
		switch v := v.(type) {
		case string:
			return v, nil
		case json.Number:
			return string(v), nil
		}
		return nil, invalid(attr, v, "expected a string")
	case Number:
		f, err := toFloat(v)
		if err != nil {
			return nil, invalid(attr, v, "%s", err)
		}
		return f, nil
	case Int:
		f, err := toFloat(v)
		if err != nil {
			return nil, invalid(attr, v, "%s", err)
		}
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return nil, invalid(attr, v, "expected an integer")
		}
		return int64(f), nil
	case Bool:
		switch v := v.(type) {
		case bool:
			return v, nil
		case string:
			if b, ok := strToBool(v); ok {
				return b, nil
			}
		case json.Number:
			switch string(v) {
			case "0":
				return false, nil
			case "1":
				return true, nil
			}
		}
		return nil, invalid(attr, v, "expected a boolean")
	case Time:
		t, err := toTime(v, now)
		if err != nil {
			return nil, invalid(attr, v, "%s", err)
		}
		return t, nil
	case Duration:
		d, err := toDuration(v)
		if err != nil {
			return nil, invalid(attr, v, "%s", err)
		}
		if d < 0 {
			return nil, invalid(attr, v, "timespan must not be negative")
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w for attribute %s: unknown attribute kind %d", ErrInvalidValue, attr, int(kind))
}

// defaultEncode turns a coerced value into the argument bound when the
// column has no Encode hook.
func defaultEncode(kind Kind, v any) (any, error) {
	switch kind {
	case UUID:
		u, err := uuid.Parse(v.(string))
		if err != nil {
			return nil, fmt.Errorf("not a UUID")
		}
		return u.String(), nil
	case Duration:
		return v.(time.Duration).Seconds(), nil
	}
	return v, nil
}

func toFloat(v any) (float64, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, fmt.Errorf("expected a number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("expected a number")
	}
	return f, nil
}

// strToBool accepts what Gnocchi's strtobool accepts.
func strToBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "t", "true", "on", "1":
		return true, true
	case "n", "no", "f", "false", "off", "0":
		return false, true
	}
	return false, false
}

// maxEpochSeconds is 9999-12-31T23:59:59Z, the last instant both
// dialects and ISO 8601 without extensions can hold.
const maxEpochSeconds = 253402300799

// timeLayouts are the ISO 8601 spellings accepted, after a space between
// date and time has been turned into 'T'. Fractional seconds are accepted
// after the seconds field by time.Parse without being spelled here.
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04",
	"2006-01-02T15Z07:00",
	"2006-01-02T15",
	"2006-01-02",
	"2006-01",
}

// toTime reads a time the way Gnocchi does: seconds since the Epoch (a
// number or a numeric string), an ISO 8601 timestamp (UTC unless it carries
// an offset), or a timespan relative to now ("-10 minutes", "2 days").
func toTime(v any, now time.Time) (time.Time, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = strings.TrimSpace(v)
	default:
		return time.Time{}, fmt.Errorf("expected a timestamp")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < 0 || f > maxEpochSeconds {
			return time.Time{}, fmt.Errorf("timestamp must be after Epoch and before year 10000")
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	iso := s
	if len(iso) > 10 && iso[10] == ' ' {
		iso = iso[:10] + "T" + iso[11:]
	}
	if len(iso) >= 7 && iso[4] == '-' {
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, iso); err == nil {
				return checkEpoch(t.UTC())
			}
		}
	}
	if d, err := parseTimespan(s); err == nil {
		return checkEpoch(now.Add(d).UTC())
	}
	return time.Time{}, fmt.Errorf("expected an ISO 8601 timestamp, seconds since the Epoch or a relative timespan")
}

func checkEpoch(t time.Time) (time.Time, error) {
	if t.Before(time.Unix(0, 0)) {
		return time.Time{}, fmt.Errorf("timestamp must be after Epoch")
	}
	return t, nil
}

func toDuration(v any) (time.Duration, error) {
	switch v := v.(type) {
	case json.Number:
		return parseTimespan(string(v))
	case string:
		return parseTimespan(v)
	}
	return 0, fmt.Errorf("expected a timespan")
}

var timespanUnits = map[string]float64{
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
	"w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
}

// parseTimespan reads what Gnocchi's to_timespan reads (a float of seconds,
// else pytimeparse): "90", "1.5 hours", "1h30m", "2 days, 3 hours",
// "01:30:00", "1:30" (minutes:seconds), with an optional sign.
func parseTimespan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("expected a timespan such as 3600, '1 hour' or '01:00:00'")
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsToDuration(f)
	}
	sign := 1.0
	if strings.HasPrefix(s, "-") {
		sign, s = -1, strings.TrimSpace(s[1:])
	} else if strings.HasPrefix(s, "+") {
		s = strings.TrimSpace(s[1:])
	}
	if s == "" {
		return 0, bad
	}
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, bad
		}
		total := 0.0
		for i, p := range parts {
			if p == "" || strings.ContainsAny(p, "+-eE ") {
				return 0, bad
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || (i < len(parts)-1 && f != math.Trunc(f)) {
				return 0, bad
			}
			total = total*60 + f
		}
		return secondsToDuration(sign * total)
	}
	total, seen := 0.0, false
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if strings.HasPrefix(s[i:], "and ") {
			i += 4
			continue
		}
		if i >= len(s) {
			break
		}
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		num, err := strconv.ParseFloat(s[i:j], 64)
		if err != nil {
			return 0, bad
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		k := j
		for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z') {
			k++
		}
		unit, ok := timespanUnits[strings.ToLower(s[j:k])]
		if !ok {
			return 0, bad
		}
		total += num * unit
		seen = true
		i = k
	}
	if !seen {
		return 0, bad
	}
	return secondsToDuration(sign * total)
}

func secondsToDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64)/1e9 {
		return 0, fmt.Errorf("timespan out of range")
	}
	return time.Duration(math.Round(f * 1e9)), nil
}
