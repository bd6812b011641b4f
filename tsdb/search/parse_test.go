package search

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func n(s string) json.Number { return json.Number(s) }

func TestParseBothSyntaxes(t *testing.T) {
	cases := []struct {
		name, str, json string
		want            Expr
	}{
		{"eq", `project_id='p1'`, `{"=": {"project_id": "p1"}}`,
			Cmp{OpEq, "project_id", "p1"}},
		{"eq double-equals", `project_id == "p1"`, `{"==": {"project_id": "p1"}}`,
			Cmp{OpEq, "project_id", "p1"}},
		{"eq word", `project_id eq p1`, `{"eq": {"project_id": "p1"}}`,
			Cmp{OpEq, "project_id", "p1"}},
		{"ne", `a != 1`, `{"!=": {"a": 1}}`, Cmp{OpNe, "a", n("1")}},
		{"ne word", `a ne 1`, `{"ne": {"a": 1}}`, Cmp{OpNe, "a", n("1")}},
		{"ne unicode", `a ≠ 1`, `{"≠": {"a": 1}}`, Cmp{OpNe, "a", n("1")}},
		{"lt", `a < 1.5`, `{"<": {"a": 1.5}}`, Cmp{OpLt, "a", n("1.5")}},
		{"lt word", `a lt -2`, `{"lt": {"a": -2}}`, Cmp{OpLt, "a", n("-2")}},
		{"le", `a <= 1e3`, `{"<=": {"a": 1e3}}`, Cmp{OpLe, "a", n("1e3")}},
		{"le unicode", `a ≤ 1`, `{"≤": {"a": 1}}`, Cmp{OpLe, "a", n("1")}},
		{"le word", `a le 1`, `{"le": {"a": 1}}`, Cmp{OpLe, "a", n("1")}},
		{"gt", `started_at > '2024-01-01'`, `{">": {"started_at": "2024-01-01"}}`,
			Cmp{OpGt, "started_at", "2024-01-01"}},
		{"gt word", `a gt 0`, `{"gt": {"a": 0}}`, Cmp{OpGt, "a", n("0")}},
		{"ge", `a >= 0`, `{">=": {"a": 0}}`, Cmp{OpGe, "a", n("0")}},
		{"ge unicode", `a ≥ 0`, `{"≥": {"a": 0}}`, Cmp{OpGe, "a", n("0")}},
		{"ge word", `a ge 0`, `{"ge": {"a": 0}}`, Cmp{OpGe, "a", n("0")}},
		{"like", `display_name like 'web%'`, `{"like": {"display_name": "web%"}}`,
			Cmp{OpLike, "display_name", "web%"}},
		{"null", `ended_at = null`, `{"=": {"ended_at": null}}`, Cmp{OpEq, "ended_at", nil}},
		{"None", `ended_at != None`, `{"!=": {"ended_at": null}}`, Cmp{OpNe, "ended_at", nil}},
		{"bools", `a = true or b = False`, `{"or": [{"=": {"a": true}}, {"=": {"b": false}}]}`,
			Or{Cmp{OpEq, "a", true}, Cmp{OpEq, "b", false}}},
		{"in", `id in ['a', "b", 3]`, `{"in": {"id": ["a", "b", 3]}}`,
			In{"id", []any{"a", "b", n("3")}}},
		{"in empty", `id in []`, `{"in": {"id": []}}`, In{"id", []any{}}},
		{"in with null", `id in [null, x]`, `{"in": {"id": [null, "x"]}}`, In{"id", []any{nil, "x"}}},
		{"unquoted uuid", `id = 5a301761-f78b-46e2-8900-8b4f6fe6675a`,
			`{"=": {"id": "5a301761-f78b-46e2-8900-8b4f6fe6675a"}}`,
			Cmp{OpEq, "id", "5a301761-f78b-46e2-8900-8b4f6fe6675a"}},
		{"unquoted uuid no dashes", `id = 5a301761f78b46e289008b4f6fe6675a`,
			`{"=": {"id": "5a301761f78b46e289008b4f6fe6675a"}}`,
			Cmp{OpEq, "id", "5a301761f78b46e289008b4f6fe6675a"}},
		{"and chain flattens", `a=1 and b=2 and c=3`, `{"and": [{"=": {"a": 1}}, {"=": {"b": 2}}, {"=": {"c": 3}}]}`,
			And{Cmp{OpEq, "a", n("1")}, Cmp{OpEq, "b", n("2")}, Cmp{OpEq, "c", n("3")}}},
		{"unicode and/or", `a=1 ∧ b=2 ∨ c=3`, `{"∨": [{"∧": [{"=": {"a": 1}}, {"=": {"b": 2}}]}, {"=": {"c": 3}}]}`,
			Or{And{Cmp{OpEq, "a", n("1")}, Cmp{OpEq, "b", n("2")}}, Cmp{OpEq, "c", n("3")}}},
		{"and binds tighter than or", `a=1 or b=2 and c=3`,
			`{"or": [{"=": {"a": 1}}, {"and": [{"=": {"b": 2}}, {"=": {"c": 3}}]}]}`,
			Or{Cmp{OpEq, "a", n("1")}, And{Cmp{OpEq, "b", n("2")}, Cmp{OpEq, "c", n("3")}}}},
		{"parentheses", `(a=1 or b=2) and c=3`,
			`{"and": [{"or": [{"=": {"a": 1}}, {"=": {"b": 2}}]}, {"=": {"c": 3}}]}`,
			And{Or{Cmp{OpEq, "a", n("1")}, Cmp{OpEq, "b", n("2")}}, Cmp{OpEq, "c", n("3")}}},
		{"nested and stays nested", `a=1 and (b=2 and c=3)`,
			`{"and": [{"=": {"a": 1}}, {"and": [{"=": {"b": 2}}, {"=": {"c": 3}}]}]}`,
			And{Cmp{OpEq, "a", n("1")}, And{Cmp{OpEq, "b", n("2")}, Cmp{OpEq, "c", n("3")}}}},
		{"not binds tightest", `not display_name like 'a%' and b=1`,
			`{"and": [{"not": {"like": {"display_name": "a%"}}}, {"=": {"b": 1}}]}`,
			And{Not{Cmp{OpLike, "display_name", "a%"}}, Cmp{OpEq, "b", n("1")}}},
		{"not not", `not not a=1`, `{"not": {"not": {"=": {"a": 1}}}}`, Not{Not{Cmp{OpEq, "a", n("1")}}}},
		{"quoted attribute", `'and' = 1`, `{"=": {"and": 1}}`, Cmp{OpEq, "and", n("1")}},
		{"doubled quote", `name = 'it''s'`, `{"=": {"name": "it's"}}`, Cmp{OpEq, "name", "it's"}},
		{"doubled double quote", `name = "say ""hi"""`, `{"=": {"name": "say \"hi\""}}`, Cmp{OpEq, "name", `say "hi"`}},
		{"empty string", `name = ''`, `{"=": {"name": ""}}`, Cmp{OpEq, "name", ""}},
		{"backslash kept", `name like 'a\%'`, `{"like": {"name": "a\\%"}}`, Cmp{OpLike, "name", `a\%`}},
		{"no whitespace escape", `name = 'a\tb'`, `{"=": {"name": "a\\tb"}}`, Cmp{OpEq, "name", `a\tb`}},
		{"raw newline", "name = 'a\nb'", `{"=": {"name": "a\nb"}}`, Cmp{OpEq, "name", "a\nb"}},
		{"number normalised", `a = +007.`, `{"=": {"a": 7}}`, Cmp{OpEq, "a", n("7")}},
		{"number exponent", `a = 5.e3`, `{"=": {"a": 5e3}}`, Cmp{OpEq, "a", n("5e3")}},
		{"no spaces", `a>=-5and b<2`, `{"and": [{">=": {"a": -5}}, {"<": {"b": 2}}]}`,
			And{Cmp{OpGe, "a", n("-5")}, Cmp{OpLt, "b", n("2")}}},
		{"unicode value", `name = 'café ☕'`, `{"=": {"name": "café ☕"}}`, Cmp{OpEq, "name", "café ☕"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotS, err := ParseString(tc.str)
			if err != nil {
				t.Fatalf("ParseString(%q): %v", tc.str, err)
			}
			if !reflect.DeepEqual(gotS, tc.want) {
				t.Errorf("ParseString(%q) = %#v, want %#v", tc.str, gotS, tc.want)
			}
			gotJ, err := ParseJSON([]byte(tc.json))
			if err != nil {
				t.Fatalf("ParseJSON(%s): %v", tc.json, err)
			}
			if !reflect.DeepEqual(gotJ, tc.want) {
				t.Errorf("ParseJSON(%s) = %#v, want %#v", tc.json, gotJ, tc.want)
			}
			// Both renderings give the same tree back.
			back, err := ParseString(gotS.String())
			if err != nil || !reflect.DeepEqual(back, tc.want) {
				t.Errorf("ParseString(String()) of %q = %#v, %v", gotS.String(), back, err)
			}
			js, err := json.Marshal(gotS)
			if err != nil {
				t.Fatal(err)
			}
			backJ, err := ParseJSON(js)
			if err != nil || !reflect.DeepEqual(backJ, tc.want) {
				t.Errorf("ParseJSON(Marshal()) of %s = %#v, %v", js, backJ, err)
			}
		})
	}
}

