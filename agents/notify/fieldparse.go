package notify

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

type ftokKind uint8

const (
	tEOF ftokKind = iota
	tRoot
	tThis
	tIdent
	tQuoted
	tNumber
	tNamed // `...`
	tDot
	tDotDot
	tLBracket
	tRBracket
	tLParen
	tRParen
	tPipe
	tComma
	tAmp
	tStar
	tPlus
	tMinus
	tSlash
	tQuestion
	tColon
	tCompare // = == != < <= > >= =~
)

type ftok struct {
	kind ftokKind
	text string
	pos  int
}

func (t ftok) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q at offset %d", t.text, t.pos)
}

type flexer struct {
	src string
	pos int
}

func isIdentByte(c byte, first bool) bool {
	switch {
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
		return true
	case c >= '0' && c <= '9' || c == '-':
		return !first
	}
	return false
}

func (l *flexer) next() (ftok, error) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return ftok{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	one := func(k ftokKind) (ftok, error) {
		l.pos++
		return ftok{kind: k, text: l.src[start:l.pos], pos: start}, nil
	}
	switch c {
	case '$':
		return one(tRoot)
	case '@':
		return one(tThis)
	case '.':
		if l.pos+1 < len(l.src) && l.src[l.pos+1] == '.' {
			l.pos += 2
			return ftok{kind: tDotDot, text: "..", pos: start}, nil
		}
		return one(tDot)
	case '[':
		return one(tLBracket)
	case ']':
		return one(tRBracket)
	case '(':
		return one(tLParen)
	case ')':
		return one(tRParen)
	case '|':
		return one(tPipe)
	case ',':
		return one(tComma)
	case '&':
		return one(tAmp)
	case '*':
		return one(tStar)
	case '+':
		return one(tPlus)
	case '/':
		return one(tSlash)
	case '?':
		return one(tQuestion)
	case ':':
		return one(tColon)
	case '=', '!', '<', '>':
		l.pos++
		if l.pos < len(l.src) && (l.src[l.pos] == '=' || (c == '=' && l.src[l.pos] == '~')) {
			l.pos++
		}
		t := l.src[start:l.pos]
		if t == "!" {
			return ftok{}, fmt.Errorf("unexpected '!' at offset %d", start)
		}
		return ftok{kind: tCompare, text: t, pos: start}, nil
	case '\'', '"':
		var b strings.Builder
		l.pos++
		for l.pos < len(l.src) && l.src[l.pos] != c {
			if l.src[l.pos] == '\\' && l.pos+1 < len(l.src) {
				l.pos++
			}
			b.WriteByte(l.src[l.pos])
			l.pos++
		}
		if l.pos >= len(l.src) {
			return ftok{}, fmt.Errorf("unterminated string starting at offset %d", start)
		}
		l.pos++
		return ftok{kind: tQuoted, text: b.String(), pos: start}, nil
	case '`':
		end := strings.IndexByte(l.src[l.pos+1:], '`')
		if end < 0 {
			return ftok{}, fmt.Errorf("unterminated ` starting at offset %d", start)
		}
		l.pos += end + 2
		return ftok{kind: tNamed, text: l.src[start+1 : l.pos-1], pos: start}, nil
	case '-':
		// A minus is an operator or a number's sign: the parser decides.
		return one(tMinus)
	}
	if c >= '0' && c <= '9' {
		for l.pos < len(l.src) && (l.src[l.pos] >= '0' && l.src[l.pos] <= '9' || l.src[l.pos] == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9') {
			l.pos++
		}
		return ftok{kind: tNumber, text: l.src[start:l.pos], pos: start}, nil
	}
	if isIdentByte(c, true) {
		for l.pos < len(l.src) && isIdentByte(l.src[l.pos], false) {
			l.pos++
		}
		return ftok{kind: tIdent, text: l.src[start:l.pos], pos: start}, nil
	}
	return ftok{}, fmt.Errorf("unexpected character %q at offset %d", c, start)
}

type fparser struct {
	lex   flexer
	tok   ftok
	depth int
	// inFilter > 0 while parsing a filter's path, where '&' means "and"
	// and ends the path.
	inFilter int
}

func (p *fparser) next() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *fparser) errorf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// Binding powers, loosest first, as jsonpath-rw(-ext)'s precedence table.
func infixPower(k ftokKind) int {
	switch k {
	case tPlus, tMinus:
		return 10
	case tStar, tSlash:
		return 20
	case tComma:
		return 30
	case tDotDot:
		return 40
	case tDot, tLBracket:
		return 50
	case tPipe:
		return 60
	case tAmp:
		return 70
	}
	return 0
}

