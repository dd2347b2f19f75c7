package main

// Reusable workflows end to end, continued: credentials, fail-fast,
// re-runs and concurrency of calling jobs (see reusable_e2e_test.go).

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestAttackReusableWorkflowPrivateRepo: the git server is a real
// smart-HTTP server where every repository of the owner is private and
// readable with the server's token. A workflow calling a reusable workflow
// of another private repository does not get it through the server's
// credential: the run fails saying the workflow cannot be read, the called
// job never runs, and the server's token never reaches the git server for
// that repository (it does for the run's own repository: planning).
func TestAttackReusableWorkflowPrivateRepo(t *testing.T) {
	h := newHarness(t, "host")
	h.stop()
	gitRoot := strings.TrimPrefix(h.cfg.GitURL, "file://")
	srv := gittest.NewHTTPServer(t, gitRoot)
	for _, r := range []string{e2eRepo, "octo/private-lib"} {
		srv.Private(r, e2eToken)
	}
	h.cfg.GitURL = srv.URL
	h.start()
	lib := gittest.New(t, gitRoot, "octo/private-lib")
	lib.Commit("lib", map[string]string{".github/workflows/lib.yml": "on: workflow_call\njobs:\n  steal:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo PRIVATE-LIB-RAN-5e1f\n"})
	lib.Push("HEAD:refs/tags/v1")
	sha := h.repo.Commit("call private", map[string]string{".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  call:\n    uses: octo/private-lib/.github/workflows/lib.yml@v1\n"})
	h.repo.Push("main")
	h.sendSigned("push", "private-call", pushPayload(t, strings.Repeat("0", 40), sha))
	runs := h.waitRuns(1)
	v := runs[0]
	if v.Conclusion != "failure" || !strings.Contains(v.Message, `"octo/private-lib/.github/workflows/lib.yml@v1"`) ||
		!strings.Contains(v.Message, "cannot be read without a credential") {
		t.Errorf("run: %s %q, want failure naming the call and why", v.Conclusion, v.Message)
	}
	if strings.Contains(h.get(fmt.Sprintf("/runs/%d", v.ID)), "PRIVATE-LIB-RAN-5e1f") || len(v.Jobs) != 0 {
		t.Errorf("ATTACK: the private reusable workflow ran: %+v", v.Jobs)
	}
	reqs := srv.Requests("octo/private-lib")
	if len(reqs) == 0 {
		t.Fatal("hookci never asked the git server for octo/private-lib: the attack was not tried")
	}
	for _, r := range reqs {
		if r.HasAuth {
			t.Errorf("ATTACK: a fetch of another repository's reusable workflow presented a credential (server's token: %v)", r.Password == e2eToken)
		}
	}
	if got := srv.Passwords(e2eRepo); len(got) == 0 || got[0] != e2eToken {
		t.Errorf("planning fetched %s with %q, want the server's token (the git server is really private)", e2eRepo, got)
	}
}

