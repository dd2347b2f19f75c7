package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Actions-shaped API and the controls, end to end: a real server
// (SQLite, queue, git, host sandbox with the real agent) and the GitHub fake.

const apiToken = "api-test-token"

// newAPIHarness is the token-mode end-to-end server with an API token, its
// jobs on the host backend.
func newAPIHarness(t *testing.T) *harness { return newAPIHarnessOn(t, "host") }

// newAPIHarnessOn is newAPIHarness with jobs on the given sandbox backend.
func newAPIHarnessOn(t *testing.T, sandbox string) *harness {
	t.Helper()
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: sandbox}
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.Sandbox = sandbox
	h.cfg.APIToken = apiToken
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// api sends an authenticated request and returns the status and body.
func (h *harness) api(method, path string, body any) (int, []byte, http.Header) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// apiJSON GETs path and decodes it into out, failing on any status but 200.
func (h *harness) apiJSON(path string, out any) {
	h.t.Helper()
	code, body, _ := h.api("GET", path, nil)
	if code != 200 {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		h.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// pushWorkflow commits files, pushes main and sends the push webhook.
func (h *harness) pushWorkflow(delivery string, files map[string]string) string {
	sha := h.repo.Commit(delivery, files)
	h.repo.Push("main")
	h.sendSigned("push", delivery, pushPayload(h.t, strings.Repeat("0", 40), sha))
	return sha
}

type apiRunT struct {
	ID         int64   `json:"id"`
	RunNumber  int     `json:"run_number"`
	RunAttempt int     `json:"run_attempt"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
	Event      string  `json:"event"`
	Path       string  `json:"path"`
	HeadBranch string  `json:"head_branch"`
	Actor      struct {
		Login string `json:"login"`
	} `json:"actor"`
	Message string `json:"message"`
}

type apiJobT struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	Conclusion *string  `json:"conclusion"`
	StartedAt  *string  `json:"started_at"`
	Message    string   `json:"message"`
	Labels     []string `json:"labels"`
	RunID      int64    `json:"run_id"`
	RunAttempt int      `json:"run_attempt"`
}

func concl(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

const runsPath = "/api/repos/octo/hello/actions/runs"

// waitRunOf waits until the latest attempt of the run of sha is completed
// and returns it.
func (h *harness) waitRunOf(sha string) apiRunT {
	h.t.Helper()
	var run apiRunT
	waitFor(h.t, "the run of "+sha[:7]+" to complete", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &list)
		if len(list.Runs) == 1 && list.Runs[0].Status == "completed" {
			run = list.Runs[0]
			return true
		}
		return false
	})
	return run
}

func (h *harness) apiJobs(runID int64) []apiJobT {
	h.t.Helper()
	var out struct {
		TotalCount int       `json:"total_count"`
		Jobs       []apiJobT `json:"jobs"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d/jobs", runsPath, runID), &out)
	if out.TotalCount != len(out.Jobs) {
		h.t.Errorf("total_count %d, %d jobs", out.TotalCount, len(out.Jobs))
	}
	return out.Jobs
}

func jobNamed(jobs []apiJobT, name string) apiJobT {
	for _, j := range jobs {
		if j.Name == name {
			return j
		}
	}
	return apiJobT{Name: name + " (missing)"}
}

func (h *harness) apiJobLog(jobID int64) string {
	h.t.Helper()
	code, body, hdr := h.api("GET", fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d/logs", jobID), nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		h.t.Fatalf("job %d logs: %d %s %s", jobID, code, hdr.Get("Content-Type"), body)
	}
	return string(body)
}

const slowWorkflow = `name: Slow
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo started
          sleep 300
          echo "after the sleep"
          touch "$AFTER" || true
        env:
          AFTER: %s
  later:
    needs: slow
    runs-on: ubuntu-latest
    steps:
      - run: echo never
`

// TestAPICancelRunningJob: POST …/runs/{id}/cancel stops a running job (its
// process never reaches the line after the sleep), cancels the job waiting
// for it, concludes the run cancelled, reports that to GitHub, and a second
// cancel of the finished run is 409 with GitHub's message.
func TestAPICancelRunningJob(t *testing.T) { testCancelRunning(t, "host") }

// The same in a bubblewrap sandbox: the job's processes in their own
// namespaces stop too.
func TestAPICancelRunningJobNamespace(t *testing.T) {
	requireSandbox(t, "namespace")
	testCancelRunning(t, "namespace")
}

func testCancelRunning(t *testing.T, sandbox string) {
	h := newAPIHarnessOn(t, sandbox)
	after := filepath.Join(t.TempDir(), "after")
	sha := h.pushWorkflow("slow", map[string]string{".github/workflows/slow.yml": fmt.Sprintf(slowWorkflow, after)})
	var run apiRunT
	var slow apiJobT
	waitFor(t, "the slow job to print its first line", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &list)
		if len(list.Runs) != 1 {
			return false
		}
		run = list.Runs[0]
		slow = jobNamed(h.apiJobs(run.ID), "slow")
		return slow.Status == "in_progress" && strings.Contains(h.apiJobLog(slow.ID), "started")
	})
	code, body, _ := h.api("POST", fmt.Sprintf("%s/%d/rerun", runsPath, run.ID), nil)
	if code != http.StatusForbidden || !strings.Contains(string(body), "This workflow is already running") {
		t.Errorf("rerun of a running run: %d %s, want 403 as GitHub", code, body)
	}
	code, body, _ = h.api("POST", fmt.Sprintf("%s/%d/cancel", runsPath, run.ID), nil)
	if code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s, want 202", code, body)
	}
	done := h.waitRunOf(sha)
	if concl(done.Conclusion) != "cancelled" {
		t.Errorf("run conclusion %s, want cancelled", concl(done.Conclusion))
	}
	jobs := h.apiJobs(run.ID)
	for _, name := range []string{"slow", "later"} {
		if j := jobNamed(jobs, name); j.Status != "completed" || concl(j.Conclusion) != "cancelled" {
			t.Errorf("job %s: %s/%s, want completed/cancelled", name, j.Status, concl(j.Conclusion))
		}
	}
	// The reason is kept on the running job as on the waiting one and the run
	// (the running job's end used to write its row back without it).
	const why = "The run was canceled by @hookci-api."
	if done.Message != why {
		t.Errorf("run message %q, want %q", done.Message, why)
	}
	// Labels: the running job's as picked up; the one never picked up has
	// none (an empty array, not null, as on GitHub).
	if l := jobNamed(jobs, "slow").Labels; len(l) != 1 || l[0] != "ubuntu-latest" {
		t.Errorf("slow's labels %q, want [ubuntu-latest]", l)
	}
	if l := jobNamed(jobs, "later").Labels; l == nil || len(l) != 0 {
		t.Errorf("later's labels %#v, want []", l)
	}
	for _, name := range []string{"slow", "later"} {
		if got := jobNamed(jobs, name).Message; got != why {
			t.Errorf("job %s message %q, want %q", name, got, why)
		}
	}
	if _, err := os.Stat(after); err == nil || strings.Contains(h.apiJobLog(slow.ID), "after the sleep") {
		t.Errorf("the cancelled job's process went on past its sleep")
	}
	sts := h.waitContext(sha, "hookci/Slow")
	if last := sts[len(sts)-1]; last.State != "error" || !strings.HasPrefix(last.Description, "Cancelled") {
		t.Errorf("GitHub's last status: %+v, want error Cancelled…", last)
	}
	code, body, _ = h.api("POST", fmt.Sprintf("%s/%d/cancel", runsPath, run.ID), nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "Cannot cancel a workflow run that is completed.") {
		t.Errorf("second cancel: %d %s, want 409 with GitHub's message", code, body)
	}
}

