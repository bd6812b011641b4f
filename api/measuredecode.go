package api

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// The measure bodies are the API's hot path: a batch of 10,000 measures
// must decode in well under a millisecond. They are scanned here straight
// from the request bytes, without building a document tree: keys and
// timestamps are read in place, numbers parsed from the bytes.
//
// Semantics follow Gnocchi's MeasuresListSchema: a list of objects with
// "timestamp" (ISO 8601, seconds since the Epoch as a number or a numeric
// string, or a span relative to now) and "value" (a number, or what
// Python's float() takes: a numeric string, true/false); other keys of a
// measure are ignored. Timestamps before the Epoch are refused. Unlike
// Gnocchi, NaN and infinities are refused (the bus carries finite values
// only), and a list may mix timestamp forms.

// errMeasure is a measure list that breaks the schema; reason is Gnocchi's.
type errMeasure struct{ reason string }

func (e *errMeasure) Error() string { return e.reason }

var (
	errFormat    = &errMeasure{"unexpected measures format"}
	errValue     = &errMeasure{"unexpected measures value"}
	errTimestamp = &errMeasure{"unexpected timestamp 'Unable to convert timestamps'"}
	errEpoch     = &errMeasure{"unexpected timestamp 'Timestamp must be after Epoch'"}
	errNonFinite = &errMeasure{"unexpected measures value: NaN and infinite values are not accepted"}
)

// scanner reads JSON from b.
type scanner struct {
	b   []byte
	i   int
	now time.Time
}

// errSyntax is malformed JSON, reported as Gnocchi reports an undecodable
// body.
type errSyntax struct {
	off int
	msg string
}

func (e *errSyntax) Error() string { return e.msg + " at offset " + strconv.Itoa(e.off) }

func (s *scanner) syntax(msg string) error { return &errSyntax{off: s.i, msg: msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-blank byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.syntax("expected '" + string(c) + "'")
	}
	s.i++
	return nil
}

// end checks that nothing but blanks follows the document.
func (s *scanner) end() error {
	if s.ws(); s.i < len(s.b) {
		return s.syntax("extra data after the JSON document")
	}
	return nil
}

// str reads a JSON string. The result aliases b when the string has no
// escapes; it must be copied to be kept past the request.
func (s *scanner) str() (string, error) {
	if s.peek() != '"' {
		return "", s.syntax("expected a string")
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return unsafe.String(unsafe.SliceData(s.b[start:j]), j-start), nil
		case c == '\\':
			return s.escaped(start - 1)
		case c < 0x20:
			s.i = j
			return "", s.syntax("control character in a string")
		}
	}
	s.i = len(s.b)
	return "", s.syntax("unterminated string")
}

// escaped reads a string with escapes from its opening quote at q.
func (s *scanner) escaped(q int) (string, error) {
	j := q + 1
	for j < len(s.b) {
		switch s.b[j] {
		case '\\':
			j += 2
			continue
		case '"':
			var out string
			if err := json.Unmarshal(s.b[q:j+1], &out); err != nil {
				s.i = q
				return "", s.syntax("invalid string")
			}
			s.i = j + 1
			return out, nil
		}
		j++
	}
	s.i = len(s.b)
	return "", s.syntax("unterminated string")
}

// literal reads a number, true, false or null, returning its bytes.
func (s *scanner) literal() ([]byte, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' {
			break
		}
		s.i++
	}
	if s.i == start {
		return nil, s.syntax("expected a value")
	}
	lit := s.b[start:s.i]
	switch string(lit) {
	case "true", "false", "null":
		return lit, nil
	}
	if !validNumber(lit) {
		s.i = start
		return nil, s.syntax("invalid literal")
	}
	return lit, nil
}

// validNumber checks JSON number syntax.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i == len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}

// skip skips any JSON value, bounding the nesting.
func (s *scanner) skip(depth int) error {
	if depth > 64 {
		return s.syntax("nesting too deep")
	}
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{':
		s.i++
		if s.peek() == '}' {
			s.i++
			return nil
		}
		for {
			if _, err := s.str(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return nil
			default:
				return s.syntax("expected ',' or '}'")
			}
		}
	case '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return nil
			default:
				return s.syntax("expected ',' or ']'")
			}
		}
	}
	_, err := s.literal()
	return err
}

// rawValue is one scalar read in place: a string's contents, or a literal.
type rawValue struct {
	str   bool
	bytes string
}

// scalar reads a string or a literal; objects and arrays are a schema
// error, after being skipped so that the syntax is still checked.
func (s *scanner) scalar() (rawValue, bool, error) {
	switch s.peek() {
	case '"':
		v, err := s.str()
		return rawValue{str: true, bytes: v}, true, err
	case '{', '[':
		return rawValue{}, false, s.skip(0)
	}
	lit, err := s.literal()
	return rawValue{bytes: unsafe.String(unsafe.SliceData(lit), len(lit))}, true, err
}

