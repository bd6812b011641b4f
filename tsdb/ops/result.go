package ops

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Point is one value of a result.
type Point struct {
	Timestamp   int64   // Unix ns
	Granularity int64   // ns
	Value       float64 // NaN where fill=null left a hole
}

// Measures are the points of one input when the operations do not
// aggregate, over every granularity evaluated, the coarsest first.
type Measures struct {
	ResourceID  string // resource-search form only
	Label       string
	Aggregation string
	Points      []Point
}

// Result is what Gnocchi's aggregates API answers under "measures":
// either one aggregated series, or the measures of each input.
type Result struct {
	// Aggregated says the operations reduced the inputs to one series
	// (aggregate, or arithmetic between two series sets), held in Points.
	Aggregated bool
	Points     []Point
	// Series holds, when not Aggregated, one entry per input in input
	// order.
	Series []Measures
}

// MarshalJSON encodes r as Gnocchi does: {"aggregated": [[ts, g, v]...]},
// or {"<metric id>": {"<aggregation>": [...]}}, or in the resource-search
// form {"<resource id>": {"<metric name>": {"<aggregation>": [...]}}}.
// Timestamps are ISO 8601 in UTC with "+00:00", granularities seconds as
// floats, and NaN or infinite values null.
func (r Result) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil), nil
}

// AppendJSON appends the encoding of MarshalJSON to dst.
func (r Result) AppendJSON(dst []byte) []byte {
	if r.Aggregated {
		dst = append(dst, `{"aggregated":`...)
		dst = appendPointsJSON(dst, r.Points)
		return append(dst, '}')
	}
	// Group while keeping the order of first appearance, as the dicts
	// Gnocchi builds do.
	type node struct {
		key  string
		kids []*node
		pts  []Point
	}
	child := func(n *node, key string) *node {
		for _, k := range n.kids {
			if k.key == key {
				return k
			}
		}
		k := &node{key: key}
		n.kids = append(n.kids, k)
		return k
	}
	root := &node{}
	for _, m := range r.Series {
		n := root
		if m.ResourceID != "" {
			n = child(n, m.ResourceID)
		}
		n = child(child(n, m.Label), m.Aggregation)
		n.pts = append(n.pts, m.Points...)
	}
	var enc func(dst []byte, n *node) []byte
	enc = func(dst []byte, n *node) []byte {
		if n.kids == nil {
			return appendPointsJSON(dst, n.pts)
		}
		dst = append(dst, '{')
		for i, k := range n.kids {
			if i > 0 {
				dst = append(dst, ',')
			}
			key, _ := json.Marshal(k.key)
			dst = append(dst, key...)
			dst = append(dst, ':')
			dst = enc(dst, k)
		}
		return append(dst, '}')
	}
	if len(root.kids) == 0 {
		return append(dst, "{}"...)
	}
	return enc(dst, root)
}

func appendPointsJSON(dst []byte, pts []Point) []byte {
	dst = append(dst, '[')
	// Every point of a granularity repeats it: encode it once.
	var gran []byte
	lastGran := int64(-1)
	for i, p := range pts {
		if p.Granularity != lastGran {
			lastGran = p.Granularity
			gran = AppendPyFloat(gran[:0], float64(p.Granularity)/1e9)
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `["`...)
		dst = AppendTimestamp(dst, p.Timestamp)
		dst = append(dst, `",`...)
		dst = append(dst, gran...)
		dst = append(dst, ',')
		dst = AppendPyFloat(dst, p.Value)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// AppendTimestamp appends t (Unix ns) as Gnocchi prints a timestamp:
// "2024-01-02T03:04:05+00:00", with nine fraction digits when t is not a
// whole second.
func AppendTimestamp(dst []byte, t int64) []byte {
	secs, ns := t/1e9, t%1e9
	if ns < 0 {
		secs, ns = secs-1, ns+1e9
	}
	days, sod := secs/86400, secs%86400
	if sod < 0 {
		days, sod = days-1, sod+86400
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		// Outside what four digits hold; time's format is as good as any.
		dst = time.Unix(secs, 0).UTC().AppendFormat(dst, "2006-01-02T15:04:05")
	} else {
		dst = append4(dst, y)
		dst = append(dst, '-')
		dst = append2(dst, m)
		dst = append(dst, '-')
		dst = append2(dst, d)
		dst = append(dst, 'T')
		dst = append2(dst, sod/3600)
		dst = append(dst, ':')
		dst = append2(dst, sod/60%60)
		dst = append(dst, ':')
		dst = append2(dst, sod%60)
	}
	if ns != 0 {
		dst = append(dst, '.')
		for div := int64(1e8); div > 0; div /= 10 {
			dst = append(dst, byte('0'+ns/div%10))
		}
	}
	return append(dst, "+00:00"...)
}

func append2(dst []byte, v int64) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse), so that formatting a point
// does not go through time.Time.
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// AppendPyFloat appends f as Python's repr prints a float, which is what
// Gnocchi's JSON carries: "60.0", "0.5", "1e-05", "1e+16"; NaN and the
// infinities, which JSON cannot hold, are null.
func AppendPyFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	// Python switches to exponent notation below 1e-4 and from 1e16; the
	// shortest representation of a float on either side stays on that side.
	if a := math.Abs(f); a < 1e-4 || a >= 1e16 {
		return strconv.AppendFloat(dst, f, 'e', -1, 64)
	}
	if out, ok := appendCentDecimal(dst, f); ok {
		return out
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

// appendCentDecimal appends f when it is a number of hundredths below 1e9
// in magnitude, the common case of metering values, without the general
// shortest-representation search. There the decimal with at most two
// fraction digits that equals f is its shortest representation: parsing it
// gives f back, and below 1e9 a float's neighbours are far closer than a
// hundredth, so no shorter string can.
func appendCentDecimal(dst []byte, f float64) ([]byte, bool) {
	if !(math.Abs(f) < 1e9) {
		return dst, false
	}
	r := math.Round(f * 100)
	if r/100 != f {
		return dst, false
	}
	n := int64(r)
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	dst = strconv.AppendInt(dst, n/100, 10)
	frac := n % 100
	dst = append(dst, '.', byte('0'+frac/10))
	if frac%10 != 0 {
		dst = append(dst, byte('0'+frac%10))
	}
	return dst, true
}
