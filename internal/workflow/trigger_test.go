package workflow

import (
	"errors"
	"testing"
)

func files(fs ...string) func() ([]string, error) {
	return func() ([]string, error) { return fs, nil }
}

func TestMatch(t *testing.T) {
	const head = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"
	tests := []struct {
		name string
		on   string
		ev   Event
		want bool
	}{
		{"no trigger", "on: push\n", Event{Name: "pull_request", Action: "opened", BaseRef: "main"}, false},
		{"plain push", "on: push\n", Event{Name: "push", Ref: "refs/heads/x"}, true},
		{"plain push tag", "on: push\n", Event{Name: "push", Ref: "refs/tags/v1"}, true},
		{"list", "on: [push, pull_request]\n", Event{Name: "pull_request", Action: "opened", BaseRef: "main"}, true},
		{"pr default types", "on: pull_request\n", Event{Name: "pull_request", Action: "labeled", BaseRef: "main"}, false},
		{"pr default synchronize", "on: pull_request\n", Event{Name: "pull_request", Action: "synchronize", BaseRef: "main"}, true},
		{"pr types", "on:\n  pull_request:\n    types: [labeled]\n", Event{Name: "pull_request", Action: "labeled", BaseRef: "main"}, true},
		{"pr types miss", "on:\n  pull_request:\n    types: [labeled]\n", Event{Name: "pull_request", Action: "opened", BaseRef: "main"}, false},
		{"issues any type", "on: issues\n", Event{Name: "issues", Action: "edited"}, true},
		{"pr base branch", "on:\n  pull_request:\n    branches: [main]\n", Event{Name: "pull_request", Action: "opened", Ref: "refs/pull/1/merge", BaseRef: "main"}, true},
		{"pr base branch miss", "on:\n  pull_request:\n    branches: [main]\n", Event{Name: "pull_request", Action: "opened", Ref: "refs/pull/1/merge", BaseRef: "dev"}, false},
		{"branches", "on:\n  push:\n    branches: [main, 'mona/octocat', 'releases/**']\n", Event{Name: "push", Ref: "refs/heads/releases/beta/mona"}, true},
		{"branches miss", "on:\n  push:\n    branches: [main, 'mona/octocat', 'releases/**']\n", Event{Name: "push", Ref: "refs/heads/feature"}, false},
		{"branches only, tag push", "on:\n  push:\n    branches: ['**']\n", Event{Name: "push", Ref: "refs/tags/v1"}, false},
		{"tags only, branch push", "on:\n  push:\n    tags: ['**']\n", Event{Name: "push", Ref: "refs/heads/main"}, false},
		{"tags", "on:\n  push:\n    tags: [v2, 'v1.*']\n", Event{Name: "push", Ref: "refs/tags/v1.9.1"}, true},
		{"tags miss", "on:\n  push:\n    tags: [v2, 'v1.*']\n", Event{Name: "push", Ref: "refs/tags/v2.0"}, false},
		{"branches and tags: tag", "on:\n  push:\n    branches: [main]\n    tags: ['v*']\n", Event{Name: "push", Ref: "refs/tags/v3"}, true},
		{"branches-ignore", "on:\n  push:\n    branches-ignore: ['mona/octocat', 'releases/**-alpha']\n", Event{Name: "push", Ref: "refs/heads/releases/beta/3-alpha"}, false},
		{"branches-ignore pass", "on:\n  push:\n    branches-ignore: ['mona/octocat', 'releases/**-alpha']\n", Event{Name: "push", Ref: "refs/heads/main"}, true},
		{"branches-ignore, tag push", "on:\n  push:\n    branches-ignore: [main]\n", Event{Name: "push", Ref: "refs/tags/v1"}, false},
		{"tags-ignore, branch push", "on:\n  push:\n    tags-ignore: ['v*']\n", Event{Name: "push", Ref: "refs/heads/main"}, false},
		{"tags-ignore", "on:\n  push:\n    tags-ignore: ['v*']\n", Event{Name: "push", Ref: "refs/tags/v1"}, false},
		{"tags-ignore pass", "on:\n  push:\n    tags-ignore: ['v*']\n", Event{Name: "push", Ref: "refs/tags/x1"}, true},
		{"negation", "on:\n  push:\n    branches: ['releases/**', '!releases/**-alpha']\n", Event{Name: "push", Ref: "refs/heads/releases/10-alpha"}, false},
		{"paths any", "on:\n  push:\n    paths: ['**.js']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("README.md", "src/app.js")}, true},
		{"paths none", "on:\n  push:\n    paths: ['**.js']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("README.md")}, false},
		{"paths negation", "on:\n  push:\n    paths: ['sub-project/**', '!sub-project/docs/**']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("sub-project/docs/a.md")}, false},
		{"paths negation pass", "on:\n  push:\n    paths: ['sub-project/**', '!sub-project/docs/**']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("sub-project/docs/a.md", "sub-project/main.go")}, true},
		{"paths-ignore all", "on:\n  push:\n    paths-ignore: ['docs/**']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("docs/a.md", "docs/b/c.md")}, false},
		{"paths-ignore some", "on:\n  push:\n    paths-ignore: ['docs/**']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("docs/a.md", "main.go")}, true},
		{"paths-ignore negation", "on:\n  push:\n    paths-ignore: ['docs/**', '!docs/keep.md']\n", Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: files("docs/keep.md")}, true},
		{"paths not for tags", "on:\n  push:\n    paths: ['src/**']\n", Event{Name: "push", Ref: "refs/tags/v1", ChangedFiles: files("README.md")}, true},
		{"paths unknown diff", "on:\n  push:\n    paths: ['src/**']\n", Event{Name: "push", Ref: "refs/heads/main"}, true},
		{"branches and paths", "on:\n  push:\n    branches: [main]\n    paths: ['src/**']\n", Event{Name: "push", Ref: "refs/heads/dev", ChangedFiles: files("src/a")}, false},
		{"pr paths", "on:\n  pull_request:\n    paths: ['src/**']\n", Event{Name: "pull_request", Action: "opened", BaseRef: "main", ChangedFiles: files("src/a")}, true},
		{"workflow_run", "on:\n  workflow_run:\n    workflows: [Build]\n    types: [completed]\n    branches: [main]\n", Event{Name: "workflow_run", Action: "completed", Workflow: "Build", Ref: "refs/heads/main"}, true},
		{"workflow_run other", "on:\n  workflow_run:\n    workflows: [Build]\n", Event{Name: "workflow_run", Action: "completed", Workflow: "Test", Ref: "refs/heads/main"}, false},
		{"workflow_run branch", "on:\n  workflow_run:\n    workflows: [Build]\n    branches: [main]\n", Event{Name: "workflow_run", Action: "completed", Workflow: "Build", Ref: "refs/heads/dev"}, false},
		{"dispatch", "on:\n  workflow_dispatch:\n", Event{Name: "workflow_dispatch", Ref: "refs/heads/main"}, true},
		{"schedule", "on:\n  schedule:\n    - cron: '0 0 * * *'\n", Event{Name: "schedule"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Load("w.yml", []byte(tt.on+head))
			if err != nil {
				t.Fatal(err)
			}
			got, why, err := w.Match(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Match = %v (%s), want %v", got, why, tt.want)
			}
			if why == "" && !got {
				t.Error("no reason given for a non-match")
			}
		})
	}
}

func TestMatchChangedFilesError(t *testing.T) {
	w, err := Load("w.yml", []byte("on:\n  push:\n    paths: ['a/**']\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, _, err = w.Match(Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: func() ([]string, error) { return nil, boom }})
	if !errors.Is(err, boom) {
		t.Errorf("Match error = %v, want wrapping %v", err, boom)
	}
	called := false
	w2, _ := Load("w.yml", []byte("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"))
	if _, _, err := w2.Match(Event{Name: "push", Ref: "refs/heads/main", ChangedFiles: func() ([]string, error) { called = true; return nil, nil }}); err != nil || called {
		t.Errorf("ChangedFiles called = %v, err %v; want not called without path filters", called, err)
	}
}