// TestReusableCallerFailFast: a matrix caller whose first leg's called job
// fails cancels the leg held back by max-parallel (fail-fast), and the
// failure reaches the run and a dependant's needs.<caller>.result.
func TestReusableCallerFailFast(t *testing.T) {
	h := newHarness(t, "host")
	sha := h.repo.Commit("fail-fast", map[string]string{
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  call:
    strategy:
      max-parallel: 1
      matrix:
        what: [bad, good]
    uses: ./.github/workflows/may-fail.yml
    with:
      what: ${{ matrix.what }}
  report:
    needs: call
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "call result=${{ needs.call.result }}"
`,
		".github/workflows/may-fail.yml": "on:\n  workflow_call:\n    inputs:\n      what: {type: string, required: true}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: '[ \"${{ inputs.what }}\" = good ]'\n",
	})
	h.repo.Push("main")
	h.sendSigned("push", "reusable-ff", pushPayload(t, strings.Repeat("0", 40), sha))
	v := h.waitRuns(1)[0]
	if v.Conclusion != "failure" {
		t.Errorf("run conclusion = %s, want failure", v.Conclusion)
	}
	got := map[string]string{}
	for _, j := range v.Jobs {
		got[j.Name] = j.Conclusion
	}
	if got["call (bad) / j"] != "failure" {
		t.Errorf("call (bad) / j = %q, want failure; jobs %v", got["call (bad) / j"], got)
	}
	if _, ran := got["call (good) / j"]; ran {
		t.Errorf("the held leg ran although fail-fast should have cancelled it: %v", got)
	}
	if got["call (good)"] != "cancelled" {
		t.Errorf("held caller leg = %q, want cancelled; jobs %v", got["call (good)"], got)
	}
	if log, _ := jobLog(v, "report"); !strings.Contains(log, "call result=failure") {
		t.Errorf("report: %s", log)
	}
}

// TestReusableCalledJobRerun: a called job re-run from its check run (App
// mode, check_run rerequested) reopens its caller leg, whose result — and
// the run's — follow the new attempt.
func TestReusableCalledJobRerun(t *testing.T) {
	h := newAppHarness(t)
	marker := filepath.Join(t.TempDir(), "attempted")
	sha := h.repo.Commit("rerun", map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  call:\n    uses: ./.github/workflows/flaky.yml\n",
		".github/workflows/flaky.yml": "on: workflow_call\njobs:\n  flaky:\n    runs-on: ubuntu-latest\n    steps:\n" +
			"      - run: if [ ! -f " + marker + " ]; then touch " + marker + "; exit 1; fi\n",
	})
	h.repo.Push("main")
	body := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("push", "reusable-rerun", body)
	if v := h.waitRuns(1)[0]; v.Conclusion != "failure" {
		t.Fatalf("first attempt: run %s, want failure", v.Conclusion)
	}
	var first githubtest.CheckRun
	waitFor(t, "the called job's check run", func() bool {
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.Name == "CI / call / flaky" && c.Status == "completed" {
				first = c
				return true
			}
		}
		return false
	})
	rerun := payload(t, "check_run", "rerequested.payload.json", func(p map[string]any) {
		cr := p["check_run"].(map[string]any)
		cr["external_id"], cr["head_sha"], cr["id"] = first.ExternalID, sha, first.ID
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("check_run", "reusable-rerun-2", rerun)
	var runs []struct {
		ID                 int64
		Status, Conclusion string
	}
	defer func() {
		if t.Failed() && len(runs) > 0 {
			t.Logf("run: %s\ndeliveries: %s", h.get(fmt.Sprintf("/api/runs/%d", runs[0].ID)), h.get("/api/deliveries"))
		}
	}()
	waitFor(t, "the re-run to succeed", func() bool {
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		return len(runs) == 1 && runs[0].Status == "completed" && runs[0].Conclusion == "success"
	})
	v := h.runView(runs[0].ID)
	for _, j := range v.Jobs {
		if j.Conclusion != "success" {
			t.Errorf("after the re-run: %s is %s", j.Name, j.Conclusion)
		}
	}
}

// TestReusableFailFastCancelsCalledJobs: a matrix caller's leg whose called
// job fails cancels what the other leg already called (fail-fast), running
// or not: the other leg's job waits for a file nobody creates, so the run
// ends only if it is cancelled.
func TestReusableFailFastCancelsCalledJobs(t *testing.T) {
	h := newHarness(t, "host")
	never := filepath.Join(t.TempDir(), "never")
	sha := h.repo.Commit("ff-running", map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  call:\n    strategy:\n      matrix:\n        what: [bad, wait]\n" +
			"    uses: ./.github/workflows/w.yml\n    with:\n      what: ${{ matrix.what }}\n",
		".github/workflows/w.yml": "on:\n  workflow_call:\n    inputs:\n      what: {type: string, required: true}\njobs:\n" +
			"  first:\n    runs-on: ubuntu-latest\n    steps:\n" +
			"      - run: if [ \"${{ inputs.what }}\" = bad ]; then exit 1; fi; while [ ! -f " + never + " ]; do sleep 0.2; done\n" +
			"  second:\n    needs: first\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo second\n",
	})
	h.repo.Push("main")
	h.sendSigned("push", "reusable-ff-running", pushPayload(t, strings.Repeat("0", 40), sha))
	v := h.waitRuns(1)[0]
	got := map[string]string{}
	for _, j := range v.Jobs {
		got[j.Name] = j.Conclusion
	}
	want := map[string]string{"call (bad)": "failure", "call (bad) / first": "failure", "call (bad) / second": "skipped",
		"call (wait)": "cancelled", "call (wait) / first": "cancelled", "call (wait) / second": "cancelled"}
	for name, c := range want {
		if got[name] != c {
			t.Errorf("%s = %q, want %s (jobs %v)", name, got[name], c, got)
		}
	}
	if v.Conclusion != "failure" {
		t.Errorf("run = %s, want failure", v.Conclusion)
	}
}

// TestReusableCancelInProgress: a calling job's concurrency group with
// cancel-in-progress cancels the jobs an older run's caller leg called when
// a newer run's leg enters the group. The older called job waits for a file
// nobody creates: its run ends only if it is cancelled.
func TestReusableCancelInProgress(t *testing.T) {
	h := newHarness(t, "host")
	never := filepath.Join(t.TempDir(), "never")
	files := map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  deploy:\n    concurrency:\n      group: deploy\n      cancel-in-progress: true\n" +
			"    uses: ./.github/workflows/d.yml\n",
		".github/workflows/d.yml": "on: workflow_call\njobs:\n  run:\n    runs-on: ubuntu-latest\n    steps:\n" +
			"      - run: if [ -f wait.txt ]; then while [ ! -f " + never + " ]; do sleep 0.2; done; fi\n",
		"wait.txt": "the first run waits",
	}
	first := h.repo.Commit("first", files)
	h.repo.Push("main")
	h.sendSigned("push", "cip-1", pushPayload(t, strings.Repeat("0", 40), first))
	waitFor(t, "the first run's called job to start", func() bool {
		v := h.runView(1)
		for _, j := range v.Jobs {
			if j.Name == "deploy / run" && j.Conclusion == "" && strings.Contains(h.get("/api/runs/1"), `"in_progress"`) {
				return true
			}
		}
		return false
	})
	second := h.repo.Commit("second", map[string]string{"wait.txt": ""}) // deletes it
	h.repo.Push("main")
	h.sendSigned("push", "cip-2", pushPayload(t, first, second))
	runs := h.waitRuns(2)
	byID := map[int64]e2eRunView{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	if c := byID[1].Conclusion; c != "cancelled" {
		t.Errorf("first run = %s, want cancelled; jobs %+v", c, byID[1].Jobs)
	}
	if c := byID[2].Conclusion; c != "success" {
		t.Errorf("second run = %s, want success; jobs %+v", c, byID[2].Jobs)
	}
}
