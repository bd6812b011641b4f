package search

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tOp  // comparison operator; op holds the canonical form
	tIn  // in
	tAnd // and, ∧
	tOr  // or, ∨
	tNot // not
	tNull
	tBool
	tString // quoted string
	tWord   // unquoted identifier or UUID, a string value or an attribute
	tNumber
)

type token struct {
	kind tokKind
	pos  int    // byte offset in the filter
	text string // source text, or the decoded string for tString
	op   Op
	b    bool
}

// keywords are the words the grammar reserves; an attribute so named must
// be quoted. Gnocchi spells null also None and none, and the booleans also
// True and False.
var keywords = map[string]tokKind{
	"and": tAnd, "or": tOr, "not": tNot, "in": tIn,
	"like": tOp, "eq": tOp, "ne": tOp, "lt": tOp, "le": tOp, "gt": tOp, "ge": tOp,
	"null": tNull, "None": tNull, "none": tNull,
	"true": tBool, "True": tBool, "false": tBool, "False": tBool,
}

// symbolOps is ordered so that a longer operator wins over its prefix.
var symbolOps = []string{">=", "<=", "!=", "==", "=", ">", "<", "≠", "≥", "≤"}

type lexer struct {
	src  string
	pos  int
	toks []token
}

// lex splits a query-string filter into tokens.
func lex(src string) ([]token, error) {
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrSyntax)
	}
	l := lexer{src: src}
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		l.toks = append(l.toks, t)
		if t.kind == tEOF {
			return l.toks, nil
		}
	}
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !unicode.IsSpace(r) {
			break
		}
		l.pos += n
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	rest := l.src[l.pos:]
	c := rest[0]
	switch c {
	case '(':
		l.pos++
		return token{kind: tLParen, pos: start, text: "("}, nil
	case ')':
		l.pos++
		return token{kind: tRParen, pos: start, text: ")"}, nil
	case '[':
		l.pos++
		return token{kind: tLBrack, pos: start, text: "["}, nil
	case ']':
		l.pos++
		return token{kind: tRBrack, pos: start, text: "]"}, nil
	case ',':
		l.pos++
		return token{kind: tComma, pos: start, text: ","}, nil
	case '\'', '"':
		return l.quoted(c)
	}
	for _, op := range symbolOps {
		if strings.HasPrefix(rest, op) {
			l.pos += len(op)
			return token{kind: tOp, pos: start, text: op, op: opSpellings[op]}, nil
		}
	}
	if strings.HasPrefix(rest, "∧") {
		l.pos += len("∧")
		return token{kind: tAnd, pos: start, text: "∧"}, nil
	}
	if strings.HasPrefix(rest, "∨") {
		l.pos += len("∨")
		return token{kind: tOr, pos: start, text: "∨"}, nil
	}
	if n := uuidLen(rest); n > 0 {
		l.pos += n
		return token{kind: tWord, pos: start, text: rest[:n]}, nil
	}
	if isIdentStart(c) {
		n := 1
		for n < len(rest) && isIdentChar(rest[n]) {
			n++
		}
		l.pos += n
		word := rest[:n]
		kind, kw := keywords[word]
		switch {
		case !kw:
			return token{kind: tWord, pos: start, text: word}, nil
		case kind == tOp:
			return token{kind: tOp, pos: start, text: word, op: opSpellings[word]}, nil
		case kind == tBool:
			return token{kind: tBool, pos: start, text: word, b: word == "true" || word == "True"}, nil
		default:
			return token{kind: kind, pos: start, text: word}, nil
		}
	}
	if n := numberLen(rest); n > 0 {
		l.pos += n
		lit := rest[:n]
		norm := normaliseNumber(lit)
		if _, err := parseNumber(norm); err != nil {
			return token{}, fmt.Errorf("%w: %s at char %d", ErrSyntax, err, start)
		}
		return token{kind: tNumber, pos: start, text: norm}, nil
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return token{}, fmt.Errorf("%w: unexpected character %q at char %d", ErrSyntax, r, start)
}

// quoted reads a string in single or double quotes. A doubled quote stands
// for one quote, as in SQL. A backslash is kept as is, as in Gnocchi's
// grammar, so that like escapes pass through untouched; unlike Gnocchi's
// pyparsing, \t and the like are not turned into whitespace, which keeps
// every string writable (whitespace may appear inside quotes as it is).
func (l *lexer) quoted(q byte) (token, error) {
	start := l.pos
	var b strings.Builder
	i := start + 1
	for {
		if i >= len(l.src) {
			return token{}, fmt.Errorf("%w: unterminated string starting at char %d", ErrSyntax, start)
		}
		c := l.src[i]
		switch {
		case c == q && i+1 < len(l.src) && l.src[i+1] == q:
			b.WriteByte(q)
			i += 2
		case c == q:
			l.pos = i + 1
			return token{kind: tString, pos: start, text: b.String()}, nil
		default:
			b.WriteByte(c)
			i++
		}
	}
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// uuidLen returns the length of an unquoted UUID at the start of s (32 hex
// digits grouped 8-4-4-4-12, dashes optional, as Gnocchi's grammar has it),
// or 0. Without this rule a UUID starting with a digit would lex as a number.
func uuidLen(s string) int {
	i := 0
	for g, size := range []int{8, 4, 4, 4, 12} {
		if g > 0 && i < len(s) && s[i] == '-' {
			i++
		}
		for k := 0; k < size; k++ {
			if i >= len(s) || !isHex(s[i]) {
				return 0
			}
			i++
		}
	}
	if i < len(s) && (isIdentChar(s[i]) || s[i] == '-') {
		return 0
	}
	return i
}

// numberLen returns the length of a number [+-]?\d+(\.\d*)?([eE][+-]?\d+)?
// at the start of s, or 0.
func numberLen(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	d := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == d {
		return 0
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > k {
			i = j
		}
	}
	return i
}

// normaliseNumber rewrites a number literal of the string grammar as a
// valid JSON number with the same value and digits ("+05." → "5"), so that
// both syntaxes give the same json.Number.
func normaliseNumber(lit string) string {
	sign := ""
	switch lit[0] {
	case '+':
		lit = lit[1:]
	case '-':
		sign, lit = "-", lit[1:]
	}
	intEnd := strings.IndexAny(lit, ".eE")
	if intEnd < 0 {
		intEnd = len(lit)
	}
	intPart, rest := strings.TrimLeft(lit[:intEnd], "0"), lit[intEnd:]
	if intPart == "" {
		intPart = "0"
	}
	if strings.HasPrefix(rest, ".") {
		fracEnd := strings.IndexAny(rest, "eE")
		if fracEnd < 0 {
			fracEnd = len(rest)
		}
		if fracEnd == 1 { // "5." or "5.e3": no fraction digits
			rest = rest[1:]
		}
	}
	return sign + intPart + rest
}
