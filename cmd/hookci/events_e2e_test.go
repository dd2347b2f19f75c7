package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// mainRepo points a corpus payload's repository at the test repository's
// default branch, main.
func mainRepo(p map[string]any) { p["repository"].(map[string]any)["default_branch"] = "main" }

// TestEventsEndToEnd drives GitHub's real payloads through the webhook
// against the strict fake: a push runs CI, whose completion (failure)
// triggers a workflow_run workflow that reads
// github.event.workflow_run.conclusion; a repository_dispatch with a
// client_payload and a type filter; an issue_comment and a published
// release routed to the default branch and the release tag; GET
// /api/schedules lists the default branch's cron with its next run.
func TestEventsEndToEnd(t *testing.T) {
	h := newHarness(t, "host")
	zero := strings.Repeat("0", 40)
	c1 := h.repo.Commit("first", map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: exit 3\n",
		".github/workflows/after.yml": `name: After CI
on:
  workflow_run:
    workflows: [CI]
    types: [completed]
jobs:
  look:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "triggered by ${{ github.event.workflow_run.name }} on ${{ github.event.workflow_run.head_branch }}: ${{ github.event.workflow_run.conclusion }}"
          test "${{ github.event.workflow_run.conclusion }}" = failure
          test "${{ github.event.workflow_run.head_sha }}" = "${{ github.sha }}"
          test "${{ github.event.workflow_run.html_url }}" = "` + h.url + `/runs/${{ github.event.workflow_run.id }}"
`,
		".github/workflows/dispatch.yml": `name: Dispatched
on:
  repository_dispatch:
    types: [deploy]
jobs:
  d:
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ github.event.action }}/${{ github.event.client_payload.env }}/${{ github.event.client_payload.nested.n }}" = deploy/staging/7
`,
		".github/workflows/comment.yml": `name: Commented
on:
  issue_comment:
    types: [created]
jobs:
  c:
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ github.ref }}" = refs/heads/main && test -n "${{ github.event.comment.body }}"
`,
		".github/workflows/release.yml": `name: Released
on:
  release:
    types: [published]
  schedule:
    - cron: '30 5 * * 1-5'
jobs:
  r:
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ github.ref }}" = refs/tags/v1.0 && test "${{ github.event.release.tag_name }}" = v1.0
`,
	})
	h.repo.Git("tag", "v1.0")
	h.repo.Push("main")
	h.repo.Push("refs/tags/v1.0")

	h.sendSigned("push", "ev-push", payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", zero, c1, false, []any{}
		mainRepo(p)
	}))
	if sts := h.waitContext(c1, "hookci/CI"); sts[len(sts)-1].State != "failure" {
		t.Fatalf("CI statuses %+v, want … failure", sts)
	}
	if sts := h.waitContext(c1, "hookci/After CI"); sts[len(sts)-1].State != "success" {
		t.Fatalf("After CI statuses %+v, want … success (it checks the conclusion it was given); deliveries %s", sts, h.get("/api/deliveries"))
	}

	// repository_dispatch: the type filter and client_payload.
	for i, typ := range []string{"other", "deploy"} {
		h.sendSigned("repository_dispatch", "ev-dispatch-"+typ, payload(t, "repository_dispatch", "payload.json", func(p map[string]any) {
			p["action"], p["branch"] = typ, "main"
			p["client_payload"] = map[string]any{"env": "staging", "nested": map[string]any{"n": 7}, "i": i}
			mainRepo(p)
		}))
	}
	if sts := h.waitContext(c1, "hookci/Dispatched"); sts[len(sts)-1].State != "success" {
		t.Fatalf("Dispatched statuses %+v, want … success", sts)
	}

	h.sendSigned("issue_comment", "ev-comment", payload(t, "issue_comment", "created.payload.json", mainRepo))
	if sts := h.waitContext(c1, "hookci/Commented"); sts[len(sts)-1].State != "success" {
		t.Fatalf("Commented statuses %+v, want … success", sts)
	}
	h.sendSigned("release", "ev-release", payload(t, "release", "published.payload.json", func(p map[string]any) {
		p["release"].(map[string]any)["tag_name"] = "v1.0"
		mainRepo(p)
	}))
	if sts := h.waitContext(c1, "hookci/Released"); sts[len(sts)-1].State != "success" {
		t.Fatalf("Released statuses %+v, want … success", sts)
	}

	// Exactly one run each: the other dispatch type, and the deliveries
	// that do not match (the workflow_run of other workflows), run nothing.
	var runs []struct {
		WorkflowName string
		Event        string
	}
	json.Unmarshal([]byte(h.get("/api/runs?per_page=100")), &runs)
	count := map[string]int{}
	for _, r := range runs {
		count[r.WorkflowName+"/"+r.Event]++
	}
	for k, want := range map[string]int{"CI/push": 1, "After CI/workflow_run": 1, "Dispatched/repository_dispatch": 1,
		"Commented/issue_comment": 1, "Released/release": 1} {
		if count[k] != want {
			t.Errorf("runs %s: got %d, want %d (all: %v; body %s)", k, count[k], want, count, h.get("/api/runs?per_page=100"))
		}
	}

	var scheds []map[string]any
	json.Unmarshal([]byte(h.get("/api/schedules")), &scheds)
	if len(scheds) != 1 || scheds[0]["cron"] != "30 5 * * 1-5" || scheds[0]["path"] != ".github/workflows/release.yml" ||
		scheds[0]["workflow"] != "Released" || scheds[0]["next_run_at"] == nil {
		t.Errorf("/api/schedules: got %v, want the release workflow's cron with a next run", scheds)
	} else if next, err := time.Parse(time.RFC3339, scheds[0]["next_run_at"].(string)); err != nil {
		t.Errorf("next_run_at %v: %v", scheds[0]["next_run_at"], err)
	} else if page := h.get("/schedules"); !strings.Contains(page, next.UTC().Format("2006-01-02 15:04 MST")) ||
		!strings.Contains(page, "30 5 * * 1-5") || !strings.Contains(page, "Released") {
		t.Errorf("/schedules does not show the cron with its next run %s:\n%s", next.UTC().Format("2006-01-02 15:04 MST"), page)
	}
}
