package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `name: CI
run-name: Deploy by ${{ github.actor }}
on:
  push:
    branches: [main, 'releases/**']
    paths-ignore: ['docs/**']
  pull_request:
    types: [opened, labeled]
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [info, debug]
        default: info
        required: true
env:
  Z: last
  A: ${{ github.sha }}
  N: 0755
concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: true
jobs:
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, macos-latest]
        node: [18, 20]
        include:
          - os: ubuntu-latest
            experimental: true
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
          path: src
      - name: Build
        id: build
        if: github.event_name == 'push'
        run: |
          make build
          echo "done" >> $GITHUB_OUTPUT
        shell: bash
        env:
          B: 2
          A: 1
  deploy:
    needs: test
    runs-on: [self-hosted, linux]
    environment:
      name: prod
      url: https://example.com
    steps:
      - run: ./deploy
`

func TestLoadSample(t *testing.T) {
	w, err := Load("ci.yml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.Name, "CI"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	var events []string
	for _, tr := range w.On {
		events = append(events, tr.Event)
	}
	if diff := cmp.Diff([]string{"push", "pull_request", "workflow_dispatch"}, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	push := w.Trigger("push")
	if diff := cmp.Diff([]string{"main", "releases/**"}, push.Branches); diff != "" {
		t.Errorf("branches (-want +got):\n%s", diff)
	}
	wantInputs := []Input{{Name: "level", Type: "choice", Options: []string{"info", "debug"}, Default: "info", HasDefault: true, Required: true}}
	if diff := cmp.Diff(wantInputs, w.Trigger("workflow_dispatch").Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	wantEnv := Env{Vars: []Var{{"Z", "last"}, {"A", "${{ github.sha }}"}, {"N", "755"}}}
	if diff := cmp.Diff(wantEnv, w.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&Concurrency{Group: "ci-${{ github.ref }}", CancelInProgress: "true", Pos: Pos{21, 3}}, w.Concurrency); diff != "" {
		t.Errorf("concurrency (-want +got):\n%s", diff)
	}
	if len(w.Jobs) != 2 || w.Jobs[0].ID != "test" || w.Jobs[1].ID != "deploy" {
		t.Fatalf("jobs = %+v", w.Jobs)
	}
	test := w.Jobs[0]
	if got, want := test.RunsOn, (RunsOn{Expr: "${{ matrix.os }}"}); !cmp.Equal(got, want) {
		t.Errorf("runs-on = %+v, want %+v", got, want)
	}
	wantMatrix := []KV{
		{"os", []any{"ubuntu-latest", "macos-latest"}},
		{"node", []any{18.0, 20.0}},
		{"include", []any{[]KV{{"os", "ubuntu-latest"}, {"experimental", true}}}},
	}
	if diff := cmp.Diff(&Strategy{Matrix: wantMatrix, FailFast: "false", Pos: Pos{27, 7}}, test.Strategy); diff != "" {
		t.Errorf("strategy (-want +got):\n%s", diff)
	}
	build := test.Steps[1]
	wantStep := &Step{
		ID: "build", Name: "Build", If: "github.event_name == 'push'",
		Run:   "make build\necho \"done\" >> $GITHUB_OUTPUT\n",
		Shell: "bash", Env: Env{Vars: []Var{{"B", "2"}, {"A", "1"}}}, Pos: Pos{39, 9},
	}
	if diff := cmp.Diff(wantStep, build); diff != "" {
		t.Errorf("step (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Var{{"fetch-depth", "0"}, {"path", "src"}}, test.Steps[0].With); diff != "" {
		t.Errorf("with (-want +got):\n%s", diff)
	}
	deploy := w.Jobs[1]
	if diff := cmp.Diff([]string{"test"}, deploy.Needs); diff != "" {
		t.Errorf("needs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]KV{{"name", "prod"}, {"url", "https://example.com"}}, deploy.Environment); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(RunsOn{Labels: []string{"self-hosted", "linux"}}, deploy.RunsOn); diff != "" {
		t.Errorf("runs-on (-want +got):\n%s", diff)
	}
}

// The predecessor turned a block scalar into a bare "|": keep scripts exactly.
func TestLoadKeepsBlockScalars(t *testing.T) {
	src := "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n" +
		"      - run: |\n          echo one\n\n            indented\n          echo 'two'\n" +
		"      - run: >-\n          folded\n          line\n" +
		"      - run: |+\n          keep\n\n" +
		"      - run: \"quoted\\ttab\"\n"
	w, err := Load("w.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range w.Jobs[0].Steps {
		got = append(got, s.Run)
	}
	want := []string{"echo one\n\n  indented\necho 'two'\n", "folded line", "keep\n\n", "quoted\ttab"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings, in order, of the problem lines
	}{
		{"yaml", "on: push\njobs: [", []string{"w.yml:2:"}},
		{"unknown needs", "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps:\n      - run: echo\n",
			[]string{`w.yml:3:3: job "a" needs job "b" which does not exist in this workflow [job-needs]`}},
		{"no runs-on", "on: push\njobs:\n  a:\n    steps:\n      - run: echo\n", []string{`"runs-on" section is missing`}},
		{"reserved id", "on: push\njobs:\n  __a:\n    runs-on: x\n    steps:\n      - run: echo\n", []string{"w.yml:3:3: the identifier \"__a\" is invalid"}},
		{"bad expression", "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.( }}\n", []string{"w.yml:6:"}},
		{"tag", "on: push\njobs:\n  a:\n    runs-on: !!timestamp 2022-10-26\n    steps:\n      - run: echo\n", []string{"unexpected tag"}},
		{"empty", "", []string{"w.yml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Load("w.yml", []byte(tt.src))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load = %v, %v; want *LoadError", w, err)
			}
			msg := err.Error()
			for _, s := range tt.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

// Custom runner labels and old action versions must not stop a workflow.
func TestLoadWarningsDoNotFail(t *testing.T) {
	src := "on: push\njobs:\n  a:\n    runs-on: my-vm\n    steps:\n      - uses: actions/checkout@v2\n"
	w, err := Load("w.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Warnings) != 2 {
		t.Errorf("warnings = %v, want 2 (runner-label, action)", w.Warnings)
	}
}
