package gitrepo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

func TestFetchReadDiffCheckout(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/hello")
	c1 := src.Commit("one", map[string]string{"README.md": "hi\n", ".github/workflows/ci.yml": "on: push\n"})
	c2 := src.Commit("two", map[string]string{"src/a.go": "package a\n", "README.md": ""})
	src.Push("main")

	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/hello", c1, c2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.ReadFile(ctx, c1, ".github/workflows/ci.yml")
	if err != nil || string(got) != "on: push\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if _, err := m.ReadFile(ctx, c2, "README.md"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a deleted file: err = %v, want os.ErrNotExist", err)
	}
	files, err := m.ListFiles(ctx, c1, ".github/workflows")
	if err != nil || !cmp.Equal(files, []string{".github/workflows/ci.yml"}) {
		t.Errorf("ListFiles = %v, %v", files, err)
	}
	if files, err := m.ListFiles(ctx, c1, "nope"); err != nil || len(files) != 0 {
		t.Errorf("ListFiles(missing dir) = %v, %v; want none, nil", files, err)
	}
	changed, err := m.ChangedFiles(ctx, c1, c2)
	sort.Strings(changed)
	if diff := cmp.Diff([]string{"README.md", "src/a.go"}, changed); err != nil || diff != "" {
		t.Errorf("ChangedFiles: err %v, diff (-want +got):\n%s", err, diff)
	}
	root, err := m.CommitFiles(ctx, c1)
	sort.Strings(root)
	if diff := cmp.Diff([]string{".github/workflows/ci.yml", "README.md"}, root); err != nil || diff != "" {
		t.Errorf("CommitFiles(root): err %v, diff:\n%s", err, diff)
	}
	work := filepath.Join(t.TempDir(), "ws")
	if err := m.Checkout(ctx, c2, work, cache.CloneURL("octo/hello")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(work, "src/a.go")); err != nil || string(b) != "package a\n" {
		t.Errorf("checked-out file = %q, %v", b, err)
	}
	head, err := git(ctx, work, nil, "rev-parse", "HEAD")
	if err != nil || string(head) != c2+"\n" {
		t.Errorf("HEAD of checkout = %q, %v; want %s", head, err, c2)
	}
}

func TestFetchRefusesBadInput(t *testing.T) {
	cache := New(t.TempDir(), "file://"+t.TempDir(), nil)
	ctx := context.Background()
	for _, tc := range []struct{ repo, sha string }{
		{"../etc", "0123456789012345678901234567890123456789"},
		{"a/b/c", "0123456789012345678901234567890123456789"},
		{"octo/hello", "HEAD"},
		{"octo/hello", "--upload-pack=touch /tmp/x"},
	} {
		if _, err := cache.Fetch(ctx, tc.repo, tc.sha); err == nil {
			t.Errorf("Fetch(%q, %q) succeeded, want an error", tc.repo, tc.sha)
		}
	}
	// A well-formed commit that does not exist.
	server := t.TempDir()
	gittest.New(t, server, "octo/empty")
	cache = New(t.TempDir(), "file://"+server, nil)
	if _, err := cache.Fetch(ctx, "octo/empty", "0123456789012345678901234567890123456789"); err == nil {
		t.Error("Fetch of a missing commit succeeded")
	}
}

// TestShallowHistoryDiffIsUnknown: served from a shallow clone, the mirror
// lacks the parent of the boundary commit and older commits; the diffs that
// need them are ErrUnknownDiff (not a failure), and the ones it can compute
// still work.
func TestShallowHistoryDiffIsUnknown(t *testing.T) {
	ctx := context.Background()
	full := t.TempDir()
	src := gittest.New(t, full, "octo/hello")
	c1 := src.Commit("one", map[string]string{"a.txt": "1"})
	c2 := src.Commit("two", map[string]string{"b.txt": "2"})
	src.Push("main")
	shallow := t.TempDir()
	src.Git("clone", "--quiet", "--bare", "--depth=1", "file://"+src.Bare, filepath.Join(shallow, "octo", "hello.git"))

	m, err := New(t.TempDir(), "file://"+shallow, nil).Fetch(ctx, "octo/hello", c2)
	if err != nil {
		t.Fatal(err)
	}
	if files, err := m.CommitFiles(ctx, c2); !errors.Is(err, ErrUnknownDiff) {
		t.Errorf("CommitFiles of the shallow boundary = %v, %v; want ErrUnknownDiff", files, err)
	}
	if files, err := m.ChangedFiles(ctx, c1, c2); !errors.Is(err, ErrUnknownDiff) {
		t.Errorf("ChangedFiles from a commit beyond the boundary = %v, %v; want ErrUnknownDiff", files, err)
	}
	if _, err := m.MergeBase(ctx, c1, c2); !errors.Is(err, ErrUnknownDiff) {
		t.Errorf("MergeBase with a commit beyond the boundary: err = %v, want ErrUnknownDiff", err)
	}
	if files, err := m.ChangedFiles(ctx, c2, c2); err != nil || len(files) != 0 {
		t.Errorf("ChangedFiles(c2, c2) = %v, %v; want none, nil", files, err)
	}
	fm, err := New(t.TempDir(), "file://"+full, nil).Fetch(ctx, "octo/hello", c2)
	if err != nil {
		t.Fatal(err)
	}
	if files, err := fm.CommitFiles(ctx, c2); err != nil || !cmp.Equal(files, []string{"b.txt"}) {
		t.Errorf("CommitFiles with full history = %v, %v; want [b.txt]", files, err)
	}
}
