package resources

import (
	"fmt"
	"strconv"
	"strings"
)

// Path is a compiled attribute path of gnocchi_resources.yaml: the subset
// of JSONPath (jsonpath-rw, as Ceilometer parses it) that the files use.
//
//	resource_metadata.display_name                   a field of a field
//	resource_metadata.(instance_host|host)           alternatives: the first that has a value
//	resource_metadata.(instance_type|(flavor.name))  an alternative may be a path
//	resource_metadata.'odd.key'                      a quoted field name
//	resource_metadata.fixed_ips[0].address           a list index (negative counts from the end)
//	$.resource_id                                    $ is the sample itself
//
// As in jsonpath-rw, '|' binds tighter than '.': a.b|c.d is a.(b|c).d.
// Other JSONPath syntax (wildcards, filters, '..', slices) is refused at
// load. A Path is immutable and safe for concurrent use.
type Path struct {
	src  string
	root *pathNode
}

type nodeKind uint8

const (
	nodeRoot  nodeKind = iota + 1 // $
	nodeField                     // name
	nodeIndex                     // [n]
	nodeChild                     // l.r (and l[n])
	nodeUnion                     // l|r
)

type pathNode struct {
	kind  nodeKind
	name  string
	index int
	l, r  *pathNode
}

// maxPathLen bounds a path's source, and so its depth: paths come from
// operators' files, but the parser must not be a way to exhaust the stack.
const maxPathLen = 1024

// ParsePath compiles a path.
func ParsePath(src string) (*Path, error) {
	if len(src) > maxPathLen {
		return nil, fmt.Errorf("path is %d bytes long, the most is %d", len(src), maxPathLen)
	}
	p := &pathParser{src: src}
	p.next()
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	return &Path{src: src, root: n}, nil
}

// String returns the path as written.
func (p *Path) String() string { return p.src }

// maxSteps bounds the nodes one First visits: alternatives over nested
// lists multiply, and the sample's shape comes from notifications.
const maxSteps = 10000

// First returns the first non-null value the path finds in v (the sample
// as a map: name, resource_id, user_id, project_id, source, type, unit,
// resource_metadata), as Ceilometer's Definition.parse does, and whether
// there is one. A walk that takes more than maxSteps steps finds nothing
// more.
func (p *Path) First(v any) (any, bool) {
	w := walker{root: v, steps: maxSteps}
	w.yield = func(x any) bool {
		if x == nil {
			return true
		}
		w.out, w.found = x, true
		return false
	}
	w.find(p.root, v, w.yield)
	return w.out, w.found
}

type walker struct {
	root  any
	steps int
	yield func(any) bool
	out   any
	found bool
}

// find calls yield with each match of n in v, in order, until yield
// returns false; it reports whether the walk should go on.
func (w *walker) find(n *pathNode, v any, yield func(any) bool) bool {
	if w.steps--; w.steps < 0 {
		return false
	}
	switch n.kind {
	case nodeRoot:
		return yield(w.root)
	case nodeField:
		m, ok := v.(map[string]any)
		if !ok {
			return true
		}
		x, ok := m[n.name]
		if !ok {
			return true
		}
		return yield(x)
	case nodeIndex:
		l, ok := v.([]any)
		if !ok {
			return true
		}
		i := n.index
		if i < 0 {
			i += len(l)
		}
		if i < 0 || i >= len(l) {
			return true
		}
		return yield(l[i])
	case nodeChild:
		return w.find(n.l, v, func(x any) bool { return w.find(n.r, x, yield) })
	case nodeUnion:
		return w.find(n.l, v, yield) && w.find(n.r, v, yield)
	}
	panic("BUG: unknown path node kind " + strconv.Itoa(int(n.kind)))
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokName
	tokDollar
	tokDot
	tokBar
	tokLParen
	tokRParen
	tokIndex // [n]
	tokBad
)

type token struct {
	kind  tokKind
	text  string
	index int
	pos   int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of path"
	case tokName:
		return fmt.Sprintf("name %q", t.text)
	case tokIndex:
		return fmt.Sprintf("index [%d]", t.index)
	}
	return fmt.Sprintf("%q", t.text)
}

type pathParser struct {
	src string
	pos int
	tok token
	err error
}

