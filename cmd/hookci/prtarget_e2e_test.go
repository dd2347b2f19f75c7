package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/config"
)

// targetWorkflow and prWorkflow are the two kinds of pull request workflow;
// %s are the version marker and the output directory. The fork's
// pull_request job runs isolated (a fork never runs on the host) and prints
// its line instead of writing it to the host.
const targetWorkflow = `name: Target
on: pull_request_target
permissions:
  pull-requests: write
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: echo "version=%s secret-len=${#S} sha=$GITHUB_SHA ref=$GITHUB_REF event=$GITHUB_EVENT_NAME" > "$OUT/target.txt"
        env:
          S: ${{ secrets.DEPLOY_KEY }}
          OUT: %s
`

const prWorkflow = `name: PR
on: pull_request
permissions: write-all
jobs:
  p:
    runs-on: isolated
    steps:
      - run: echo "version=%s secret-len=${#S} sha=$GITHUB_SHA event=$GITHUB_EVENT_NAME (out $OUT)"
        env:
          S: ${{ secrets.DEPLOY_KEY }}
          OUT: %s
`

// TestPullRequestTargetFromPullRequestDelivery: GitHub sends
// pull_request_target as an X-GitHub-Event: pull_request delivery. One
// signed delivery of a fork's pull request plans both kinds of workflow:
// pull_request runs the fork's head (its own workflow file, no secrets, a
// read-only token even with permissions: write-all), and
// pull_request_target runs the base branch's workflow file at the base
// branch's last commit with secrets and its permissions: — the fork's
// modified copy of that workflow is never used.
func TestPullRequestTargetFromPullRequestDelivery(t *testing.T) {
	requireSandbox(t, "namespace")
	h := newAppHarness(t, func(c *config.Config) { c.Labels = map[string]config.Label{"isolated": {Backend: "namespace"}} })
	out := t.TempDir()
	base := h.repo.Commit("base", map[string]string{
		".github/workflows/target.yml": fmt.Sprintf(targetWorkflow, "base", out),
		".github/workflows/pr.yml":     fmt.Sprintf(prWorkflow, "base", out),
	})
	h.repo.Push("main")
	tip := h.repo.Commit("main moves on", map[string]string{"later.txt": "1"})
	h.repo.Push("main")
	h.repo.Branch("fork")
	head := h.repo.Commit("fork edits the workflows", map[string]string{
		".github/workflows/target.yml": fmt.Sprintf(targetWorkflow, "fork", out),
		".github/workflows/pr.yml":     fmt.Sprintf(prWorkflow, "fork", out),
	})
	h.repo.Push("fork")
	pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["action"], p["number"], p["installation"] = "opened", 7, map[string]any{"id": installation}
		pr := p["pull_request"].(map[string]any)
		pr["number"] = 7
		hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
		hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, "fork", base, "main"
		hd["repo"].(map[string]any)["full_name"] = "evil/hello"
		bs["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "prt-1", pr)
	runs := h.waitRunsDone(2)

	byEvent, prPage := map[string]string{}, ""
	for _, r := range runs {
		byEvent[r.Event] = r.SHA
		if r.Event == "pull_request" {
			prPage = h.get(fmt.Sprintf("/runs/%d", r.ID))
		}
		if r.Conclusion != "success" {
			t.Errorf("%s run: %s %s", r.Event, r.Conclusion, r.Message)
		}
	}
	if byEvent["pull_request"] != head || byEvent["pull_request_target"] != tip || len(runs) != 2 {
		t.Errorf("runs by event %v, want pull_request at the head %s and pull_request_target at main's tip %s", byEvent, head, tip)
	}
	target := readResults(t, filepath.Join(out, "target.txt"))["version"]
	wantTarget := fmt.Sprintf("base secret-len=%d sha=%s ref=refs/heads/main event=pull_request_target", len("s3cr3t-deploy-key"), tip)
	if target != wantTarget {
		t.Errorf("pull_request_target job wrote %q, want %q (the base's workflow, with secrets)", target, wantTarget)
	}
	if !strings.Contains(prPage, "version=fork secret-len=0 ") || !strings.Contains(prPage, "sandbox: namespace") {
		t.Errorf("pull_request job: want the fork's workflow without secrets, in namespace; page:\n%s", prPage)
	}
	var forkPerms, targetPerms map[string]string
	for _, m := range h.gh.MintedTokens() {
		switch {
		case m.Repositories == nil:
		case m.Permissions["pull_requests"] == "write":
			targetPerms = m.Permissions
		default:
			forkPerms = m.Permissions
		}
	}
	for p, level := range forkPerms {
		if level != "read" {
			t.Errorf("the fork's pull_request token has %s: %s; a fork gets reads only", p, level)
		}
	}
	if forkPerms["contents"] != "read" || targetPerms == nil {
		t.Errorf("tokens: fork %v, target %v; want a read-only fork token and the target's pull_requests: write", forkPerms, targetPerms)
	}
}
