package main

import (
	"archive/tar"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

// TestContainersEndToEndMicroVM: a signed push webhook to a real server
// whose jobs run in QEMU microVMs (TCG here), images pulled from a real
// registry on loopback through a [registries] mirror of docker.io (the
// Debian-built test images): a runner job reaches its Redis service at
// localhost:6379 after the service's health check; a container: job
// (Debian) reaches it as redis:6379, runs a docker:// step and a
// JavaScript action (inputs, an output) with the guest image's node bundle
// at /__e/node20; a container job in an image without any libc (a static
// busybox) runs a JavaScript action too, and cannot write to the bundle;
// a Dockerfile action fails saying the microVM does not build images.
// Every image is attached to the job's VM as a read-only disk at start.
func TestContainersEndToEndMicroVM(t *testing.T) {
	requireSandbox(t, "microvm")
	reg := ocitest.Registry(t)
	ocitest.PushImages(t, reg)
	pushStaticImage(t, reg, "library/tiny:1")
	h := newHarness(t, "microvm", func(c *config.Config) { c.Registries = reg.Mirror() })
	zero := strings.Repeat("0", 40)
	sha := h.repo.Commit("containers", map[string]string{
		"marker.txt":       "marker from the repository\n",
		"built/Dockerfile": "FROM debian:bookworm\nRUN echo never\n",
		"js/action.yml":    "name: js\ninputs:\n  who:\n    required: true\noutputs:\n  greeting:\n    description: g\nruns:\n  using: node20\n  main: main.js\n",
		"js/main.js": `const fs = require('fs');
console.log('js ran in ' + process.execPath + ' for ' + process.env.INPUT_WHO + ', glibc loader in the image: ' + fs.existsSync('/lib64/ld-linux-x86-64.so.2'));
fs.appendFileSync(process.env.GITHUB_OUTPUT, 'greeting=hello ' + process.env.INPUT_WHO + '\\n');
try { fs.writeFileSync('/__e/node20/bin/node', 'pwned'); console.log('WROTE the bundle'); } catch (e) { console.log('bundle write refused: ' + e.code); }
`,
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  svc:
    runs-on: ubuntu-latest
    services:
      redis:
        image: redis:7
        ports:
          - 6379:6379
        options: --health-cmd "redis-cli ping" --health-interval 200ms --health-retries 150
    steps:
      - shell: bash
        run: |
          exec 3<>/dev/tcp/127.0.0.1/6379; printf 'PING\r\n' >&3; echo "from the job: $(head -c 5 <&3)"
      - uses: ./built
        continue-on-error: true
  boxed:
    runs-on: ubuntu-latest
    container: debian:bookworm
    services:
      redis:
        image: redis:7
        options: --health-cmd "redis-cli ping" --health-interval 200ms --health-retries 150
    steps:
      - run: |
          echo "job in $(pwd) on $(grep -o bookworm /etc/os-release | head -1)"; cat marker.txt
      - shell: bash
        run: |
          exec 3<>/dev/tcp/redis/6379; printf 'PING\r\n' >&3; echo "from the container: $(head -c 5 <&3)"
      - uses: docker://debian:bookworm
        with:
          entrypoint: /bin/sh
          args: -c "echo docker step; cat marker.txt"
      - id: js
        uses: ./js
        with:
          who: debian
      - run: echo "output was ${{ steps.js.outputs.greeting }}"
  nolibc:
    runs-on: ubuntu-latest
    container: tiny:1
    steps:
      - id: js
        uses: ./js
        with:
          who: busybox
      - run: |
          echo "output was ${{ steps.js.outputs.greeting }}"
          if (echo pwned > /__e/node20/lib/libc.so.6) 2>/dev/null; then echo "WROTE libc"; fi
          busybox touch /__e/node20/evil 2>/dev/null && echo "WROTE a file"
          # Root of the VM in this container: the read-only bind can be
          # remounted read-write, but the bundle is on the read-only root disk.
          busybox mount -o remount,bind,rw /__e/node20 2>/dev/null && echo "remounted read-write"
          if busybox touch /__e/node20/evil 2>/dev/null; then echo "WROTE after a remount"; else echo "write after remount refused"; fi
          echo "attack done"
`})
	h.repo.Push("main")
	start := time.Now()
	if code := h.sendSigned("push", "containers-vm-1", pushPayload(t, zero, sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	runURL := map[string]string{}
	for _, job := range []string{"svc", "boxed", "nolibc"} {
		sts := h.waitContext(sha, "hookci/CI / "+job)
		if got := sts[len(sts)-1]; got.State != "success" {
			t.Errorf("job %s: status %s, want success", job, got.State)
		}
		runURL[job] = sts[len(sts)-1].TargetURL
	}
	t.Logf("all jobs done %v after the webhook (TCG)", time.Since(start).Round(time.Millisecond))
	page := h.get(strings.TrimPrefix(runURL["boxed"], h.url))
	for _, s := range []string{
		"service redis is healthy", "from the job: +PONG", "job in /__w/hello/hello on bookworm",
		"marker from the repository", "from the container: +PONG", "docker step",
		// JavaScript actions run in the container with the guest image's
		// node bundle.
		"js ran in /__e/node20/bin/node for debian, glibc loader in the image: true", "output was hello debian",
		"bundle write refused: EROFS",
		"js ran in /__e/node20/bin/node for busybox, glibc loader in the image: false", "output was hello busybox",
		"write after remount refused", "attack done",
		// A Dockerfile action is refused on the microVM, naming it and why.
		"./built: building a Dockerfile action&#39;s image is not supported on the microvm backend: a microVM gets its container images as read-only disks",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	t.Logf("the container's root remounted the bundle's bind read-write: %v (its write was refused all the same)", strings.Contains(page, "remounted read-write"))
	if strings.Contains(page, "WROTE") {
		t.Error("a job container changed the node bundle")
	}
	if t.Failed() {
		t.Logf("run page:\n%s", page)
	}
}

// pushStaticImage pushes an image holding only a static busybox (no libc,
// no loader: as Alpine and distroless images lack glibc) as repoTag.
func pushStaticImage(t *testing.T, reg *ocitest.Reg, repoTag string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("no static busybox (busybox-static, scripts/deps.sh): %v", err)
	}
	img := ocitest.Image(t, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}}, ocitest.TarLayer(t,
		ocitest.Entry{Name: "bin/", Type: tar.TypeDir},
		ocitest.Entry{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
		ocitest.Entry{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
		ocitest.Entry{Name: "etc/", Type: tar.TypeDir},
		ocitest.Entry{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n"},
		ocitest.Entry{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777}))
	if err := reg.Push(context.Background(), repoTag, img); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}