// measures reads a list of measures, appending to ts and vs. A schema
// error is returned only once the whole list has been read, so that a
// syntax error later in the body wins, as it does in Gnocchi.
func (s *scanner) measures(ts []int64, vs []float64) ([]int64, []float64, error) {
	var bad error
	if s.peek() != '[' {
		if err := s.skip(0); err != nil {
			return ts, vs, err
		}
		return ts, vs, errFormat
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return ts, vs, nil
	}
	for {
		if s.peek() != '{' {
			if err := s.skip(0); err != nil {
				return ts, vs, err
			}
			if bad == nil {
				bad = errFormat
			}
		} else {
			t, v, err := s.measure()
			if err != nil {
				var em *errMeasure
				if !errors.As(err, &em) {
					return ts, vs, err
				}
				if bad == nil {
					bad = err
				}
			} else if bad == nil {
				ts, vs = append(ts, t), append(vs, v)
			}
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return ts, vs, bad
		default:
			return ts, vs, s.syntax("expected ',' or ']'")
		}
	}
}

// measure reads one {"timestamp": ..., "value": ...} object.
func (s *scanner) measure() (int64, float64, error) {
	s.i++ // '{'
	var tsRaw, valRaw rawValue
	var hasTS, hasVal, tsOK, valOK bool
	if s.peek() == '}' {
		s.i++
		return 0, 0, errValue
	}
	for {
		key, err := s.str()
		if err != nil {
			return 0, 0, err
		}
		if err := s.expect(':'); err != nil {
			return 0, 0, err
		}
		switch key {
		case "timestamp":
			tsRaw, tsOK, err = s.scalar()
			hasTS = true
		case "value":
			valRaw, valOK, err = s.scalar()
			hasVal = true
		default:
			err = s.skip(0)
		}
		if err != nil {
			return 0, 0, err
		}
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
		default:
			return 0, 0, s.syntax("expected ',' or '}'")
		}
		break
	}
	if !hasTS {
		return 0, 0, errFormat
	}
	if !tsOK {
		return 0, 0, errTimestamp
	}
	t, err := s.timestamp(tsRaw)
	if err != nil {
		return 0, 0, err
	}
	if !hasVal || !valOK {
		return 0, 0, errValue
	}
	v, err := measureValue(valRaw)
	if err != nil {
		return 0, 0, err
	}
	return t, v, nil
}

func (s *scanner) timestamp(raw rawValue) (int64, error) {
	if !raw.str {
		switch raw.bytes {
		case "true", "false", "null":
			return 0, errTimestamp
		}
		return epochNanos(raw.bytes)
	}
	if t, ok := fastISO(raw.bytes); ok {
		if t.Unix() < 0 {
			return 0, errEpoch
		}
		if t.Year() > 2261 {
			return 0, errTimestamp // past what Unix nanoseconds hold
		}
		return t.UnixNano(), nil
	}
	if _, err := strconv.ParseFloat(strings.TrimSpace(raw.bytes), 64); err == nil {
		return epochNanos(strings.TrimSpace(raw.bytes))
	}
	t, err := parseTimestamp(raw.bytes, s.now)
	if err != nil {
		return 0, errTimestamp
	}
	if t.Before(time.Unix(0, 0)) {
		return 0, errEpoch
	}
	if t.Year() > 2261 {
		return 0, errTimestamp
	}
	return t.UnixNano(), nil
}

// epochNanos reads seconds since the Epoch as Unix nanoseconds.
func epochNanos(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errTimestamp
	}
	if f < 0 {
		return 0, errEpoch
	}
	if f > 9.2e9 {
		return 0, errTimestamp
	}
	sec, frac := math.Modf(f)
	return int64(sec)*1e9 + int64(math.Round(frac*1e9)), nil
}

// measureValue reads a value as Python's float() would, refusing NaN and
// the infinities.
func measureValue(raw rawValue) (float64, error) {
	var f float64
	var err error
	switch {
	case raw.str:
		f, err = strconv.ParseFloat(strings.TrimSpace(raw.bytes), 64)
	case raw.bytes == "true":
		return 1, nil
	case raw.bytes == "false":
		return 0, nil
	case raw.bytes == "null":
		return 0, errValue
	default:
		f, err = strconv.ParseFloat(raw.bytes, 64)
	}
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errNonFinite
		}
		return 0, errValue
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errNonFinite
	}
	return f, nil
}

// decodeMeasureList decodes the body of POST /v1/metric/{id}/measures.
func decodeMeasureList(b []byte, now time.Time) ([]int64, []float64, error) {
	s := scanner{b: b, now: now}
	n := estimateMeasures(b)
	ts, vs, err := s.measures(make([]int64, 0, n), make([]float64, 0, n))
	if err == nil {
		err = s.end()
	} else if _, ok := err.(*errMeasure); ok {
		if endErr := s.end(); endErr != nil {
			err = endErr
		}
	}
	return ts, vs, err
}

// estimateMeasures guesses how many measures b holds, to size the columns
// in one allocation: a measure takes at least 30 bytes and usually ~50.
func estimateMeasures(b []byte) int {
	return len(b)/48 + 1
}
