package agent

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo"
)

func gitT(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitT(t, dir, args...)
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return out
}

// TestPutCheckoutIndexMatchesFiles: a checkout (files, an executable, a
// symlink, a subdirectory, a submodule entry, a skip-worktree entry, so an
// index of version 3) put as a tar into another directory is clean to
// `git diff-index --quiet HEAD` once the agent has restatted its index,
// and modified without it (the control: the files are new inodes); a file
// changed afterwards is still seen as changed.
func TestPutCheckoutIndexMatchesFiles(t *testing.T) {
	src := t.TempDir()
	mustGit(t, src, "init", "-q", "-b", "main")
	for name, data := range map[string]string{"README.md": "hi\n", "src/a.go": "package a\n", "run.sh": "#!/bin/sh\n", "sparse.txt": "s\n"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "run.sh"), 0o755)
	if err := os.Symlink("src/a.go", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	mustGit(t, src, "add", "-A")
	mustGit(t, src, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub")
	mustGit(t, src, "commit", "-qm", "c")
	os.Mkdir(filepath.Join(src, "sub"), 0o755) // as git's checkout leaves an uninitialised submodule
	if _, err := gitT(t, src, "diff-index", "--quiet", "HEAD", "--"); err != nil {
		t.Fatalf("the source checkout is not clean: %v", err)
	}
	mustGit(t, src, "update-index", "--skip-worktree", "sparse.txt")
	if v := mustGit(t, src, "ls-files", "-v", "sparse.txt"); !strings.HasPrefix(v, "S ") {
		t.Fatalf("sparse.txt is not skip-worktree: %q", v)
	}
	var tarball bytes.Buffer
	if err := gitrepo.TarDir(&tarball, src); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, ".git", "index")); len(b) < 8 || b[7] != 3 {
		t.Fatalf("the source index is not version 3 (skip-worktree): % x", b[:8])
	}
	for _, restat := range []bool{false, true} {
		dst := t.TempDir()
		root, err := os.OpenRoot(dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := extractTar(root, bytes.NewReader(tarball.Bytes())); err != nil {
			t.Fatal(err)
		}
		if restat {
			if err := restatIndex(root, ".git/index"); err != nil {
				t.Fatal(err)
			}
		}
		root.Close()
		_, err = gitT(t, dst, "diff-index", "--quiet", "HEAD", "--")
		if clean := err == nil; clean != restat {
			out, _ := gitT(t, dst, "diff-index", "HEAD", "--")
			t.Errorf("restat %v: diff-index clean = %v, want %v:\n%s", restat, clean, restat, out)
		}
		if !restat {
			continue
		}
		if got, want := mustGit(t, dst, "ls-files", "-s", "-v"), mustGit(t, src, "ls-files", "-s", "-v"); got != want {
			t.Errorf("index entries changed:\ngot  %s\nwant %s", got, want)
		}
		if out := mustGit(t, dst, "status", "--porcelain"); out != "" {
			t.Errorf("git status after the put: %q, want clean", out)
		}
		os.WriteFile(filepath.Join(dst, "src/a.go"), []byte("package b\n"), 0o644)
		if out, err := gitT(t, dst, "diff-index", "--name-only", "HEAD", "--"); err != nil || out != "src/a.go" {
			t.Errorf("a changed file after the restat: diff-index says %q, %v; want src/a.go", out, err)
		}
	}
}

// TestRestatIndexBadInput: what is not an index of a version it reads is
// left as it is; a damaged one or a path out of the directory is an error.
func TestRestatIndexBadInput(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := restatIndex(root, ".git/index"); err != nil {
		t.Errorf("no index: %v, want nil (left as it is)", err)
	}
	os.WriteFile(filepath.Join(dir, "notindex"), []byte("hello, this is not an index at all"), 0o644)
	if err := restatIndex(root, "notindex"); err != nil {
		t.Errorf("not an index: %v, want nil", err)
	}
	v4 := append([]byte("DIRC\x00\x00\x00\x04\x00\x00\x00\x00"), make([]byte, 20)...)
	os.WriteFile(filepath.Join(dir, "v4"), v4, 0o644)
	if err := restatIndex(root, "v4"); err != nil {
		t.Errorf("version 4: %v, want nil (left as it is)", err)
	}
	bad := append([]byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x01"), make([]byte, 20)...)
	os.WriteFile(filepath.Join(dir, "bad"), bad, 0o644)
	if err := restatIndex(root, "bad"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("damaged index: %v, want a checksum error", err)
	}
	var re *requestError
	if err := restatIndex(root, "../x"); !errors.As(err, &re) {
		t.Errorf("index path out of the directory: %v, want a request error", err)
	}
}

// TestAttackRestatOutsideDirectory: a job that controls the checkout's
// directory (a later checkout step puts into a workspace the job has
// written to) plants a symlink so that an index entry's path leads outside
// the directory, to a file it wants the agent to stat. The restat reads
// nothing through it: the entry keeps the stat data it had, not the
// outside file's size and inode.
func TestAttackRestatOutsideDirectory(t *testing.T) {
	src := t.TempDir()
	mustGit(t, src, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("a\n"), 0o644)
	mustGit(t, src, "add", "a.txt")
	blob := mustGit(t, src, "hash-object", "-w", "a.txt")
	mustGit(t, src, "update-index", "--add", "--cacheinfo", "100644,"+blob+",escape/secret")
	before := mustGit(t, src, "ls-files", "--debug", "escape/secret")
	var tarball bytes.Buffer
	if err := gitrepo.TarDir(&tarball, src); err != nil {
		t.Fatal(err)
	}
	dst, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("s"), 12345), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := extractTar(root, bytes.NewReader(tarball.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dst, "escape")); err != nil { // the job's plant
		t.Fatal(err)
	}
	if err := restatIndex(root, ".git/index"); err != nil {
		t.Fatal(err)
	}
	after := mustGit(t, dst, "ls-files", "--debug", "escape/secret")
	if strings.Contains(after, "12345") || after != before {
		t.Errorf("the index entry behind the symlink took stat data from outside the directory:\nbefore %s\nafter  %s", before, after)
	}
	if got := mustGit(t, dst, "ls-files", "--debug", "a.txt"); got == mustGit(t, src, "ls-files", "--debug", "a.txt") {
		t.Errorf("a.txt, inside the directory, was not restatted: %s", got)
	}
}
