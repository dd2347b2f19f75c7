package actions

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// buildEnv is a namespace sandbox per run, the local test registry with
// the Debian test image, and an image store of the test's own.
type buildEnv struct {
	t              *testing.T
	e              *env
	debian         string // the Debian test image, as a Dockerfile names it
	storeDir       string
	images         runner.ImageSource
	builds         runner.ImageBuilder
	relabelBackend string // run the job with this Guest.Backend name ("": the real one)
}

func newBuildEnv(t *testing.T) *buildEnv {
	t.Helper()
	startNamespace(t) // skips (fails under CI=true) without bubblewrap, root or the guest image
	reg := ocitest.Registry(t)
	imgs := ocitest.PushImages(t, reg)
	dir := t.TempDir()
	st, err := oci.Open(dir, reg.Mirror(), quietOCI())
	if err != nil {
		t.Fatal(err)
	}
	_ = imgs
	b := &buildEnv{t: t, e: newEnv(t, nil), debian: "debian:bookworm", storeDir: dir} // through the docker.io mirror
	b.images, b.builds = runner.OCIImages(st)
	return b
}

func quietOCI() oci.Option {
	return oci.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// run runs the workflow's job "build" in a fresh namespace sandbox.
func (b *buildEnv) run(src string, ev runner.EventInfo) (*runner.Result, *recorder) {
	b.t.Helper()
	g, _ := startNamespace(b.t)
	if b.relabelBackend != "" {
		g.Backend = b.relabelBackend
	}
	w, err := workflow.Load("ci.yml", []byte(src))
	if err != nil {
		b.t.Fatal(err)
	}
	if ev.Name == "" {
		ev = runner.EventInfo{Name: "push", Repo: "octo/hello", Ref: "refs/heads/main", Payload: []byte(`{}`)}
	}
	ev.SHA, ev.RunID, ev.RunNumber, ev.Workflow, ev.Token = strings.Repeat("a", 40), 7, 3, "CI", "ghs_testtoken123"
	spec := &runner.Spec{Workflow: w, Job: w.Job("build"), Actions: b.e.r, Images: b.images, Builds: b.builds, Event: ev,
		Source: func(ctx context.Context, w io.Writer) error { return gitrepo.TarDir(w, b.e.src) }}
	rec := newRecorder()
	res, err := runner.Run(context.Background(), g, spec, rec)
	if err != nil {
		b.t.Fatal(err)
	}
	return res, rec
}

const greetEntrypoint = `#!/bin/sh
set -e
echo "greet: $GREETING $1 (second arg: $2)"
echo "built file: $(cat /app/built.txt)"
echo "data file: $(stat -c '%a' /app/data.txt)"
echo "builder said: $(cat /home/builder/me)"
echo "label file: $(cat /app/label)"
echo "greeting=$GREETING $1" >> "$GITHUB_OUTPUT"
`

// TestDockerfileActionBuild: a local Dockerfile action (FROM the local
// test registry's Debian image; ARG, ENV, LABEL, WORKDIR, COPY with
// --chown and --chmod, RUN as root and as another USER, ENTRYPOINT) is
// built on the namespace backend and run with its inputs as arguments,
// setting an output through $GITHUB_OUTPUT. The stored image has its
// image's owners back (root's files are host root's, the RUN-created
// user's file is uid 1000; a step container sees files by the job's
// read-only image model, so owners are checked on the host), and a second job reuses the build (the log
// and BuildCount say so). Cold and cached times are logged.
func TestDockerfileActionBuild(t *testing.T) {
	b := newBuildEnv(t)
	b.e.write(map[string]string{
		"greet/action.yml": `name: greet
inputs:
  who:
    required: true
outputs:
  greeting:
    description: the greeting
runs:
  using: docker
  image: Dockerfile
  args:
    - ${{ inputs.who }}
    - two words
`,
		"greet/Dockerfile": `# a Dockerfile action
ARG BASE=` + b.debian + `
FROM ${BASE}
ARG BASE
ARG GREETING=Hello
ENV GREETING=${GREETING} \
    OTHER="x y"
LABEL org.example.test="yes"
WORKDIR /app
COPY entrypoint.sh /entrypoint.sh
COPY --chown=nobody:nogroup --chmod=0640 data.txt ./
RUN echo "built at build time" > built.txt && useradd -m -u 1000 builder && echo "RUN as $(id -un) in $(pwd) GREETING=$GREETING BASE=$BASE"
RUN ["/bin/sh", "-c", "chown builder /app/built.txt && echo $OTHER > /app/label"]
USER builder
RUN whoami > /home/builder/me && echo "RUN as $(id -un)"
USER root
ENTRYPOINT ["/entrypoint.sh"]
`,
		"greet/entrypoint.sh": greetEntrypoint,
		"greet/data.txt":      "data\n",
	})
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
	before := BuildCount.Load()
	start := time.Now()
	res, rec := b.run(src, runner.EventInfo{})
	cold := time.Since(start)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Building the image of ./greet from greet/Dockerfile", "RUN as root in /app GREETING=Hello BASE=debian:bookworm", "RUN as builder",
		"greet: Hello world (second arg: two words)", "built file: built at build time",
		"data file: 640", "builder said: builder", "label file: x y", "out=Hello world")
	if n := BuildCount.Load() - before; n != 1 {
		t.Fatalf("first run built %d images, want 1", n)
	}
	// The stored image: the image's ids again, not the sandbox's.
	roots, _ := filepath.Glob(filepath.Join(b.storeDir, "oci", "images", "*", "rootfs", "app", "built.txt"))
	if len(roots) != 1 {
		t.Fatalf("built image's /app/built.txt: found %q under %s", roots, b.storeDir)
	}
	rootfs := filepath.Dir(filepath.Dir(roots[0]))
	for p, want := range map[string][2]uint32{"app/built.txt": {1000, 0}, "etc/passwd": {0, 0}, "app/data.txt": {65534, 65534}, "home/builder/me": {1000, 1000}, "usr/bin/passwd": {0, 0}} {
		fi, err := os.Lstat(filepath.Join(rootfs, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("built image's /%s is owned by %d:%d on the host, want %d:%d", p, st.Uid, st.Gid, want[0], want[1])
		}
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "usr/bin/passwd")); err != nil || fi.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("/usr/bin/passwd lost its setuid bit in the build (mode %v, %v)", fi.Mode(), err)
	}

	buildOnly := "?"
	if m := regexp.MustCompile(`Built the image of \./greet from greet/Dockerfile in (\S+)`).FindStringSubmatch(rec.all()); m != nil {
		buildOnly = m[1]
	}
	start = time.Now()
	res, rec = b.run(src, runner.EventInfo{})
	cached := time.Since(start)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Using the cached image built from greet/Dockerfile", "greet: Hello world (second arg: two words)", "out=Hello world")
	if n := BuildCount.Load() - before; n != 1 {
		t.Fatalf("second run built again (%d builds in all)", n)
	}
	if strings.Contains(rec.all(), "Building the image") {
		t.Errorf("second run built again:\n%s", rec.all())
	}
	cacheOnly := "?"
	if m := regexp.MustCompile(`Using the cached image built from greet/Dockerfile \S+ in (\S+)`).FindStringSubmatch(rec.all()); m != nil {
		cacheOnly = m[1]
	}
	t.Logf("Dockerfile action (namespace backend): build %s cold (context snapshot, pull, copy, 3 RUN, store), %s cached (context snapshot, pull check, key, lookup); whole jobs %s cold, %s cached (sandbox start, checkout, build or cache hit, run)",
		buildOnly, cacheOnly, cold.Round(time.Millisecond), cached.Round(time.Millisecond))
}