const cancelJobWorkflow = `name: Group
on: push
concurrency: one-at-a-time
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ -f "$SEEN" ]; then echo "second run is quick"; exit 0; fi
          touch "$SEEN"
          echo started
          sleep 300
        env:
          SEEN: %s
  cleanup:
    needs: slow
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "cleanup ran after ${{ needs.slow.result }}"
`

// TestAPICancelJob: POST …/jobs/{id}/cancel stops one running job; the run
// goes on (a job that needs it with if: always() runs and sees it
// cancelled) and concludes cancelled; the run waiting for the workflow's
// concurrency group then starts; a waiting run can be cancelled too.
func TestAPICancelJob(t *testing.T) {
	h := newAPIHarness(t)
	seen := filepath.Join(t.TempDir(), "seen")
	wf := fmt.Sprintf(cancelJobWorkflow, seen)
	sha1 := h.pushWorkflow("g1", map[string]string{".github/workflows/g.yml": wf})
	var slow apiJobT
	var run1 apiRunT
	waitFor(t, "the slow job to run", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha1, &list)
		if len(list.Runs) != 1 {
			return false
		}
		run1 = list.Runs[0]
		slow = jobNamed(h.apiJobs(run1.ID), "slow")
		return slow.Status == "in_progress" && strings.Contains(h.apiJobLog(slow.ID), "started")
	})
	waitPending := func(sha string) apiRunT {
		var run apiRunT
		waitFor(t, "a run to wait for the group", func() bool {
			var list struct {
				Runs []apiRunT `json:"workflow_runs"`
			}
			h.apiJSON(runsPath+"?status=pending&head_sha="+sha, &list)
			if len(list.Runs) == 1 {
				run = list.Runs[0]
			}
			return len(list.Runs) == 1
		})
		return run
	}
	// A waiting run is cancelled at once, none of its jobs having run.
	pending := waitPending(h.pushWorkflow("g2", map[string]string{"README": "2"}))
	if code, body, _ := h.api("POST", fmt.Sprintf("%s/%d/cancel", runsPath, pending.ID), nil); code != http.StatusAccepted {
		t.Fatalf("cancel of a waiting run: %d %s", code, body)
	}
	var cancelled apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, pending.ID), &cancelled)
	if cancelled.Status != "completed" || concl(cancelled.Conclusion) != "cancelled" {
		t.Errorf("the cancelled waiting run: %s/%s, want completed/cancelled", cancelled.Status, concl(cancelled.Conclusion))
	}
	for _, j := range h.apiJobs(pending.ID) {
		if concl(j.Conclusion) != "cancelled" || j.StartedAt != nil {
			t.Errorf("job %s of the cancelled waiting run: %s started %v", j.Name, concl(j.Conclusion), j.StartedAt)
		}
	}
	sha2 := h.pushWorkflow("g3", map[string]string{"README": "3"})
	waitPending(sha2)
	code, body, _ := h.api("POST", fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d/cancel", slow.ID), nil)
	if code != http.StatusAccepted {
		t.Fatalf("job cancel: %d %s", code, body)
	}
	done := h.waitRunOf(sha1)
	jobs := h.apiJobs(run1.ID)
	if concl(done.Conclusion) != "cancelled" || concl(jobNamed(jobs, "slow").Conclusion) != "cancelled" ||
		concl(jobNamed(jobs, "cleanup").Conclusion) != "success" {
		t.Errorf("run %s, jobs %+v; want the run and slow cancelled, cleanup run", concl(done.Conclusion), jobs)
	}
	var one apiJobT
	h.apiJSON(fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d", slow.ID), &one)
	if want := "The job was canceled by @hookci-api."; jobNamed(jobs, "slow").Message != want || one.Message != want {
		t.Errorf("the cancelled running job's message: %q in the list, %q alone; want %q",
			jobNamed(jobs, "slow").Message, one.Message, want)
	}
	if l := h.apiJobLog(jobNamed(jobs, "cleanup").ID); !strings.Contains(l, "cleanup ran after cancelled") {
		t.Errorf("cleanup's log:\n%s", l)
	}
	if second := h.waitRunOf(sha2); concl(second.Conclusion) != "success" {
		t.Errorf("the run waiting for the group: %s, want success once the group was free", concl(second.Conclusion))
	}
	code, body, _ = h.api("POST", fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d/cancel", slow.ID), nil)
	if code != http.StatusConflict {
		t.Errorf("cancel of a finished job: %d %s, want 409", code, body)
	}
}

// TestAPICancelAppMode: in GitHub App mode the cancelled jobs' check runs
// (the running one and the one that never started) end "cancelled" on
// GitHub, and a skipped job's check run completes (a job without steps used
// to send a blank summary, which GitHub refuses with 422).
func TestAPICancelAppMode(t *testing.T) {
	h := newAppHarness(t)
	after := filepath.Join(t.TempDir(), "after")
	sha := h.repo.Commit("slow", map[string]string{".github/workflows/slow.yml": fmt.Sprintf(slowWorkflow, after),
		".github/workflows/skip.yml": "name: Skip\non: push\njobs:\n  never:\n    if: false\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo no\n"})
	h.repo.Push("main")
	h.sendSigned("push", "app-slow", payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	}))
	var run apiRunT
	waitFor(t, "the slow job to run", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha+"&event=push", &list)
		for _, r := range list.Runs {
			if r.Path == ".github/workflows/slow.yml" {
				run = r
			}
		}
		if run.ID == 0 {
			return false
		}
		slow := jobNamed(h.apiJobs(run.ID), "slow")
		return slow.Status == "in_progress" && strings.Contains(h.apiJobLog(slow.ID), "started")
	})
	if code, body, _ := h.api("POST", fmt.Sprintf("%s/%d/cancel", runsPath, run.ID), nil); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, body)
	}
	waitForOr(t, "the check runs to end cancelled", func() bool {
		n := 0
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if (c.Name == "Slow / slow" || c.Name == "Slow / later") && c.Status == "completed" && c.Conclusion == "cancelled" {
				n++
			}
			// A job that never ran has no steps: its check run still completes.
			if c.Name == "Skip / never" && c.Status == "completed" && c.Conclusion == "skipped" {
				n++
			}
		}
		return n == 3
	}, func() {
		t.Logf("check runs: %+v", h.gh.CheckRuns(e2eRepo))
		t.Logf("run: %.3000s", h.get("/api/runs/1"))
	})
}

// waitForOr is waitFor that runs report before failing.
func waitForOr(t *testing.T, what string, cond func() bool, report func()) {
	t.Helper()
	defer func() {
		if t.Failed() {
			report()
		}
	}()
	waitFor(t, what, cond)
}
