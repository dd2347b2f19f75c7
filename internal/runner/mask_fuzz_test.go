package runner

import (
	"strings"
	"testing"
)

// FuzzMasker: a registered secret never survives masking, and masking never panics.
func FuzzMasker(f *testing.F) {
	f.Add("hunter2", "the password is hunter2.")
	f.Add("a\nb-multi", "a\nb-multi and b-multi")
	f.Add("x", "xxx")
	f.Fuzz(func(t *testing.T, secret, text string) {
		m := NewMasker(secret)
		got := m.Mask(text)
		if strings.TrimSpace(secret) == "" || strings.ContainsAny(secret, "*") {
			return // blank values are not masked; '*' can re-form around ***
		}
		for _, part := range strings.Split(secret, "\n") {
			part = strings.TrimRight(part, "\r")
			if strings.TrimSpace(part) != "" && !strings.Contains(part, "*") && strings.Contains(got, part) {
				t.Fatalf("Mask(%q) with secret %q = %q: still contains %q", text, secret, got, part)
			}
		}
	})
}

// FuzzMaskCut: cutting a long unterminated line never splits a secret that
// straddles the cut (no piece ends with the secret's start in the clear), the
// pieces together never show a secret, and every cut makes progress.
func FuzzMaskCut(f *testing.F) {
	f.Add("hunter2", strings.Repeat("x", 60)+"hunter2"+strings.Repeat("y", 60), 63)
	f.Add("abab", strings.Repeat("ab", 50), 9)
	f.Add("tok", "tototok", 4)
	f.Fuzz(func(t *testing.T, secret, text string, target int) {
		if strings.TrimSpace(secret) == "" || strings.ContainsAny(secret, "*\n\r") || len(text) > 4096 {
			return
		}
		target = 1 + abs(target)%64
		m := NewMasker(secret)
		var out strings.Builder
		rest := text
		for len(rest) >= target {
			piece, n := m.MaskCut(rest, target)
			if n <= 0 || n > len(rest) {
				t.Fatalf("MaskCut(%q, %d) covered %d bytes", rest, target, n)
			}
			for a := strings.Index(rest, secret); a >= 0 && a < n; {
				if b := a + len(secret); a < n && n < b && strings.HasSuffix(piece, rest[a:n]) {
					t.Fatalf("MaskCut(%q, %d) = %q, %d: cut inside %q at %d, its start emitted", rest, target, piece, n, secret, a)
				}
				next := strings.Index(rest[a+1:], secret)
				if next < 0 {
					break
				}
				a += 1 + next
			}
			out.WriteString(piece)
			out.WriteByte('\n')
			rest = rest[n:]
		}
		out.WriteString(m.Mask(rest))
		if strings.Contains(out.String(), secret) {
			t.Fatalf("pieces of %q with secret %q = %q: secret shown", text, secret, out.String())
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
