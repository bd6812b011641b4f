package notify

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// maxJSONDepth bounds the nesting of a decoded notification and of walks
// over it.
const maxJSONDepth = 128

// pyStr formats a decoded JSON value as Python's str() formats the value
// json.loads gives: integers plain, floats with a decimal point, True,
// False and None, and containers as Python reprs.
func pyStr(v any) string {
	var b strings.Builder
	writePy(&b, v, false, 0)
	return b.String()
}

func writePy(b *strings.Builder, v any, quote bool, depth int) {
	if depth > maxJSONDepth {
		b.WriteString("...")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		if quote {
			b.WriteString(pyRepr(x))
		} else {
			b.WriteString(x)
		}
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err == nil {
				b.WriteString(pyFloat(f))
				return
			}
		}
		b.WriteString(s)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		b.WriteString(pyFloat(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, e, true, depth+1)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(k))
			b.WriteString(": ")
			writePy(b, x[k], true, depth+1)
		}
		b.WriteByte('}')
	default:
		b.WriteString("?")
	}
}

// pyFloat is Python's repr of a float: the shortest round trip, with ".0"
// for integral values and Python's exponent form.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	abs := math.Abs(f)
	if abs >= 1e-4 && abs < 1e16 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+16, as Python
	return s
}

func pyRepr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	s = r.Replace(s)
	if q == "'" {
		s = strings.ReplaceAll(s, "'", `\'`)
	}
	return q + s + q
}

// parsePyFloat is Python's float() of a string.
func parsePyFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}
