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
