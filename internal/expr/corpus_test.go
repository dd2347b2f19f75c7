package expr

import (
	"os"
	"path/filepath"
	"testing"
)

// corpusDir returns <repo root>/../shared/corpora/<sub>, skipping the test
// when it is absent (failing instead when CI=true).
func corpusDir(tb testing.TB, sub string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "corpora", sub)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("corpus %s missing (CI=true): %v", path, err)
		}
		tb.Skipf("corpus %s missing: %v (see /work/shared/corpora/README.md)", path, err)
	}
	return path
}