func TestParseJSONEmptyIsNoFilter(t *testing.T) {
	e, err := ParseJSON([]byte(` {} `))
	if err != nil || e != nil {
		t.Fatalf("ParseJSON({}) = %v, %v; want nil, nil", e, err)
	}
	e, err = ParseValue(map[string]any{"=": map[string]any{"a": 1.5}})
	if err != nil || !reflect.DeepEqual(e, Cmp{OpEq, "a", n("1.5")}) {
		t.Fatalf("ParseValue with float64 = %#v, %v", e, err)
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat(`{"not": `, MaxDepth) + `{"=": {"a": 1}}` + strings.Repeat("}", MaxDepth)
	okDeep := strings.Repeat(`{"not": `, MaxDepth-1) + `{"=": {"a": 1}}` + strings.Repeat("}", MaxDepth-1)
	if _, err := ParseJSON([]byte(okDeep)); err != nil {
		t.Fatalf("depth %d refused: %v", MaxDepth, err)
	}
	many := `{"or": [` + strings.Repeat(`{"=": {"a": 1}},`, MaxNodes) + `{"=": {"a": 1}}]}`
	manyS := strings.Repeat("a=1 or ", MaxNodes) + "a=1"
	values := `{"in": {"a": [` + strings.Repeat(`1,`, MaxValues) + `1]}}`
	cases := []struct {
		name   string
		parse  func() (Expr, error)
		is     error
		substr string
	}{
		{"json not json", js(`{"=": `), ErrSyntax, "cannot decode JSON"},
		{"json trailing", js(`{} {}`), ErrSyntax, "trailing data"},
		{"json array top", js(`[]`), ErrSyntax, "must be an object, not a list"},
		{"json two ops", js(`{"=": {"a": 1}, "!=": {"b": 2}}`), ErrSyntax, `exactly one key, got 2 ["!=" "="]`},
		{"json unknown op", js(`{"~": {"a": 1}}`), ErrSyntax, `unknown operator "~"`},
		{"json two attrs", js(`{"=": {"a": 1, "b": 2}}`), ErrSyntax, "exactly one key"},
		{"json no attrs", js(`{"=": {}}`), ErrSyntax, "exactly one key, got 0"},
		{"json list value", js(`{"=": {"a": [1]}}`), ErrInvalidValue, "Invalid value for attribute a: a list is not a string, number, boolean or null"},
		{"json object value", js(`{"=": {"a": {"b": 1}}}`), ErrInvalidValue, "an object"},
		{"json in scalar", js(`{"in": {"a": 1}}`), ErrInvalidValue, "Invalid value for attribute a: in takes a list, not a number"},
		{"json in nested", js(`{"in": {"a": [[1]]}}`), ErrInvalidValue, "a list is not"},
		{"json and object", js(`{"and": {"=": {"a": 1}}}`), ErrSyntax, "and takes a list of filters, not an object"},
		{"json and empty", js(`{"and": []}`), ErrSyntax, "and takes at least one filter"},
		{"json nested empty", js(`{"and": [{}]}`), ErrSyntax, "exactly one key, got 0"},
		{"json bad attr", js(`{"=": {"a;drop": 1}}`), ErrSyntax, `invalid attribute name "a;drop"`},
		{"json huge number", js(`{"=": {"a": 1e400}}`), ErrInvalidValue, "not a finite number"},
		{"json too deep", js(deep), ErrTooComplex, "nested deeper than 32"},
		{"json too many", js(many), ErrTooComplex, "more than 1000 expressions"},
		{"json too many values", js(values), ErrTooComplex, "more than 10000 values"},
		{"str empty", str("  "), ErrSyntax, "Invalid filter: empty"},
		{"str no operator", str("a 'b'"), ErrSyntax, `expected an operator after attribute a, found "b" at char 2`},
		{"str missing value", str("a ="), ErrSyntax, "expected a value after = at the end of the filter"},
		{"str value as attr", str("1 = a"), ErrSyntax, `expected an attribute name, 'not' or '(', found "1" at char 0`},
		{"str bad attr", str("'a b' = 1"), ErrSyntax, `invalid attribute name "a b" at char 0`},
		{"str unterminated", str("a = 'x"), ErrSyntax, "unterminated string starting at char 4"},
		{"str bad char", str("a = 1 ; drop"), ErrSyntax, `unexpected character ';' at char 6`},
		{"str unbalanced", str("(a = 1"), ErrSyntax, "expected ')' at the end"},
		{"str trailing", str("a = 1)"), ErrSyntax, `expected and, or or the end of the filter, found ")" at char 5`},
		{"str dangling and", str("a = 1 and"), ErrSyntax, "at the end of the filter"},
		{"str list for eq", str("a = [1]"), ErrInvalidValue, "Invalid value for attribute a: = takes a single value, not a list"},
		{"str scalar for in", str("a in 1"), ErrInvalidValue, "in takes a list, not a single value"},
		{"str nested list", str("a in [[1]]"), ErrInvalidValue, "a list inside a list"},
		{"str list comma", str("a in [1 2]"), ErrSyntax, `expected ',' or ']'`},
		{"str keyword attr", str("and = 1"), ErrSyntax, "expected an attribute name"},
		{"str huge number", str("a = 1e999"), ErrSyntax, "not a finite number"},
		{"str bad utf8", str("a = '\xff'"), ErrSyntax, "not valid UTF-8"},
		{"str too deep", str(strings.Repeat("not ", MaxDepth) + "a=1"), ErrTooComplex, "nested deeper than 32"},
		{"str too deep parens", str(strings.Repeat("(", 100) + "a=1" + strings.Repeat(")", 100)), ErrTooComplex, "nested deeper"},
		{"str too many", str(manyS), ErrTooComplex, "more than 1000 expressions"},
		{"str too long", str(strings.Repeat(" ", MaxStringFilter+1)), ErrTooComplex, "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := tc.parse()
			if err == nil {
				t.Fatalf("parsed as %#v, want an error", e)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not contain %q", err, tc.substr)
			}
		})
	}
}

func js(s string) func() (Expr, error)  { return func() (Expr, error) { return ParseJSON([]byte(s)) } }
func str(s string) func() (Expr, error) { return func() (Expr, error) { return ParseString(s) } }

func TestCheck(t *testing.T) {
	if err := Check(Cmp{Op: "~", Attr: "a", Value: "x"}); !errors.Is(err, ErrSyntax) {
		t.Errorf("unknown op: %v", err)
	}
	if err := Check(Cmp{Op: OpEq, Attr: "a", Value: 3}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("int value: %v", err)
	}
	if err := Check(And{Cmp{OpEq, "a", "x"}, nil}); !errors.Is(err, ErrSyntax) {
		t.Errorf("nil operand: %v", err)
	}
	if err := Check(And{Cmp{OpEq, "a", "x"}, Not{In{"b", []any{"y", nil}}}}); err != nil {
		t.Errorf("valid tree: %v", err)
	}
}
