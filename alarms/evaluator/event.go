package evaluator

import (
	"strings"
	"time"

	"github.com/vigil-telemetry/vigil/alarms"
)

// eventCondition applies one query condition to an event. A trait field
// ("traits.<name>") compares the event's typed trait with the condition's
// value converted to the condition's type (string when empty), as Aodh's
// event evaluator does; any other field walks the event message. A
// comparison between values of different kinds holds only for "ne", and
// an ordering between them never does (where Aodh's Python raises and
// skips the alarm).
func eventCondition(c *alarms.EventQuery, ev *alarms.Event) bool {
	var got, want any
	if name, ok := strings.CutPrefix(c.Field, "traits."); ok {
		got = ev.Traits[name]
		typ := c.Type
		if typ == "" {
			typ = "string"
		}
		v, err := alarms.ConvertQueryValue(c.Value, typ)
		if err != nil {
			return false
		}
		want = v
	} else {
		got = walk(ev.Raw, c.Field)
		want = c.Typed()
	}
	return compareAny(c.Op, got, want)
}

// walk follows a dotted path through the decoded message.
func walk(m map[string]any, path string) any {
	var v any = m
	for part := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[part]
	}
	return normalise(v)
}

// normalise turns decoded JSON numbers into float64.
func normalise(v any) any {
	if n, ok := v.(interface{ Float64() (float64, error) }); ok {
		f, err := n.Float64()
		if err == nil {
			return f
		}
	}
	return v
}

func compareAny(op string, got, want any) bool {
	var c int
	switch g := got.(type) {
	case float64:
		w, ok := want.(float64)
		if !ok {
			return op == "ne"
		}
		c = cmp3(g < w, g > w)
	case string:
		w, ok := want.(string)
		if !ok {
			return op == "ne"
		}
		c = strings.Compare(g, w)
	case time.Time:
		w, ok := want.(time.Time)
		if !ok {
			return op == "ne"
		}
		c = g.Compare(w)
	case bool:
		w, ok := want.(bool)
		if !ok {
			return op == "ne"
		}
		if op != "eq" && op != "ne" {
			c = cmp3(!g && w, g && !w)
		} else if g == w {
			c = 0
		} else {
			c = 1
		}
	default:
		return op == "ne" && want != nil
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	}
	return false
}

func cmp3(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}
