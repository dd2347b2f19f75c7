package workflow

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestActionlintOK: every valid workflow of actionlint's corpus loads, and
// Lint finds nothing in it either.
func TestActionlintOK(t *testing.T) {
	dir := corpusDir(t, "actionlint/testdata/ok")
	files := mustGlob(t, filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(filepath.Base(f), src); err != nil {
			t.Errorf("Load(%s): %v", filepath.Base(f), err)
		}
		if ps := Lint(filepath.Base(f), src, Options{}); len(ps) > 0 {
			t.Errorf("Lint(%s) = %v, want no problems", filepath.Base(f), ps)
		}
	}
	t.Logf("actionlint ok/: %d files", len(files))
}

// externalTools are err/ cases that need shellcheck or pyflakes, which Lint
// never runs (a server must not execute tools on untrusted input).
var externalTools = regexp.MustCompile(`^(shellcheck|pyflakes)_`)

// TestActionlintErr: Lint reports exactly the expected problems (.out, one
// per line, /regexp/ lines allowed) for every invalid workflow, and we count
// how many of them Load rejects (the rest are lint-only findings).
func TestActionlintErr(t *testing.T) {
	dir := corpusDir(t, "actionlint/testdata/err")
	files := mustGlob(t, filepath.Join(dir, "*.yaml"))
	var checked, rejected, skipped int
	var lintOnly []string
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if externalTools.MatchString(name) {
			skipped++
			continue
		}
		checked++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := readOut(t, strings.TrimSuffix(f, ".yaml")+".out")
		got := Lint("test.yaml", src, Options{})
		compareOut(t, name, got, want)
		if _, err := Load("test.yaml", src); err != nil {
			rejected++
		} else {
			lintOnly = append(lintOnly, name)
		}
	}
	t.Logf("actionlint err/: %d checked, %d skipped (shellcheck_/pyflakes_), Load rejects %d; lint-only (accepted by Load): %v",
		checked, skipped, rejected, lintOnly)
}

func readOut(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func compareOut(t *testing.T, name string, got []Problem, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d problems, want %d\ngot:\n%s\nwant:\n%s", name, len(got), len(want), problemLines(got), strings.Join(want, "\n"))
		return
	}
	for i, w := range want {
		g := got[i].String()
		if strings.HasPrefix(w, "/") && strings.HasSuffix(w, "/") {
			re, err := regexp.Compile(w[1 : len(w)-1])
			if err != nil {
				t.Fatalf("%s: bad expected regexp %q: %v", name, w, err)
			}
			if !re.MatchString(g) {
				t.Errorf("%s: problem %d = %q, want match for %s", name, i, g, w)
			}
		} else if g != w {
			t.Errorf("%s: problem %d = %q, want %q", name, i, g, w)
		}
	}
}

func problemLines(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}
