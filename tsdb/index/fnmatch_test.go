package index

import (
	"regexp"
	"strings"
	"testing"
)

func TestFnmatch(t *testing.T) {
	for _, c := range []struct {
		pat, name string
		want      bool
	}{
		{"*", "", true},
		{"*", "a/b.c", true},
		{"disk.*", "disk.read.bytes", true},
		{"disk.*", "disk", false},
		{"disk.*", "Disk.read", false},
		{"?", "é", true},
		{"?", "", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[abc]x", "bx", true},
		{"[!abc]x", "bx", false},
		{"[!abc]x", "dx", true},
		{"[a-c]", "b", true},
		{"[c-a]", "b", false},
		{"[!c-a]", "b", true},
		{"[]]", "]", true},
		{"[!]]", "]", false},
		{"[!]]", "a", true},
		{"[a-]", "-", true},
		{"[-a]", "-", true},
		{"[", "[", true},
		{"[a", "[a", true},
		{"a[", "a[", true},
		{`\*`, `\x`, true},
		{`a\b`, `a\b`, true},
		{"[^a]", "^", true},
		{"[^a]", "b", false},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"a*", "a", true},
		{"**", "", true},
		{"*x", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxy", false},
		{"c-a-z", "c-a-z", true},
		{"[c-a-z]", "-", true},
		{"[c-a-z]", "z", true},
		{"[c-a-z]", "b", false},
	} {
		if got := fnmatch(c.pat, c.name); got != c.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", c.pat, c.name, got, c.want)
		}
		if ref := pyFnmatch(c.pat, c.name); ref != c.want {
			t.Errorf("reference fnmatch(%q, %q) = %v, want %v", c.pat, c.name, ref, c.want)
		}
	}
}

// pyTranslate is a transcription of Python 3's fnmatch.translate to a Go
// regular expression, the reference the matcher is fuzzed against.
func pyTranslate(pat string) string {
	p := []rune(pat)
	n := len(p)
	var res strings.Builder
	for i := 0; i < n; {
		c := p[i]
		i++
		switch c {
		case '*':
			res.WriteString(".*")
		case '?':
			res.WriteString(".")
		case '[':
			j := i
			if j < n && p[j] == '!' {
				j++
			}
			if j < n && p[j] == ']' {
				j++
			}
			for j < n && p[j] != ']' {
				j++
			}
			if j >= n {
				res.WriteString(`\[`)
				continue
			}
			var chunks []string
			k := i + 1
			if p[i] == '!' {
				k = i + 2
			}
			start := i
			for {
				idx := -1
				for q := k; q < j; q++ {
					if p[q] == '-' {
						idx = q
						break
					}
				}
				if idx < 0 {
					break
				}
				chunks = append(chunks, string(p[start:idx]))
				start = idx + 1
				k = idx + 3
			}
			if chunk := string(p[start:j]); chunk != "" {
				chunks = append(chunks, chunk)
			} else if len(chunks) > 0 {
				chunks[len(chunks)-1] += "-"
			} else {
				chunks = append(chunks, "-")
			}
			for k := len(chunks) - 1; k > 0; k-- {
				a, b := []rune(chunks[k-1]), []rune(chunks[k])
				if len(a) > 0 && len(b) > 0 && a[len(a)-1] > b[0] {
					chunks[k-1] = string(a[:len(a)-1]) + string(b[1:])
					chunks = append(chunks[:k], chunks[k+1:]...)
				}
			}
			neg := false
			if len(chunks) > 0 && strings.HasPrefix(chunks[0], "!") {
				neg = true
				chunks[0] = chunks[0][1:]
			}
			i = j + 1
			items := classItems(chunks)
			switch {
			case len(items) == 0 && !neg:
				res.WriteString(`[^\x00-\x{10FFFF}]`)
			case len(items) == 0:
				res.WriteString(`(?s:.)`)
			default:
				res.WriteString("[")
				if neg {
					res.WriteString("^")
				}
				res.WriteString(items)
				res.WriteString("]")
			}
		default:
			res.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return `(?s)\A(?:` + res.String() + `)\z`
}

// classItems writes the chunks of a bracket expression, joined by range
// dashes, in Go's class syntax with every member escaped.
func classItems(chunks []string) string {
	esc := func(r rune) string { return `\x{` + hex(r) + `}` }
	var b strings.Builder
	for ci, ch := range chunks {
		if ci > 0 {
			b.WriteString("-")
		}
		for _, r := range ch {
			b.WriteString(esc(r))
		}
	}
	return b.String()
}

func hex(r rune) string {
	const digits = "0123456789abcdef"
	if r == 0 {
		return "0"
	}
	var out []byte
	for v := uint32(r); v > 0; v >>= 4 {
		out = append([]byte{digits[v&15]}, out...)
	}
	return string(out)
}

func pyFnmatch(pat, name string) bool {
	return regexp.MustCompile(pyTranslate(pat)).MatchString(name)
}

func FuzzFnmatch(f *testing.F) {
	for _, s := range [][2]string{{"*", "x"}, {"[!a-c]x*", "dxy"}, {"[c-a-z]", "-"}, {"a[", "a["}, {"[]-]", "-"}, {"?*?", "ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		if len(pat) > 64 || len(name) > 64 {
			return
		}
		want := pyFnmatch(strings.ToValidUTF8(pat, "?"), strings.ToValidUTF8(name, "?"))
		if got := fnmatch(strings.ToValidUTF8(pat, "?"), strings.ToValidUTF8(name, "?")); got != want {
			t.Errorf("fnmatch(%q, %q) = %v, reference %v (%s)", pat, name, got, want, pyTranslate(pat))
		}
	})
}
