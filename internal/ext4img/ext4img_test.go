package ext4img

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func debugfs(t *testing.T, img, req string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", req, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %s: %v: %s", req, err, out)
	}
	return string(out)
}

// TestBuild writes a tree with a hard link and a subdirectory and reads the
// image back with debugfs: contents, link count, label and no journal.
func TestBuild(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI (scripts/deps.sh installs e2fsprogs)", tool)
			}
			t.Skipf("skipping: %s not installed", tool)
		}
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "motd"), []byte("hello from the tree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "etc", "motd"), filepath.Join(root, "motd")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "disk.ext4")
	var log strings.Builder
	if err := Build(context.Background(), root, img, Options{Label: "hookci-test", Margin: 8 << 20, SpareInodes: 64, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if got := debugfs(t, img, "cat /etc/motd"); !strings.Contains(got, "hello from the tree") {
		t.Errorf("cat /etc/motd = %q, want the file's content", got)
	}
	if got := debugfs(t, img, "stat /motd"); !strings.Contains(got, "Links: 2") {
		t.Errorf("stat /motd = %q, want Links: 2 (one inode for the hard link)", got)
	}
	stats := debugfs(t, img, "stats")
	if !strings.Contains(stats, "Filesystem volume name:   hookci-test") {
		t.Errorf("stats lack the label hookci-test:\n%s", stats)
	}
	if strings.Contains(stats, "has_journal") {
		t.Errorf("image has a journal:\n%s", stats)
	}
}

// TestBuildErrors: a missing tree or an unwritable output is an error that
// names what failed, and nothing panics.
func TestBuildErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if err := Build(context.Background(), missing, filepath.Join(t.TempDir(), "x.ext4"), Options{Label: "x"}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing tree: err = %v, want it to name %s", err, missing)
	}
	if err := Build(context.Background(), t.TempDir(), filepath.Join(t.TempDir(), "no", "dir", "x.ext4"), Options{Label: "x"}); err == nil {
		t.Error("output in a missing directory: err = nil, want an error")
	}
}

func TestTreeUsageCountsHardLinksOnce(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "a"), filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	bytes, inodes, err := TreeUsage(root)
	if err != nil {
		t.Fatal(err)
	}
	// The root directory (one 4 KiB block) and a once (two blocks).
	if inodes != 2 || bytes != 3*4096 {
		t.Errorf("TreeUsage = %d bytes, %d inodes; want %d bytes, 2 inodes", bytes, inodes, 3*4096)
	}
}
