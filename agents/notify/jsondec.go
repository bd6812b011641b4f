package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeJSON decodes one JSON value as encoding/json decodes into an any
// with UseNumber (objects as map[string]any, arrays as []any, numbers as
// json.Number, a later duplicate key winning, invalid UTF-8 in strings as
// U+FFFD), in one pass and refusing nesting deeper than maxJSONDepth.
// Notifications are decoded for every message, and encoding/json's
// Decoder scans each twice.
func decodeJSON(s string) (any, error) {
	d := decoders.Get().(*jsonDecoder)
	defer d.release()
	d.s, d.i = s, 0
	d.skipSpace()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.i != len(d.s) {
		return nil, d.errorf("data after the value")
	}
	return v, nil
}

var decoders = sync.Pool{New: func() any { return new(jsonDecoder) }}

// maxPooledScratch bounds the scratch a pooled decoder keeps.
const maxPooledScratch = 1 << 16

func (d *jsonDecoder) release() {
	d.s = ""
	if cap(d.b) > maxPooledScratch || cap(d.kv) > maxPooledScratch || cap(d.vals) > maxPooledScratch {
		return // let a huge message's scratch go
	}
	d.b, d.kv, d.vals = d.b[:0], d.kv[:0], d.vals[:0]
	decoders.Put(d)
}

type jsonDecoder struct {
	s string
	i int
	b []byte // scratch for strings with escapes
	// kv and vals are stacks that objects and arrays fill before making
	// their map or slice at its final size.
	kv   []jsonPair
	vals []any
}

type jsonPair struct {
	k string
	v any
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (any, error) {
	if d.i >= len(d.s) {
		return nil, d.errorf("unexpected end")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		if depth >= maxJSONDepth {
			return nil, d.errorf("nested deeper than %d", maxJSONDepth)
		}
		return d.object(depth + 1)
	case c == '[':
		if depth >= maxJSONDepth {
			return nil, d.errorf("nested deeper than %d", maxJSONDepth)
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return true, nil
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return false, nil
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
		return nil, nil
	}
	return nil, d.errorf("unexpected character %q", d.s[d.i])
}

func (d *jsonDecoder) object(depth int) (any, error) {
	d.i++ // {
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return map[string]any{}, nil
	}
	mark := len(d.kv)
	defer func() {
		clear(d.kv[mark:])
		d.kv = d.kv[:mark]
	}()
	for {
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, d.errorf("want a string key")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, d.errorf("want ':' after a key")
		}
		d.i++
		d.skipSpace()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		d.kv = append(d.kv, jsonPair{k, v})
		d.skipSpace()
		if d.i >= len(d.s) {
			return nil, d.errorf("unexpected end in an object")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			m := make(map[string]any, len(d.kv)-mark)
			for _, p := range d.kv[mark:] {
				m[p.k] = p.v
			}
			return m, nil
		default:
			return nil, d.errorf("want ',' or '}' in an object")
		}
	}
}

func (d *jsonDecoder) array(depth int) (any, error) {
	d.i++ // [
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return []any{}, nil
	}
	mark := len(d.vals)
	defer func() {
		clear(d.vals[mark:])
		d.vals = d.vals[:mark]
	}()
	for {
		d.skipSpace()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		d.vals = append(d.vals, v)
		d.skipSpace()
		if d.i >= len(d.s) {
			return nil, d.errorf("unexpected end in an array")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return append([]any(nil), d.vals[mark:]...), nil
		default:
			return nil, d.errorf("want ',' or ']' in an array")
		}
	}
}

func (d *jsonDecoder) number() (any, error) {
	start := d.i
	if d.s[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.s) && d.s[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, d.errorf("bad number")
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.errorf("bad number")
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.errorf("bad number")
		}
	}
	return json.Number(d.s[start:d.i]), nil
}

// str decodes a string at d.i, which is on its opening quote.
func (d *jsonDecoder) str() (string, error) {
	d.i++
	start := d.i
	// Fast path: no escape, valid UTF-8, no control character.
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c == '"' {
			s := d.s[start:d.i]
			d.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	b := append(d.b[:0], d.s[start:d.i]...)
	for {
		if d.i >= len(d.s) {
			return "", d.errorf("unterminated string")
		}
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			d.b = b
			return string(b), nil
		case c < 0x20:
			return "", d.errorf("control character in a string")
		case c == '\\':
			if d.i+1 >= len(d.s) {
				return "", d.errorf("unterminated escape")
			}
			e := d.s[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.errorf("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if strings.HasPrefix(d.s[d.i:], `\u`) {
						save := d.i
						d.i += 2
						var ok2 bool
						if r2, ok2 = d.hex4(); !ok2 {
							return "", d.errorf("bad \\u escape")
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							continue
						}
						d.i = save
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", d.errorf("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			// Copy the run of plain bytes up to the next special one.
			j := d.i + 1
			for j < len(d.s) {
				c := d.s[j]
				if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
					break
				}
				j++
			}
			b = append(b, d.s[d.i:j]...)
			d.i = j
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d.s[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(v), true
}
