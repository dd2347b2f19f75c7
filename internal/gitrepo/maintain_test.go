package gitrepo

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestFetchMaintainsInBackground: a mirror's fetches no longer run git's
// automatic maintenance themselves, but it still runs after them. The
// mirror keeps each fetch as a pack and wants at most one: after two
// fetches and the background maintenance (the second fetch's while the
// first's may still run), git's
// auto gc has packed them into one, and the commits fetched by id (no ref
// names them) are still there, packed, not loose objects waiting for a prune.
func TestFetchMaintainsInBackground(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/hello")
	c1 := src.Commit("one", map[string]string{"a.txt": "1\n"})
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/hello", c1)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Close(); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"fetch.unpackLimit", "1"}, {"gc.autoPackLimit", "1"}, {"gc.autoDetach", "false"}, {"maintenance.autoDetach", "false"}} {
		if _, err := git(ctx, m.Dir, nil, "config", kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	packs := func() int {
		p, _ := filepath.Glob(filepath.Join(m.Dir, "objects", "pack", "*.pack"))
		return len(p)
	}
	c2 := src.Commit("two", map[string]string{"b.txt": "2\n"})
	src.Push("main")
	if _, err := cache.Fetch(ctx, "octo/hello", c2); err != nil {
		t.Fatal(err)
	}
	c3 := src.Commit("three", map[string]string{"c.txt": "3\n"})
	src.Push("main")
	if _, err := cache.Fetch(ctx, "octo/hello", c3); err != nil {
		t.Fatal(err)
	}
	cache.waitMaintenance()
	if n := packs(); n != 1 {
		t.Errorf("packs in the mirror after the fetches' maintenance: %d, want 1 (git's auto gc ran)", n)
	}
	for _, c := range []string{c1, c2, c3} {
		if !m.has(ctx, c) {
			t.Errorf("commit %s missing after maintenance", c)
		}
	}
	if out, err := git(ctx, m.Dir, nil, "count-objects"); err != nil || !strings.HasPrefix(string(out), "0 objects") {
		t.Errorf("loose objects after maintenance: %q, %v; want none (unreachable commits kept in a cruft pack)", out, err)
	}
}
