package search

import (
	"encoding/json"
	"reflect"
	"testing"
)

// anyColumn accepts every attribute as a string column, so that fuzzed
// filters reach the compiler.
func anyColumn(attr string) (Column, bool) {
	return Column{SQL: "r." + attr, Kind: String}, true
}

// checkTree runs the properties every parsed filter must have: it respects
// the limits, renders back to the same tree in both syntaxes, and compiles
// in both dialects with one argument per bound value.
func checkTree(t *testing.T, e Expr) {
	t.Helper()
	if e == nil {
		return
	}
	if err := Check(e); err != nil {
		t.Fatalf("parsed tree fails Check: %v", err)
	}
	js, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("cannot marshal %#v: %v", e, err)
	}
	back, err := ParseJSON(js)
	if err != nil || !reflect.DeepEqual(back, e) {
		t.Fatalf("ParseJSON(%s) = %#v, %v; want %#v", js, back, err, e)
	}
	s := e.String()
	backS, err := ParseString(s)
	if err != nil || !reflect.DeepEqual(backS, unwrapSingles(e)) {
		t.Fatalf("ParseString(%q) = %#v, %v; want %#v", s, backS, err, unwrapSingles(e))
	}
	for _, d := range []Dialect{SQLite, PostgreSQL} {
		where, args, err := Compile(e, d, anyColumn, 0)
		if err != nil {
			continue // e.g. a like pattern ending in a backslash
		}
		if where == "" || len(args) > MaxValues+MaxNodes {
			t.Fatalf("Compile gave %q with %d args", where, len(args))
		}
	}
}

func FuzzParseString(f *testing.F) {
	for _, s := range []string{
		`project_id='x' and started_at>'2024-01-01'`,
		`id in ['a','b']`,
		`not display_name like 'a%'`,
		`(a=1 or b ≥ 2.5e3) ∧ c != null or d eq true`,
		`id = 5a301761-f78b-46e2-8900-8b4f6fe6675a`,
		`name = 'it''s' and "x" in [None, False, -0.5]`,
		`((((a=1))))`,
		`a in []`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseString(s)
		if err != nil {
			return
		}
		checkTree(t, e)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`{"=": {"id": "a"}}`,
		`{"and": [{"like": {"display_name": "a%"}}, {"not": {"in": {"id": []}}}]}`,
		`{"or": [{"≥": {"a": 1.5e2}}, {"ne": {"b": null}}, {"∧": [{"<": {"c": true}}]}]}`,
		`{}`,
		`{"in": {"and": [1, "x", null, false]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseJSON(data)
		if err != nil {
			return
		}
		checkTree(t, e)
	})
}
