package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"
)

// Series is a run of points sorted by time, as Gnocchi returns them.
type Series struct {
	Times  []time.Time
	Values []float64
	// Granularity is the step of the points (the last one read).
	Granularity time.Duration
}

// Len is the number of points.
func (s *Series) Len() int { return len(s.Times) }

// window keeps the points whose timestamp lies in [from, to]; a zero bound
// is open. Gnocchi rounds start down to the granularity, so the first
// point it sends may lie before the range Grafana asked for.
type window struct {
	from, to time.Time
	// hint is the number of points a series is expected to have, to
	// allocate its slices once; 0 when unknown.
	hint int
}

func (w window) has(t time.Time) bool {
	return (w.from.IsZero() || !t.Before(w.from)) && (w.to.IsZero() || !t.After(w.to))
}

// errJSON is the cause of every syntax error of the scanner.
var errJSON = errors.New("malformed JSON")

// scanner reads the JSON of Gnocchi's measures answers without building
// a tree: measures arrays are decoded straight into Series, the rest is
// skipped or handed to encoding/json as raw bytes. Hot path of every
// query: 200 series of a day at one minute are some 13 MB of JSON.
type scanner struct {
	b    []byte
	pos  int
	days dayCache
}

// dayCache remembers the day of the last timestamp read: a series' points
// share their date, so most timestamps need only their clock read.
type dayCache struct {
	date [10]byte
	unix int64 // midnight UTC of date
	ok   bool
}

// parse reads a timestamp as parseTimestamp does.
func (c *dayCache) parse(b []byte) (time.Time, error) {
	if c.ok && len(b) == 25 && string(b[:10]) == string(c.date[:]) && string(b[19:]) == "+00:00" && b[10] == 'T' && b[13] == ':' && b[16] == ':' {
		h, m, sec := twoDigits(b[11:13]), twoDigits(b[14:16]), twoDigits(b[17:19])
		if h >= 0 && h < 24 && m >= 0 && m < 60 && sec >= 0 && sec < 60 {
			return time.Unix(c.unix+int64(h*3600+m*60+sec), 0).UTC(), nil
		}
	}
	t, err := parseTimestamp(b)
	if err == nil && len(b) >= 10 {
		y, mo, d := t.Date()
		c.ok = true
		copy(c.date[:], b[:10])
		c.unix = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Unix()
		// The cache is for UTC timestamps only: a date in another
		// offset names a different UTC day.
		if string(b[len(b)-6:]) != "+00:00" {
			c.ok = false
		}
	}
	return t, err
}

func twoDigits(b []byte) int {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return -1
	}
	return int(b[0]-'0')*10 + int(b[1]-'0')
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errJSON, s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.pos >= len(s.b) {
			return s.errorf("unexpected end, want %q", c)
		}
		return s.errorf("got %q, want %q", s.b[s.pos], c)
	}
	s.pos++
	return nil
}

// more reports whether a list or object continues after an element: it
// eats a comma and returns true, or eats the closing byte and returns false.
func (s *scanner) more(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case closing:
		s.pos++
		return false, nil
	}
	return false, s.errorf("want ',' or %q", closing)
}

// str reads a string and returns its text; the bytes are the input's own
// unless the string holds escapes.
func (s *scanner) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.pos
	escaped := false
	for s.pos < len(s.b) {
		switch c := s.b[s.pos]; {
		case c == '\\':
			escaped = true
			s.pos += 2
			continue
		case c == '"':
			raw := s.b[start:s.pos]
			s.pos++
			if !escaped {
				return raw, nil
			}
			var out string
			if err := json.Unmarshal(s.b[start-1:s.pos], &out); err != nil {
				return nil, s.errorf("bad string: %v", err)
			}
			return []byte(out), nil
		case c < 0x20:
			return nil, s.errorf("control character in string")
		}
		s.pos++
	}
	return nil, s.errorf("unterminated string")
}

