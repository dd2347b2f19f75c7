package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const matrixRerunWorkflow = `name: CI
on: push
jobs:
  test:
    strategy:
      fail-fast: false
      matrix:
        n: [1, 2, 3]
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "leg ${{ matrix.n }}" >> "$COUNT"
          if [ "${{ matrix.n }}" = 2 ] && [ ! -f "$MARKER" ]; then touch "$MARKER"; echo "leg 2 fails once"; exit 1; fi
        env:
          COUNT: %s
          MARKER: %s
  after:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: echo "after ran"
`

// TestAPIRerunFailedLegsOnly: "Re-run failed jobs" of a run whose matrix job
// failed in one leg runs only that leg again (as GitHub): the other legs are
// kept with their attempt-1 result, the failed one runs and passes, the
// dependent job runs, and attempt 2 succeeds with all three legs listed.
func TestAPIRerunFailedLegsOnly(t *testing.T) {
	h := newAPIHarness(t)
	dir := t.TempDir()
	count, marker := filepath.Join(dir, "count"), filepath.Join(dir, "marker")
	sha := h.pushWorkflow("legs-push", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(matrixRerunWorkflow, count, marker)})
	first := h.waitRunOf(sha)
	if concl(first.Conclusion) != "failure" {
		t.Fatalf("attempt 1: got %s, want failure", concl(first.Conclusion))
	}
	code, body, _ := h.api("POST", fmt.Sprintf("%s/%d/rerun-failed-jobs", runsPath, first.ID), nil)
	if code != 201 {
		t.Fatalf("rerun-failed-jobs: %d %s", code, body)
	}
	var second apiRunT
	waitFor(t, "attempt 2 to complete", func() bool {
		second = h.waitRunOf(sha)
		return second.RunAttempt == 2
	})
	if concl(second.Conclusion) != "success" || second.ID != first.ID {
		t.Errorf("attempt 2: got %s, id %d, want success under the run's id %d", concl(second.Conclusion), second.ID, first.ID)
	}
	b, _ := os.ReadFile(count)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	sort.Strings(lines)
	if got, want := strings.Join(lines, ","), "leg 1,leg 2,leg 2,leg 3"; got != want {
		t.Errorf("legs run over both attempts: got %s, want %s (only leg 2 again)", got, want)
	}
	var names []string
	for _, j := range h.apiJobs(second.ID) {
		names = append(names, j.Name+"="+concl(j.Conclusion))
	}
	sort.Strings(names)
	if got, want := strings.Join(names, " "), "after=success test (1)=success test (2)=success test (3)=success"; got != want {
		t.Errorf("attempt 2 jobs: got %s, want %s", got, want)
	}
}