// TestDockerfileActionBuildFailures: a remote action whose Dockerfile is
// in a subdirectory (the context) builds and runs; a local action that is
// only a Dockerfile builds and runs with its inputs, its .dockerignore
// applied; an unsupported instruction fails the
// step naming the file and line; a RUN that fails fails the step with its
// output and its line; the microvm backend refuses the build naming the
// action and why.
func TestDockerfileActionBuildFailures(t *testing.T) {
	b := newBuildEnv(t)
	b.e.write(map[string]string{
		"unsup/action.yml":    "runs:\n  using: docker\n  image: Dockerfile\n",
		"unsup/Dockerfile":    "FROM " + b.debian + "\nRUN true\nHEALTHCHECK CMD true\n",
		"runfail/action.yml":  "runs:\n  using: docker\n  image: Dockerfile\n",
		"runfail/Dockerfile":  "FROM " + b.debian + "\nRUN echo about to fail && echo on stderr >&2 && exit 3\nENTRYPOINT [\"true\"]\n",
		"copymiss/action.yml": "runs:\n  using: docker\n  image: Dockerfile\n",
		"copymiss/Dockerfile": "FROM " + b.debian + "\nCOPY nothere /x\n",
		// A local action that is only a Dockerfile (no action.yml).
		"only/Dockerfile":     "FROM " + b.debian + "\nARG DIR=/ctx\nCOPY hi.sh /usr/local/bin/\nCOPY . /ctx/\nENTRYPOINT [\"/bin/sh\", \"/usr/local/bin/hi.sh\"]\n",
		"only/hi.sh":          "echo \"only a Dockerfile: INPUT_WHO=$INPUT_WHO in $(pwd)\"; echo \"context: $(cd /ctx && find . -type f | sort | tr '\\n' ' ')\"\n",
		"only/.dockerignore":  "# not in the context\n*.md\n!keep.md\nsub/**\n",
		"only/notes.md":       "ignored\n",
		"only/keep.md":        "kept\n",
		"only/sub/deep/x.txt": "ignored\n",
	})
	job := func(uses string) string {
		return `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ` + uses + `
`
	}
	// A remote action whose Dockerfile is in a subdirectory: that
	// directory is the context.
	repo := gittest.New(t, b.e.gitRoot, "acme/built")
	repo.Commit("v1", map[string]string{
		"action.yml":        "runs:\n  using: docker\n  image: docker/Dockerfile\n  args: [\"${{ inputs.who }}\"]\ninputs:\n  who:\n    default: nobody\n",
		"docker/Dockerfile": "FROM " + b.debian + "\nCOPY run.sh /run.sh\nRUN echo remote-built > /stamp\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n",
		"docker/run.sh":     "echo \"remote action: $(cat /stamp) for $1\"\n",
	})
	repo.Push("HEAD:refs/tags/v1")
	res, rec := b.run(job("acme/built@v1")+"        with:\n          who: you\n", runner.EventInfo{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Building the image of acme/built@v1 from docker/Dockerfile", "remote action: remote-built for you")

	res, rec = b.run(job("./only")+"        with:\n          who: me\n", runner.EventInfo{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Building the image of ./only from only/Dockerfile", "only a Dockerfile: INPUT_WHO=me in /github/workspace",
		"context: ./.dockerignore ./Dockerfile ./hi.sh ./keep.md ")

	res, rec = b.run(job("./unsup"), runner.EventInfo{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "./unsup: unsup/Dockerfile:3: HEALTHCHECK is not supported")

	res, rec = b.run(job("./runfail"), runner.EventInfo{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "about to fail", "on stderr", "runfail/Dockerfile:2: RUN echo about to fail && echo on stderr >&2 && exit 3 failed (exit code 3)")

	res, rec = b.run(job("./copymiss"), runner.EventInfo{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "copymiss/Dockerfile:2: COPY nothere: COPY source nothere: not found in the build context")

	// The refusal on the microvm backend, which is decided by the backend's
	// name before anything is built: a namespace sandbox relabelled.
	b.relabelBackend = "microvm"
	res, rec = b.run(job("./runfail"), runner.EventInfo{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "./runfail: building a Dockerfile action's image is not supported on the microvm backend: a microVM gets its container images as read-only disks")
}

// TestAttackDockerfileBuildCachePoisoning: what a RUN produces can depend
// on more than the cache key — here on a server the job's own earlier step
// runs on the job's localhost. A pull request from a fork builds an action
// whose RUN fetches from that server (and gets the poison: the attack
// works within the fork's own scope), while a step of the same job keeps
// trying to write into every build directory it can name (the image
// store's). Then a push to the base repository, and another repository's
// job, build the very same action (same Dockerfile, same files): each must
// build its own image (no poison), not reuse the fork's.
func TestAttackDockerfileBuildCachePoisoning(t *testing.T) {
	b := newBuildEnv(t)
	b.e.write(map[string]string{
		"fetch/action.yml": "runs:\n  using: docker\n  image: Dockerfile\n",
		"fetch/Dockerfile": "FROM " + b.debian + `
SHELL ["/bin/bash", "-c"]
RUN (exec 3<>/dev/tcp/127.0.0.1/18555 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3 | tail -n 1) > /payload 2>/dev/null; grep -q POISONED /payload || echo clean > /payload; sleep 2
ENTRYPOINT ["/bin/sh", "-c", "echo \"payload: $(cat /payload)\"; ls /poison 2>/dev/null && echo TAMPERED || true"]
`,
	})
	attacker := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:18555", Listen => 5, ReuseAddr => 1) or die "listen: $!"; while ($c = $s->accept) { <$c>; print $c "HTTP/1.0 200 OK\r\n\r\nPOISONED\n"; close $c }' > /dev/null 2>&1 &
          nohup sh -c 'end=$(($(date +%s) + 60)); while [ $(date +%s) -lt $end ]; do for d in "$STORE" "$STORE"/*/tmp/build-* "$STORE"/*/tmp/build-*/rootfs "$STORE"/*/images/*/rootfs /proc/*/root; do (echo poison > "$d/poison") 2>> "$RUNNER_TEMP/tamper.log"; done; echo "tamperer alive" >> "$RUNNER_TEMP/tamper.log"; sleep 0.2; done' > /dev/null 2>&1 &
          sleep 1
        env:
          STORE: ` + b.storeDir + `
      - uses: ./fetch
      - if: always()
        run: sort "$RUNNER_TEMP/tamper.log" | uniq -c | sort -rn | head -8
`
	fork := runner.EventInfo{Name: "pull_request", Repo: "octo/hello", Ref: "refs/pull/1/merge", Fork: true,
		Payload: []byte(`{"pull_request":{"head":{"repo":{"full_name":"mallory/hello"}}}}`)}
	before := BuildCount.Load()
	res, rec := b.run(attacker, fork)
	wantConclusion(t, res, rec, "success")
	// The control: the fork's own build did get the poison, so the
	// attack is real.
	wantLog(t, rec, "payload: POISONED", "tamperer alive", "poison: ")
	if strings.Contains(rec.all(), "TAMPERED") {
		t.Fatalf("a step of the job wrote into its build's root filesystem:\n%s", rec.all())
	}
	victim := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./fetch
`
	for _, ev := range []runner.EventInfo{
		{Name: "push", Repo: "octo/hello", Ref: "refs/heads/main", Payload: []byte(`{}`)},
		{Name: "push", Repo: "someone/else", Ref: "refs/heads/main", Payload: []byte(`{}`)},
	} {
		res, rec = b.run(victim, ev)
		wantConclusion(t, res, rec, "success")
		wantLog(t, rec, "Building the image of ./fetch", "payload: clean")
		if strings.Contains(rec.all(), "POISONED") || strings.Contains(rec.all(), "TAMPERED") {
			t.Fatalf("%s's job used the fork's poisoned image:\n%s", ev.Repo, rec.all())
		}
	}
	if n := BuildCount.Load() - before; n != 3 {
		t.Fatalf("%d builds for three scopes, want 3", n)
	}
	// No file of the store was written by the job's step.
	filepath.WalkDir(b.storeDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "poison" {
			t.Errorf("the job's step wrote %s", p)
		}
		return nil
	})
	// And a workflow cannot name a built image to run it.
	if _, err := b.images(context.Background(), oci.BuiltRef(strings.Repeat("ab", 32)), nil); err == nil || !strings.Contains(err.Error(), "cannot use them by name") {
		t.Fatalf("pulling a built image by name: %v", err)
	}
}