func (p *pathParser) errorf(format string, args ...any) error {
	if p.err != nil {
		return p.err
	}
	return fmt.Errorf("path %q, at byte %d: %s", p.src, p.tok.pos, fmt.Sprintf(format, args...))
}

func isNameByte(c byte, first bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '@' ||
		!first && (c >= '0' && c <= '9' || c == '-')
}

// next reads the next token into p.tok; a lexical error sets p.err and a
// tokBad token.
func (p *pathParser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return
	}
	c := p.src[p.pos]
	if k := punctuation(c); k != tokBad {
		p.pos++
		if c == '.' && p.pos < len(p.src) && p.src[p.pos] == '.' {
			p.bad(start, "'..' (recursive descent) is not supported")
			return
		}
		p.tok = token{kind: k, text: string(c), pos: start}
		return
	}
	switch {
	case isNameByte(c, true):
		for p.pos < len(p.src) && isNameByte(p.src[p.pos], false) {
			p.pos++
		}
		p.tok = token{kind: tokName, text: p.src[start:p.pos], pos: start}
	case c == '\'' || c == '"':
		end := strings.IndexByte(p.src[p.pos+1:], c)
		if end < 0 {
			p.bad(start, "unterminated quoted name")
			return
		}
		p.tok = token{kind: tokName, text: p.src[p.pos+1 : p.pos+1+end], pos: start}
		p.pos += end + 2
	case c == '[':
		end := strings.IndexByte(p.src[p.pos:], ']')
		if end < 0 {
			p.bad(start, "unterminated '['")
			return
		}
		body := strings.TrimSpace(p.src[p.pos+1 : p.pos+end])
		i, err := strconv.Atoi(body)
		if err != nil || len(body) > 9 {
			p.bad(start, fmt.Sprintf("[%s] is not supported: only a list index such as [0] or [-1] is", body))
			return
		}
		p.tok = token{kind: tokIndex, text: p.src[start : p.pos+end+1], index: i, pos: start}
		p.pos += end + 1
	default:
		p.bad(start, fmt.Sprintf("%q is not supported: a path is names joined by '.', alternatives in (a|b) and list indexes [n]", c))
	}
}

func punctuation(c byte) tokKind {
	switch c {
	case '$':
		return tokDollar
	case '.':
		return tokDot
	case '|':
		return tokBar
	case '(':
		return tokLParen
	case ')':
		return tokRParen
	}
	return tokBad
}

func (p *pathParser) bad(pos int, msg string) {
	p.tok = token{kind: tokBad, pos: pos}
	p.err = fmt.Errorf("path %q, at byte %d: %s", p.src, pos, msg)
	p.pos = len(p.src)
}

// expr := union ('.' union)*
func (p *pathParser) expr() (*pathNode, error) {
	n, err := p.union()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokDot {
		p.next()
		r, err := p.union()
		if err != nil {
			return nil, err
		}
		n = &pathNode{kind: nodeChild, l: n, r: r}
	}
	return n, nil
}

// union := postfix ('|' postfix)*
func (p *pathParser) union() (*pathNode, error) {
	n, err := p.postfix()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokBar {
		p.next()
		r, err := p.postfix()
		if err != nil {
			return nil, err
		}
		n = &pathNode{kind: nodeUnion, l: n, r: r}
	}
	return n, nil
}

// postfix := atom index*
func (p *pathParser) postfix() (*pathNode, error) {
	n, err := p.atom()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokIndex {
		n = &pathNode{kind: nodeChild, l: n, r: &pathNode{kind: nodeIndex, index: p.tok.index}}
		p.next()
	}
	return n, nil
}

// atom := name | '$' | '(' expr ')'
func (p *pathParser) atom() (*pathNode, error) {
	switch p.tok.kind {
	case tokName:
		n := &pathNode{kind: nodeField, name: p.tok.text}
		p.next()
		return n, nil
	case tokDollar:
		p.next()
		return &pathNode{kind: nodeRoot}, nil
	case tokLParen:
		p.next()
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.errorf("want ')', got %s", p.tok)
		}
		p.next()
		return n, nil
	}
	return nil, p.errorf("want a name, '$' or '(', got %s", p.tok)
}
