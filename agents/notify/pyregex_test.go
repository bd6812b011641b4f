package notify

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestEventPatterns(t *testing.T) {
	for _, tc := range []struct {
		pat string
		yes []string
		no  []string
		re2 bool
	}{
		{`compute.instance.(?!create.start|update).*`,
			[]string{"compute.instance.create.end", "compute.instance.exists", "compute.instance.delete.end", "compute.instance.resize.confirm.end", "compute.instances"},
			[]string{"compute.instance.create.start", "compute.instance.createXstart", "compute.instance.update", "compute.instance.updated", "compute.metrics.update"}, false},
		{`volume.create.*`, []string{"volume.create.end", "volume.create.start", "volume.create", "volumeXcreate"}, []string{"volume.delete.end", "xvolume.create"}, true},
		{`image.upload`, []string{"image.upload", "image.uploaded"}, []string{"image.delete"}, true},
		{`capacity.backend.*`, []string{"capacity.backend.info"}, []string{"capacity.pool.x"}, true},
		{`identity.authenticate$`, []string{"identity.authenticate"}, []string{"identity.authenticate.x"}, true},
		{`a(?=b)b`, []string{"ab"}, []string{"ac"}, false},
		{`(?!x)\w+\Z`, []string{"abc"}, []string{"xbc", "ab c"}, false},
	} {
		m, err := compileEventPattern(tc.pat)
		if err != nil {
			t.Fatalf("%s: %v", tc.pat, err)
		}
		if _, isRE2 := m.(re2Matcher); isRE2 != tc.re2 {
			t.Errorf("%s: compiled to RE2 = %v, want %v", tc.pat, isRE2, tc.re2)
		}
		for _, s := range tc.yes {
			if !m.match(s) {
				t.Errorf("%s does not match %s", tc.pat, s)
			}
		}
		for _, s := range tc.no {
			if m.match(s) {
				t.Errorf("%s matches %s", tc.pat, s)
			}
		}
	}
	for _, bad := range []string{`(?<=a)b`, `a(?!b`, `\1(?!a)`, `(?!a)[z-a]`, `(?!a)\q`} {
		if _, err := compileEventPattern(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

// TestPyRegexAgainstRE2 compares the backtracking matcher with Go's regexp
// on random patterns without lookaround, whose meaning they share.
func TestPyRegexAgainstRE2(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	atoms := []string{"a", "b", ".", "[ab]", "[^a]", `\.`, `\d`, `\w`, "(a|b)", "(?:ab|a)", "c"}
	quants := []string{"", "", "*", "+", "?", "{1,2}", "*?", "+?", "{2}"}
	alphabet := "abc.1"
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for n := 1 + rng.IntN(5); n > 0; n-- {
			b.WriteString(atoms[rng.IntN(len(atoms))])
			b.WriteString(quants[rng.IntN(len(quants))])
			if rng.IntN(8) == 0 {
				b.WriteString("|")
			}
		}
		if rng.IntN(4) == 0 {
			b.WriteString("$")
		}
		pat := strings.TrimSuffix(b.String(), "|")
		re, err := regexp.Compile(`^(?:` + pat + `)`)
		if err != nil {
			continue
		}
		py, err := compilePyRegex(pat)
		if err != nil {
			t.Fatalf("%s: %v", pat, err)
		}
		for j := 0; j < 20; j++ {
			s := make([]byte, rng.IntN(6))
			for k := range s {
				s[k] = alphabet[rng.IntN(len(alphabet))]
			}
			if got, want := py.match(string(s)), re.MatchString(string(s)); got != want {
				t.Fatalf("pattern %q on %q: %v, RE2 says %v", pat, s, got, want)
			}
		}
	}
}

func TestPyRegexBudget(t *testing.T) {
	r, err := compilePyRegex(`(?!x)(a*)*b`)
	if err != nil {
		t.Fatal(err)
	}
	if r.match(strings.Repeat("a", 40)) {
		t.Error("matched")
	}
}

func FuzzEventPattern(f *testing.F) {
	f.Add(`compute.instance.(?!create.start|update).*`, "compute.instance.create.end")
	f.Add(`(?=a)(a|b)*?c{1,3}\Z`, "abacc")
	f.Add(`[^\d\-z](?!x)`, "q")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(s) > 255 {
			return
		}
		m, err := compileEventPattern(pat)
		if err != nil {
			return
		}
		m.match(s)
	})
}
