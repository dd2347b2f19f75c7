package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/namespace"
	"github.com/hookci/hookci/internal/workflow"
)

// These tests run services, job containers and docker steps in real
// namespace sandboxes, with the guest image's root filesystem (Debian with
// python3 and curl) standing in for the images.

const webServer = `import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(s):
        s.send_response(200); s.end_headers()
        s.wfile.write((os.environ["GREETING"] + " from " + os.uname().nodename + "\n").encode())
    def log_message(s, *a): print("served", s.path, flush=True)
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", 8080), H).serve_forever()
`

// guestRootFS returns the guest image's root filesystem, or skips (fails
// under CI=true) without it or without what the namespace backend needs.
func guestRootFS(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("container tests need %s (CI=true: not skipping)", why)
		}
		t.Skipf("container tests need %s", why)
	}
	if _, err := exec.LookPath("bwrap"); err != nil || os.Geteuid() != 0 {
		skip("bubblewrap and root")
	}
	dir := os.Getenv("HOOKCI_DATA_DIR")
	if dir == "" {
		skip("the guest image (HOOKCI_DATA_DIR)")
	}
	root := filepath.Join(dir, "image", "current", "rootfs")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/python3")); err != nil {
		skip("the guest image's root filesystem with python3 at " + root)
	}
	return root
}

// testImages serves the images of these tests from rootfs.
func testImages(rootfs string) ImageSource {
	return func(ctx context.Context, ref string, creds *workflow.Credentials) (*Image, error) {
		img := &Image{Ref: ref, Digest: "sha256:test", RootFS: rootfs, OS: "linux", Arch: "amd64",
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "IMAGE_VAR=from-image"}}
		switch ref {
		case "web:1":
			img.Cmd = []string{"python3", "-c", webServer}
		case "debian:bookworm":
			img.Cmd = []string{"bash"}
		case "tool:1":
			img.Entrypoint = []string{"/bin/sh", "-c", `echo "greeting=hello $INPUT_WHO" >> "$GITHUB_OUTPUT"; echo made > made-by-step; echo "args: $*"; pwd; echo "home=$HOME"`, "sh"}
		case "arm:1":
			img.Arch, img.Cmd = "arm64", []string{"true"}
		case "private:1":
			if creds == nil || creds.Password != "right" {
				return nil, errors.New("401 Unauthorized: authentication required")
			}
			img.Cmd = []string{"sleep", "1000"}
		default:
			return nil, errors.New("manifest unknown: " + ref)
		}
		return img, nil
	}
}

func runInNamespace(t *testing.T, src, job string) (*Result, *recorder) {
	t.Helper()
	return runWithImages(t, src, job, testImages(guestRootFS(t)))
}