// skip passes over one value of any kind and returns its bytes.
func (s *scanner) skip() ([]byte, error) {
	s.ws()
	start := s.pos
	if s.pos >= len(s.b) {
		return nil, s.errorf("unexpected end, want a value")
	}
	switch c := s.b[s.pos]; c {
	case '"':
		if _, err := s.str(); err != nil {
			return nil, err
		}
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		s.pos++
		if s.peek() == closing {
			s.pos++
			break
		}
		for {
			if c == '{' {
				if _, err := s.str(); err != nil {
					return nil, err
				}
				if err := s.expect(':'); err != nil {
					return nil, err
				}
			}
			if _, err := s.skip(); err != nil {
				return nil, err
			}
			more, err := s.more(closing)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
	default:
		for s.pos < len(s.b) {
			c := s.b[s.pos]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
				break
			}
			s.pos++
		}
		if s.pos == start {
			return nil, s.errorf("want a value")
		}
	}
	return s.b[start:s.pos], nil
}

// object calls f for each key of an object; f must consume the value.
func (s *scanner) object(f func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := f(k); err != nil {
			return err
		}
		more, err := s.more('}')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// number reads a JSON number or null (NaN).
func (s *scanner) number() (float64, error) {
	s.ws()
	start := s.pos
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	if s.pos == start {
		if len(s.b)-s.pos >= 4 && string(s.b[s.pos:s.pos+4]) == "null" {
			s.pos += 4
			return nan, nil
		}
		// Python's json writes NaN and Infinity bare.
		for _, w := range []string{"NaN", "Infinity", "-Infinity"} {
			if len(s.b)-s.pos >= len(w) && string(s.b[s.pos:s.pos+len(w)]) == w {
				s.pos += len(w)
				return nan, nil
			}
		}
		return 0, s.errorf("want a number")
	}
	raw := s.b[start:s.pos]
	if f, ok := fastFloat(raw); ok {
		return f, nil
	}
	// The string does not outlive the call: ParseFloat keeps no
	// reference, so the bytes need not be copied.
	f, err := strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
	if err != nil {
		return 0, s.errorf("bad number %q", raw)
	}
	return f, nil
}

// pow10 are the powers of ten that float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat parses the plain decimals measures are made of ("-12.345",
// "60.0") when they have at most 15 significant digits and no exponent:
// the digits and the power of ten are then exact float64s, and one
// division rounds correctly (Clinger's fast path), as ParseFloat would.
func fastFloat(b []byte) (float64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var mant uint64
	digits, frac := 0, -1
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if mant != 0 || c != '0' {
				digits++
			}
			mant = mant*10 + uint64(c-'0')
		case c == '.' && frac < 0 && i > 0 && i < len(b)-1:
			frac = len(b) - i - 1
		default:
			return 0, false
		}
	}
	if digits > 15 || frac >= len(pow10) {
		return 0, false
	}
	f := float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

var nan = func() float64 { var z float64; return z / z }()

// measures reads Gnocchi's [[timestamp, granularity, value], ...] into dst,
// keeping the points inside w and dropping nulls.
func (s *scanner) measures(dst *Series, w window) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	if w.hint > 0 && dst.Times == nil {
		dst.Times = make([]time.Time, 0, w.hint)
		dst.Values = make([]float64, 0, w.hint)
	}
	for {
		if err := s.expect('['); err != nil {
			return err
		}
		ts, err := s.str()
		if err != nil {
			return err
		}
		t, err := s.days.parse(ts)
		if err != nil {
			return s.errorf("%v", err)
		}
		if err := s.expect(','); err != nil {
			return err
		}
		g, err := s.number()
		if err != nil {
			return err
		}
		if err := s.expect(','); err != nil {
			return err
		}
		v, err := s.number()
		if err != nil {
			return err
		}
		if err := s.expect(']'); err != nil {
			return err
		}
		if v == v && w.has(t) {
			dst.Times = append(dst.Times, t)
			dst.Values = append(dst.Values, v)
		}
		if g == g && g > 0 {
			dst.Granularity = time.Duration(g * 1e9)
		}
		more, err := s.more(']')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// parseMeasures decodes the answer of GET /v1/metric/{id}/measures.
func parseMeasures(b []byte, w window) (Series, error) {
	s := scanner{b: b}
	var out Series
	if err := s.measures(&out, w); err != nil {
		return Series{}, err
	}
	if s.peek() != 0 {
		return Series{}, s.errorf("trailing data")
	}
	return out, nil
}

// parseTimestamp reads Gnocchi's ISO 8601 timestamps,
// "2024-05-01T12:00:00+00:00" with optional fraction and any offset or Z,
// without the allocations of time.Parse on the common form.
func parseTimestamp(b []byte) (time.Time, error) {
	if t, ok := fastTimestamp(b); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q", b)
	}
	return t.UTC(), nil
}

