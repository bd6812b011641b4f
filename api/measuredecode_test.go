package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var decodeNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// naiveMeasures is the reference the scanner is checked against: the body
// decoded by encoding/json, then each measure read as Gnocchi reads it.
func naiveMeasures(b []byte, now time.Time) ([]int64, []float64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, err
	}
	if dec.More() {
		return nil, nil, errors.New("trailing data")
	}
	if _, err := dec.Token(); err == nil {
		return nil, nil, errors.New("trailing data")
	}
	list, ok := v.([]any)
	if !ok {
		return nil, nil, errFormat
	}
	ts, vs := []int64{}, []float64{}
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, nil, errFormat
		}
		rawT, hasT := m["timestamp"]
		if !hasT {
			return nil, nil, errFormat
		}
		var t int64
		switch tv := rawT.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(tv.String(), 64)
			if err != nil || f < 0 || f > 9.2e9 {
				return nil, nil, errTimestamp
			}
			sec, frac := math.Modf(f)
			t = int64(sec)*1e9 + int64(math.Round(frac*1e9))
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(tv), 64); err == nil {
				if f < 0 || f > 9.2e9 || math.IsNaN(f) || math.IsInf(f, 0) {
					return nil, nil, errTimestamp
				}
				sec, frac := math.Modf(f)
				t = int64(sec)*1e9 + int64(math.Round(frac*1e9))
				break
			}
			p, err := parseTimestamp(tv, now)
			if err != nil || p.Before(time.Unix(0, 0)) || p.Year() > 2261 {
				return nil, nil, errTimestamp
			}
			t = p.UnixNano()
		default:
			return nil, nil, errTimestamp
		}
		var f float64
		switch vv := m["value"].(type) {
		case json.Number:
			var err error
			if f, err = strconv.ParseFloat(vv.String(), 64); err != nil {
				return nil, nil, errValue
			}
		case string:
			var err error
			if f, err = strconv.ParseFloat(strings.TrimSpace(vv), 64); err != nil {
				return nil, nil, errValue
			}
		case bool:
			if vv {
				f = 1
			}
		default:
			return nil, nil, errValue
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil, errNonFinite
		}
		ts, vs = append(ts, t), append(vs, f)
	}
	return ts, vs, nil
}

// randomMeasures writes a list of measures in the forms clients send,
// some of them broken.
func randomMeasures(rng *rand.Rand, n int, broken bool) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		sec := 1704067200 + rng.IntN(1e6)
		t := time.Unix(int64(sec), int64(rng.IntN(1000))*1e6).UTC()
		var ts string
		switch rng.IntN(6) {
		case 0:
			ts = strconv.Quote(t.Format("2006-01-02T15:04:05"))
		case 1:
			ts = strconv.Quote(t.Format("2006-01-02T15:04:05.000000Z"))
		case 2:
			ts = strconv.Itoa(sec)
		case 3:
			ts = strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
		case 4:
			ts = strconv.Quote(t.Format("2006-01-02 15:04:05+02:00"))
		case 5:
			ts = strconv.Quote("-" + strconv.Itoa(rng.IntN(100)) + " minutes")
		}
		var v string
		switch rng.IntN(5) {
		case 0, 1:
			v = strconv.FormatFloat(math.Round(rng.Float64()*10000)/100, 'f', -1, 64)
		case 2:
			v = strconv.Itoa(rng.IntN(1000) - 500)
		case 3:
			v = strconv.Quote(strconv.FormatFloat(rng.Float64(), 'e', 3, 64))
		case 4:
			v = "true"
		}
		if broken && rng.IntN(n) == 0 {
			switch rng.IntN(5) {
			case 0:
				ts = `"garbage"`
			case 1:
				v = `"NaN"`
			case 2:
				v = "null"
			case 3:
				ts = `"1960-01-01T00:00:00"`
			case 4:
				v = `{"x": 1}`
			}
		}
		order := rng.IntN(3)
		switch order {
		case 0:
			fmt.Fprintf(&b, `{"timestamp": %s, "value": %s}`, ts, v)
		case 1:
			fmt.Fprintf(&b, `{"value":%s,"timestamp":%s}`, v, ts)
		case 2:
			fmt.Fprintf(&b, "{\n  \"timestamp\" : %s , \"extra\": [1, {\"a\": null}], \"value\" : %s\n}", ts, v)
		}
	}
	b.WriteString("]")
	return []byte(b.String())
}

// TestDecodeMeasuresProperty checks the scanner against the naive decoder
// on generated bodies, good and broken.
func TestDecodeMeasuresProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		body := randomMeasures(rng, rng.IntN(20), i%3 == 0)
		ts, vs, err := decodeMeasureList(body, decodeNow)
		wts, wvs, werr := naiveMeasures(body, decodeNow)
		if (err == nil) != (werr == nil) {
			t.Fatalf("body %s:\n scanner error %v, reference error %v", body, err, werr)
		}
		if err != nil {
			var em, wem *errMeasure
			if errors.As(err, &em) != errors.As(werr, &wem) {
				t.Fatalf("body %s: scanner %v, reference %v", body, err, werr)
			}
			continue
		}
		if !reflect.DeepEqual(ts, wts) || !reflect.DeepEqual(vs, wvs) {
			t.Fatalf("body %s:\n scanner %v %v\n reference %v %v", body, ts, vs, wts, wvs)
		}
	}
}

