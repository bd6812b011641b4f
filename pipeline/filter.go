package pipeline

import (
	"fmt"
	"strings"
)

// MeterFilter selects meter names the way a Ceilometer source's `meters`
// list does. Entries are fnmatch globs (`*`, `?`, `[seq]`, `[!seq]`); an
// entry starting with `!` excludes. A name matching any exclusion is
// rejected; otherwise one matching any inclusion is accepted; otherwise it
// is accepted only when every entry is an exclusion. An empty list accepts
// everything. A MeterFilter is immutable and safe for concurrent use.
type MeterFilter struct {
	include []string
	exclude []string
}

// NewMeterFilter validates patterns with Ceilometer's rules: no empty
// entry, inclusions and exclusions not mixed, and `*` not mixed with
// named inclusions.
func NewMeterFilter(patterns []string) (*MeterFilter, error) {
	f := &MeterFilter{}
	var named, wildcard bool
	for i, p := range patterns {
		switch {
		case p == "" || p == "!":
			return nil, fmt.Errorf("meter pattern %d is empty", i)
		case p[0] == '!':
			f.exclude = append(f.exclude, p[1:])
		default:
			// Ceilometer counts an entry starting with '*' (such as
			// "*.bytes") as neither a named inclusion nor an exclusion.
			if p == "*" {
				wildcard = true
			} else if p[0] != '*' {
				named = true
			}
			f.include = append(f.include, p)
		}
	}
	if named && len(f.exclude) > 0 {
		return nil, fmt.Errorf("meter patterns %s: both included and excluded meters specified", strings.Join(patterns, ", "))
	}
	if named && wildcard {
		return nil, fmt.Errorf("meter patterns %s: included meters specified with wildcard", strings.Join(patterns, ", "))
	}
	return f, nil
}

// Match reports whether the filter accepts the meter name.
func (f *MeterFilter) Match(name string) bool {
	for _, p := range f.exclude {
		if globMatch(p, name) {
			return false
		}
	}
	for _, p := range f.include {
		if globMatch(p, name) {
			return true
		}
	}
	return len(f.include) == 0
}

// globMatch reports whether name matches the fnmatch pattern, byte by
// byte (meter names are ASCII) and case-sensitively, as Python's fnmatch
// does on POSIX. A '[' without a closing ']' matches itself. It runs in
// O(len(pattern)·len(name)) by backtracking only to the last '*'.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, -1
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			case '[':
				if nx < len(name) {
					ok, width := matchClass(pattern[px:], name[nx])
					if width == 0 { // unterminated: a literal '['
						if name[nx] == '[' {
							px++
							nx++
							continue
						}
					} else if ok {
						px += width
						nx++
						continue
					}
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if starPx >= 0 && starNx < len(name) {
			starNx++
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the set that starts pattern (pattern[0] is
// '['). It returns the width of the set including its brackets, or 0 when
// the set has no closing bracket.
func matchClass(pattern string, c byte) (ok bool, width int) {
	i := 1
	negate := false
	if i < len(pattern) && pattern[i] == '!' {
		negate = true
		i++
	}
	start := i
	if i < len(pattern) && pattern[i] == ']' {
		i++ // a leading ']' is a member, not the end
	}
	for i < len(pattern) && pattern[i] != ']' {
		i++
	}
	if i >= len(pattern) {
		return false, 0
	}
	set := pattern[start:i]
	matched := false
	for k := 0; k < len(set); k++ {
		if k+2 < len(set) && set[k+1] == '-' {
			if set[k] <= c && c <= set[k+2] {
				matched = true
			}
			k += 2
			continue
		}
		if set[k] == c {
			matched = true
		}
	}
	return matched != negate, i + 1
}