func fastTimestamp(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		i++
		scale := 100000000
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			nsec += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start || i-start > 9 {
			return time.Time{}, false
		}
	}
	offset := 0
	switch rest := b[i:]; {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(i+1, 2)
		om, ok2 := num(i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysFromCivil is the number of days from 1970-01-01 to a proleptic
// Gregorian date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// AggSeries is one series of an aggregates answer. Key is its path in the
// answer: ["aggregated"], [metric id, method] or [resource id, metric
// name, method].
type AggSeries struct {
	Key []string
	Series
}

// AggGroup is the answer for one group of a grouped aggregates request
// (Group is nil without groupby). References holds the raw references
// (resources or metrics) when details were asked for.
type AggGroup struct {
	Group      map[string]any
	Series     []AggSeries
	References json.RawMessage
}

// parseAggregates decodes the answer of POST /v1/aggregates, grouped (a
// list of {"group", "measures"}) or not ({"measures", "references"}).
func parseAggregates(b []byte, w window) ([]AggGroup, error) {
	s := scanner{b: b}
	var out []AggGroup
	switch s.peek() {
	case '{':
		g, err := s.aggResult(w)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	case '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			break
		}
		for {
			var g AggGroup
			err := s.object(func(k []byte) error {
				switch string(k) {
				case "group":
					raw, err := s.skip()
					if err != nil {
						return err
					}
					if err := json.Unmarshal(raw, &g.Group); err != nil {
						return s.errorf("group: %v", err)
					}
				case "measures":
					r, err := s.aggResult(w)
					if err != nil {
						return err
					}
					g.Series, g.References = r.Series, r.References
				default:
					_, err := s.skip()
					return err
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			out = append(out, g)
			more, err := s.more(']')
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
	default:
		return nil, s.errorf("want an object or a list")
	}
	if s.peek() != 0 {
		return nil, s.errorf("trailing data")
	}
	return out, nil
}

// aggResult reads {"measures": {...}, "references": [...]}.
func (s *scanner) aggResult(w window) (AggGroup, error) {
	var g AggGroup
	err := s.object(func(k []byte) error {
		switch string(k) {
		case "measures":
			return s.measureTree(&g, nil, w)
		case "references":
			raw, err := s.skip()
			g.References = raw
			return err
		}
		_, err := s.skip()
		return err
	})
	return g, err
}

// measureTree reads the nested objects of an aggregates answer down to the
// measures lists, recording each list's key path.
func (s *scanner) measureTree(g *AggGroup, path []string, w window) error {
	return s.object(func(k []byte) error {
		p := append(path[:len(path):len(path)], string(k))
		if len(p) > 3 {
			return s.errorf("measures nested deeper than resource, metric and method")
		}
		switch s.peek() {
		case '[':
			as := AggSeries{Key: p}
			if err := s.measures(&as.Series, w); err != nil {
				return err
			}
			g.Series = append(g.Series, as)
			return nil
		case '{':
			return s.measureTree(g, p, w)
		}
		return s.errorf("want measures or an object under %q", k)
	})
}
