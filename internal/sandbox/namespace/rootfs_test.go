package namespace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/sandbox"
)

// minimalRootFS builds a root filesystem holding only dash and the libraries
// it needs, laid out like Debian's (merged /usr).
func minimalRootFS(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ldd", "/usr/bin/dash").Output()
	if err != nil {
		t.Skipf("ldd /usr/bin/dash: %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "usr/lib", "usr/lib64", "proc", "dev", "tmp", "run", "home", "etc", "opt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"/usr/bin/dash"}
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
		data, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, "usr", strings.TrimPrefix(strings.TrimPrefix(f, "/usr"), "/"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("dash", filepath.Join(root, "usr/bin/sh")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestRootFS(t *testing.T) {
	b := newBackend(t, Config{RootFS: minimalRootFS(t)})
	inst := start(t, b, sandbox.Spec{ID: "rootfs", ToolCache: t.TempDir()})
	if inst.Layout.ToolCache != "/opt/hostedtoolcache" {
		t.Errorf("ToolCache: got %q, want /opt/hostedtoolcache", inst.Layout.ToolCache)
	}
	// Only shell built-ins exist in this root.
	tests := []struct {
		script, want string
	}{
		{"echo hi > /home/runner/work/w/f && read x < f && echo $x", "hi\n"},
		{"(echo x > /x) 2>/dev/null || echo refused", "refused\n"},
		{"(echo x > /usr/x) 2>/dev/null || echo refused", "refused\n"},
		{"(echo x > /opt/hostedtoolcache/x) 2>/dev/null || echo refused", "refused\n"},
		{"echo x > /tmp/x && echo tmp ok", "tmp ok\n"},
		{"[ -e /usr/bin/bash ] || [ -e /etc/passwd ] || echo only the image", "only the image\n"},
	}
	for _, tt := range tests {
		if code, out := run(t, inst, tt.script); code != 0 || out != tt.want {
			t.Errorf("%q: got %d %q, want 0 %q", tt.script, code, out, tt.want)
		}
	}
}

// TestStagedPaths: host paths the sandbox's uid cannot reach (a parent is
// 0700), one of them under /run, which the staging covers, are still
// bound: the job reads a tool cache kept in such a place.
func TestStagedPaths(t *testing.T) {
	b := newBackend(t, Config{})
	hidden, err := os.MkdirTemp("/run", "hookci-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(hidden)
	tc := filepath.Join(hidden, "toolcache")
	if err := os.Mkdir(tc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tc, "tool"), []byte("tool v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := start(t, b, sandbox.Spec{ID: "staged", ToolCache: tc})
	if code, out := run(t, inst, "cat /opt/hostedtoolcache/tool && echo x > f && cat f"); code != 0 || out != "tool v1\nx\n" {
		t.Errorf("got %d %q, want the tool cache and the workspace: 0 \"tool v1\\nx\\n\"", code, out)
	}
}