func (p *fparser) expr(minPower int) (fnode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxFieldExprDepth {
		return nil, p.errorf("expression nested deeper than %d", maxFieldExprDepth)
	}
	left, err := p.prefix()
	if err != nil {
		return nil, err
	}
	for {
		k := p.tok.kind
		if k == tIdent && p.tok.text == "where" {
			return nil, p.errorf("'where' at offset %d is not supported", p.tok.pos)
		}
		pw := infixPower(k)
		if k == tAmp && p.inFilter > 0 {
			pw = 0
		}
		if pw == 0 || pw <= minPower {
			return left, nil
		}
		if k == tLBracket {
			br, err := p.bracket()
			if err != nil {
				return nil, err
			}
			left = &fchild{left, br}
			continue
		}
		opTok := p.tok
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.expr(pw)
		if err != nil {
			return nil, err
		}
		switch k {
		case tDot:
			left = &fchild{left, right}
		case tDotDot:
			left = &fdescendant{left, right}
		case tPipe, tComma:
			left = &funion{left, right}
		case tPlus, tMinus, tStar, tSlash:
			left = &farith{op: opTok.text[0], left: left, right: right}
		case tAmp:
			return nil, p.errorf("'&' (intersection) at offset %d is not supported", opTok.pos)
		}
	}
}

func (p *fparser) prefix() (fnode, error) {
	t := p.tok
	switch t.kind {
	case tRoot:
		return rootNode{}, p.next()
	case tThis:
		return thisNode{}, p.next()
	case tIdent:
		if t.text == "where" {
			return nil, p.errorf("'where' at offset %d is not supported", t.pos)
		}
		return fieldNode{name: t.text}, p.next()
	case tStar:
		return fieldNode{name: "*"}, p.next()
	case tQuoted:
		return fieldNode{name: t.text, quoted: true}, p.next()
	case tNumber, tMinus:
		return p.number()
	case tNamed:
		n, err := parseNamed(t.text)
		if err != nil {
			return nil, fmt.Errorf("`%s` at offset %d: %w", t.text, t.pos, err)
		}
		return n, p.next()
	case tLParen:
		if err := p.next(); err != nil {
			return nil, err
		}
		n, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errorf("want ')' for '(' at offset %d, got %s", t.pos, p.tok)
		}
		return n, p.next()
	case tLBracket:
		// A bracket at the start applies to the current value.
		br, err := p.bracket()
		if err != nil {
			return nil, err
		}
		return &fchild{thisNode{}, br}, nil
	case tEOF:
		return nil, p.errorf("expression ends where a value is expected")
	}
	return nil, p.errorf("unexpected %s", t)
}

func (p *fparser) number() (fnode, error) {
	neg := false
	start := p.tok.pos
	if p.tok.kind == tMinus {
		neg = true
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tNumber {
			return nil, p.errorf("'-' at offset %d must start a number here", start)
		}
	}
	text := p.tok.text
	if neg {
		text = "-" + text
	}
	var v any
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		v = i
	} else if f, err := strconv.ParseFloat(text, 64); err == nil {
		v = f
	} else {
		return nil, p.errorf("bad number %q at offset %d", text, start)
	}
	return literalNode{v}, p.next()
}

// bracket parses [...] with the current token on '['.
func (p *fparser) bracket() (fnode, error) {
	open := p.tok.pos
	if err := p.next(); err != nil {
		return nil, err
	}
	var n fnode
	switch p.tok.kind {
	case tStar:
		n = sliceNode{}
		if err := p.next(); err != nil {
			return nil, err
		}
	case tQuestion:
		if err := p.next(); err != nil {
			return nil, err
		}
		f, err := p.filter()
		if err != nil {
			return nil, err
		}
		n = f
	case tQuoted:
		n = fieldNode{name: p.tok.text, quoted: true}
		if err := p.next(); err != nil {
			return nil, err
		}
	default:
		s, err := p.indexOrSlice()
		if err != nil {
			return nil, err
		}
		n = s
	}
	if p.tok.kind != tRBracket {
		return nil, p.errorf("want ']' for '[' at offset %d, got %s", open, p.tok)
	}
	return n, p.next()
}

func (p *fparser) optInt() (int, bool, error) {
	neg := false
	if p.tok.kind == tMinus {
		neg = true
		if err := p.next(); err != nil {
			return 0, false, err
		}
	}
	if p.tok.kind != tNumber {
		if neg {
			return 0, false, p.errorf("want a number after '-', got %s", p.tok)
		}
		return 0, false, nil
	}
	i, err := strconv.Atoi(p.tok.text)
	if err != nil || i > 1<<30 {
		return 0, false, p.errorf("bad index %s", p.tok)
	}
	if neg {
		i = -i
	}
	return i, true, p.next()
}

