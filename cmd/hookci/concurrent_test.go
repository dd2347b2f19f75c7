package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestTwentyConcurrentJobs: twenty matrix legs, each in its own namespace
// sandbox, run at once (HOOKCI_MAX_JOBS=20) and all complete; each sandbox
// sees only its own workspace.
func TestTwentyConcurrentJobs(t *testing.T) {
	requireSandbox(t, "namespace")
	gitRoot := t.TempDir()
	h := &harness{t: t, sandbox: "namespace"}
	h.gh = newFakeGitHub(t)
	h.repo = newRepo(t, gitRoot)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.Sandbox, h.cfg.MaxJobs = "namespace", 20
	h.start()
	t.Cleanup(func() { h.stop() })
	var legs []string
	for i := 1; i <= 20; i++ {
		legs = append(legs, fmt.Sprint(i))
	}
	sha := h.repo.Commit("twenty", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  leg:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [` + strings.Join(legs, ", ") + `]
    steps:
      - run: |
          echo "leg ${{ matrix.n }}" > "$GITHUB_WORKSPACE/mine"
          sleep 1
          test "$(ls "$GITHUB_WORKSPACE/.." | wc -l)" -le 2
          test "$(cat "$GITHUB_WORKSPACE/mine")" = "leg ${{ matrix.n }}"
`})
	h.repo.Push("main")
	h.sendSigned("push", "twenty", pushPayload(t, strings.Repeat("0", 40), sha))
	sts := h.waitStatus(sha)
	if got := sts[len(sts)-1].State; got != "success" {
		var runs []map[string]any
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		t.Fatalf("twenty legs: %s; runs %v", got, runs)
	}
	n := 0
	for _, j := range h.jobsOf(sts[len(sts)-1].TargetURL) {
		if j == "success" {
			n++
		}
	}
	if n != 20 {
		t.Errorf("%d legs succeeded, want 20", n)
	}
}
