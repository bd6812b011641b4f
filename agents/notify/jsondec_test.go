package notify

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// stdDecode is the reference: encoding/json with UseNumber.
func stdDecode(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if strings.TrimLeft(s[d.InputOffset():], " \t\r\n") != "" {
		return nil, errTrailing
	}
	return v, nil
}

var errTrailing = jsonErr("trailing data")

type jsonErr string

func (e jsonErr) Error() string { return string(e) }

func checkSameAsStd(t *testing.T, s string) {
	t.Helper()
	want, werr := stdDecode(s)
	got, gerr := decodeJSON(s)
	if werr != nil {
		if gerr == nil && !strings.Contains(werr.Error(), "exceeded max depth") {
			t.Fatalf("%q: decoded %v, encoding/json says %v", s, got, werr)
		}
		return
	}
	if gerr != nil {
		if strings.Contains(gerr.Error(), "nested deeper") {
			return
		}
		t.Fatalf("%q: %v, encoding/json decodes %v", s, gerr, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, want %#v", s, got, want)
	}
}

func TestDecodeJSONCases(t *testing.T) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":1,"a":2}`, `{"a": [1, 2.5, -0.5e-3, 1E10, true, false, null, "x"]}`, ` {"k" : {"n": {}} } `,
		`"\u00e9\ud83d\ude00\n\t\"\\\/"`, `"\ud800"`, `"\ud800\u0041"`, "\"\xff\xfe\"", `"é"`, `0`, `-0`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`,
		`{"a":}`, `{"a" 1}`, `{a:1}`, `[1,]`, `[1 2]`, `{"a":1,}`, `"abc`, "\"a\x01\"", `tru`, `nul`, `{"a":1} x`, `{"a":1}{}`, ``, ` `,
		`"\x"`, `"\u12"`, `"\uzzzz"`, `[[[[[]]]]]`, `{"oslo.message": "{\"event_type\": \"a\"}"}`,
	} {
		checkSameAsStd(t, s)
	}
}

// TestDecodeJSONAgainstStd compares with encoding/json on random
// documents and on random corruptions of them.
func TestDecodeJSONAgainstStd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	var gen func(depth int) any
	gen = func(depth int) any {
		switch k := rng.IntN(8); {
		case k == 0 && depth < 5:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[string(rune('a'+rng.IntN(26)))+"\u00e9\n\"x"[:rng.IntN(5)]] = gen(depth + 1)
			}
			return m
		case k == 1 && depth < 5:
			var a []any
			for range rng.IntN(4) {
				a = append(a, gen(depth+1))
			}
			return a
		case k == 2:
			return rng.Float64() * 1e6
		case k == 3:
			return rng.IntN(1000) - 500
		case k == 4:
			return rng.IntN(2) == 0
		case k == 5:
			return nil
		}
		return "s\u2028\\\u00ff/"[:rng.IntN(8)]
	}
	for range 3000 {
		b, _ := json.Marshal(gen(0))
		checkSameAsStd(t, string(b))
		if len(b) > 0 {
			c := bytes.Clone(b)
			const junk = "{}[],:\"\\0a-e \x00\xff"
			c[rng.IntN(len(c))] = junk[rng.IntN(len(junk))]
			checkSameAsStd(t, string(c))
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"a": [1, 2.5, "x\u00e9"], "b": {"c": null}}`)
	f.Add(string(fixture(f, "instance_create_end")))
	f.Fuzz(func(t *testing.T, s string) {
		checkSameAsStd(t, s)
	})
}