func TestDecodeMeasuresCases(t *testing.T) {
	for _, tc := range []struct {
		body string
		ts   []int64
		vs   []float64
		err  error
	}{
		{body: `[]`, ts: []int64{}, vs: []float64{}},
		{body: ` [ ] `, ts: []int64{}, vs: []float64{}},
		{body: `[{"timestamp": "2024-01-01T00:00:00Z", "value": 1.5}]`, ts: []int64{1704067200e9}, vs: []float64{1.5}},
		{body: `[{"timestamp": "2024-01-01T01:00:00+01:00", "value": "2"}]`, ts: []int64{1704067200e9}, vs: []float64{2}},
		{body: `[{"timestamp": "2024-01-01T00:00:00.25", "value": false}]`, ts: []int64{1704067200e9 + 25e7}, vs: []float64{0}},
		{body: `[{"timestamp": "\u0032024-01-01T00:00:00", "value": 1}]`, ts: []int64{1704067200e9}, vs: []float64{1}},
		{body: `[{"timestamp": 1704067200.5, "value": -1e3}]`, ts: []int64{1704067200e9 + 5e8}, vs: []float64{-1000}},
		{body: `[{"timestamp": "-1 hour", "value": 1}]`, ts: []int64{decodeNow.Add(-time.Hour).UnixNano()}, vs: []float64{1}},
		{body: `[{"timestamp": "now", "value": 1}]`, ts: []int64{decodeNow.UnixNano()}, vs: []float64{1}},
		{body: `[{"timestamp": "x", "value": 1}]`, err: errTimestamp},
		{body: `[{"timestamp": "1969-12-31T23:59:59", "value": 1}]`, err: errEpoch},
		{body: `[{"timestamp": "9999-01-01T00:00:00", "value": 1}]`, err: errTimestamp},
		{body: `[{"timestamp": 1e300, "value": 1}]`, err: errTimestamp},
		{body: `[{"timestamp": "2024-01-01", "value": "inf"}]`, err: errNonFinite},
		{body: `[{"timestamp": "2024-01-01", "value": [1]}]`, err: errValue},
		{body: `[{"value": 1}]`, err: errFormat},
		{body: `[{}]`, err: errValue},
		{body: `{}`, err: errFormat},
		{body: `"x"`, err: errFormat},
		{body: `[{"timestamp": "2024-01-01", "value": 1}`},
		{body: `[{"timestamp": "2024-01-01", "value": 1},]`},
		{body: `[{"timestamp": "2024-01-01" "value": 1}]`},
		{body: `[{"timestamp": "2024-01-01", "value": 01}]`},
		{body: `[{"timestamp": "2024-01-01", "value": 1}] x`},
		{body: `[{"timestamp": "2024-01-01", "value": tru}]`},
		{body: "[{\"timestamp\": \"2024\x01-01\", \"value\": 1}]"},
		{body: `[{"timestamp": "x", "value": 1}, {`},
		{body: ``},
		{body: strings.Repeat("[", 100) + strings.Repeat("]", 100)},
	} {
		ts, vs, err := decodeMeasureList([]byte(tc.body), decodeNow)
		switch {
		case tc.ts != nil:
			if err != nil || !reflect.DeepEqual(ts, tc.ts) || !reflect.DeepEqual(vs, tc.vs) {
				t.Errorf("%s: %v %v %v, want %v %v", tc.body, ts, vs, err, tc.ts, tc.vs)
			}
		case tc.err != nil:
			if err != tc.err {
				t.Errorf("%s: error %v, want %v", tc.body, err, tc.err)
			}
		default:
			var se *errSyntax
			if !errors.As(err, &se) {
				t.Errorf("%s: error %v, want a syntax error", tc.body, err)
			}
		}
	}
}

func TestDecodeMetricBatch(t *testing.T) {
	a, b := "6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11", "6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d12"
	ss, err := decodeMetricBatch([]byte(`{"`+a+`": [{"timestamp": 1, "value": 2}], "`+b+`": [], "`+a+`": [{"timestamp": 3, "value": 4}]}`), decodeNow)
	if err != nil || len(ss) != 3 || ss[0].metric.String() != a || ss[1].metric.String() != b || ss[2].vs[0] != 4 || len(ss[1].ts) != 0 {
		t.Fatalf("batch: %+v %v", ss, err)
	}
	// Appending to one series must not reach into the next.
	ss[0].ts = append(ss[0].ts, 99)
	if ss[2].ts[0] != 3e9 {
		t.Errorf("series share memory: %v", ss[2].ts)
	}
}

func FuzzDecodeMeasures(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20; i++ {
		f.Add(randomMeasures(rng, rng.IntN(5), i%2 == 0))
	}
	f.Add([]byte(`[{"timestamp": "\ud800", "value": 1}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ts, vs, err := decodeMeasureList(body, decodeNow)
		wts, wvs, werr := naiveMeasures(body, decodeNow)
		if err == nil && werr == nil && (!reflect.DeepEqual(ts, wts) || !reflect.DeepEqual(vs, wvs)) {
			t.Fatalf("scanner %v %v, reference %v %v", ts, vs, wts, wvs)
		}
		if err == nil && werr != nil {
			t.Fatalf("scanner accepted what the reference refuses (%v)", werr)
		}
		if len(ts) != len(vs) {
			t.Fatalf("%d timestamps, %d values", len(ts), len(vs))
		}
		// The batch decoders must survive the same bytes.
		_, _ = decodeMetricBatch(body, decodeNow)
		_, _ = decodeResourceBatch(body, decodeNow, "u:p")
		wrapped := append(append([]byte(`{"6b1e4e2a-1c2f-4a7e-8d2b-2b6a1f9a9d11": `), body...), '}')
		_, _ = decodeMetricBatch(wrapped, decodeNow)
		_, _ = decodeResourceBatch(append(append([]byte(`{"r": {"m": `), body...), []byte("}}")...), decodeNow, "u:p")
	})
}
