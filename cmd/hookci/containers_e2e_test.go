package main

import (
	"archive/tar"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

// tinyLayer is a root filesystem made of the host's dash, cat and sleep
// with the libraries they load: enough for shell entrypoints.
func tinyLayer(t *testing.T) v1.Layer {
	t.Helper()
	var entries []ocitest.Entry
	for _, d := range []string{"usr/", "usr/bin/", "usr/lib/", "usr/lib64/", "etc/", "tmp/", "data/"} {
		entries = append(entries, ocitest.Entry{Name: d, Type: tar.TypeDir})
	}
	for _, l := range []string{"bin", "lib", "lib64"} {
		entries = append(entries, ocitest.Entry{Name: l, Type: tar.TypeSymlink, Linkname: "usr/" + l})
	}
	entries = append(entries, ocitest.Entry{Name: "usr/bin/sh", Type: tar.TypeSymlink, Linkname: "dash"},
		ocitest.Entry{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n"})
	seen := map[string]bool{}
	for _, bin := range []string{"/usr/bin/dash", "/usr/bin/cat", "/usr/bin/sleep"} {
		files := []string{bin}
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			t.Skipf("ldd %s: %v", bin, err)
		}
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
		for _, f := range files {
			real, err := filepath.EvalSymlinks(f)
			if err != nil {
				t.Fatal(err)
			}
			name := "usr/" + strings.TrimPrefix(strings.TrimPrefix(f, "/usr"), "/")
			if seen[name] {
				continue
			}
			seen[name] = true
			data, err := os.ReadFile(real)
			if err != nil {
				t.Fatal(err)
			}
			if dir := filepath.Dir(name); !seen[dir] && dir != "usr/bin" && dir != "usr/lib" && dir != "usr/lib64" {
				seen[dir] = true
				entries = append(entries, ocitest.Entry{Name: dir + "/", Type: tar.TypeDir})
			}
			entries = append(entries, ocitest.Entry{Name: name, Body: string(data), Mode: 0o755})
		}
	}
	return ocitest.TarLayer(t, entries...)
}

// TestContainersEndToEnd: signed push webhooks to a real server on the
// namespace backend, images pulled from a real registry on loopback
// through a [registries] mirror of docker.io: a job container with a
// service (whose image's HEALTHCHECK is waited for), a docker:// step and
// a Docker action with inputs and an output succeed, and so does a local
// Dockerfile action (built by the server's image builder, RUN included); a service that never
// becomes healthy and an image that does not exist fail their jobs, saying
// why on the run page.
func TestContainersEndToEnd(t *testing.T) {
	requireSandbox(t, "namespace")
	reg := ocitest.Registry(t)
	layer := tinyLayer(t)
	ctx := context.Background()
	push := func(repoTag string, c v1.Config) {
		if err := reg.Push(ctx, repoTag, ocitest.Image(t, c, layer)); err != nil {
			t.Fatal(err)
		}
	}
	path := []string{"PATH=/usr/bin:/bin"}
	push("library/debian:bookworm", v1.Config{Env: path, Cmd: []string{"sh"}})
	push("library/svc:1", v1.Config{Env: path, Entrypoint: []string{"/bin/sh", "-c", ": > /tmp/ready; echo service up; exec sleep 1000"},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD-SHELL", "test -f /tmp/ready"}, Interval: 100 * time.Millisecond, Retries: 50}})
	push("library/greeter:1", v1.Config{Env: path, Entrypoint: []string{"/bin/sh", "-c",
		`echo "greeting=hello $1" >> "$GITHUB_OUTPUT"; echo "greeter got input=$INPUT_WHO"`, "sh"}})

	h := newHarness(t, "namespace", func(c *config.Config) { c.Registries = reg.Mirror() })
	zero := strings.Repeat("0", 40)
	sha := h.repo.Commit("containers", map[string]string{
		"marker.txt": "marker from the repository\n",
		"greet/action.yml": `name: greet
inputs:
  who:
    required: true
outputs:
  greeting:
    description: the greeting
runs:
  using: docker
  image: docker://greeter:1
  args:
    - ${{ inputs.who }}
`,
		"built/Dockerfile": "FROM debian:bookworm\nCOPY say.sh /say.sh\nRUN echo built by RUN > /built.txt\nENTRYPOINT [\"/bin/sh\", \"/say.sh\"]\n",
		"built/say.sh":     "echo \"dockerfile action: $(cat /built.txt) for $INPUT_WHO\"\n",
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  built:
    runs-on: ubuntu-latest
    steps:
      - uses: ./built
        with:
          who: world
  boxed:
    runs-on: ubuntu-latest
    container: debian:bookworm
    services:
      svc:
        image: svc:1
    steps:
      - run: echo "job in $(pwd)"; cat marker.txt
      - uses: docker://debian:bookworm
        with:
          entrypoint: /bin/sh
          args: -c "echo docker step; cat marker.txt"
      - uses: ./greet
        id: g
        with:
          who: world
      - run: echo "action said ${{ steps.g.outputs.greeting }}"
  sick:
    runs-on: ubuntu-latest
    services:
      bad:
        image: svc:1
        options: --health-cmd "exit 4" --health-interval 100ms --health-retries 2
    steps:
      - run: echo never
  missing:
    runs-on: ubuntu-latest
    container: nosuch:1
    steps:
      - run: echo never
`})
	h.repo.Push("main")
	if code := h.sendSigned("push", "containers-1", pushPayload(t, zero, sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	want := map[string]string{"boxed": "success", "sick": "failure", "missing": "failure", "built": "success"}
	var runURL string
	for job, state := range want {
		sts := h.waitContext(sha, "hookci/CI / "+job)
		if got := sts[len(sts)-1]; got.State != state {
			t.Errorf("job %s: status %s, want %s", job, got.State, state)
		} else {
			runURL = got.TargetURL
		}
	}
	page := h.get(strings.TrimPrefix(runURL, h.url))
	for _, s := range []string{
		"job in /__w/hello/hello", "marker from the repository", "service svc is healthy", "service up",
		"docker step", "greeter got input=world", "action said hello world",
		"service bad never became healthy: the health check exited with 4",
		"container: pulling image nosuch:1",
		"Building the image of ./built from built/Dockerfile", "dockerfile action: built by RUN for world",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	if t.Failed() {
		t.Logf("run page:\n%s", page)
	}
}

// TestPrivateImageBadCredentials: a container image on a registry that
// requires a login, given wrong credentials, fails its job clearly (the
// reference named), and the password never reaches the run page.
func TestPrivateImageBadCredentials(t *testing.T) {
	requireSandbox(t, "namespace")
	private := ocitest.RegistryAuth(t, "robot", "right-password")
	if err := private.Push(context.Background(), "team/private:1", ocitest.Image(t, v1.Config{Cmd: []string{"sh"}}, tinyLayer(t))); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "namespace", func(c *config.Config) {
		c.Registries = map[string]config.Registry{private.Host: {Insecure: true}}
	})
	sha := h.repo.Commit("private", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  private:
    runs-on: ubuntu-latest
    container:
      image: ` + private.Host + `/team/private:1
      credentials:
        username: robot
        password: wrong-password
    steps:
      - run: echo never
`})
	h.repo.Push("main")
	if code := h.sendSigned("push", "private-1", pushPayload(t, strings.Repeat("0", 40), sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	sts := h.waitContext(sha, "hookci/CI / private")
	if got := sts[len(sts)-1]; got.State != "failure" {
		t.Errorf("job private: status %s, want failure", got.State)
	}
	page := h.get(strings.TrimPrefix(sts[len(sts)-1].TargetURL, h.url))
	if want := "container: pulling image " + private.Host + "/team/private:1"; !strings.Contains(page, want) {
		t.Errorf("run page lacks %q:\n%s", want, page)
	}
	if strings.Contains(page, "wrong-password") || strings.Contains(page, "echo never\nnever") {
		t.Error("the run page shows the registry password, or the step ran")
	}
}
