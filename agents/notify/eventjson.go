package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// pyISOTime is Python's datetime.isoformat() of a naive UTC time: the
// microseconds only when there are some.
func pyISOTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// AppendJSON appends e as Ceilometer's Event.serialize() writes it, which
// Aodh's event evaluator reads:
//
//	{"message_id": "...", "event_type": "...", "generated": "2012-05-08T20:23:48.028195",
//	 "traits": [["service", 1, "compute"], ["memory_mb", 2, 512], ...], "raw": {}}
//
// Datetime traits are ISO 8601 strings like generated.
func (e *Event) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"message_id":`...)
	dst = appendJSONString(dst, e.MessageID)
	dst = append(dst, `,"event_type":`...)
	dst = appendJSONString(dst, e.EventType)
	dst = append(dst, `,"generated":"`...)
	dst = append(dst, pyISOTime(e.Generated)...)
	dst = append(dst, `","traits":[`...)
	for i, t := range e.Traits {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = appendJSONString(dst, t.Name)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(t.Type), 10)
		dst = append(dst, ',')
		switch v := t.Value.(type) {
		case string:
			dst = appendJSONString(dst, v)
		case int64:
			dst = strconv.AppendInt(dst, v, 10)
		case float64:
			b, err := json.Marshal(v)
			if err != nil {
				return dst, fmt.Errorf("cannot encode trait %s of event %s: %w", t.Name, e.MessageID, err)
			}
			dst = append(dst, b...)
		case time.Time:
			dst = append(dst, '"')
			dst = append(dst, pyISOTime(v)...)
			dst = append(dst, '"')
		default:
			return dst, fmt.Errorf("BUG: trait %s of event %s holds %T", t.Name, e.MessageID, t.Value)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `],"raw":`...)
	if e.Raw == nil {
		dst = append(dst, "{}"...)
	} else {
		b, err := json.Marshal(e.Raw)
		if err != nil {
			return dst, fmt.Errorf("cannot encode the raw notification of event %s: %w", e.MessageID, err)
		}
		dst = append(dst, b...)
	}
	return append(dst, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as JSON, replacing invalid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
