// Package corpus locates the third-party test corpora in ../shared/corpora
// (beside the repository root). Tests read them from there and never copy
// them. Where the corpora are absent a test skips with the reason, except
// under CI (CI=true), where their absence fails the test.
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the corpora directory, or "" if it cannot be found.
func Root() string {
	if d := os.Getenv("HOOKCI_CORPORA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "corpora")
			if _, err := os.Stat(c); err == nil {
				return c
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Dir returns a directory inside the corpora, skipping (or, in CI, failing)
// the test when it is missing.
func Dir(t testing.TB, parts ...string) string {
	t.Helper()
	root := Root()
	p := filepath.Join(append([]string{root}, parts...)...)
	if root == "" {
		missing(t, "../shared/corpora not found beside the repository root")
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, p+" is missing")
	}
	return p
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("test corpus unavailable in CI: %s", why)
	}
	t.Skipf("skipping: test corpus unavailable: %s", why)
}
