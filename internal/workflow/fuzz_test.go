package workflow

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through Load and the planner. Nothing may
// panic, errors must be *LoadError, and a recovered panic (kind "internal")
// is a failure too. Seeds come from the corpora at run time.
func FuzzLoad(f *testing.F) {
	for _, pat := range []string{
		"actionlint/testdata/ok/*.yaml", "actionlint/testdata/err/*.yaml", "actionlint/testdata/examples/*.yaml",
		"actionlint/testdata/bench/*.yaml", "nektos-act/pkg/runner/testdata/*/*.yml",
	} {
		files, _ := filepath.Glob(filepath.Join(corpusDir(f, ""), pat))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(sample))
	f.Add([]byte("on: push\njobs:\n  a: &a\n    runs-on: x\n    steps: [*a]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		w, err := Load("f.yml", src)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T, want *LoadError: %v", err, err)
			}
			for _, p := range le.Problems {
				if p.Kind == "internal" {
					t.Fatalf("recovered panic: %v", p)
				}
			}
			return
		}
		plan(w)
		for _, ev := range []Event{
			{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("a/b.go")},
			{Name: "pull_request", Action: "opened", BaseRef: "main", ChangedFiles: files("README.md")},
			{Name: "push", Ref: "refs/tags/v1"},
		} {
			w.Match(ev)
		}
	})
}

// FuzzMatchFilter: any pattern either compiles or is an error; never a panic.
func FuzzMatchFilter(f *testing.F) {
	for _, s := range []string{"feature/**", "v[12].[0-9]+.[0-9]+", "!docs/**", `a\+b`, "**/README.md", "[", "+", "a**+"} {
		f.Add(s, "feature/x/y.md")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		MatchFilter([]string{pattern, "!" + pattern}, name)
	})
}
