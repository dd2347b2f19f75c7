package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

const remoteWorkflow = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: root
        uses: acme/tools@v1
        with:
          name: root
      - id: sub
        uses: acme/tools/sub/dir@%SHA%
      - uses: acme/tools@main
        with:
          name: branch
      - run: echo "root=${{ steps.root.outputs.said }} sub=${{ steps.sub.outputs.said }}"
`

func TestRemoteAction(t *testing.T) {
	e := newEnv(t, nil)
	repo := gittest.New(t, e.gitRoot, "acme/tools")
	sha := repo.Commit("tools", map[string]string{
		"action.yml": `name: tools
inputs:
  name: {}
outputs:
  said:
    value: ${{ steps.s.outputs.said }}
runs:
  using: composite
  steps:
    - id: s
      shell: bash
      run: |
        echo "said=hi-${{ inputs.name }}" >> "$GITHUB_OUTPUT"
        "$GITHUB_ACTION_PATH/lib.sh" "${{ github.action_repository }}@${{ github.action_ref }}"
`,
		"lib.sh": "#!/bin/sh\necho \"lib says $1\"\n",
		"sub/dir/action.yml": `runs:
  using: composite
  steps:
    - id: s
      shell: bash
      run: echo "said=from-sub" >> "$GITHUB_OUTPUT"
outputs:
  said:
    value: ${{ steps.s.outputs.said }}
`,
	})
	repo.Push("main")
	repo.Push("HEAD:refs/tags/v1")
	src := strings.ReplaceAll(remoteWorkflow, "%SHA%", sha)
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "lib says acme/tools@v1", "lib says acme/tools@main", "root=hi-root sub=from-sub")
	if _, err := os.Stat(filepath.Join(e.cfg.DataDir, "actions", "acme", "tools", sha, "action.yml")); err != nil {
		t.Errorf("action not cached by sha: %v", err)
	}

	// The git server goes away: the cached action (and the recorded tag) still serve.
	if err := os.Rename(e.gitRoot, e.gitRoot+".gone"); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(e.gitRoot+".gone", e.gitRoot)
	res, rec = e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "root=hi-root sub=from-sub")
}

func TestRemoteActionConcurrentJobs(t *testing.T) {
	e := newEnv(t, nil)
	repo := gittest.New(t, e.gitRoot, "acme/tools")
	repo.Commit("tools", map[string]string{"action.yml": "runs:\n  using: composite\n  steps:\n    - run: echo concurrent-ok\n      shell: sh\n"})
	repo.Push("HEAD:refs/tags/v1")
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools@v1
      - run: echo data > f
      - uses: actions/cache/save@v4
        with:
          path: f
          key: same-key
`
	const n = 4
	done := make(chan *recorder, n)
	for range n {
		go func() {
			res, rec := e.run(src, "build", runOpts{})
			if res.Conclusion != "success" {
				t.Errorf("conclusion %s:\n%s", res.Conclusion, rec.all())
			}
			done <- rec
		}()
	}
	saved := 0
	for range n {
		rec := <-done
		wantLog(t, rec, "concurrent-ok")
		if contains(rec.all(), "Cache saved with key: same-key") {
			saved++
		}
	}
	if saved != 1 {
		t.Errorf("%d jobs saved the same key, want exactly 1", saved)
	}
}

func TestRemoteNodeAction(t *testing.T) {
	needNode(t)
	e := newEnv(t, nil)
	repo := gittest.New(t, e.gitRoot, "acme/hello-js")
	repo.Commit("js", map[string]string{"action.yml": nodeAction("node20"), "pre.js": nodeIndex, "main.js": nodeIndex, "post.js": nodeIndex})
	repo.Push("main")
	repo.Push("HEAD:refs/tags/v2")
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/hello-js@v2
        with:
          who to greet: Remote
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "main: hello Remote action_path_ok=true", "post sees pre-Remote main-Remote")
}

