package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

// pushPrePostAction pushes hookci-test/hello-prepost:v1: ocitest's Docker
// action image plus /pre.sh and /post.sh, for an action's pre-entrypoint
// and post-entrypoint. pre.sh leaves a file in the workspace that post.sh
// reads back.
func pushPrePostAction(t *testing.T, reg *ocitest.Reg) {
	t.Helper()
	ref, err := name.ParseReference(reg.Host+"/"+ocitest.Action, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("reading %s back from the test registry: %v", ref, err)
	}
	img, err := mutate.AppendLayers(base, ocitest.TarLayer(t,
		ocitest.Entry{Name: "pre.sh", Mode: 0o755, Body: "#!/bin/sh\necho \"pre-entrypoint in $(pwd) for ${INPUT_WHO_TO_GREET}\"\necho left-by-pre > /github/workspace/pre.txt\n"},
		ocitest.Entry{Name: "post.sh", Mode: 0o755, Body: "#!/bin/sh\necho \"post-entrypoint found $(cat /github/workspace/pre.txt)\"\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "hookci-test/hello-prepost:v1", img); err != nil {
		t.Fatal(err)
	}
}

// TestDockerActionsEndToEndMicroVM: a signed push webhook to a real server
// whose job runs in a QEMU microVM (TCG here), every image from the test
// registry on loopback through a [registries] docker.io mirror. In the
// VM, without a job container: a docker:// step (entrypoint and args
// replaced, /github/workspace as its working directory holding the
// checkout, an output through $GITHUB_OUTPUT); a local Docker action with
// a prebuilt image, inputs as INPUT_* and through runs.args, runs.env,
// pre-entrypoint (leaves a file in the workspace) and post-entrypoint
// (reads it back), its outputs used by a later step; a remote Docker
// action (another repository of the git server) whose output is used.
// The action images are known only from the actions' metadata: dispatch
// reads them before the VM boots and attaches them as disks (before, the
// step failed "was not attached when the microVM started").
func TestDockerActionsEndToEndMicroVM(t *testing.T) {
	requireSandbox(t, "microvm")
	reg := ocitest.Registry(t)
	ocitest.PushImages(t, reg)
	pushPrePostAction(t, reg)
	h := newHarness(t, "microvm", func(c *config.Config) { c.Registries = reg.Mirror() })
	remoteAct := gittest.New(t, strings.TrimPrefix(h.cfg.GitURL, "file://"), "acme/greet")
	remoteAct.Commit("v1", map[string]string{"action.yml": `name: greet
inputs:
  who_to_greet:
    required: true
outputs:
  greeting:
    description: the greeting
runs:
  using: docker
  image: docker://hookci-test/hello-action:v1
  args:
    - remote-arg-${{ inputs.who_to_greet }}
`})
	remoteAct.Push("main")
	sha := h.repo.Commit("docker actions", map[string]string{
		"marker.txt": "marker from the repository\n",
		".github/actions/hello/action.yml": `name: hello
inputs:
  who_to_greet:
    required: true
outputs:
  greeting:
    description: the greeting
runs:
  using: docker
  image: docker://hookci-test/hello-prepost:v1
  pre-entrypoint: /pre.sh
  post-entrypoint: /post.sh
  env:
    FROM_RUNS_ENV: runs-env-${{ inputs.who_to_greet }}
  args:
    - arg-${{ inputs.who_to_greet }}
    - second arg
`,
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  docker:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: plain
        uses: docker://debian:bookworm
        env:
          STEP_ENV: from-step-env
        with:
          entrypoint: /bin/sh
          args: -c 'echo "docker step in $(pwd) as $(id -u) with $STEP_ENV"; cat marker.txt; echo answer=42 >> "$GITHUB_OUTPUT"'
      - id: local
        uses: ./.github/actions/hello
        with:
          who_to_greet: octocat
      - id: remote
        uses: acme/greet@main
        with:
          who_to_greet: remote-cat
      - run: |
          echo "outputs: ${{ steps.plain.outputs.answer }} / ${{ steps.local.outputs.greeting }} / ${{ steps.remote.outputs.greeting }}"
`})
	h.repo.Push("main")
	start := time.Now()
	if code := h.sendSigned("push", "docker-vm-1", pushPayload(t, strings.Repeat("0", 40), sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	got := waitFinal(t, h, sha, "hookci/CI / docker")
	t.Logf("job done %v after the webhook (TCG)", time.Since(start).Round(time.Millisecond))
	if got.State != "success" {
		t.Errorf("job docker: status %s, want success", got.State)
	}
	page := h.get(strings.TrimPrefix(got.TargetURL, h.url))
	for _, s := range []string{
		"docker step in /github/workspace as 0 with from-step-env", "marker from the repository",
		"pre-entrypoint in /github/workspace for octocat",
		"Hello octocat", "args: arg-octocat second arg", "workspace: /github/workspace",
		"post-entrypoint found left-by-pre",
		"Hello remote-cat", "args: remote-arg-remote-cat",
		"outputs: 42 / Hello octocat / Hello remote-cat",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	if strings.Contains(page, "was not attached") {
		t.Error("an action's image was not attached to the VM")
	}
	if t.Failed() {
		t.Logf("run page:\n%s", page)
	}
}

// TestPostgresEndToEndMicroVM: ocitest's postgres:16 image (official-shaped
// entrypoint: starts as root, initdb from POSTGRES_PASSWORD/POSTGRES_DB,
// chown and setpriv to the postgres user — which works in a microVM, whose
// containers are root in the VM) as the service of two jobs, each in its
// own QEMU microVM (TCG), after a signed push webhook. A runner job: its
// step speaks PostgreSQL's wire protocol to localhost:5432 from bash
// (SSLRequest → 'N') after the pg_isready health check, then psql from a
// docker://postgres:16 step logs in with the password over TCP at
// localhost:5432 and queries. A container: postgres:16 job reaches the
// service as postgres:5432 with psql.
func TestPostgresEndToEndMicroVM(t *testing.T) {
	requireSandbox(t, "microvm")
	reg := ocitest.Registry(t)
	ocitest.PushImages(t, reg)
	h := newHarness(t, "microvm", func(c *config.Config) { c.Registries = reg.Mirror() })
	const service = `    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: secret-pw
          POSTGRES_DB: app
        ports:
          - 5432:5432
        options: --health-cmd "pg_isready -h localhost -U postgres" --health-interval 1s --health-retries 900
`
	sha := h.repo.Commit("postgres", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  runner:
    runs-on: ubuntu-latest
` + service + `    steps:
      - shell: bash
        run: |
          exec 3<>/dev/tcp/127.0.0.1/5432
          printf '\x00\x00\x00\x08\x04\xd2\x16\x2f' >&3
          echo "SSLRequest at localhost:5432 answered $(head -c 1 <&3)"
      - uses: docker://postgres:16
        env:
          PGPASSWORD: secret-pw
        with:
          entrypoint: psql
          args: -h localhost -p 5432 -U postgres -d app -At -c "select 'runner psql says ' || current_database() || ' ' || (40+2)"
  boxed:
    runs-on: ubuntu-latest
    container: postgres:16
` + service + `    steps:
      - run: psql -h postgres -p 5432 -U postgres -d app -At -c "select 'boxed psql says ' || current_database() || ' ' || (40+2)"
        env:
          PGPASSWORD: secret-pw
`})
	h.repo.Push("main")
	start := time.Now()
	if code := h.sendSigned("push", "postgres-vm-1", pushPayload(t, strings.Repeat("0", 40), sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	var runURL string
	for _, job := range []string{"runner", "boxed"} {
		got := waitFinal(t, h, sha, "hookci/CI / "+job)
		if got.State != "success" {
			t.Errorf("job %s: status %s, want success", job, got.State)
		}
		runURL = got.TargetURL
	}
	t.Logf("both jobs done %v after the webhook (TCG)", time.Since(start).Round(time.Millisecond))
	page := h.get(strings.TrimPrefix(runURL, h.url))
	for _, s := range []string{
		"PostgreSQL init process complete", "service postgres is healthy",
		"SSLRequest at localhost:5432 answered N",
		"runner psql says app 42", "boxed psql says app 42",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	for _, m := range regexp.MustCompile(`service postgres is healthy \(([0-9.]+)s after its start\)`).FindAllStringSubmatch(page, -1) {
		t.Logf("postgres:16 healthy %ss after its container started (microVM, TCG)", m[1])
	}
	if t.Failed() {
		t.Logf("run page:\n%s", page)
	}
}