func (p *fparser) indexOrSlice() (fnode, error) {
	start, hasStart, err := p.optInt()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tColon {
		if !hasStart {
			return nil, p.errorf("want an index, '*', '?' or a slice in brackets, got %s", p.tok)
		}
		return indexNode{start}, nil
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	end, hasEnd, err := p.optInt()
	if err != nil {
		return nil, err
	}
	return sliceNode{start: start, end: end, hasStart: hasStart, hasEnd: hasEnd}, nil
}

// filter parses the conditions after '[?', with or without parentheses.
func (p *fparser) filter() (fnode, error) {
	paren := false
	if p.tok.kind == tLParen {
		paren = true
		if err := p.next(); err != nil {
			return nil, err
		}
	}
	var f filterNode
	for {
		p.inFilter++
		path, err := p.expr(0) // ends at '&', ')', ']' or a comparison
		p.inFilter--
		if err != nil {
			return nil, err
		}
		c := fcond{path: path}
		if p.tok.kind == tCompare {
			c.op = p.tok.text
			if err := p.next(); err != nil {
				return nil, err
			}
			if c.val, err = p.filterValue(); err != nil {
				return nil, err
			}
			if c.op == "=~" {
				s, ok := c.val.(string)
				if !ok {
					return nil, p.errorf("=~ needs a regular expression string")
				}
				if c.re, err = regexp.Compile(s); err != nil {
					return nil, p.errorf("=~ %q: %v", s, err)
				}
			}
		}
		f.conds = append(f.conds, c)
		if p.tok.kind != tAmp {
			break
		}
		if err := p.next(); err != nil {
			return nil, err
		}
	}
	if paren {
		if p.tok.kind != tRParen {
			return nil, p.errorf("want ')' closing the filter, got %s", p.tok)
		}
		if err := p.next(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// filterValue reads the right side of a comparison: a number, a quoted
// string, true, false, null, or a bare word taken as a string
// ([?key=image_id]).
func (p *fparser) filterValue() (any, error) {
	t := p.tok
	switch t.kind {
	case tQuoted:
		return t.text, p.next()
	case tNumber, tMinus:
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		f, _ := toNumber(n.(literalNode).v)
		return f, nil
	case tIdent:
		// A bare word may run on with dots and dashes: [?name=cpu.frequency].
		word := t.text
		if err := p.next(); err != nil {
			return nil, err
		}
		for p.tok.kind == tDot && p.lex.pos < len(p.lex.src) {
			if err := p.next(); err != nil {
				return nil, err
			}
			if p.tok.kind != tIdent && p.tok.kind != tNumber {
				return nil, p.errorf("bad value after %q", word)
			}
			word += "." + p.tok.text
			if err := p.next(); err != nil {
				return nil, err
			}
		}
		switch word {
		case "true", "True":
			return true, nil
		case "false", "False":
			return false, nil
		case "null", "None":
			return nil, nil
		}
		return word, nil
	}
	return nil, p.errorf("want a value after the comparison, got %s", t)
}

var (
	subRe   = regexp.MustCompile(`^sub\(/(.*)/,\s*(.*)\)$`)
	splitRe = regexp.MustCompile(`^split\((.+?),\s*(-?\d+),\s*(-?\d+)\)$`)
)

func parseNamed(s string) (fnode, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "this", "len", "sorted":
		return &namedNode{name: s}, nil
	case "str()", "str":
		return &namedNode{name: "str"}, nil
	}
	if m := subRe.FindStringSubmatch(s); m != nil {
		re, err := regexp.Compile(m[1])
		if err != nil {
			return nil, fmt.Errorf("cannot compile /%s/: %w", m[1], err)
		}
		return &namedNode{name: "sub", re: re, repl: pyReplacement(strings.TrimSpace(m[2]))}, nil
	}
	if m := splitRe.FindStringSubmatch(s); m != nil {
		sep := m[1]
		if len(sep) >= 2 && (sep[0] == '\'' || sep[0] == '"') && sep[len(sep)-1] == sep[0] {
			sep = sep[1 : len(sep)-1]
		}
		if sep == "" {
			return nil, fmt.Errorf("empty separator")
		}
		seg, err1 := strconv.Atoi(m[2])
		maxSplit, err2 := strconv.Atoi(m[3])
		if err1 != nil || err2 != nil || seg < 0 || seg > 1<<20 || maxSplit < -1 || maxSplit > 1<<20 {
			return nil, fmt.Errorf("bad segment or max_split")
		}
		return &namedNode{name: "split", sep: sep, segment: seg, maxSplit: maxSplit}, nil
	}
	return nil, fmt.Errorf("unknown operator: want this, len, str(), sorted, sub(/re/, repl) or split(c, segment, max_split)")
}

// pyReplacement turns a Python re.sub replacement (\1, \g<name>) into Go's.
func pyReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${" + s[i+1:i+2] + "}")
			i++
		case c == '\\' && i+2 < len(s) && s[i+1] == 'g' && s[i+2] == '<':
			end := strings.IndexByte(s[i+3:], '>')
			if end < 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteString("${" + s[i+3:i+3+end] + "}")
			i += 3 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
