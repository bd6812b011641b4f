package index

// Archive policy rules match metric names with Python's fnmatch, as Gnocchi
// does: '*' matches any run of characters (dots and slashes included), '?'
// one character, "[seq]" one character of seq and "[!seq]" one not in it,
// with "a-z" ranges; a reversed range matches nothing, an unclosed '[' is a
// literal, and a backslash is an ordinary character. Matching is
// case-sensitive and covers the whole name. path.Match differs on each of
// '/', '\\' and "[!…]", which is why the index does not use it.

type globKind uint8

const (
	globRune globKind = iota
	globAny
	globStar
	globClass
)

type globRange struct{ lo, hi rune }

type globTok struct {
	kind   globKind
	r      rune
	neg    bool
	ranges []globRange
}

func (t *globTok) matches(c rune) bool {
	switch t.kind {
	case globRune:
		return c == t.r
	case globAny:
		return true
	case globClass:
		in := false
		for _, rg := range t.ranges {
			if rg.lo <= c && c <= rg.hi {
				in = true
				break
			}
		}
		return in != t.neg
	}
	return false
}

// compileGlob parses an fnmatch pattern; every string is a valid pattern.
func compileGlob(pat string) []globTok {
	p := []rune(pat)
	var toks []globTok
	for i := 0; i < len(p); {
		c := p[i]
		i++
		switch c {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != globStar {
				toks = append(toks, globTok{kind: globStar})
			}
		case '?':
			toks = append(toks, globTok{kind: globAny})
		case '[':
			j := i
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				toks = append(toks, globTok{kind: globRune, r: '['})
				continue
			}
			toks = append(toks, parseClass(p[i:j]))
			i = j + 1
		default:
			toks = append(toks, globTok{kind: globRune, r: c})
		}
	}
	return toks
}

// parseClass reads the inside of a bracket expression: an optional '!',
// then single characters and lo-hi ranges, where a '-' first or last is a
// literal.
func parseClass(body []rune) globTok {
	t := globTok{kind: globClass}
	if len(body) > 0 && body[0] == '!' {
		t.neg = true
		body = body[1:]
	}
	for k := 0; k < len(body); {
		c := body[k]
		if k+2 < len(body) && body[k+1] == '-' {
			if c <= body[k+2] {
				t.ranges = append(t.ranges, globRange{c, body[k+2]})
			}
			k += 3
			continue
		}
		t.ranges = append(t.ranges, globRange{c, c})
		k++
	}
	return t
}

// fnmatch reports whether name matches pattern with Python's fnmatch.
func fnmatch(pattern, name string) bool {
	return matchGlob(compileGlob(pattern), []rune(name))
}

func matchGlob(toks []globTok, s []rune) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for si < len(s) {
		if ti < len(toks) {
			switch t := &toks[ti]; {
			case t.kind == globStar:
				starT, starS = ti, si
				ti++
				continue
			case t.matches(s[si]):
				ti++
				si++
				continue
			}
		}
		if starT < 0 {
			return false
		}
		starS++
		ti, si = starT+1, starS
	}
	for ti < len(toks) && toks[ti].kind == globStar {
		ti++
	}
	return ti == len(toks)
}
