package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

type jsonNumber = json.Number

// errorCase is a request that must fail with code and a description.
type errorCase struct {
	name   string
	c      caller
	method string
	path   string
	body   any
	code   int
	// want is the description: a string compared exactly, a prefix, or
	// any JSON value compared structurally.
	want any
}

// prefix matches a description starting with it.
type prefix string

// invalid is Gnocchi's voluptuous error description.
func invalid(reason string, detail ...string) map[string]any {
	if detail == nil {
		detail = []string{}
	}
	return map[string]any{"cause": "Invalid input", "reason": reason, "detail": detail}
}

// normalise round-trips v through JSON so that Go values compare with
// decoded ones.
func normalise(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkDescription(t testing.TB, got, want any) bool {
	t.Helper()
	switch w := want.(type) {
	case prefix:
		s, ok := got.(string)
		return ok && strings.HasPrefix(s, string(w))
	case func(any) bool:
		return w(got)
	}
	return reflect.DeepEqual(normalise(t, got), normalise(t, want))
}

func errorCases(t *testing.T, e *env, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		r := e.do(tc.c, tc.method, tc.path, tc.body)
		if r.code != tc.code {
			t.Errorf("%s: %s %s: %d %s, want %d", tc.name, tc.method, tc.path, r.code, r.body, tc.code)
			continue
		}
		if got := r.description(t); !checkDescription(t, got, tc.want) {
			t.Errorf("%s: %s %s: description\n got %v\nwant %v", tc.name, tc.method, tc.path, fmtJSON(got), fmtJSON(tc.want))
		}
	}
}

func fmtJSON(v any) string {
	if p, ok := v.(prefix); ok {
		return fmt.Sprintf("prefix %q", string(p))
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sameSet reports whether a decoded list holds exactly the strings want.
func sameSet(got any, want []string) bool {
	l, ok := got.([]any)
	if !ok {
		return false
	}
	var s []string
	for _, x := range l {
		str, ok := x.(string)
		if !ok {
			return false
		}
		s = append(s, str)
	}
	sort.Strings(s)
	w := append([]string(nil), want...)
	sort.Strings(w)
	return reflect.DeepEqual(s, w)
}
