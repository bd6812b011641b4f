package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSpan bounds every parsed span, so that a client cannot overflow a
// time.Duration: two centuries.
const maxSpan = 200 * 365 * 24 * time.Hour

// parseTimestamp reads a timestamp as Gnocchi accepts it: ISO 8601 with or
// without a zone (UTC when absent), Unix epoch seconds as a number, "now",
// and spans relative to now such as "-5 minutes", "+1 hour" or "10 minutes"
// (from now), in the forms parseSpan knows.
func parseTimestamp(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty timestamp")
	}
	if s == "now" {
		return now, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
			return time.Time{}, fmt.Errorf("timestamp %q is out of range", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	if t, ok := parseISO(s); ok {
		return t, nil
	}
	if d, err := parseSpan(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("unable to parse timestamp %q", s)
}

var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02T15Z07:00",
	"2006-01-02",
	"20060102T150405Z07:00",
	"20060102T150405",
	"20060102",
}

// parseISO reads the ISO 8601 forms numpy.datetime64 accepts; a missing
// zone is UTC.
func parseISO(s string) (time.Time, bool) {
	if t, ok := fastISO(s); ok {
		return t, true
	}
	if len(s) < 8 || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// fastISO parses the form nearly every client sends,
// "2006-01-02T15:04:05[.fraction][Z|±hh:mm]" (a space may stand for T),
// without allocating; it leaves anything else to time.Parse.
func fastISO(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, okh := digits(rest[1:3])
		m, okm := digits(rest[4:6])
		if !okh || !okm || h > 23 || m > 59 {
			return time.Time{}, false
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "wks": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// parseSpan reads a timespan in the forms Gnocchi's pytimeparse knows:
// "5 minutes", "1h30m", "1 hour, 30 minutes", "1.5h", "01:30:00",
// "1 day, 0:00:00" (Python's timedelta), optionally signed. A bare number
// is not a span here: callers read numbers as seconds or epochs first.
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	sign := time.Duration(1)
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if s[0] == '-' {
			sign = -1
		}
		s = strings.TrimSpace(s[1:])
	}
	if s == "" {
		return 0, fmt.Errorf("empty timespan")
	}
	var total float64
	parts := 0
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("unable to parse timespan")
		}
		num := s[:i]
		s = s[i:]
		if s != "" && s[0] == ':' {
			// A clock "H:MM[:SS[.f]]" ends the span.
			c, err := parseClock(num + s)
			if err != nil {
				return 0, err
			}
			total += c
			parts++
			s = ""
			break
		}
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("unable to parse timespan")
		}
		s = strings.TrimLeft(s, " ")
		j := 0
		for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			j++
		}
		unit, ok := units[strings.ToLower(s[:j])]
		if !ok {
			return 0, fmt.Errorf("unable to parse timespan")
		}
		total += n * float64(unit)
		parts++
		s = strings.TrimLeft(s[j:], " ")
		if strings.HasPrefix(s, ",") {
			s = strings.TrimLeft(s[1:], " ")
		} else if strings.HasPrefix(s, "and ") {
			s = strings.TrimLeft(s[4:], " ")
		}
	}
	if parts == 0 || total > float64(maxSpan) {
		return 0, fmt.Errorf("unable to parse timespan")
	}
	return sign * time.Duration(total), nil
}

// parseClock reads "H:MM", "H:MM:SS" or "H:MM:SS.ffffff" as nanoseconds.
func parseClock(s string) (float64, error) {
	fields := strings.Split(s, ":")
	if len(fields) < 2 || len(fields) > 3 {
		return 0, fmt.Errorf("unable to parse timespan")
	}
	h, err1 := strconv.Atoi(fields[0])
	m, err2 := strconv.Atoi(fields[1])
	var sec float64
	var err3 error
	if len(fields) == 3 {
		sec, err3 = strconv.ParseFloat(fields[2], 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 || h > 1e6 {
		return 0, fmt.Errorf("unable to parse timespan")
	}
	return float64(h)*float64(time.Hour) + float64(m)*float64(time.Minute) + sec*float64(time.Second), nil
}

// parseDuration reads a granularity or timespan as Gnocchi's to_timespan
// does: seconds as a number, or a span as parseSpan reads it, which must
// be positive.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > maxSpan.Seconds() {
			return 0, fmt.Errorf("unable to parse timespan %q", s)
		}
		if f <= 0 {
			return 0, fmt.Errorf("timespan must be positive")
		}
		d := time.Duration(math.Round(f * float64(time.Second)))
		if d <= 0 {
			return 0, fmt.Errorf("timespan must be positive")
		}
		return d, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("timespan must be positive")
		}
		return d, nil
	}
	d, err := parseSpan(s)
	if err != nil {
		return 0, fmt.Errorf("unable to parse timespan %q", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("timespan must be positive")
	}
	return d, nil
}

// formatTimestamp writes a time as Gnocchi does: ISO 8601 in UTC with
// microseconds when there are any and a +00:00 offset.
func formatTimestamp(t time.Time) string {
	return string(appendTimestamp(nil, t))
}

// appendTimestamp appends t as formatTimestamp writes it.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Nanosecond()/1000 != 0 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000000+00:00")
	}
	return t.AppendFormat(dst, "2006-01-02T15:04:05+00:00")
}

// httpDate formats t for Last-Modified.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
