package namespace

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// TestAttackBuildRootShift: the owner shift of a writable build root
// (buildroot.go) maps the image's ids into the container's and back
// exactly (a hard link once, setuid kept), never follows a symlink of
// the tree onto a host file or directory, and refuses an id the map
// cannot hold, naming the file.
func TestAttackBuildRootShift(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (chown) (CI=true: not skipping)")
		}
		t.Skip("needs root (chown)")
	}
	host := t.TempDir()
	victim := filepath.Join(host, "victim")
	os.WriteFile(victim, []byte("host file"), 0o600)
	victimDir := filepath.Join(host, "dir")
	os.Mkdir(victimDir, 0o700)
	os.WriteFile(filepath.Join(victimDir, "inner"), []byte("x"), 0o600)

	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr", "bin", "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.Chmod(filepath.Join(root, "usr", "bin", "tool"), 0o755|fs.ModeSetuid)
	os.Link(filepath.Join(root, "usr", "bin", "tool"), filepath.Join(root, "usr", "bin", "tool2"))
	os.WriteFile(filepath.Join(root, "home"), []byte("h"), 0o644)
	os.Chown(filepath.Join(root, "home"), 1000, 1000)
	os.Symlink(victim, filepath.Join(root, "evil"))
	os.Symlink(victimDir, filepath.Join(root, "evildir"))
	os.Symlink("../../../../../../"+victim, filepath.Join(root, "usr", "relevil"))

	m := idShift{uid: 0, gid: 0, host: 2000001, sub: 3000000}
	if err := m.shift(root, true); err != nil {
		t.Fatal(err)
	}
	if u, g := owner(t, filepath.Join(root, "usr", "bin", "tool")); u != 2000001 || g != 2000001 {
		t.Errorf("root's file is %d:%d in the container's ids, want 2000001:2000001", u, g)
	}
	if u, _ := owner(t, filepath.Join(root, "home")); u != 3001000 {
		t.Errorf("uid 1000's file is %d, want 3001000", u)
	}
	for _, p := range []string{victim, victimDir, filepath.Join(victimDir, "inner")} {
		if u, g := owner(t, p); u != 0 || g != 0 {
			t.Fatalf("the shift followed a symlink: host %s is now owned by %d:%d", p, u, g)
		}
	}
	if err := m.shift(root, false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]uint32{"usr/bin/tool": 0, "usr/bin/tool2": 0, "home": 1000, "evil": 0} {
		if u, _ := owner(t, filepath.Join(root, p)); u != want {
			t.Errorf("/%s is owned by %d after the shift back, want %d", p, u, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "usr", "bin", "tool")); fi.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("the setuid bit was lost: %v", fi.Mode())
	}
	os.Chown(filepath.Join(root, "home"), 70000, 0)
	if err := m.shift(root, true); err == nil || !strings.Contains(err.Error(), "/home is owned by 70000:0") {
		t.Fatalf("an id beyond the map: %v", err)
	}
}