func TestRemoteActionErrors(t *testing.T) {
	e := newEnv(t, nil)
	repo := gittest.New(t, e.gitRoot, "acme/tools")
	sha := repo.Commit("tools", map[string]string{"action.yml": "runs:\n  using: composite\n  steps: []\n"})
	repo.Push("main")
	tests := []struct {
		uses string
		want string
	}{
		{"acme/tools@" + sha[:7], "Unable to resolve action `acme/tools@" + sha[:7] + "`, the provided ref `" + sha[:7] +
			"` is the shortened version of a commit SHA, which is not supported. Please use the full commit SHA `" + sha + "` instead."},
		{"nobody/nothing@v3", "Unable to resolve action `nobody/nothing@v3`, repository not found"},
		{"acme/tools@v9", "Unable to resolve action `acme/tools@v9`, unable to find version `v9`"},
		{"acme/tools/none@main", "Can't find 'action.yml', 'action.yaml' or 'Dockerfile' for action 'acme/tools/none@main'."},
	}
	for _, tt := range tests {
		t.Run(tt.uses, func(t *testing.T) {
			src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo before
      - uses: ` + tt.uses + `
      - if: always()
        run: echo "the rest of the run is unaffected"
`
			res, rec := e.run(src, "build", runOpts{})
			wantConclusion(t, res, rec, "failure")
			wantLog(t, rec, tt.want, "the rest of the run is unaffected")
			if res.FailedStep != 2 {
				t.Errorf("failed step = %d, want 2", res.FailedStep)
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		err  bool
	}{
		{in: "actions/checkout@v4", want: Ref{Kind: RefRemote, Owner: "actions", Repo: "checkout", Ref: "v4"}},
		{in: "actions/cache/restore@v4", want: Ref{Kind: RefRemote, Owner: "actions", Repo: "cache", Path: "restore", Ref: "v4"}},
		{in: "o/r/a/b@release/v1", want: Ref{Kind: RefRemote, Owner: "o", Repo: "r", Path: "a/b", Ref: "release/v1"}},
		{in: "./.github/actions/x", want: Ref{Kind: RefLocal, Path: "./.github/actions/x"}},
		{in: "docker://alpine:3", want: Ref{Kind: RefDocker, Image: "alpine:3"}},
		{in: "actions/checkout", err: true},
		{in: "actions@v1", err: true},
		{in: "o/r/../x@v1", err: true},
		{in: "../..@0123456789012345678901234567890123456789", err: true},
		{in: "o/.@v1", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseRef(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if tt.err {
			continue
		}
		tt.want.Raw = tt.in
		if got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestRemoteNodeActionPreAtJobStart: a remote JavaScript action's pre runs
// as its own step at job start (before the first step, with the step's
// inputs), its state reaches main and post; pre-if false skips it, and a
// post-if false skips the post.
func TestRemoteNodeActionPreAtJobStart(t *testing.T) {
	needNode(t)
	e := newEnv(t, nil)
	repo := gittest.New(t, e.gitRoot, "acme/hello-js")
	repo.Commit("js", map[string]string{"action.yml": nodeAction("node20"), "pre.js": nodeIndex, "main.js": nodeIndex, "post.js": nodeIndex})
	repo.Push("HEAD:refs/tags/v2")
	skip := strings.NewReplacer("  post-if: always()", "  pre-if: env.NO_PRE != 'yes'\n  post-if: env.NO_POST != 'yes'").Replace(nodeAction("node20"))
	repo.Commit("conditions", map[string]string{"action.yml": skip})
	repo.Push("HEAD:refs/tags/v3")
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "first step"
      - name: greet
        uses: acme/hello-js@v2
        with:
          who to greet: Early
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	if got := rec.names[1]; got != "Pre greet" {
		t.Errorf("step 1 = %q, want the pre step \"Pre greet\" before the job's steps; log:\n%s", got, rec.all())
	}
	if got := rec.log(1); !contains(got, "pre: hello Early") {
		t.Errorf("pre step log %q lacks the pre's output", got)
	}
	if got := rec.names[2]; got != "Run echo \"first step\"" {
		t.Errorf("step 2 = %q, want the first step after the pre", got)
	}
	if n := strings.Count(rec.all(), "pre: hello Early"); n != 1 {
		t.Errorf("pre ran %d times, want once:\n%s", n, rec.all())
	}
	wantLog(t, rec, "main: hello Early", "post sees pre-Early main-Early")

	src = `
on: push
env:
  NO_PRE: 'yes'
  NO_POST: 'yes'
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/hello-js@v3
        with:
          who to greet: Cond
`
	res, rec = e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	if r := rec.res[1]; r.Conclusion != "skipped" || contains(rec.all(), "pre: hello Cond") {
		t.Errorf("pre-if false: pre step %+v ran; log:\n%s", r, rec.all())
	}
	if contains(rec.all(), "post sees") {
		t.Errorf("post-if false: the post ran:\n%s", rec.all())
	}
	wantLog(t, rec, "main: hello Cond")
}
