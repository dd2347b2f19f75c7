package dispatch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/corpus"
	"github.com/hookci/hookci/internal/store"
)

// TestRouteRealPayloads decodes GitHub's own webhook payload examples (the
// octokit corpus) into the ref and commit each event runs at, as GitHub's
// "Events that trigger workflows" gives GITHUB_REF and GITHUB_SHA (an
// empty SHA is the ref's last commit, resolved at planning).
func TestRouteRealPayloads(t *testing.T) {
	dir := corpus.Dir(t, "octokit-webhooks", "payload-examples", "api.github.com")
	cases := []struct {
		event, file    string
		ref, sha, skip string
		action         string
		pr             int
		fork           bool
	}{
		{event: "branch_protection_rule", file: "created.payload.json", ref: "refs/heads/main", action: "created"},
		{event: "check_run", file: "completed.payload.json", ref: "refs/heads/master", action: "completed"},
		{event: "check_suite", file: "completed.payload.json", ref: "refs/heads/master", action: "completed"},
		{event: "create", file: "payload.json", ref: "refs/tags/simple-tag"},
		{event: "delete", file: "payload.json", ref: "refs/heads/master"},
		{event: "deployment", file: "payload.json", ref: "refs/heads/master", action: "created", sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
		{event: "deployment_status", file: "payload.json", ref: "refs/heads/master", action: "created", sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
		{event: "discussion", file: "answered.payload.json", ref: "refs/heads/master", action: "answered"},
		{event: "discussion_comment", file: "created.payload.json", ref: "refs/heads/master", action: "created"},
		{event: "fork", file: "payload.json", ref: "refs/heads/master"},
		{event: "gollum", file: "payload.json", ref: "refs/heads/master"},
		{event: "issue_comment", file: "created.payload.json", ref: "refs/heads/master", action: "created"},
		{event: "issues", file: "opened.payload.json", ref: "refs/heads/master", action: "opened"},
		{event: "label", file: "created.payload.json", ref: "refs/heads/master", action: "created"},
		{event: "merge_group", file: "checks_requested.payload.json", action: "checks_requested",
			ref: "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64", sha: "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"},
		{event: "milestone", file: "created.payload.json", ref: "refs/heads/master", action: "created"},
		{event: "page_build", file: "payload.json", ref: "refs/heads/master"},
		{event: "public", file: "payload.json", ref: "refs/heads/master"},
		{event: "project", file: "created.payload.json", ref: "refs/heads/master", action: "created"},
		{event: "project_card", file: "moved.payload.json", ref: "refs/heads/master", action: "moved"},
		{event: "project_column", file: "created.payload.json", ref: "refs/heads/master", action: "created"},
		{event: "pull_request_review", file: "submitted.payload.json", action: "submitted", pr: 2,
			ref: "refs/pull/2/merge", sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
		{event: "pull_request_review_comment", file: "created.payload.json", action: "created", pr: 2,
			ref: "refs/pull/2/merge", sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
		{event: "registry_package", file: "published.docker.payload.json", ref: "refs/heads/master", action: "published"},
		{event: "release", file: "published.payload.json", ref: "refs/tags/0.0.1", action: "published"},
		{event: "repository_dispatch", file: "payload.json", ref: "refs/heads/master", action: "on-demand-test"},
		{event: "status", file: "payload.json", ref: "refs/heads/master"},
		{event: "watch", file: "started.payload.json", ref: "refs/heads/master", action: "started"},
		{event: "workflow_dispatch", file: "payload.json", ref: "refs/heads/master"},
	}
	for _, c := range cases {
		body, err := os.ReadFile(filepath.Join(dir, c.event, c.file))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := decodeEvent(c.event, body)
		if err != nil {
			t.Errorf("%s/%s: %v", c.event, c.file, err)
			continue
		}
		if ev.Ref != c.ref || ev.SHA != c.sha || ev.Skip != c.skip || ev.Action != c.action || ev.PR != c.pr || ev.Fork != c.fork {
			t.Errorf("%s/%s: got ref %q sha %q skip %q action %q pr %d fork %v, want ref %q sha %q skip %q action %q pr %d fork %v",
				c.event, c.file, ev.Ref, ev.SHA, ev.Skip, ev.Action, ev.PR, ev.Fork, c.ref, c.sha, c.skip, c.action, c.pr, c.fork)
		}
	}
}

// TestRouteSkips: what triggers no workflow although GitHub delivers it.
func TestRouteSkips(t *testing.T) {
	cases := []struct{ event, body, skip string }{
		{"status", `{"context":"hookci/CI","sha":"` + sha40 + `","repository":{"full_name":"o/r","default_branch":"main"}}`,
			"a status hookci posted itself triggers no workflow"},
		{"status", `{"context":"ci/other","sha":"` + sha40 + `","repository":{"full_name":"o/r","default_branch":"main"}}`, ""},
		{"deployment_status", `{"deployment":{"sha":"` + sha40 + `","ref":"main"},"deployment_status":{"state":"inactive"},"repository":{"full_name":"o/r","default_branch":"main"}}`,
			"an inactive deployment status triggers no workflow"},
		{"release", `{"action":"created","release":{"tag_name":"v1","draft":true},"repository":{"full_name":"o/r","default_branch":"main"}}`,
			"a draft release's created triggers no workflow"},
		{"release", `{"action":"published","release":{"tag_name":"v1","draft":false},"repository":{"full_name":"o/r","default_branch":"main"}}`, ""},
	}
	for _, c := range cases {
		ev, err := decodeEvent(c.event, []byte(c.body))
		if err != nil {
			t.Errorf("%s %s: %v", c.event, c.body, err)
			continue
		}
		if ev.Skip != c.skip {
			t.Errorf("%s %s: got skip %q, want %q", c.event, c.body, ev.Skip, c.skip)
		}
	}
	// A deployment made from a commit id has no ref (GITHUB_REF empty).
	ev, err := decodeEvent("deployment", []byte(`{"deployment":{"sha":"`+sha40+`","ref":"`+sha40+`"},"repository":{"full_name":"o/r","default_branch":"main"}}`))
	if err != nil || ev.Ref != "" || ev.SHA != sha40 {
		t.Errorf("deployment by commit: got %+v, %v; want no ref, sha %s", ev, err, sha40)
	}
	// hookci's own check runs re-run or are ignored; others' may start workflows.
	d := New(Config{AppID: 42})
	for _, c := range []struct {
		body string
		own  bool
	}{
		{`{"action":"completed","check_run":{"external_id":"hookci-job-7-1","app":{"id":1}},"repository":{"full_name":"o/r","default_branch":"main"}}`, true},
		{`{"action":"completed","check_run":{"external_id":"","app":{"id":42}},"repository":{"full_name":"o/r","default_branch":"main"}}`, true},
		{`{"action":"completed","check_run":{"external_id":"x","app":{"id":29310}},"repository":{"full_name":"o/r","default_branch":"main"}}`, false},
	} {
		ev, err := decodeEvent("check_run", []byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.ownCheckEvent(ev); got != c.own {
			t.Errorf("%s: own check: got %v, want %v", c.body, got, c.own)
		}
	}
	// A check suite re-run of another App's suite re-runs nothing of hookci's.
	for _, c := range []struct {
		app, suiteApp int64
		others        bool
	}{{42, 29310, true}, {42, 42, false}, {0, 29310, false}, {42, 0, false}} {
		d := New(Config{AppID: c.app})
		if got := d.othersCheck(&event{CheckAppID: c.suiteApp}); got != c.others {
			t.Errorf("App %d, suite of App %d: others: got %v, want %v", c.app, c.suiteApp, got, c.others)
		}
	}
}

const sha40 = "0123456789abcdef0123456789abcdef01234567"

// TestOwnStatusStartsNothing: a status hookci posted comes back as a
// webhook and must not start on: status workflows (a loop); another
// context's status does; a check run nothing runs on is not planned.
func TestOwnStatusStartsNothing(t *testing.T) {
	e := newEnv(t)
	e.push(map[string]string{".github/workflows/st.yml": "name: St\non: status\njobs:\n  s:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.context }}\n"})
	e.runsByWorkflow(0)
	for _, c := range []struct{ id, context string }{{"own", "hookci/CI"}, {"other", "ci/jenkins"}} {
		body := `{"context":"` + c.context + `","state":"success","sha":"` + e.repo.Head() + `","repository":{"full_name":"octo/hello","default_branch":"main"}}`
		if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: c.id, Event: "status", Repo: "octo/hello",
			ReceivedAt: time.Now(), Payload: []byte(body), Status: store.DeliveryQueued}, true); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"action":"completed","check_run":{"external_id":"x","app":{"id":29310}},"repository":{"full_name":"octo/hello","default_branch":"main"}}`
	if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: "check", Event: "check_run", Repo: "octo/hello",
		ReceivedAt: time.Now(), Payload: []byte(body), Status: store.DeliveryQueued}, true); err != nil {
		t.Fatal(err)
	}
	e.wait("check")
	if d, _ := e.st.Queries().Delivery(context.Background(), "check"); d.Status != store.DeliveryIgnored ||
		d.Message != "no workflow of the default branch runs on check_run" {
		t.Errorf("another App's check run with no on: check_run workflow: got %s %q, want ignored without planning", d.Status, d.Message)
	}
	own, _ := e.wait("own")
	other, jobs := e.wait("other")
	d, _ := e.st.Queries().Delivery(context.Background(), "own")
	if len(own) != 0 || d.Status != store.DeliveryIgnored {
		t.Errorf("own status: got %d runs, delivery %s (%s); want none, ignored", len(own), d.Status, d.Message)
	}
	if len(other) != 1 || other[0].Ref != "refs/heads/main" || !strings.Contains(e.log(jobs["s"].ID), "ci/jenkins") {
		t.Errorf("other status: got runs %+v, want one on main seeing the context", other)
	}
}

// TestWorkflowFileSizeLimit: a workflow file over 500 KB starts no jobs; its
// run fails saying why (GitHub's limit).
func TestWorkflowFileSizeLimit(t *testing.T) {
	e := newEnv(t)
	big := "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n# " + strings.Repeat("x", MaxWorkflowFileBytes) + "\n"
	id := e.push(map[string]string{".github/workflows/big.yml": big,
		".github/workflows/ok.yml": "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ok\n"})
	runs, jobs := e.wait(id)
	if len(runs) != 2 {
		t.Fatalf("got %d runs, want 2", len(runs))
	}
	for _, r := range runs {
		switch r.WorkflowFile {
		case ".github/workflows/big.yml":
			if r.Conclusion != store.ConclusionFailure || !strings.Contains(r.Message, "larger than 500 KB will not start runs") {
				t.Errorf("big workflow: got %s %q, want a failure naming the 500 KB limit", r.Conclusion, r.Message)
			}
		default:
			if r.Conclusion != store.ConclusionSuccess {
				t.Errorf("small workflow: got %s", r.Conclusion)
			}
		}
	}
	if _, ok := jobs["a"]; ok {
		t.Error("the big workflow's job ran")
	}
}
