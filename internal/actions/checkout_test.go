package actions

import (
	"os/exec"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

func TestCheckoutFromMirror(t *testing.T) {
	e := newEnv(t, nil)
	lib := gittest.New(t, e.gitRoot, "acme/lib")
	lib.Commit("one", map[string]string{"lib.txt": "v1"})
	lib.Commit("two", map[string]string{"lib.txt": "v2"})
	lib.Push("main")
	lib.Push("HEAD~1:refs/tags/v1")
	own := gittest.New(t, e.gitRoot, "octo/hello")
	own.Commit("a", map[string]string{"a.txt": "a"})
	head := own.Commit("b", map[string]string{"b.txt": "b"})
	own.Push("main")
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: own
        uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - run: echo "own commits=$(git rev-list --count HEAD) branch=$(git rev-parse --abbrev-ref HEAD) sha=${{ steps.own.outputs.commit }}"
      - uses: actions/checkout@v4
        with:
          repository: acme/lib
          path: deps/lib
      - run: echo "lib=$(cat deps/lib/lib.txt) depth=$(git -C deps/lib rev-list --count HEAD)"
      - uses: actions/checkout@v4
        with:
          repository: acme/lib
          ref: v1
          path: deps/lib1
      - run: echo "lib1=$(cat deps/lib1/lib.txt)"; test -f a.txt && echo "own files kept"
      - uses: actions/checkout@v4
        with:
          path: ../outside
`
	res, rec := e.runSHA(src, "build", head)
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "own commits=2 branch=main sha="+head, "lib=v2 depth=1", "lib1=v1", "own files kept",
		"/outside' is not under '")
	if res.FailedStep != 7 {
		t.Errorf("failed step = %d, want 7", res.FailedStep)
	}
}

// TestCheckoutOfPristineWorkspace: a first checkout of the run's own commit
// finds the workspace already holding it; a later one restores what a step
// changed.
func TestCheckoutOfPristineWorkspace(t *testing.T) {
	e := newEnv(t, nil)
	own := gittest.New(t, e.gitRoot, "octo/hello")
	head := own.Commit("a", map[string]string{"a.txt": "original"})
	own.Push("main")
	e.write(map[string]string{"a.txt": "original\n"}) // what the job's source holds
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo changed > a.txt; touch stray.txt
      - uses: actions/checkout@v4
      - run: echo "a=$(cat a.txt) stray=$(ls stray.txt 2>/dev/null || echo gone)"
`
	res, rec := e.runSHA(src, "build", head)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "already holds octo/hello@"+head, "a=original stray=gone")
}

// TestCheckoutPathInWorkspace: an absolute path inside the workspace is
// accepted, one outside is refused with a message naming both paths, and a
// first checkout into a sub-path leaves the workspace root as GitHub does
// (without the copy hookci put there when the job was set up), while one
// after a checkout at the root keeps it.
func TestCheckoutPathInWorkspace(t *testing.T) {
	e := newEnv(t, nil)
	own := gittest.New(t, e.gitRoot, "octo/hello")
	head := own.Commit("a", map[string]string{"a.txt": "a"})
	own.Push("main")
	e.write(map[string]string{"a.txt": "a"})
	tests := []struct {
		name, steps, conclusion string
		want                    []string
	}{
		{"absolute inside", `
      - uses: actions/checkout@v4
        with:
          path: ${{ github.workspace }}/src
      - run: test -f src/a.txt && echo "in src"; test -e a.txt && echo "root still filled" || echo "root empty"`,
			"success", []string{"in src", "root empty"}},
		{"relative sub-path first", `
      - uses: actions/checkout@v4
        with:
          path: src
      - run: test -f src/a.txt && echo "in src"; test -e a.txt && echo "root still filled" || echo "root empty"`,
			"success", []string{"in src", "root empty"}},
		{"root then sub-path", `
      - uses: actions/checkout@v4
      - uses: actions/checkout@v4
        with:
          path: src
      - run: test -f src/a.txt && test -f a.txt && echo "both"`,
			"success", []string{"both"}},
		{"absolute outside", `
      - uses: actions/checkout@v4
        with:
          path: /tmp/elsewhere`,
			"failure", []string{"Repository path '/tmp/elsewhere' is not under '/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:" + tt.steps + "\n"
			res, rec := e.runSHA(src, "build", head)
			wantConclusion(t, res, rec, tt.conclusion)
			wantLog(t, rec, tt.want...)
			if hasLine(rec, "root still filled") {
				t.Errorf("the copy put at the workspace root at set-up is still there:\n%s", rec.all())
			}
		})
	}
}

// TestCheckoutOptions: fetch-tags brings the tags, sparse-checkout limits
// the files, persist-credentials leaves the job token as GitHub's
// extraheader (and false leaves none), and lfs without git-lfs fails clearly.
func TestCheckoutOptions(t *testing.T) {
	e := newEnv(t, nil)
	lib := gittest.New(t, e.gitRoot, "octo/lib")
	lib.Commit("one", map[string]string{"src/a.txt": "a", "docs/d.txt": "d", "top.txt": "t"})
	lib.Push("main")
	lib.Push("HEAD:refs/tags/v1.0.0")
	own := gittest.New(t, e.gitRoot, "octo/hello")
	head := own.Commit("a", map[string]string{"a.txt": "a"})
	own.Push("main")
	tests := []struct {
		name, with, check, conclusion string
		want                          []string
	}{
		{"fetch-tags", "fetch-tags: true", `echo "tags=$(git -C lib tag)"`, "success", []string{"tags=v1.0.0"}},
		{"no tags by default", "fetch-depth: 1", `echo "tags=[$(git -C lib tag)]"`, "success", []string{"tags=[]"}},
		{"sparse-checkout", "sparse-checkout: src", `ls lib | tr '\n' ' '; echo; test -e lib/docs && echo "docs present" || echo "docs absent"`,
			"success", []string{"src top.txt", "docs absent"}},
		{"persist-credentials", "fetch-depth: 1", `git -C lib config --local --get-regexp 'extraheader' | sed 's/basic .*/basic <b64>/'; git -C lib config --local --get http.https://github.example/.extraheader | cut -d' ' -f3 | base64 -d; echo`,
			"success", []string{"http.https://github.example/.extraheader AUTHORIZATION: basic <b64>", "x-access-token:***"}},
		{"persist-credentials false", "persist-credentials: false", `echo "extraheader=[$(git -C lib config --local --get-regexp extraheader)]"`,
			"success", []string{"extraheader=[]"}},
	}
	if _, err := exec.LookPath("git-lfs"); err != nil {
		tests = append(tests, struct {
			name, with, check, conclusion string
			want                          []string
		}{"lfs without git-lfs", "lfs: true", "true", "failure", []string{"lfs: true needs git-lfs, which is not installed"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n" +
				"      - uses: actions/checkout@v4\n        with:\n          repository: octo/lib\n          path: lib\n          " + tt.with + "\n" +
				"      - run: |\n          " + tt.check + "\n"
			res, rec := e.runSHA(src, "build", head)
			wantConclusion(t, res, rec, tt.conclusion)
			wantLog(t, rec, tt.want...)
		})
	}
}
