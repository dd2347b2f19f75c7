package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshot: the commit hookci run runs is the working tree as it is —
// the HEAD commit itself when the tree is clean, else a new commit whose
// parent is HEAD holding tracked changes and untracked files but not
// ignored ones — and the repository's index, branch and files are left
// alone. The branch is HEAD's, "main" when detached, the unborn branch's
// name in a new repository.
func TestSnapshot(t *testing.T) {
	git := func(t *testing.T, dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	newRepo := func(t *testing.T, branch string, commit bool) string {
		dir := t.TempDir()
		git(t, dir, "init", "-q", "-b", branch)
		os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.log\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "a"), []byte("1\n"), 0o644)
		if commit {
			git(t, dir, "add", "-A")
			git(t, dir, "commit", "-qm", "c1")
		}
		return dir
	}
	cases := []struct {
		name       string
		branch     string
		commit     bool
		change     func(t *testing.T, dir string)
		wantHead   bool // the snapshot is HEAD itself
		wantFiles  string
		wantBranch string
	}{
		{name: "clean", branch: "main", commit: true, wantHead: true, wantFiles: ".gitignore a", wantBranch: "main"},
		{name: "modified and untracked, ignored left out", branch: "dev", commit: true, change: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "a"), []byte("2\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "new"), []byte("n\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "x.log"), []byte("ignored\n"), 0o644)
		}, wantFiles: ".gitignore a new", wantBranch: "dev"},
		{name: "deleted file", branch: "main", commit: true, change: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "a"))
		}, wantFiles: ".gitignore", wantBranch: "main"},
		{name: "detached HEAD", branch: "main", commit: true, change: func(t *testing.T, dir string) {
			git(t, dir, "checkout", "-q", "--detach")
		}, wantHead: true, wantFiles: ".gitignore a", wantBranch: "main"},
		{name: "no commit yet", branch: "topic", commit: false, wantFiles: ".gitignore a", wantBranch: "topic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := newRepo(t, c.branch, c.commit)
			if c.change != nil {
				c.change(t, dir)
			}
			status := git(t, dir, "status", "--porcelain")
			wt, err := openWorktree(dir)
			if err != nil {
				t.Fatal(err)
			}
			sha, branch, err := snapshot(wt)
			if err != nil {
				t.Fatal(err)
			}
			if branch != c.wantBranch {
				t.Errorf("branch: got %q, want %q", branch, c.wantBranch)
			}
			if c.commit {
				head := git(t, dir, "rev-parse", "HEAD")
				if got := sha == head; got != c.wantHead {
					t.Errorf("snapshot is HEAD: got %v, want %v", got, c.wantHead)
				}
				if !c.wantHead {
					if parent := git(t, dir, "rev-parse", sha+"^"); parent != head {
						t.Errorf("parent: got %s, want HEAD %s", parent, head)
					}
				}
			}
			files := strings.Join(strings.Fields(git(t, dir, "ls-tree", "--name-only", sha)), " ")
			if files != c.wantFiles {
				t.Errorf("files: got %q, want %q", files, c.wantFiles)
			}
			if c.wantHead {
				if out, err := exec.Command("git", "-C", dir, "rev-parse", "-q", "--verify", "refs/hookci/run").Output(); err == nil {
					t.Errorf("refs/hookci/run set to %s for a clean tree (HEAD is fetchable already)", out)
				}
			} else if got := git(t, dir, "rev-parse", "refs/hookci/run"); got != sha {
				t.Errorf("refs/hookci/run: got %s, want %s", got, sha)
			}
			if after := git(t, dir, "status", "--porcelain"); after != status {
				t.Errorf("git status changed:\ngot  %q\nwant %q", after, status)
			}
		})
	}
}
