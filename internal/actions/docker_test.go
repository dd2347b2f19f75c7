package actions

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/namespace"
	"github.com/hookci/hookci/internal/workflow"
)

// startNamespace starts a namespace sandbox that can run containers, and
// returns the guest image's root filesystem to serve as images; it skips
// (fails under CI=true) where either is missing.
func startNamespace(t *testing.T) (*runner.Guest, string) {
	t.Helper()
	return startNamespaceBundle(t, "")
}

// startNamespaceBundle is startNamespace with the backend's node bundle
// cache at bundleDir ("" = its default, under its work directory).
func startNamespaceBundle(t *testing.T, bundleDir string) (*runner.Guest, string) {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker action tests need %s (CI=true: not skipping)", why)
		}
		t.Skipf("docker action tests need %s", why)
	}
	if _, err := exec.LookPath("bwrap"); err != nil || os.Geteuid() != 0 {
		skip("bubblewrap and root")
	}
	root := filepath.Join(os.Getenv("HOOKCI_DATA_DIR"), "image", "current", "rootfs")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/env")); os.Getenv("HOOKCI_DATA_DIR") == "" || err != nil {
		skip("the guest image (HOOKCI_DATA_DIR)")
	}
	b, err := namespace.New(namespace.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir(), NodeBundleDir: bundleDir})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "docker-action"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	g := &runner.Guest{Client: inst.Client, Layout: inst.Layout, Backend: inst.Backend}
	g.Containers = func(ctx context.Context, r runner.ContainerRequest) (*runner.Container, error) {
		spec := sandbox.ContainerSpec{Name: r.Name, RootFS: r.RootFS, UID: r.UID, GID: r.GID, Tmpfs: r.Tmpfs, Hosts: r.Hosts, Writable: r.Writable}
		for _, m := range r.Mounts {
			spec.Mounts = append(spec.Mounts, sandbox.ContainerMount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		}
		c, err := inst.Containers(ctx, spec)
		if err != nil {
			return nil, err
		}
		return &runner.Container{Client: c.Client, Layout: c.Layout, Close: c.Close}, nil
	}
	return g, root
}

// TestDockerActionPrebuiltImage: a Docker action with a docker:// image
// gets its inputs as INPUT_*, runs.args evaluated with the inputs (replacing
// the image's CMD), runs.env, and sets an output through GITHUB_OUTPUT; its
// pre-entrypoint runs before and its post-entrypoint as a post step, in
// /github/workspace.
func TestDockerActionPrebuiltImage(t *testing.T) {
	g, root := startNamespace(t)
	e := newEnv(t, nil)
	e.write(map[string]string{"greet/action.yml": `name: greet
inputs:
  who:
    required: true
  punct:
    default: "!"
outputs:
  greeting:
    description: the greeting
runs:
  using: docker
  image: docker://greeter:1
  pre-entrypoint: /usr/bin/env
  post-entrypoint: /usr/bin/pwd
  args:
    - ${{ inputs.who }}${{ inputs.punct }}
    - second
  env:
    FROM_META: meta-${{ inputs.who }}
`})
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		if ref != "greeter:1" {
			return nil, errors.New("manifest unknown: " + ref)
		}
		return &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64", Cmd: []string{"not", "used"},
			Entrypoint: []string{"/bin/sh", "-c", `echo "greeting=hello $1" >> "$GITHUB_OUTPUT"; echo "meta=$FROM_META input=$INPUT_WHO args: $*"`, "sh"}}, nil
	}
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./greet
        id: g
        with:
          who: world
      - run: echo "out=${{ steps.g.outputs.greeting }}"
`
	res, rec := runContainerJob(t, g, e, images, src)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "INPUT_WHO=world", "meta=meta-world input=world args: world! second", "out=hello world!", "== Post ./greet", "/github/workspace")
	if strings.Contains(rec.all(), "not used") {
		t.Errorf("the image's CMD was used although runs.args replace it:\n%s", rec.all())
	}
}

// TestContainerJobActions: in a job container, actions/checkout and a
// composite action with a docker:// step run (the job's steps go through
// the container's agent; the docker step gets a container of its own).
func TestContainerJobActions(t *testing.T) {
	g, root := startNamespace(t)
	e := newEnv(t, nil)
	e.write(map[string]string{
		"hello.txt": "hello from the repository\n",
		"comp/action.yml": `name: comp
runs:
  using: composite
  steps:
    - uses: docker://tool:1
      with:
        args: from-composite
    - run: echo "composite in $(pwd)"
      shell: bash
`})
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		img := &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64", Env: []string{"PATH=/usr/bin:/bin"}}
		switch ref {
		case "debian:bookworm":
			img.Cmd = []string{"bash"}
		case "tool:1":
			img.Entrypoint = []string{"/bin/sh", "-c", `echo "tool says $1 in $(pwd)"; cat hello.txt`, "sh"}
		default:
			return nil, errors.New("manifest unknown: " + ref)
		}
		return img, nil
	}
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    container: debian:bookworm
    steps:
      - uses: actions/checkout@v4
      - run: cat hello.txt && echo "in $(pwd) as $(id -u)"
      - uses: ./comp
`
	res, rec := runContainerJob(t, g, e, images, src)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "hello from the repository", "in /__w/hello/hello as 0", "tool says from-composite in /github/workspace", "composite in /__w/hello/hello")
}

// TestRemoteDockerActionPreAtJobStart: a remote Docker action's
// pre-entrypoint runs at job start as its own step ("Pre <step>", before
// the job's first step, with the step's inputs), once, as GitHub runs it.
func TestRemoteDockerActionPreAtJobStart(t *testing.T) {
	g, root := startNamespace(t)
	e := newEnv(t, nil)
	repo := gittest.New(t, e.gitRoot, "acme/greet-docker")
	repo.Commit("docker", map[string]string{"action.yml": `name: greet
inputs:
  who:
    required: true
runs:
  using: docker
  image: docker://greeter:1
  pre-entrypoint: /usr/bin/env
  args:
    - ${{ inputs.who }}
`})
	repo.Push("HEAD:refs/tags/v1")
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		if ref != "greeter:1" {
			return nil, errors.New("manifest unknown: " + ref)
		}
		return &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64",
			Entrypoint: []string{"/bin/sh", "-c", `echo "main for $INPUT_WHO args: $*"`, "sh"}}, nil
	}
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "first step"
      - name: greet
        uses: acme/greet-docker@v1
        with:
          who: Early
`
	res, rec := runContainerJob(t, g, e, images, src)
	wantConclusion(t, res, rec, "success")
	if got := rec.names[1]; got != "Pre greet" {
		t.Errorf("step 1 = %q, want the pre step \"Pre greet\" before the job's steps; log:\n%s", got, rec.all())
	}
	if got := rec.names[2]; got != "Run echo \"first step\"" {
		t.Errorf("step 2 = %q, want the first step after the pre", got)
	}
	if got := rec.log(3); !strings.Contains(got, "main for Early args: Early") {
		t.Errorf("main step log %q lacks the main entrypoint's output", got)
	}
	if got := rec.log(1); !strings.Contains(got, "INPUT_WHO=Early") {
		t.Errorf("pre step log %q lacks the pre-entrypoint's output (its environment)", got)
	}
	if n := strings.Count(rec.all(), "INPUT_WHO=Early"); n != 1 {
		t.Errorf("the pre-entrypoint ran %d times, want once:\n%s", n, rec.all())
	}
}
