package notify

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Ceilometer matches meters.yaml event types with Python's re.match: a
// regular expression anchored at the start only, whose default definitions
// use negative lookahead (`compute.instance.(?!create.start|update).*`),
// which Go's RE2 lacks. A pattern without lookaround compiles to RE2; one
// with it runs on pyRegex, a small backtracking matcher of Python's syntax
// with a step budget, since backtracking can be exponential.

// eventMatcher reports whether an event type matches a pattern.
type eventMatcher interface {
	match(s string) bool
}

type re2Matcher struct{ re *regexp.Regexp }

func (m re2Matcher) match(s string) bool { return m.re.MatchString(s) }

// compileEventPattern compiles a meters.yaml event_type pattern.
func compileEventPattern(pat string) (eventMatcher, error) {
	if len(pat) > 1024 {
		return nil, fmt.Errorf("pattern is %d bytes, the limit is 1024", len(pat))
	}
	if !strings.Contains(pat, "(?=") && !strings.Contains(pat, "(?!") && !strings.Contains(pat, "(?<") {
		re, err := regexp.Compile(`^(?:` + strings.ReplaceAll(pat, `\Z`, `\z`) + `)`)
		if err == nil {
			return re2Matcher{re}, nil
		}
	}
	r, err := compilePyRegex(pat)
	if err != nil {
		return nil, fmt.Errorf("cannot compile %q: %w", pat, err)
	}
	return r, nil
}

type rkind uint8

const (
	rLit rkind = iota
	rAny
	rClass
	rSeq
	rAlt
	rGroup
	rLookahead
	rNegLookahead
	rRepeat
	rStart // ^ \A
	rEnd   // $
	rEndZ  // \Z
	rWordB
	rNotWordB
)

type rnode struct {
	kind     rkind
	r        rune
	class    *rclass
	subs     []*rnode
	min, max int // max < 0: unbounded
	lazy     bool
}

type rclass struct {
	negate bool
	ranges []rune // pairs lo, hi
	fns    []func(rune) bool
}

func (c *rclass) has(r rune) bool {
	in := false
	for i := 0; i+1 < len(c.ranges); i += 2 {
		if r >= c.ranges[i] && r <= c.ranges[i+1] {
			in = true
			break
		}
	}
	if !in {
		for _, f := range c.fns {
			if f(r) {
				in = true
				break
			}
		}
	}
	return in != c.negate
}

// pyRegex is a compiled pattern. It is immutable; match is safe for
// concurrent use.
type pyRegex struct {
	root *rnode
}

// maxRegexSteps bounds one match.
const maxRegexSteps = 200000

type rparser struct {
	src   []rune
	pos   int
	depth int
}

func compilePyRegex(pat string) (*pyRegex, error) {
	p := &rparser{src: []rune(pat)}
	n, err := p.alt()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, fmt.Errorf("unbalanced ')' at %d", p.pos)
	}
	return &pyRegex{root: n}, nil
}

func (p *rparser) peek() (rune, bool) {
	if p.pos < len(p.src) {
		return p.src[p.pos], true
	}
	return 0, false
}

