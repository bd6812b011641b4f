package sink

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// sampleIDNamespace derives sample ids, so that a sample sent twice carries
// the same id and a receiver can drop the copy.
var sampleIDNamespace = uuid.MustParse("6f1c7a52-3c7e-4f4e-9d0a-2b8f1b2e9c31")

// SampleID returns the id the JSON publishers give s: a UUIDv5 of its
// resource, meter and timestamp.
func SampleID(s *pipeline.Sample) uuid.UUID {
	var buf [256]byte
	b := append(buf[:0], s.ResourceID...)
	b = append(b, 0)
	b = append(b, s.Name...)
	b = append(b, 0)
	b = strconv.AppendInt(b, s.Timestamp.UnixNano(), 10)
	return uuid.NewSHA1(sampleIDNamespace, b)
}

// timestampLayout is how Ceilometer writes notification sample timestamps.
const timestampLayout = "2006-01-02T15:04:05.000000+00:00"

// AppendSampleJSON appends s as the JSON object of Ceilometer's
// Sample.as_dict(), which its HTTP and file publishers write (FORMATS.md).
// Empty user and project ids are null. Metadata that cannot be encoded is
// written as {} rather than failing the batch.
func AppendSampleJSON(dst []byte, s *pipeline.Sample) []byte {
	dst = append(dst, `{"source":`...)
	dst = appendJSONString(dst, orDefault(s.Source, "openstack"))
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, s.Name)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, s.Type.String())
	dst = append(dst, `,"unit":`...)
	dst = appendJSONString(dst, s.Unit)
	dst = append(dst, `,"volume":`...)
	dst = appendJSONFloat(dst, s.Volume)
	dst = append(dst, `,"user_id":`...)
	dst = appendNullableString(dst, s.UserID)
	dst = append(dst, `,"project_id":`...)
	dst = appendNullableString(dst, s.ProjectID)
	dst = append(dst, `,"resource_id":`...)
	dst = appendJSONString(dst, s.ResourceID)
	dst = append(dst, `,"timestamp":"`...)
	dst = s.Timestamp.UTC().AppendFormat(dst, timestampLayout)
	dst = append(dst, `","resource_metadata":`...)
	if len(s.Metadata) == 0 {
		dst = append(dst, "{}"...)
	} else if md, err := json.Marshal(s.Metadata); err == nil {
		dst = append(dst, md...)
	} else {
		dst = append(dst, "{}"...)
	}
	dst = append(dst, `,"id":"`...)
	id := SampleID(s)
	dst = append(dst, id.String()...)
	dst = append(dst, `","monotonic_time":null}`...)
	return dst
}

// AppendSamplesJSON appends samples as a JSON list.
func AppendSamplesJSON(dst []byte, samples []pipeline.Sample) []byte {
	dst = append(dst, '[')
	for i := range samples {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendSampleJSON(dst, &samples[i])
	}
	return append(dst, ']')
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		dst = strconv.AppendFloat(dst, f, 'f', 1, 64) // 512.0, as Python writes a float
		return dst
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
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
