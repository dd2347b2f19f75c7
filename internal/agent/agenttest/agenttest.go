// Package agenttest builds the real hookci-agent binary for tests of the
// packages that start it (sandbox backends, runner).
package agenttest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary builds ./cmd/hookci-agent (static, CGO_ENABLED=0) once per test
// process and returns the path of the binary. It fails the test if the build
// fails.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildAgent() })
	if build.err != nil {
		t.Fatalf("building hookci-agent: %v", build.err)
	}
	return build.path
}

func buildAgent() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	// One directory per checkout: test processes of several checkouts (git
	// worktrees) build different agents at the same time, and one must not
	// run the other's.
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "hookci-agenttest-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build under a unique name, then rename: test processes of several
	// packages may build at the same time, and a running binary must not be
	// overwritten in place.
	tmp, err := os.CreateTemp(dir, "build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/hookci-agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "hookci-agent")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// RepoRoot returns the directory holding go.mod, walking up from the
// working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
