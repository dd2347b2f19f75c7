package workflow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLintSeverities(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:col kind severity"
	}{
		{"clean", job(""), nil},
		{"custom label is a warning", "on: push\njobs:\n  a:\n    runs-on: my-vm\n    steps:\n      - run: echo\n",
			[]string{"4:14 runner-label warning"}},
		{"on is read loosely", "on:\n  release:\n    branches: [main]\n  workflow_dispatch:\n    unknown: 1\n" + job("")[len("on: push\n"):],
			[]string{"3:5 events warning", "5:5 syntax-check warning"}},
		{"merge keys are errors even under on", "on:\n  push: &p {branches: [a]}\n  pull_request:\n    <<: *p\n" + job("")[len("on: push\n"):],
			[]string{"4:5 syntax-check error"}},
		{"workflow_call is strict", "on:\n  workflow_call:\n    unknown: 1\n" + job("")[len("on: push\n"):],
			[]string{"3:5 syntax-check error"}},
		{"empty environment", job("    environment: ''\n"), []string{"5:18 syntax-check warning"}},
		{"empty shell", job("    defaults:\n      run:\n        shell: ''\n"), []string{"7:16 shell-name warning", "7:16 syntax-check error"}},
		{"expression syntax", job("    env:\n      A: ${{ 1 + }}\n"), []string{"6:16 expression error"}},
		{"unknown context", job("    env:\n      A: ${{ nope.x }}\n"), []string{"6:14 expression error"}},
		{"type doubt", job("    env:\n      A: ${{ github.nope }}\n"), []string{"6:14 expression warning"}},
		{"nbsp in expression", job("    env:\n      A: ${{ github.sha\u00a0}}\n"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Lint("w.yml", []byte(tt.src), Options{}) {
				got = append(got, fmt.Sprintf("%d:%d %s %s", p.Line, p.Col, p.Kind, p.Severity))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, Lint("w.yml", []byte(tt.src), Options{}))
			}
		})
	}
}

// With a project directory, local actions are read and checked.
func TestLintProjectDir(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "act"), 0o755); err != nil {
		t.Fatal(err)
	}
	meta := "name: a\ndescription: d\ninputs:\n  x:\n    description: x\n    required: true\nruns:\n  using: composite\n  steps: []\n"
	if err := os.WriteFile(filepath.Join(root, "act", "action.yml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	src := []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./act\n")
	if ps := Lint("w.yml", src, Options{}); len(ps) != 0 {
		t.Errorf("without ProjectDir: %v, want no problem (nothing is read)", ps)
	}
	ps := Lint("w.yml", src, Options{ProjectDir: root})
	if len(ps) != 1 || !strings.Contains(ps[0].Message, `missing input "x"`) {
		t.Errorf("with ProjectDir: %v, want the missing required input", ps)
	}
}

func TestLoadErrorFormat(t *testing.T) {
	e := &LoadError{Problems: []Problem{
		{File: "a.yml", Line: 1, Col: 2, Message: "m1", Kind: "k1"},
		{File: "a.yml", Line: 3, Col: 4, Message: "m2", Kind: "k2"},
	}}
	if got, want := e.Error(), "a.yml:1:2: m1 [k1]\na.yml:3:4: m2 [k2]"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestLintPullRequestComment: on: pull_request_comment (which GitHub lists
// only as "pull_request_comment (use issue_comment)") is a warning naming
// issue_comment as the event to use.
func TestLintPullRequestComment(t *testing.T) {
	src := "on: pull_request_comment\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
	ps := Lint("w.yml", []byte(src), Options{})
	if len(ps) != 1 || ps[0].Severity != SeverityWarning || !strings.Contains(ps[0].Message, "use on: issue_comment") {
		t.Fatalf("got %+v, want one warning naming issue_comment", ps)
	}
}
