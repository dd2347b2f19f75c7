package gitrepo

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestCheckoutKeepsOnePack checks the shape of a small commit's checkout:
// its objects are one pack and its index, no loose object files (each of
// which a sandbox would receive as a file and a directory), .git/hooks is
// there but without git's inert *.sample examples, and git still sees a
// complete, shallow repository at the commit.
func TestCheckoutKeepsOnePack(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/hello")
	files := map[string]string{".github/workflows/ci.yml": "on: push\n"}
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		files[d+"/x.txt"], files[d+"/y/z.txt"] = "x "+d+"\n", "z "+d+"\n"
	}
	src.Commit("one", files)
	sha := src.Commit("two", map[string]string{"a/x.txt": "changed\n"})
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/hello", sha)
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "ws")
	if err := m.Checkout(ctx, sha, work, cache.CloneURL("octo/hello")); err != nil {
		t.Fatal(err)
	}
	var loose, packs []string
	objects := filepath.Join(work, ".git", "objects")
	filepath.WalkDir(objects, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(objects, p)
		switch {
		case strings.HasPrefix(rel, "pack"+string(filepath.Separator)):
			packs = append(packs, rel)
		case rel != filepath.Join("info", "packs"):
			loose = append(loose, rel)
		}
		return nil
	})
	if len(loose) != 0 || len(packs) < 2 {
		t.Errorf("checkout objects: got loose %v and pack files %v, want no loose object and a pack with its index", loose, packs)
	}
	for _, args := range [][]string{{"fsck", "--no-dangling"}, {"cat-file", "-e", sha + ":c/y/z.txt"}} {
		if _, err := git(ctx, work, nil, args...); err != nil {
			t.Errorf("git %s in the checkout: %v", strings.Join(args, " "), err)
		}
	}
	if hooks, err := os.ReadDir(filepath.Join(work, ".git", "hooks")); err != nil || len(hooks) != 0 {
		t.Errorf(".git/hooks: got %d entries (%v), want it empty (git's *.sample examples left out)", len(hooks), err)
	}
	if b, err := os.ReadFile(filepath.Join(work, ".git", "shallow")); err != nil || strings.TrimSpace(string(b)) != sha {
		t.Errorf(".git/shallow = %q, %v; want %s", b, err, sha)
	}
	if b, err := os.ReadFile(filepath.Join(work, "a", "x.txt")); err != nil || string(b) != "changed\n" {
		t.Errorf("a/x.txt = %q, %v", b, err)
	}
}
