package pipeline

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestMeterFilter(t *testing.T) {
	tests := []struct {
		patterns []string
		accept   []string
		reject   []string
	}{
		{nil, []string{"cpu", "hardware.cpu.util", ""}, nil},
		{[]string{"*"}, []string{"cpu", "disk.device.read.bytes"}, nil},
		{[]string{"cpu", "disk.device.*"}, []string{"cpu", "disk.device.read.bytes"}, []string{"cpu_util", "disk.root.size", "memory"}},
		{[]string{"*", "!perf.*"}, []string{"cpu", "perf"}, []string{"perf.cpu.cycles", "perf.instructions"}},
		{[]string{"!perf.*", "!hardware.disk.*"}, []string{"cpu", "hardware.cpu.util"}, []string{"perf.cache.misses", "hardware.disk.size.total"}},
		{[]string{"*.bytes"}, []string{"network.incoming.bytes", "disk.device.write.bytes"}, []string{"network.incoming.packets"}},
		{[]string{"*.bytes", "!network.*"}, []string{"disk.device.write.bytes"}, []string{"network.incoming.bytes", "cpu"}},
		{[]string{"hardware.cpu.load.?min"}, []string{"hardware.cpu.load.1min", "hardware.cpu.load.5min"}, []string{"hardware.cpu.load.15min"}},
		{[]string{"hardware.cpu.load.[15]*"}, []string{"hardware.cpu.load.1min", "hardware.cpu.load.15min", "hardware.cpu.load.5min"}, []string{"hardware.cpu.load.x"}},
		{[]string{"hardware.cpu.load.[!1]min"}, []string{"hardware.cpu.load.5min"}, []string{"hardware.cpu.load.1min"}},
		{[]string{"disk.[a-c]x"}, []string{"disk.ax", "disk.cx"}, []string{"disk.dx", "disk.-x"}},
		{[]string{"odd[name"}, []string{"odd[name"}, []string{"oddxname"}},
		{[]string{"[]]x"}, []string{"]x"}, []string{"x"}},
		{[]string{"CPU"}, nil, []string{"cpu"}}, // case-sensitive, as fnmatch on POSIX
	}
	for _, tt := range tests {
		f, err := NewMeterFilter(tt.patterns)
		if err != nil {
			t.Fatalf("NewMeterFilter(%q): %v", tt.patterns, err)
		}
		for _, n := range tt.accept {
			if !f.Match(n) {
				t.Errorf("%q rejects %q, want accept", tt.patterns, n)
			}
		}
		for _, n := range tt.reject {
			if f.Match(n) {
				t.Errorf("%q accepts %q, want reject", tt.patterns, n)
			}
		}
	}
}

func TestNewMeterFilterErrors(t *testing.T) {
	tests := []struct {
		patterns []string
		want     string
	}{
		{[]string{"cpu", "!perf.*"}, "both included and excluded"},
		{[]string{"*", "cpu"}, "included meters specified with wildcard"},
		{[]string{"cpu", ""}, "meter pattern 1 is empty"},
		{[]string{"!"}, "meter pattern 0 is empty"},
	}
	for _, tt := range tests {
		_, err := NewMeterFilter(tt.patterns)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewMeterFilter(%q) = %v, want an error containing %q", tt.patterns, err, tt.want)
		}
	}
}

// fnmatchRegexp is a naive reference: Python's fnmatch.translate.
func fnmatchRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(pat) && pat[j] == '!' {
				j++
			}
			if j < len(pat) && pat[j] == ']' {
				j++
			}
			for j < len(pat) && pat[j] != ']' {
				j++
			}
			if j >= len(pat) {
				b.WriteString(`\[`)
				continue
			}
			set := pat[i+1 : j]
			neg := strings.HasPrefix(set, "!")
			if neg {
				set = set[1:]
			}
			var alts []string
			for k := 0; k < len(set); k++ {
				if k+2 < len(set) && set[k+1] == '-' {
					if set[k] <= set[k+2] {
						alts = append(alts, regexp.QuoteMeta(string(set[k]))+"-"+regexp.QuoteMeta(string(set[k+2])))
					}
					k += 2
					continue
				}
				alts = append(alts, regexp.QuoteMeta(string(set[k])))
			}
			switch {
			case len(alts) == 0 && neg:
				b.WriteString(`.`)
			case len(alts) == 0:
				b.WriteString(`[^\x00-\x{10FFFF}]`) // matches nothing
			case neg:
				b.WriteString(`[^` + strings.Join(alts, "") + `]`)
			default:
				b.WriteString(`[` + strings.Join(alts, "") + `]`)
			}
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// TestGlobMatchReference checks globMatch against the regexp translation
// on random patterns and names over a small alphabet, where collisions
// (and so interesting matches) are frequent.
func TestGlobMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const patAlpha, nameAlpha = "ab.*?[]!-", "ab.-]["
	gen := func(alpha string, n int) string {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = alpha[rng.IntN(len(alpha))]
		}
		return string(b)
	}
	for range 20000 {
		pat, name := gen(patAlpha, 8), gen(nameAlpha, 8)
		if got, want := globMatch(pat, name), fnmatchRegexp(pat).MatchString(name); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, reference says %v", pat, name, got, want)
		}
	}
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("disk.*", "disk.device.read.bytes")
	f.Add("[!a-c]*?", "d")
	f.Add("*a*a*a*a*a*a*b", strings.Repeat("a", 60))
	f.Fuzz(func(t *testing.T, pat, name string) {
		if len(pat) > 64 || len(name) > 256 || !isASCII(pat) || !isASCII(name) {
			return
		}
		if got, want := globMatch(pat, name), fnmatchRegexp(pat).MatchString(name); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, reference says %v", pat, name, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
