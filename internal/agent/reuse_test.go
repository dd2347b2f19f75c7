package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func readOr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// TestFileSpecFromTakesOverThePreviousFile: a file-command file given From
// is the previous step's file renamed and rewritten in place (the same
// inode, its old content gone, the mode set); the old name is gone, as
// GitHub's runner deletes it. Without a previous file it is created.
func TestFileSpecFromTakesOverThePreviousFile(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "set_output_1"), filepath.Join(dir, "set_output_2")
	if err := os.WriteFile(from, []byte("a=1\nlonger than what follows\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, from)
	if err := writeSpec(FileSpec{Path: to, From: from, Data: []byte("x"), Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(from); !os.IsNotExist(err) {
		t.Errorf("the previous file is still there (%v)", err)
	}
	if got := readOr(to); got != "x" {
		t.Errorf("content %q, want %q", got, "x")
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode(), err)
	}
	if inode(t, to) != ino {
		t.Error("a new inode was allocated: the previous file was not taken over")
	}
	// No previous file (the step removed it): created.
	third := filepath.Join(dir, "set_output_3")
	if err := writeSpec(FileSpec{Path: third, From: filepath.Join(dir, "gone"), Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(third); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
		t.Errorf("fresh file: %v %v", fi, err)
	}
}

// TestAttackFileSpecFromFollowsNoLink: the previous step's file was the
// job's to replace. A symlink, a second hard link, a directory or a FIFO
// there is not rewritten (the file it leads to keeps its content), stays
// where the job put it, and the new file is made afresh; a link placed at
// the new name is not followed either.
func TestAttackFileSpecFromFollowsNoLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, from, precious string)
	}{
		{"symlink", func(t *testing.T, from, precious string) {
			if err := os.Symlink(precious, from); err != nil {
				t.Fatal(err)
			}
		}},
		{"hard link", func(t *testing.T, from, precious string) {
			if err := os.Link(precious, from); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory", func(t *testing.T, from, _ string) {
			if err := os.MkdirAll(filepath.Join(from, "inside"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"fifo", func(t *testing.T, from, _ string) {
			if err := syscall.Mkfifo(from, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			precious := filepath.Join(t.TempDir(), "precious")
			if err := os.WriteFile(precious, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			from, to := filepath.Join(dir, "set_env_1"), filepath.Join(dir, "set_env_2")
			tc.make(t, from, precious)
			done := make(chan error, 1)
			go func() { done <- writeSpec(FileSpec{Path: to, From: from, Data: []byte("new"), Mode: 0o600}) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("writing the new file blocked on the job's %s", tc.name)
			}
			if got := readOr(precious); got != "keep me" {
				t.Errorf("the file behind the job's %s now reads %q", tc.name, got)
			}
			if _, err := os.Lstat(from); err != nil {
				t.Errorf("the job's %s was moved away or removed: %v", tc.name, err)
			}
			fi, err := os.Lstat(to)
			if err != nil || !fi.Mode().IsRegular() || readOr(to) != "new" {
				t.Errorf("the new file: %v %v %q", fi, err, readOr(to))
			}
		})
	}
	// A link already at the new name when the previous file cannot be
	// taken over: refused, not followed.
	dir := t.TempDir()
	precious := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(precious, []byte("keep me"), 0o644)
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Symlink(precious, from)
	os.Symlink(precious, to)
	if err := writeSpec(FileSpec{Path: to, From: from, Data: []byte("new"), Mode: 0o600}); err == nil {
		t.Error("a link at the new name was written through")
	}
	if got := readOr(precious); got != "keep me" {
		t.Errorf("the file behind the link at the new name now reads %q", got)
	}
}
