package actions

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// TestContainerJobJavaScriptAction: a JavaScript action in a job container
// runs inside the container (its files, its workspace path) with the
// sandbox's node bound at /__e/node20/bin/node, as GitHub's runner binds its
// own: inputs, an output read by a later step, saved state reaching post.
// The image's own node (the guest image has Debian's) is not the one used.
func TestContainerJobJavaScriptAction(t *testing.T) {
	g, root := startNamespace(t)
	e := newEnv(t, nil)
	e.write(map[string]string{
		"js/action.yml": `name: js
inputs:
  who:
    required: true
outputs:
  greeting:
    description: the greeting
runs:
  using: node20
  main: main.js
  post: post.js
`,
		"js/main.js": `const fs = require('fs');
const who = process.env.INPUT_WHO;
console.log('node ' + process.execPath + ' ' + process.version);
console.log('cwd ' + process.cwd());
console.log('os-release ' + fs.readFileSync('/etc/os-release', 'utf8').split('\n')[0]);
fs.appendFileSync(process.env.GITHUB_OUTPUT, 'greeting=hello ' + who + '\n');
fs.appendFileSync(process.env.GITHUB_STATE, 'who=' + who + '\n');
`,
		"js/post.js": `console.log('post for ' + process.env.STATE_who + ' in ' + process.cwd());
`,
	})
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		if ref != "debian:bookworm" {
			return nil, errors.New("manifest unknown: " + ref)
		}
		return &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64", Env: []string{"PATH=/usr/bin:/bin"}, Cmd: []string{"bash"}}, nil
	}
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    container: debian:bookworm
    steps:
      - uses: actions/checkout@v4
      - id: greet
        uses: ./js
        with:
          who: octocat
      - run: echo "output was ${{ steps.greet.outputs.greeting }}"
`
	res, rec := runContainerJob(t, g, e, images, src)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "node /__e/node20/bin/node ", "cwd /__w/hello/hello", "os-release PRETTY_NAME=", "output was hello octocat",
		"post for octocat in /__w/hello/hello")
	// The bound node is the sandbox's (the host's), not the image's.
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	hostVersion := strings.TrimSpace(string(out))
	wantLog(t, rec, "node /__e/node20/bin/node "+hostVersion)
}

// TestContainerJobJavaScriptActionNoGlibc: in an image without glibc (a
// static busybox, as Alpine or distroless lack glibc) the sandbox's node
// cannot run; the step fails saying so, naming the image, instead of an
// exec error.
func TestContainerJobJavaScriptActionNoGlibc(t *testing.T) {
	g, _ := startNamespace(t)
	e := newEnv(t, nil)
	e.write(map[string]string{
		"js/action.yml": "name: js\nruns:\n  using: node20\n  main: main.js\n",
		"js/main.js":    "console.log('ran');\n",
	})
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp", "run", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no static busybox (busybox-static, installed by scripts/build-image.sh): %v", err)
		}
		t.Skip("no static busybox on this host (busybox-static, installed by scripts/build-image.sh)")
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		return &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64", Env: []string{"PATH=/bin"}}, nil
	}
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    container: tiny:1
    steps:
      - uses: ./js
`
	res, rec := runContainerJob(t, g, e, images, src)
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "JavaScript actions cannot run in container tiny:1: the image has no glibc")
	if strings.Contains(rec.all(), "\nran") {
		t.Fatalf("the action ran:\n%s", rec.all())
	}
}

func runContainerJob(t *testing.T, g *runner.Guest, e *env, images runner.ImageSource, src string) (*runner.Result, *recorder) {
	t.Helper()
	w, err := workflow.Load("ci.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	spec := &runner.Spec{Workflow: w, Job: w.Job("build"), Actions: e.r, Images: images,
		Event: runner.EventInfo{Name: "push", Repo: "octo/hello", SHA: strings.Repeat("a", 40), Ref: "refs/heads/main",
			Payload: []byte(`{}`), RunID: 7, RunNumber: 3, Workflow: "CI", Token: "ghs_testtoken123"},
		Source: func(ctx context.Context, w io.Writer) error { return gitrepo.TarDir(w, e.src) },
	}
	rec := newRecorder()
	res, err := runner.Run(context.Background(), g, spec, rec)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}
