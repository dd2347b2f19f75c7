package dispatch

import (
	"fmt"
	"maps"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// TestCallKeys: a called job's key names every call above it and the
// commit a remote call resolved to; childrenOf finds a caller leg's own
// jobs, not deeper ones nor another leg's.
func TestCallKeys(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	top := store.Job{ID: 7, Key: "call"}
	p := callPrefix(top, "")
	nested := store.Job{ID: 12, Key: p + "inner"}
	p2 := callPrefix(nested, sha)
	for _, tc := range []struct {
		key  string
		segs string
		leaf string
	}{
		{"build", "[]", "build"},
		{p + "build", "[{call 7 }]", "build"},
		{p2 + "leaf", fmt.Sprintf("[{call 7 } {inner 12 %s}]", sha), "leaf"},
	} {
		segs, leaf, err := splitLeaf(tc.key)
		if got := fmt.Sprint(segs); err != nil || got != tc.segs || leaf != tc.leaf {
			t.Errorf("%s: got %s %s %v, want %s %s", tc.key, got, leaf, err, tc.segs, tc.leaf)
		}
	}
	if _, _, err := parseCallKey("call#x/leaf"); err == nil {
		t.Error("a malformed key parsed")
	}
	jobs := []store.Job{top, {ID: 8, Key: "call"}, {ID: 9, Key: p + "a"}, nested, {ID: 13, Key: p2 + "leaf"},
		{ID: 14, Key: "call#8/a"}, {ID: 15, Key: "call#70/a"}}
	prefix, kids := childrenOf(jobs, top)
	var ids []int64
	for _, k := range kids {
		ids = append(ids, k.ID)
	}
	if prefix != p || fmt.Sprint(ids) != "[9 12]" {
		t.Errorf("children of leg 7: %q %v, want %q [9 12]", prefix, ids, p)
	}
	if prefix, kids := childrenOf(jobs, nested); prefix != p2 || len(kids) != 1 || kids[0].ID != 13 {
		t.Errorf("children of the nested caller: %q %v", prefix, kids)
	}
}

// TestCapPermissions: a called job gets at most its caller's permissions;
// one that asks for none gets the caller's.
func TestCapPermissions(t *testing.T) {
	sc := &callScope{perms: map[string]string{"contents": "read", "statuses": "write", "metadata": "read"}}
	for _, tc := range []struct {
		asked   map[string]string
		inherit bool
		want    map[string]string
	}{
		{map[string]string{"contents": "write", "issues": "write", "metadata": "read"}, false,
			map[string]string{"contents": "read", "metadata": "read"}},
		{map[string]string{"statuses": "read", "metadata": "read"}, false,
			map[string]string{"statuses": "read", "metadata": "read"}},
		{map[string]string{"contents": "read", "packages": "read", "metadata": "read"}, true,
			map[string]string{"contents": "read", "statuses": "write", "metadata": "read"}},
	} {
		if got := sc.capPermissions(tc.asked, tc.inherit); !maps.Equal(got, tc.want) {
			t.Errorf("asked %v inherit=%v: got %v, want %v", tc.asked, tc.inherit, got, tc.want)
		}
	}
	top := &callScope{}
	if got := top.capPermissions(map[string]string{"contents": "write"}, false); got["contents"] != "write" {
		t.Errorf("the run's own workflow is not capped: got %v", got)
	}
}
