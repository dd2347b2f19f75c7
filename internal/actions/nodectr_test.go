package actions

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/nodebundle"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// TestContainerJobJavaScriptAction: a JavaScript action in a job container
// runs inside the container (its files, its workspace path) with the
// sandbox's node bound at /__e/node20/bin/node, as GitHub's runner binds its
// own: inputs, an output read by a later step, saved state reaching post.
// The image's own node (the guest image has Debian's) is not the one used:
// the bundle of the host's is (package nodebundle).
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

// staticImage makes a container image root with no libc at all: a static
// busybox as /bin/sh (Alpine's and distroless images lack glibc too; this
// one lacks any loader or shared library).
func staticImage(t *testing.T) runner.ImageSource {
	t.Helper()
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
	return func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		return &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64", Env: []string{"PATH=/bin"}}, nil
	}
}

// TestContainerJobJavaScriptActionNoGlibc: in an image without any libc (a
// static busybox) a JavaScript action runs: the sandbox's node is a
// self-contained bundle (its own glibc loader and libraries) bound at
// /__e/node20; inputs, an output read by a later (busybox sh) step, state
// reaching post, process.execPath /__e/node20/bin/node.
func TestContainerJobJavaScriptActionNoGlibc(t *testing.T) {
	g, _ := startNamespace(t)
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
console.log('node ' + process.execPath + ' ' + process.version);
console.log('no libc: ' + ['/lib64/ld-linux-x86-64.so.2', '/lib', '/usr', '/lib/ld-musl-x86_64.so.1'].filter(p => fs.existsSync(p)).length);
console.log('image root ' + fs.readdirSync('/').sort().join(','));
fs.appendFileSync(process.env.GITHUB_OUTPUT, 'greeting=hello ' + process.env.INPUT_WHO + '\n');
fs.appendFileSync(process.env.GITHUB_STATE, 'who=' + process.env.INPUT_WHO + '\n');
`,
		"js/post.js": "console.log('post for ' + process.env.STATE_who);\n",
	})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    container: tiny:1
    steps:
      - id: greet
        uses: ./js
        with:
          who: octocat
      - run: echo "output was ${{ steps.greet.outputs.greeting }}"
`
	res, rec := runContainerJob(t, g, e, staticImage(t), src)
	wantConclusion(t, res, rec, "success")
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	wantLog(t, rec, "node /__e/node20/bin/node "+strings.TrimSpace(string(out)), "no libc: 0", "output was hello octocat", "post for octocat")
}

// TestContainerNodeBundleReadOnly (attack): the node bundle is one per
// host, shared by every job's containers. A job running as root in its
// container tries to change it — writing, appending, creating, removing,
// renaming, chmod, utimes, a remount read-write — from a shell step and
// from a JavaScript action (node itself, also through /proc/self/exe); a
// job outside a container writes to the bundle's host path. Every attempt
// must fail and the host's bundle must be byte for byte what it was.
func TestContainerNodeBundleReadOnly(t *testing.T) {
	cache := t.TempDir()
	g, _ := startNamespaceBundle(t, cache)
	node, err := nodebundle.HostNode()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := nodebundle.Ensure(context.Background(), cache, node)
	if err != nil {
		t.Fatal(err)
	}
	before := treeSums(t, cache)
	e := newEnv(t, nil)
	e.write(map[string]string{
		"js/action.yml": "name: js\nruns:\n  using: node20\n  main: main.js\n",
		"js/main.js": `const fs = require('fs');
const b = '/__e/node20';
const tries = {
  write: () => fs.writeFileSync(b + '/bin/node', 'pwned'),
  append: () => fs.appendFileSync(b + '/lib/libc.so.6', 'pwned'),
  create: () => fs.writeFileSync(b + '/lib/evil.so', 'pwned'),
  mkdir: () => fs.mkdirSync(b + '/evil'),
  unlink: () => fs.unlinkSync(b + '/VERSION'),
  rename: () => fs.renameSync(b + '/lib/libm.so.6', b + '/lib/moved'),
  chmod: () => fs.chmodSync(b + '/bin/node', 0o777),
  utimes: () => fs.utimesSync(b + '/bin/node', 0, 0),
  truncate: () => fs.truncateSync(b + '/lib/libc.so.6', 0),
  selfexe: () => fs.writeFileSync('/proc/self/exe', 'pwned'),
};
for (const [k, f] of Object.entries(tries)) {
  try { f(); console.log('WROTE ' + k); } catch (e) { console.log('refused ' + k + ' ' + e.code); }
}
`,
	})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    container: tiny:1
    steps:
      - run: |
          b=/__e/node20
          busybox id
          for f in $b/bin/node $b/lib/libc.so.6 $b/VERSION; do
            if (echo pwned > $f) 2>/dev/null; then echo "WROTE $f"; fi
          done
          busybox touch $b/lib/evil 2>/dev/null && echo "WROTE touch"
          busybox rm -f $b/lib/libm.so.6 2>/dev/null || true
          [ -e $b/lib/libm.so.6 ] || echo "WROTE rm"
          busybox chmod 777 $b/bin/node 2>/dev/null && echo "WROTE chmod"
          busybox mv $b/bin/node $b/bin/node2 2>/dev/null && echo "WROTE mv"
          busybox mount -o remount,rw $b 2>/dev/null && echo "WROTE remount"
          busybox mount -o remount,bind,rw $b 2>/dev/null && echo "WROTE remount bind"
          busybox mount -t tmpfs none $b/lib 2>/dev/null && echo "WROTE mount over"
          echo "shell attack done"
      - uses: ./js
`
	res, rec := runContainerJob(t, g, e, staticImage(t), src)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "uid=0(root)", "shell attack done", "refused write ", "refused create ", "refused chmod ", "refused selfexe ")
	if n := strings.Count(rec.all(), "\nrefused "); n != 10 {
		t.Errorf("%d JavaScript attempts refused, want 10:\n%s", n, rec.all())
	}
	// A job outside a container: the bundle's host path.
	res, rec = runContainerJob(t, g, e, staticImage(t), `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          b='`+bundle+`'
          for f in "$b/bin/node" "$b/lib/libc.so.6"; do
            if (echo pwned > "$f") 2>/dev/null; then echo "WROTE $f"; fi
          done
          touch "$b/lib/evil" 2>/dev/null && echo "WROTE touch"
          chmod 777 "$b/bin/node" 2>/dev/null && echo "WROTE chmod"
          echo "host path attack done"
`)
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "host path attack done")
	if strings.Contains(rec.all(), "WROTE") {
		t.Errorf("an attempt to change the bundle succeeded:\n%s", rec.all())
	}
	after := treeSums(t, cache)
	if !maps.Equal(before, after) {
		t.Errorf("the host's node bundle changed:\nbefore %v\nafter  %v", before, after)
	}
}

// treeSums maps every file and directory under dir to its mode and content
// hash.
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		sums[strings.TrimPrefix(p, dir)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
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
