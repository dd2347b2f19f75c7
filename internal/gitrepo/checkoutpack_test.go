package gitrepo

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestCheckoutWithoutFetchMatchesGit checks the checkout written from the
// mirror's batch reader (initShallow: no git init, fetch or remote add)
// against the one git's own init + shallow fetch + checkout + remote add
// make from the same mirror: the same files with the same modes and
// contents (an executable, a symlink, nested directories, a submodule
// entry), the same HEAD, index and shallow boundary, origin's URL (also one
// that needs quoting in git's configuration), and git finds the repository
// complete (fsck) and the work tree clean.
func TestCheckoutWithoutFetchMatchesGit(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/pack")
	files := map[string]string{".github/workflows/ci.yml": "on: push\n", "run.sh": "#!/bin/sh\necho hi\n"}
	for _, d := range []string{"a", "b", "c/d/e"} {
		files[d+"/x.txt"] = strings.Repeat("line of "+d+"\n", 500)
		files[d+"/same.txt"] = "duplicate content\n" // one blob, three paths
	}
	src.Commit("one", files)
	if err := os.Symlink("a/x.txt", filepath.Join(src.Work, "link")); err != nil {
		t.Fatal(err)
	}
	gitIn(t, src.Work, "add", "link")
	gitIn(t, src.Work, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub")
	src.Commit("two", map[string]string{"a/x.txt": "changed\n"})
	sha := gitIn(t, src.Work, "rev-parse", "HEAD")
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/pack", sha)
	if err != nil {
		t.Fatal(err)
	}
	viaGit := &Mirror{Repo: m.Repo, Dir: m.Dir} // no batch reader: git's own commands

	for _, url := range []string{cache.CloneURL("octo/pack"), `https://example.com/o/a "quoted"\path;#x.git`} {
		fast, slow := filepath.Join(t.TempDir(), "fast"), filepath.Join(t.TempDir(), "slow")
		if err := m.Checkout(ctx, sha, fast, url); err != nil {
			t.Fatalf("checkout from the batch reader: %v", err)
		}
		if err := viaGit.Checkout(ctx, sha, slow, url); err != nil {
			t.Fatalf("checkout through git fetch: %v", err)
		}
		if _, err := os.Stat(filepath.Join(fast, ".git", "FETCH_HEAD")); err == nil {
			t.Fatalf("the batch reader's checkout has a FETCH_HEAD: it went through git fetch, not initShallow")
		}
		if got, want := treeListing(t, fast), treeListing(t, slow); got != want {
			t.Errorf("work tree files:\ngot  %s\nwant %s", got, want)
		}
		for _, args := range [][]string{
			{"rev-parse", "HEAD"},
			{"ls-files", "-s"},
			{"status", "--porcelain"},
			{"config", "remote.origin.url"},
			{"config", "remote.origin.fetch"},
			{"log", "--format=%H %T %s"},
			{"rev-list", "--objects", "--all"},
		} {
			if got, want := gitIn(t, fast, args...), gitIn(t, slow, args...); got != want {
				t.Errorf("git %s: got %q, want %q (git fetch's checkout)", strings.Join(args, " "), got, want)
			}
		}
		if got := gitIn(t, fast, "config", "remote.origin.url"); got != url {
			t.Errorf("origin: got %q, want %q", got, url)
		}
		gitIn(t, fast, "fsck", "--strict", "--no-dangling")
		gitIn(t, fast, "verify-pack", packOf(t, fast))
		for _, d := range []string{fast, slow} {
			if b, err := os.ReadFile(filepath.Join(d, ".git", "shallow")); err != nil || strings.TrimSpace(string(b)) != sha {
				t.Errorf("%s/.git/shallow = %q, %v; want %s", d, b, err, sha)
			}
		}
	}
}

// TestCheckoutWithoutFetchRefusesATree checks that asking for a tree or a
// missing commit is an error naming it and leaves nothing half-made looking
// like a repository at the commit.
func TestCheckoutWithoutFetchRefusesATree(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/bad")
	sha := src.Commit("one", map[string]string{"a.txt": "a\n"})
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/bad", sha)
	if err != nil {
		t.Fatal(err)
	}
	tree := gitIn(t, src.Work, "rev-parse", "HEAD^{tree}")
	for _, id := range []string{tree, strings.Repeat("2", 40)} {
		err := m.Checkout(ctx, id, filepath.Join(t.TempDir(), "ws"), "")
		if err == nil || !strings.Contains(err.Error(), id[:12]) {
			t.Errorf("checkout of %s: got %v, want an error naming it", id, err)
		}
	}
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// treeListing lists the work tree outside .git: path, mode and content.
func treeListing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		content := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			content, err = os.Readlink(p)
		case info.Mode().IsRegular():
			var raw []byte
			raw, err = os.ReadFile(p)
			content = string(raw)
		}
		b.WriteString(rel + " " + info.Mode().String() + " " + strings.ReplaceAll(content, "\n", "|") + "; ")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func packOf(t *testing.T, dir string) string {
	t.Helper()
	idx, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.idx"))
	if len(idx) != 1 {
		t.Fatalf("pack indexes: got %v, want one", idx)
	}
	return idx[0]
}
