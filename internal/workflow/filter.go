package workflow

import (
	"fmt"
	"regexp"
	"strings"
)

// pattern is one compiled GitHub filter pattern.
type pattern struct {
	negate bool
	re     *regexp.Regexp
}

// compilePatterns compiles a filter list written with GitHub's filter
// pattern syntax: "*" matches any characters except '/', "**" any
// characters, "?" zero or one and "+" one or more of the preceding
// character, "[...]" one character of a class (ranges a-z, A-Z, 0-9),
// "\x" a literal x, and a leading "!" negates the pattern (it excludes what
// earlier patterns matched). "**/" may also match nothing, so
// "**/README.md" matches README.md at the root too.
func compilePatterns(list []string) ([]pattern, error) {
	out := make([]pattern, 0, len(list))
	for _, p := range list {
		var pt pattern
		if strings.HasPrefix(p, "!") {
			pt.negate, p = true, p[1:]
		}
		re, err := patternRegexp(p)
		if err != nil {
			return nil, fmt.Errorf("filter pattern %q: %w", p, err)
		}
		pt.re = re
		out = append(out, pt)
	}
	return out, nil
}

func patternRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*' && strings.HasPrefix(p[i:], "**/"):
			b.WriteString(`(?:.*/)?`)
			i += 2
		case c == '*' && strings.HasPrefix(p[i:], "**"):
			b.WriteString(`.*`)
			i++
		case c == '*':
			b.WriteString(`[^/]*`)
		case c == '?' || c == '+':
			b.WriteByte(c)
		case c == '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("missing ] in character class")
			}
			b.WriteString(`[` + classBody(p[i+1:i+1+end]) + `]`)
			i += end + 1
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString(`$`)
	return regexp.Compile(b.String())
}

// classBody escapes a [] body for Go regexp, keeping ranges.
func classBody(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' && i > 0 && i < len(s)-1:
			b.WriteByte('-')
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	return b.String()
}

// matchList applies a pattern list to s: the last matching pattern wins;
// no match means not included.
func matchList(ps []pattern, s string) bool {
	in := false
	for _, p := range ps {
		if p.re.MatchString(s) {
			in = !p.negate
		}
	}
	return in
}

// MatchFilter reports whether name is selected by a GitHub filter pattern
// list (as in branches: or paths:).
func MatchFilter(patterns []string, name string) (bool, error) {
	ps, err := compilePatterns(patterns)
	if err != nil {
		return false, err
	}
	return matchList(ps, name), nil
}
