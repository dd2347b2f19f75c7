package actions

import (
	"sort"
	"strconv"
	"strings"
)

// version is a dotted version such as 1.22.5 or 3.12.1.
type version struct {
	nums [3]int
	n    int    // how many numbers were given
	pre  string // pre-release suffix (rc1, beta2, -alpha…)
	raw  string
}

// parseVersion parses "1.22.5", "v20.1.0", "1.21rc2", "go1.22"; ok false otherwise.
func parseVersion(s string) (version, bool) {
	v := version{raw: s}
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "go"), "v")
	parts := strings.SplitN(s, ".", 3)
	for i, p := range parts {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		if end == 0 {
			return v, false
		}
		n, _ := strconv.Atoi(p[:end])
		v.nums[i] = n
		v.n = i + 1
		if end < len(p) {
			if i < len(parts)-1 {
				return v, false
			}
			v.pre = strings.TrimPrefix(p[end:], "-")
		}
	}
	return v, v.n > 0
}

func (a version) cmp(b version) int {
	for i := range 3 {
		if a.nums[i] != b.nums[i] {
			if a.nums[i] < b.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	case a.pre < b.pre:
		return -1
	}
	return 1
}

// matchVersion reports whether v satisfies spec: an exact or partial
// version (1.22 and 1.22.x both mean any 1.22.*), ^X / ~X ranges,
// comparisons (>=1.21 <2), alternatives with ||, and * / latest / stable.
func matchVersion(spec string, v version) bool {
	spec = strings.TrimSpace(spec)
	for _, alt := range strings.Split(spec, "||") {
		ok := true
		for _, term := range strings.Fields(alt) {
			if !matchTerm(term, v) {
				ok = false
				break
			}
		}
		if ok && strings.TrimSpace(alt) != "" {
			return true
		}
	}
	return false
}

func matchTerm(t string, v version) bool {
	switch strings.ToLower(t) {
	case "*", "x", "latest", "stable", "current", "node", "lts/*":
		return v.pre == ""
	}
	for _, op := range []string{">=", "<=", ">", "<", "=", "^", "~"} {
		if !strings.HasPrefix(t, op) {
			continue
		}
		w, ok := parsePartial(t[len(op):])
		if !ok {
			return false
		}
		c := v.cmp(w.v)
		switch op {
		case ">=":
			return c >= 0
		case "<=":
			return c <= 0 || w.prefix(v)
		case ">":
			return c > 0 && !w.prefix(v)
		case "<":
			return c < 0
		case "=":
			return w.prefix(v)
		case "^":
			return c >= 0 && v.nums[0] == w.v.nums[0] && v.pre == ""
		case "~":
			if w.v.n == 1 {
				return c >= 0 && v.nums[0] == w.v.nums[0]
			}
			return c >= 0 && v.nums[0] == w.v.nums[0] && v.nums[1] == w.v.nums[1]
		}
	}
	w, ok := parsePartial(t)
	return ok && w.prefix(v)
}

// partial is a version with wildcards: 1.22, 1.22.x, 20.
type partial struct {
	v     version
	fixed int // how many leading numbers must match
}

func parsePartial(s string) (partial, bool) {
	s = strings.TrimSpace(s)
	var kept []string
	for _, p := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(s, "go"), "v"), ".") {
		if p == "x" || p == "X" || p == "*" {
			break
		}
		kept = append(kept, p)
	}
	v, ok := parseVersion(strings.Join(kept, "."))
	return partial{v: v, fixed: v.n}, ok
}

func (p partial) prefix(v version) bool {
	for i := 0; i < p.fixed; i++ {
		if v.nums[i] != p.v.nums[i] {
			return false
		}
	}
	if p.fixed == 3 || p.v.pre != "" {
		return v.pre == p.v.pre
	}
	return v.pre == "" // partial versions pick releases only
}

// bestVersion returns the highest of versions satisfying spec, or "".
func bestVersion(spec string, versions []string) string {
	var cands []version
	for _, s := range versions {
		if v, ok := parseVersion(s); ok && matchVersion(spec, v) {
			cands = append(cands, v)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].cmp(cands[j]) > 0 })
	return cands[0].raw
}
