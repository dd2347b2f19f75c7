package gitrepo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestBorrowReadsWithoutFetching: a mirror that borrows a work tree's
// objects reads the commit's files and lists its tree although its clone
// URL points nowhere (so nothing was fetched), and leaves the borrowed
// repository's object directory as it was.
func TestBorrowReadsWithoutFetching(t *testing.T) {
	ctx := context.Background()
	src := gittest.New(t, t.TempDir(), "octo/hello")
	sha := src.Commit("c1", map[string]string{".github/workflows/ci.yml": "on: push\n", "README": "hi\n"})
	cache := New(t.TempDir(), "file://"+filepath.Join(t.TempDir(), "nowhere"), nil)
	gitDir := filepath.Join(src.Work, ".git")
	before := objectCount(t, gitDir)
	if err := cache.Borrow(ctx, "octo/hello", gitDir); err != nil {
		t.Fatal(err)
	}
	m, err := cache.Fetch(ctx, "octo/hello", sha)
	if err != nil {
		t.Fatalf("Fetch after Borrow: %v (it should not have needed the clone URL)", err)
	}
	got, err := m.ReadFile(ctx, sha, "README")
	if err != nil || string(got) != "hi\n" {
		t.Errorf("ReadFile: got %q, %v; want %q", got, err, "hi\n")
	}
	files, err := m.ListFiles(ctx, sha, ".github/workflows")
	if err != nil || len(files) != 1 || files[0] != ".github/workflows/ci.yml" {
		t.Errorf("ListFiles: got %v, %v; want [.github/workflows/ci.yml]", files, err)
	}
	dir := t.TempDir() + "/ws"
	if err := m.Checkout(ctx, sha, dir, "file:///x"); err != nil {
		t.Fatalf("Checkout from a borrowing mirror: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, ".git", "objects", "info", "alternates")); err == nil {
		t.Errorf("the workspace borrows objects too (%q); want a self-contained .git", b)
	}
	if after := objectCount(t, gitDir); after != before {
		t.Errorf("the borrowed repository's objects changed: got %d files, want %d", after, before)
	}
}

// TestBorrowKeepsShallowBoundary: borrowing a shallow clone makes a shallow
// mirror, as fetching from it would.
func TestBorrowKeepsShallowBoundary(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := gittest.New(t, root, "octo/deep")
	src.Commit("c1", map[string]string{"a": "1\n"})
	sha := src.Commit("c2", map[string]string{"a": "2\n"})
	src.Push("main")
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+src.Bare, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone --depth 1: %v\n%s", err, out)
	}
	cache := New(t.TempDir(), "file://"+filepath.Join(t.TempDir(), "nowhere"), nil)
	if err := cache.Borrow(ctx, "octo/deep", filepath.Join(clone, ".git")); err != nil {
		t.Fatal(err)
	}
	m, err := cache.Fetch(ctx, "octo/deep", sha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(m.Dir, "shallow"))
	if err != nil || strings.TrimSpace(string(b)) != sha {
		t.Errorf("mirror's shallow file: got %q, %v; want %s", b, err, sha)
	}
}

func TestBorrowRefusals(t *testing.T) {
	ctx := context.Background()
	src := gittest.New(t, t.TempDir(), "octo/hello")
	src.Commit("c1", map[string]string{"a": "1\n"})
	gitDir := filepath.Join(src.Work, ".git")
	cache := New(t.TempDir(), "file:///nowhere", nil)
	if err := cache.Borrow(ctx, "octo/hello", gitDir); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, repo, dir string
	}{
		{"mirror exists already", "octo/hello", gitDir},
		{"bad repository name", "../etc", gitDir},
		{"dotted repository name", "octo/..", gitDir},
		{"no object directory", "octo/other", t.TempDir()},
	}
	for _, c := range cases {
		if err := cache.Borrow(ctx, c.repo, c.dir); err == nil {
			t.Errorf("%s: got no error, want one", c.name)
		}
	}
}

func objectCount(t *testing.T, gitDir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(gitDir, "objects"), func(string, os.DirEntry, error) error { n++; return nil })
	return n
}
