package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// TestPullRequestTargetPlanning: a pull_request delivery plans the base
// branch's pull_request_target workflows for GitHub's default activity types
// (opened, synchronize, reopened) and for listed types, at the base branch's
// last commit, next to the pull_request workflows at the head.
func TestPullRequestTargetPlanning(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{
		".github/workflows/target.yml":   "on: pull_request_target\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: exit 0\n",
		".github/workflows/labels.yml":   "on:\n  pull_request_target:\n    types: [labeled]\njobs:\n  l:\n    runs-on: x\n    steps:\n      - run: exit 0\n",
		".github/workflows/pr.yml":       "on: pull_request\njobs:\n  p:\n    runs-on: x\n    steps:\n      - run: exit 0\n",
		".github/workflows/branches.yml": "on:\n  pull_request_target:\n    branches: [release]\njobs:\n  b:\n    runs-on: x\n    steps:\n      - run: exit 0\n",
	}
	base := e.repo.Commit("base", files)
	e.repo.Push("main")
	e.repo.Branch("feature")
	head := e.repo.Commit("head", map[string]string{"f": "1"})
	e.repo.Push("feature")
	cases := []struct {
		action string
		want   []string // event:file@sha
	}{
		{"opened", []string{"pull_request:.github/workflows/pr.yml@head", "pull_request_target:.github/workflows/target.yml@base"}},
		{"synchronize", []string{"pull_request:.github/workflows/pr.yml@head", "pull_request_target:.github/workflows/target.yml@base"}},
		{"labeled", []string{"pull_request_target:.github/workflows/labels.yml@base"}},
		{"closed", nil},
	}
	for i, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			id := fmt.Sprintf("prt%d", i)
			body, _ := json.Marshal(map[string]any{"action": tc.action, "number": 3,
				"repository": map[string]any{"full_name": "octo/hello", "default_branch": "main"}, "sender": map[string]any{"login": "me"},
				"pull_request": map[string]any{"number": 3,
					"head": map[string]any{"sha": head, "ref": "feature", "repo": map[string]any{"full_name": "octo/hello"}},
					"base": map[string]any{"sha": base, "ref": "main", "repo": map[string]any{"full_name": "octo/hello"}}}})
			if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: id, Event: "pull_request", Repo: "octo/hello", SHA: head,
				ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true); err != nil {
				t.Fatal(err)
			}
			runs, _ := e.wait(id)
			var got []string
			for _, r := range runs {
				sha := map[string]string{head: "head", base: "base"}[r.SHA]
				got = append(got, r.Event+":"+r.WorkflowFile+"@"+sha)
				if r.Conclusion != store.ConclusionSuccess {
					t.Errorf("%s run: %s %s", r.Event, r.Conclusion, r.Message)
				}
			}
			slices.Sort(got)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("runs: got %v, want %v", got, tc.want)
			}
		})
	}
}
