package alarms

// Glob reports whether name matches the shell pattern as Python's
// fnmatch.fnmatchcase does: '*' any run, '?' any one character, "[seq]" and
// "[!seq]" with ranges a-z; a '[' without its ']' is literal. Matching is
// linear in len(pattern)*len(name) at worst, never exponential.
func Glob(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	pi, ni := 0, 0
	starP, starN := -1, -1
	for ni < len(n) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starN = pi, ni
				pi++
				continue
			case '?':
				pi++
				ni++
				continue
			case '[':
				if end, ok := classEnd(p, pi); ok {
					if classMatch(p[pi+1:end], n[ni]) {
						pi = end + 1
						ni++
						continue
					}
				} else if n[ni] == '[' {
					pi++
					ni++
					continue
				}
			default:
				if p[pi] == n[ni] {
					pi++
					ni++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' swallow one more character.
		starN++
		pi, ni = starP+1, starN
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// classEnd finds the ']' closing the class opened at p[i], as fnmatch
// does: a ']' right after "[" or "[!" belongs to the class.
func classEnd(p []rune, i int) (int, bool) {
	j := i + 1
	if j < len(p) && p[j] == '!' {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	for ; j < len(p); j++ {
		if p[j] == ']' {
			return j, true
		}
	}
	return 0, false
}

func classMatch(class []rune, c rune) bool {
	neg := false
	if len(class) > 0 && class[0] == '!' {
		neg, class = true, class[1:]
	}
	match := false
	for i := 0; i < len(class); i++ {
		if i+2 < len(class) && class[i+1] == '-' {
			if class[i] <= c && c <= class[i+2] {
				match = true
			}
			i += 2
			continue
		}
		if class[i] == c {
			match = true
		}
	}
	return match != neg
}