func (p *rparser) alt() (*rnode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return nil, errors.New("pattern nested too deeply")
	}
	var alts []*rnode
	for {
		s, err := p.seq()
		if err != nil {
			return nil, err
		}
		alts = append(alts, s)
		if c, ok := p.peek(); !ok || c != '|' {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &rnode{kind: rAlt, subs: alts}, nil
}

func (p *rparser) seq() (*rnode, error) {
	s := &rnode{kind: rSeq}
	for {
		c, ok := p.peek()
		if !ok || c == '|' || c == ')' {
			return s, nil
		}
		atom, err := p.atom()
		if err != nil {
			return nil, err
		}
		if atom, err = p.quantifier(atom); err != nil {
			return nil, err
		}
		s.subs = append(s.subs, atom)
	}
}

func (p *rparser) atom() (*rnode, error) {
	c := p.src[p.pos]
	p.pos++
	switch c {
	case '.':
		return &rnode{kind: rAny}, nil
	case '^':
		return &rnode{kind: rStart}, nil
	case '$':
		return &rnode{kind: rEnd}, nil
	case '[':
		cl, err := p.class()
		if err != nil {
			return nil, err
		}
		return &rnode{kind: rClass, class: cl}, nil
	case '(':
		kind := rGroup
		if p.pos < len(p.src) && p.src[p.pos] == '?' {
			p.pos++
			c2, ok := p.peek()
			if !ok {
				return nil, errors.New("unterminated group")
			}
			switch c2 {
			case ':':
				p.pos++
			case '=':
				p.pos++
				kind = rLookahead
			case '!':
				p.pos++
				kind = rNegLookahead
			case 'P':
				end := -1
				for j := p.pos; j < len(p.src); j++ {
					if p.src[j] == '>' {
						end = j
						break
					}
				}
				if p.pos+1 >= len(p.src) || p.src[p.pos+1] != '<' || end < 0 {
					return nil, errors.New("only (?P<name>...) groups are supported")
				}
				p.pos = end + 1
			case '<':
				return nil, errors.New("lookbehind is not supported")
			default:
				return nil, fmt.Errorf("group (?%c is not supported", c2)
			}
		}
		n, err := p.alt()
		if err != nil {
			return nil, err
		}
		if c, ok := p.peek(); !ok || c != ')' {
			return nil, errors.New("missing ')'")
		}
		p.pos++
		return &rnode{kind: kind, subs: []*rnode{n}}, nil
	case '\\':
		return p.escape(false)
	case '*', '+', '?', '{':
		if c == '{' {
			return &rnode{kind: rLit, r: c}, nil // Python: a brace that starts no quantifier is literal
		}
		return nil, fmt.Errorf("nothing to repeat at %d", p.pos-1)
	}
	return &rnode{kind: rLit, r: c}, nil
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (p *rparser) escape(inClass bool) (*rnode, error) {
	if p.pos >= len(p.src) {
		return nil, errors.New("trailing backslash")
	}
	c := p.src[p.pos]
	p.pos++
	cls := func(neg bool, f func(rune) bool) (*rnode, error) {
		return &rnode{kind: rClass, class: &rclass{negate: neg, fns: []func(rune) bool{f}}}, nil
	}
	switch c {
	case 'd':
		return cls(false, unicode.IsDigit)
	case 'D':
		return cls(true, unicode.IsDigit)
	case 'w':
		return cls(false, isWordRune)
	case 'W':
		return cls(true, isWordRune)
	case 's':
		return cls(false, unicode.IsSpace)
	case 'S':
		return cls(true, unicode.IsSpace)
	case 'n':
		return &rnode{kind: rLit, r: '\n'}, nil
	case 't':
		return &rnode{kind: rLit, r: '\t'}, nil
	case 'r':
		return &rnode{kind: rLit, r: '\r'}, nil
	case 'f':
		return &rnode{kind: rLit, r: '\f'}, nil
	case 'v':
		return &rnode{kind: rLit, r: '\v'}, nil
	}
	if !inClass {
		switch c {
		case 'A':
			return &rnode{kind: rStart}, nil
		case 'Z':
			return &rnode{kind: rEndZ}, nil
		case 'b':
			return &rnode{kind: rWordB}, nil
		case 'B':
			return &rnode{kind: rNotWordB}, nil
		}
	}
	if c >= '0' && c <= '9' {
		return nil, errors.New("backreferences are not supported")
	}
	if unicode.IsLetter(c) {
		return nil, fmt.Errorf("bad escape \\%c", c)
	}
	return &rnode{kind: rLit, r: c}, nil
}

func (p *rparser) class() (*rclass, error) {
	cl := &rclass{}
	if c, ok := p.peek(); ok && c == '^' {
		cl.negate = true
		p.pos++
	}
	first := true
	for {
		c, ok := p.peek()
		if !ok {
			return nil, errors.New("unterminated character set")
		}
		if c == ']' && !first {
			p.pos++
			return cl, nil
		}
		first = false
		p.pos++
		lo := c
		if c == '\\' {
			n, err := p.escape(true)
			if err != nil {
				return nil, err
			}
			if n.kind == rClass {
				cl.fns = append(cl.fns, n.class.has)
				continue
			}
			lo = n.r
		}
		hi := lo
		if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
			p.pos++
			hi = p.src[p.pos]
			p.pos++
			if hi == '\\' {
				n, err := p.escape(true)
				if err != nil {
					return nil, err
				}
				if n.kind != rLit {
					return nil, errors.New("bad character range")
				}
				hi = n.r
			}
			if hi < lo {
				return nil, errors.New("bad character range")
			}
		}
		cl.ranges = append(cl.ranges, lo, hi)
	}
}

func (p *rparser) quantifier(atom *rnode) (*rnode, error) {
	c, ok := p.peek()
	if !ok {
		return atom, nil
	}
	min, max := 0, 0
	switch c {
	case '*':
		min, max = 0, -1
		p.pos++
	case '+':
		min, max = 1, -1
		p.pos++
	case '?':
		min, max = 0, 1
		p.pos++
	case '{':
		end := -1
		for j := p.pos; j < len(p.src) && j < p.pos+20; j++ {
			if p.src[j] == '}' {
				end = j
				break
			}
		}
		if end < 0 {
			return atom, nil
		}
		body := string(p.src[p.pos+1 : end])
		lo, hi, hasComma := strings.Cut(body, ",")
		var err1, err2 error
		if lo == "" {
			min = 0
		} else {
			min, err1 = strconv.Atoi(lo)
		}
		switch {
		case !hasComma:
			max = min
		case hi == "":
			max = -1
		default:
			max, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil {
			return atom, nil // not a quantifier: Python takes it literally
		}
		if min > 1000 || max > 1000 || (max >= 0 && max < min) {
			return nil, fmt.Errorf("bad repeat {%s}", body)
		}
		p.pos = end + 1
	default:
		return atom, nil
	}
	switch atom.kind {
	case rStart, rEnd, rEndZ, rWordB, rNotWordB:
		return nil, errors.New("nothing to repeat")
	}
	n := &rnode{kind: rRepeat, subs: []*rnode{atom}, min: min, max: max}
	if c, ok := p.peek(); ok && c == '?' {
		n.lazy = true
		p.pos++
	}
	if c, ok := p.peek(); ok && (c == '*' || c == '+' || c == '?') {
		return nil, errors.New("multiple repeat")
	}
	return n, nil
}

// matchRun is one match attempt.
type matchRun struct {
	s     []rune
	steps int
}

func (r *pyRegex) match(s string) bool {
	m := &matchRun{s: []rune(s)}
	return m.node(r.root, 0, func(int) bool { return true })
}

func (m *matchRun) node(n *rnode, i int, k func(int) bool) bool {
	m.steps++
	if m.steps > maxRegexSteps {
		return false
	}
	switch n.kind {
	case rLit:
		return i < len(m.s) && m.s[i] == n.r && k(i+1)
	case rAny:
		return i < len(m.s) && m.s[i] != '\n' && k(i+1)
	case rClass:
		return i < len(m.s) && n.class.has(m.s[i]) && k(i+1)
	case rSeq:
		return m.seq(n.subs, i, k)
	case rAlt:
		for _, a := range n.subs {
			if m.node(a, i, k) {
				return true
			}
			if m.steps > maxRegexSteps {
				return false
			}
		}
		return false
	case rGroup:
		return m.node(n.subs[0], i, k)
	case rLookahead:
		return m.node(n.subs[0], i, func(int) bool { return true }) && k(i)
	case rNegLookahead:
		if m.node(n.subs[0], i, func(int) bool { return true }) {
			return false
		}
		return m.steps <= maxRegexSteps && k(i)
	case rRepeat:
		return m.repeat(n, i, 0, -1, k)
	case rStart:
		return i == 0 && k(i)
	case rEnd:
		return (i == len(m.s) || (i == len(m.s)-1 && m.s[i] == '\n')) && k(i)
	case rEndZ:
		return i == len(m.s) && k(i)
	case rWordB, rNotWordB:
		before := i > 0 && isWordRune(m.s[i-1])
		after := i < len(m.s) && isWordRune(m.s[i])
		return ((before != after) == (n.kind == rWordB)) && k(i)
	}
	panic("BUG: unknown regex node")
}

func (m *matchRun) seq(subs []*rnode, i int, k func(int) bool) bool {
	if len(subs) == 0 {
		return k(i)
	}
	return m.node(subs[0], i, func(j int) bool { return m.seq(subs[1:], j, k) })
}

// repeat matches the count-th repetition onwards; last is where the
// previous one ended, so that an empty repetition does not loop.
func (m *matchRun) repeat(n *rnode, i, count, last int, k func(int) bool) bool {
	if m.steps > maxRegexSteps {
		return false
	}
	more := func() bool {
		if (n.max >= 0 && count >= n.max) || i == last {
			return false
		}
		return m.node(n.subs[0], i, func(j int) bool { return m.repeat(n, j, count+1, i, k) })
	}
	if count < n.min {
		if i == last && count > 0 {
			return k(i) // empty repetitions satisfy the minimum
		}
		return m.node(n.subs[0], i, func(j int) bool { return m.repeat(n, j, count+1, i, k) })
	}
	if n.lazy {
		return k(i) || more()
	}
	return more() || k(i)
}
