package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

// TestContainersEndToEndMicroVM: a signed push webhook to a real server
// whose jobs run in QEMU microVMs (TCG here), images pulled from a real
// registry on loopback through a [registries] mirror of docker.io (the
// Debian-built test images): a runner job reaches its Redis service at
// localhost:6379 after the service's health check; a container: job
// (Debian) reaches it as redis:6379 and runs a docker:// step, and its
// JavaScript action fails saying the microVM has no node for containers.
// Every image is attached to the job's VM as a read-only disk at start.
func TestContainersEndToEndMicroVM(t *testing.T) {
	requireSandbox(t, "microvm")
	reg := ocitest.Registry(t)
	ocitest.PushImages(t, reg)
	h := newHarness(t, "microvm", func(c *config.Config) { c.Registries = reg.Mirror() })
	zero := strings.Repeat("0", 40)
	sha := h.repo.Commit("containers", map[string]string{
		"marker.txt":    "marker from the repository\n",
		"js/action.yml": "name: js\nruns:\n  using: node20\n  main: main.js\n",
		"js/main.js":    "console.log('js ran');\n",
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
      - uses: ./js
        continue-on-error: true
`})
	h.repo.Push("main")
	start := time.Now()
	if code := h.sendSigned("push", "containers-vm-1", pushPayload(t, zero, sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	var runURL string
	for _, job := range []string{"svc", "boxed"} {
		sts := h.waitContext(sha, "hookci/CI / "+job)
		if got := sts[len(sts)-1]; got.State != "success" {
			t.Errorf("job %s: status %s, want success", job, got.State)
		}
		runURL = sts[len(sts)-1].TargetURL
	}
	t.Logf("both jobs done %v after the webhook (TCG)", time.Since(start).Round(time.Millisecond))
	page := h.get(strings.TrimPrefix(runURL, h.url))
	for _, s := range []string{
		"service redis is healthy", "from the job: +PONG", "job in /__w/hello/hello on bookworm",
		"marker from the repository", "from the container: +PONG", "docker step",
		// The microVM binds no node into a job container: the step says so.
		"JavaScript actions cannot run in a job container on the microvm sandbox",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	if t.Failed() {
		t.Logf("run page:\n%s", page)
	}
}