// runWithImages runs job of src in a fresh namespace sandbox with images.
func runWithImages(t *testing.T, src, job string, images ImageSource) (*Result, *recorder) {
	t.Helper()
	guestRootFS(t)
	b, err := namespace.New(namespace.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "ctr-" + strings.ToLower(job)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	g := guestOf(inst)
	g.Containers = func(ctx context.Context, r ContainerRequest) (*Container, error) {
		spec := sandbox.ContainerSpec{Name: r.Name, RootFS: r.RootFS, UID: r.UID, GID: r.GID, Tmpfs: r.Tmpfs, Hosts: r.Hosts, Hostname: r.Hostname}
		for _, m := range r.Mounts {
			spec.Mounts = append(spec.Mounts, sandbox.ContainerMount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		}
		c, err := inst.Containers(ctx, spec)
		if err != nil {
			return nil, err
		}
		return &Container{Client: c.Client, Layout: c.Layout, Close: c.Close}, nil
	}
	w, j := loadJob(t, src, job)
	spec := &Spec{Workflow: w, Job: j, Images: images, Secrets: map[string]string{"REG_PW": "wrong"},
		Event: EventInfo{Name: "push", Repo: "octo/hello", SHA: strings.Repeat("a", 40), Ref: "refs/heads/main",
			Payload: []byte(`{"ref":"refs/heads/main"}`), RunID: 7, RunNumber: 3, Workflow: "CI"}}
	rec := newRecorder()
	res, err := Run(context.Background(), g, spec, rec)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

const serviceJobs = `
on: push
jobs:
  runner:
    runs-on: ubuntu-latest
    services:
      web:
        image: web:1
        env:
          GREETING: hello
        ports: ["18080:8080"]
        options: --health-cmd "curl -fsS http://127.0.0.1:8080/health" --health-interval 200ms --health-retries 50
    steps:
      - run: |
          echo "mapped=${{ job.services.web.ports['8080'] }}"
          curl -fsS http://localhost:${{ job.services.web.ports['8080'] }}/
          curl -fsS http://localhost:8080/
  boxed:
    runs-on: ubuntu-latest
    container:
      image: debian:bookworm
      env:
        MINE: set
    services:
      web:
        image: web:1
        env:
          GREETING: hi
        options: --health-cmd "curl -fsS http://127.0.0.1:8080/" --health-interval 200ms --health-retries 50
    steps:
      - run: |
          curl -fsS http://web:8080/
          echo "pwd=$(pwd) ws=$GITHUB_WORKSPACE mine=$MINE image=$IMAGE_VAR"
          echo "value=out-$MINE" >> "$GITHUB_OUTPUT"
        id: s
      - run: echo "got ${{ steps.s.outputs.value }}"
`

// TestServiceAndContainerJob: a job reaches its service at localhost:8080
// once the health check passed, and at localhost:18080 through the relay of
// its `ports: ["18080:8080"]` (job.services.web.ports['8080'] is 18080); the same service from a job container is
// reached as web:8080; the container job runs in /__w/<repo>/<repo> with its
// image's and container's env, and file commands work; the service's
// output is shown when containers stop.
func TestServiceAndContainerJob(t *testing.T) {
	res, rec := runInNamespace(t, serviceJobs, "runner")
	if res.Conclusion != "success" {
		t.Fatalf("runner job: %s\n%s", res.Conclusion, rec.all())
	}
	for _, want := range []string{"service web is healthy", "mapped=18080", "port 18080 relayed to its port 8080", "hello from web\nhello from web", "Service web output", "listening", "served /health"} {
		if !strings.Contains(rec.all(), want) {
			t.Errorf("runner job's log lacks %q:\n%s", want, rec.all())
		}
	}
	res, rec = runInNamespace(t, serviceJobs, "boxed")
	if res.Conclusion != "success" {
		t.Fatalf("container job: %s\n%s", res.Conclusion, rec.all())
	}
	for _, want := range []string{"hi from web", "pwd=/__w/hello/hello ws=/__w/hello/hello mine=set image=from-image", "got out-set"} {
		if !strings.Contains(rec.all(), want) {
			t.Errorf("container job's log lacks %q:\n%s", want, rec.all())
		}
	}
}

// TestDockerStep: a docker:// step runs the image's entrypoint with
// with.args, inputs as INPUT_*, in /github/workspace (the job's workspace),
// HOME /github/home, and its GITHUB_OUTPUT reaches the steps context.
func TestDockerStep(t *testing.T) {
	src := `
on: push
jobs:
  dock:
    runs-on: ubuntu-latest
    steps:
      - uses: docker://tool:1
        id: t
        with:
          args: one "two words"
          who: world
      - run: |
          echo "output=${{ steps.t.outputs.greeting }}"
          cat made-by-step
`
	res, rec := runInNamespace(t, src, "dock")
	if res.Conclusion != "success" {
		t.Fatalf("docker step job: %s\n%s", res.Conclusion, rec.all())
	}
	for _, want := range []string{"args: one two words", "/github/workspace", "home=/github/home", "output=hello world", "made"} {
		if !strings.Contains(rec.all(), want) {
			t.Errorf("log lacks %q:\n%s", want, rec.all())
		}
	}
}

// TestContainerFailures: each way a container job cannot start fails the
// job in "Set up job" with the reason.
func TestContainerFailures(t *testing.T) {
	tests := []struct{ name, job, want string }{
		{"unhealthy", "  j:\n    runs-on: x\n    services:\n      postgres:\n        image: web:1\n        env: {GREETING: x}\n        options: --health-cmd false --health-interval 100ms --health-retries 3\n    steps:\n      - run: echo never\n",
			"service postgres never became healthy: the health check exited with 1"},
		{"arch", "  j:\n    runs-on: x\n    container: arm:1\n    steps:\n      - run: echo never\n",
			"container: image arm:1 is for linux/arm64; this runner is linux/amd64"},
		{"credentials", "  j:\n    runs-on: x\n    services:\n      p:\n        image: private:1\n        credentials:\n          username: me\n          password: ${{ secrets.REG_PW }}\n    steps:\n      - run: echo never\n",
			"service p: pulling image private:1: 401 Unauthorized: authentication required"},
		{"option", "  j:\n    runs-on: x\n    container:\n      image: debian:bookworm\n      options: --privileged\n    steps:\n      - run: echo never\n",
			"container: options: --privileged is not supported"},
		{"port", "  j:\n    runs-on: x\n    services:\n      w:\n        image: web:1\n        ports: ['5433:5432/udp']\n    steps:\n      - run: echo never\n",
			"maps udp port 5433 to 5432"},
		{"port taken", "  j:\n    runs-on: x\n    services:\n      a:\n        image: web:1\n        env: {GREETING: x}\n        ports: ['18081:8080']\n      b:\n        image: web:1\n        env: {GREETING: x}\n        ports: ['18081:8081']\n    steps:\n      - run: echo never\n",
			"relaying port 18081 to 8081"},
		{"host volume", "  j:\n    runs-on: x\n    services:\n      w:\n        image: web:1\n        volumes: ['/etc:/host-etc']\n    steps:\n      - run: echo never\n",
			"the host's directories are outside the job's sandbox"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, rec := runInNamespace(t, "on: push\njobs:\n"+tt.job, "j")
			if res.Conclusion != "failure" || res.FailedStep != setupStep || !strings.Contains(rec.log(setupStep), tt.want) {
				t.Errorf("got %s (failed step %d), want failure in set-up with %q:\n%s", res.Conclusion, res.FailedStep, tt.want, rec.all())
			}
			if strings.Contains(rec.all(), "never\n") || strings.Contains(rec.all(), "wrong") {
				t.Errorf("a step ran or the password leaked:\n%s", rec.all())
			}
		})
	}
}
