package gitrepo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestObserveFetch: each git fetch into a mirror is reported once with its
// outcome; a fetch the mirror can answer itself is not reported.
func TestObserveFetch(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/hello")
	c1 := src.Commit("one", map[string]string{"README.md": "hi\n"})
	src.Push("main")

	var got []string
	cache := New(t.TempDir(), "file://"+server, nil)
	cache.ObserveFetch(func(took time.Duration, err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		if took <= 0 {
			outcome += " (no duration)"
		}
		got = append(got, outcome)
	})
	steps := []struct {
		sha  string
		want string // what is reported; "" for nothing
	}{
		{c1, "ok"},                         // fetched
		{c1, ""},                           // already known
		{strings.Repeat("a", 40), "error"}, // no such commit
	}
	for i, s := range steps {
		before := len(got)
		cache.Fetch(ctx, "octo/hello", s.sha)
		var reported string
		if len(got) > before {
			reported = strings.Join(got[before:], ",")
		}
		if reported != s.want {
			t.Errorf("step %d: fetch of %.7s reported %q, want %q", i, s.sha, reported, s.want)
		}
	}
}
