package backends

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/sandbox"
)

// syncBuffer is a bytes.Buffer safe for the pool's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func openSet(t *testing.T, cfg config.Config) (*Set, *syncBuffer) {
	t.Helper()
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, &out
}

func testConfig(t *testing.T, sandboxName string) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AgentPath = agenttest.Binary(t)
	cfg.Sandbox = sandboxName
	cfg.WarmSandboxes = 0
	return cfg
}

// warnLines are the log lines at level WARN that contain want.
func warnLines(log, want string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, want) {
			out = append(out, l)
		}
	}
	return out
}

// An explicit host default warns at WARN level at start; fork jobs are
// refused on it, others start a real sandbox.
func TestOpenHostWarnsAndRefusesForks(t *testing.T) {
	cfg := testConfig(t, "host")
	s, log := openSet(t, cfg)
	if got := warnLines(log.String(), "WITHOUT isolation"); len(got) != 1 {
		t.Errorf("start-up log has %d WARN lines about running without isolation, want 1:\n%s", len(got), log)
	}
	if _, _, err := s.Choose([]string{"ubuntu-latest"}, sandbox.Origin{Repo: "octo/hello", Fork: true}); !errors.Is(err, ErrForkHost) {
		t.Errorf("fork on the host default: got %v, want ErrForkHost", err)
	}
	start, c, err := s.Choose([]string{"ubuntu-latest"}, sandbox.Origin{Repo: "octo/hello"})
	if err != nil || c.Name != "host" {
		t.Fatalf("push on the host default: got %+v, %v; want host", c, err)
	}
	inst, err := start(t.Context(), sandbox.Spec{ID: "choose-host"})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Backend != "host" {
		t.Errorf("started a %s sandbox, want host", inst.Backend)
	}
	inst.Close()
}

// With neither QEMU nor bubblewrap on PATH, auto falls back to host and
// says so at WARN level; a fork's job is refused, not run on the host.
func TestOpenAutoFallbackWarns(t *testing.T) {
	cfg := testConfig(t, "auto")
	t.Setenv("PATH", t.TempDir())
	s, log := openSet(t, cfg)
	if s.Default() != "host" {
		t.Fatalf("auto resolved to %s with nothing on PATH, want host", s.Default())
	}
	if got := warnLines(log.String(), "falls back to host"); len(got) != 1 {
		t.Errorf("start-up log has %d WARN lines about the fallback to host, want 1:\n%s", len(got), log)
	}
	_, _, err := s.Choose(nil, sandbox.Origin{Repo: "octo/hello", Fork: true})
	if err == nil || !strings.Contains(err.Error(), "not available to pull requests from forks") {
		t.Errorf("fork with auto fallen back to host: got %v, want the fork refusal", err)
	}
	// A label naming a backend that cannot run here fails with the reason.
	cfg.Labels = map[string]config.Label{"vm": {Backend: "microvm"}}
	s2, _ := openSet(t, cfg)
	if _, _, err := s2.Choose([]string{"vm"}, sandbox.Origin{Repo: "octo/hello"}); err == nil || !strings.Contains(err.Error(), "qemu-system-x86_64 is not installed") {
		t.Errorf("microvm label without QEMU: got %v, want the reason", err)
	}
}

// Labels mapped to host warn at start even when the default is isolated.
func TestOpenWarnsAboutHostLabels(t *testing.T) {
	cfg := testConfig(t, "host")
	cfg.Labels = map[string]config.Label{"evil": {Backend: "host"}, "vm": {Backend: "microvm"}}
	_, log := openSet(t, cfg)
	got := warnLines(log.String(), "labels=evil")
	if len(got) != 1 {
		t.Errorf("start-up log has %d WARN lines naming the host label, want 1:\n%s", len(got), log)
	}
}

func TestProbeHost(t *testing.T) {
	cfg := testConfig(t, "host")
	if err := Probe(context.Background(), cfg, "host"); err != nil {
		t.Errorf("probing host: %v", err)
	}
	if err := Probe(context.Background(), cfg, "docker"); err == nil || !strings.Contains(err.Error(), "unknown sandbox") {
		t.Errorf("probing docker: got %v, want unknown sandbox", err)
	}
}

// The probe doctor and "auto" share starts a real bubblewrap sandbox.
func TestProbeNamespace(t *testing.T) {
	cfg := testConfig(t, "namespace")
	if err := Available(cfg, "namespace"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("namespace sandbox cannot be made in CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err := Probe(t.Context(), cfg, "namespace"); err != nil {
		t.Errorf("probing namespace: %v", err)
	}
}
