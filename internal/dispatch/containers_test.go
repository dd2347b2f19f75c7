package dispatch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/namespace"
	"github.com/hookci/hookci/internal/workflow"
)

// TestContainersThroughDispatch: a pushed workflow with a service, a job
// container and a docker:// step is planned, run on the namespace backend
// and recorded; a service that never becomes healthy fails its job with
// that reason in the log.
func TestContainersThroughDispatch(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs bubblewrap and root (CI=true: not skipping)")
		}
		t.Skip("needs bubblewrap and root")
	}
	root := filepath.Join(os.Getenv("HOOKCI_DATA_DIR"), "image", "current", "rootfs")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/python3")); os.Getenv("HOOKCI_DATA_DIR") == "" || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs the guest image (HOOKCI_DATA_DIR; CI=true: not skipping)")
		}
		t.Skip("needs the guest image (HOOKCI_DATA_DIR)")
	}
	nb, err := namespace.New(namespace.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*runner.Image, error) {
		img := &runner.Image{Ref: ref, RootFS: root, OS: "linux", Arch: "amd64", Env: []string{"PATH=/usr/bin:/bin"}}
		switch ref {
		case "web:1":
			img.Cmd = []string{"python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"}
		case "debian:bookworm":
			img.Cmd = []string{"bash"}
		default:
			return nil, errors.New("manifest unknown: " + ref)
		}
		return img, nil
	}
	e := newEnvWith(t, func(c *Config) {
		c.Choose = func([]string, sandbox.Origin) (sandbox.StartFunc, sandbox.Choice, error) {
			return nb.Start, sandbox.Choice{Name: "namespace"}, nil
		}
		c.Images = images
	})
	id := e.push(map[string]string{"index.html": "served page\n", ".github/workflows/ci.yml": `
on: push
jobs:
  svc:
    runs-on: ubuntu-latest
    container: debian:bookworm
    services:
      web:
        image: web:1
        options: --health-cmd "curl -fsS http://127.0.0.1:8080/" --health-interval 200ms --health-retries 100
    steps:
      - run: curl -fsS http://web:8080/ | grep -q 'Directory listing' && echo "web reached from $(pwd)"
      - uses: docker://debian:bookworm
        with:
          entrypoint: /bin/sh
          args: -c "cat index.html"
  sick:
    runs-on: ubuntu-latest
    services:
      web:
        image: web:1
        options: --health-cmd "exit 3" --health-interval 100ms --health-retries 2
    steps:
      - run: echo never
`})
	_, jobs := e.wait(id)
	if j := jobs["svc"]; j.Conclusion != "success" {
		t.Errorf("svc: %s %q\n%s", j.Conclusion, j.Message, e.log(j.ID))
	} else if log := e.log(j.ID); !strings.Contains(log, "web reached from /__w/hello/hello") || !strings.Contains(log, "served page") {
		t.Errorf("svc log lacks the service's answer or the docker step's output:\n%s", log)
	}
	if j := jobs["sick"]; j.Conclusion != "failure" || !strings.Contains(e.log(j.ID), "service web never became healthy: the health check exited with 3") {
		t.Errorf("sick: %s, want failure naming the unhealthy service:\n%s", j.Conclusion, e.log(j.ID))
	}
}
