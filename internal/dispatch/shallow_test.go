package dispatch

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// TestShallowHistoryPathFilters: served from a shallow clone, the diff a
// push's path filters need cannot be computed; as on GitHub the filters
// then pass (the run happens), and the workflow is not called invalid.
func TestShallowHistoryPathFilters(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("wf", map[string]string{".github/workflows/ci.yml": `
on:
  push:
    paths: ['src/**']
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
`})
	c2 := e.repo.Commit("docs", map[string]string{"README.md": "only docs\n"})
	e.repo.Push("main")
	full := e.repo.Bare + ".full"
	if err := os.Rename(e.repo.Bare, full); err != nil {
		t.Fatal(err)
	}
	e.repo.Git("clone", "--quiet", "--bare", "--depth=1", "file://"+full, e.repo.Bare)

	for i, before := range []string{strings.Repeat("0", 40), c1} {
		id := "shallow-" + string(rune('a'+i))
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": before, "after": c2,
			"repository": map[string]any{"full_name": "octo/hello", "default_branch": "main"}, "sender": map[string]any{"login": "me"}})
		if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: id, Event: "push", Repo: "octo/hello", SHA: c2,
			ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true); err != nil {
			t.Fatal(err)
		}
		runs, jobs := e.wait(id)
		if len(runs) != 1 {
			d, _ := e.st.Queries().Delivery(context.Background(), id)
			t.Fatalf("before %.7s: %d runs, want 1 (unknown diff: filters pass); delivery: %s %s", before, len(runs), d.Status, d.Message)
		}
		if r := runs[0]; r.Conclusion != "success" || strings.Contains(r.Message, "invalid workflow") {
			t.Errorf("before %.7s: run %s %q, want success", before, r.Conclusion, r.Message)
		}
		if j, ok := jobs["build"]; !ok || j.Conclusion != "success" {
			t.Errorf("before %.7s: jobs %s, want build=success", before, conclusions(jobs))
		}
	}
}
