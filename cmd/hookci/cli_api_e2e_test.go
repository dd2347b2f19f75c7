package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The Actions-shaped API and the controls, end to end: a real server
// (SQLite, queue, git, host sandbox with the real agent) and the GitHub fake.

const apiToken = "api-test-token"

// newAPIHarness is the token-mode end-to-end server with an API token.
func newAPIHarness(t *testing.T) *harness {
	t.Helper()
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: "host"}
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
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
}

type apiJobT struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
	StartedAt  *string `json:"started_at"`
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

func (h *harness) jobs(runID int64) []apiJobT {
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

func (h *harness) jobLog(jobID int64) string {
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
          touch "$AFTER"
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
func TestAPICancelRunningJob(t *testing.T) {
	h := newAPIHarness(t)
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
		slow = jobNamed(h.jobs(run.ID), "slow")
		return slow.Status == "in_progress" && strings.Contains(h.jobLog(slow.ID), "started")
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
	jobs := h.jobs(run.ID)
	for _, name := range []string{"slow", "later"} {
		if j := jobNamed(jobs, name); j.Status != "completed" || concl(j.Conclusion) != "cancelled" {
			t.Errorf("job %s: %s/%s, want completed/cancelled", name, j.Status, concl(j.Conclusion))
		}
	}
	if _, err := os.Stat(after); err == nil {
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
		slow = jobNamed(h.jobs(run1.ID), "slow")
		return slow.Status == "in_progress" && strings.Contains(h.jobLog(slow.ID), "started")
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
	for _, j := range h.jobs(pending.ID) {
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
	jobs := h.jobs(run1.ID)
	if concl(done.Conclusion) != "cancelled" || concl(jobNamed(jobs, "slow").Conclusion) != "cancelled" ||
		concl(jobNamed(jobs, "cleanup").Conclusion) != "success" {
		t.Errorf("run %s, jobs %+v; want the run and slow cancelled, cleanup run", concl(done.Conclusion), jobs)
	}
	if l := h.jobLog(jobNamed(jobs, "cleanup").ID); !strings.Contains(l, "cleanup ran after cancelled") {
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

const rerunWorkflow = `name: CI
on: push
jobs:
  steady:
    runs-on: ubuntu-latest
    outputs:
      word: ${{ steps.w.outputs.word }}
    steps:
      - id: w
        run: |
          echo ran >> "$COUNT"
          w="kept-$RANDOM$RANDOM"
          echo "steady says $w"
          echo "word=$w" >> "$GITHUB_OUTPUT"
        env:
          COUNT: %s
  flaky:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ ! -f "$MARKER" ]; then touch "$MARKER"; echo "first attempt fails"; exit 1; fi
          echo "passes now"
        env:
          MARKER: %s
  report:
    needs: [steady, flaky]
    runs-on: ubuntu-latest
    steps:
      - run: echo "report got ${{ needs.steady.outputs.word }}"
`

func lines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// TestAPIRerunAttempts: re-running failed jobs makes attempt 2 of the same
// run number in which the successful job is not run again but keeps its
// attempt-1 result and outputs (the dependent job sees them); re-running
// all makes attempt 3 running everything; lists show the latest attempt;
// re-running failed jobs of a run with none is refused.
func TestAPIRerunAttempts(t *testing.T) {
	h := newAPIHarness(t)
	dir := t.TempDir()
	count, marker := filepath.Join(dir, "count"), filepath.Join(dir, "marker")
	sha := h.pushWorkflow("ci", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(rerunWorkflow, count, marker)})
	first := h.waitRunOf(sha)
	jobs1 := h.jobs(first.ID)
	if concl(first.Conclusion) != "failure" || concl(jobNamed(jobs1, "flaky").Conclusion) != "failure" ||
		concl(jobNamed(jobs1, "steady").Conclusion) != "success" || concl(jobNamed(jobs1, "report").Conclusion) != "skipped" {
		t.Fatalf("attempt 1: run %s, jobs %+v", concl(first.Conclusion), jobs1)
	}
	steady1 := jobNamed(jobs1, "steady")
	log1 := h.jobLog(steady1.ID)
	_, word, _ := strings.Cut(log1, "steady says ")
	word, _, _ = strings.Cut(word, "\n")
	if word == "" {
		t.Fatalf("steady's log has no word:\n%s", log1)
	}

	code, body, hdr := h.api("POST", fmt.Sprintf("%s/%d/rerun-failed-jobs", runsPath, first.ID), nil)
	if code != http.StatusCreated || hdr.Get("Location") == "" {
		t.Fatalf("rerun-failed-jobs: %d %s (Location %q), want 201", code, body, hdr.Get("Location"))
	}
	second := h.waitRunOf(sha)
	if second.ID == first.ID || second.RunAttempt != 2 || second.RunNumber != first.RunNumber || concl(second.Conclusion) != "success" {
		t.Fatalf("attempt 2: %+v (conclusion %s), want a new id, attempt 2, run number %d, success", second,
			concl(second.Conclusion), first.RunNumber)
	}
	jobs2 := h.jobs(second.ID)
	steady2, report2 := jobNamed(jobs2, "steady"), jobNamed(jobs2, "report")
	if concl(steady2.Conclusion) != "success" || steady2.StartedAt == nil || steady1.StartedAt == nil || *steady2.StartedAt != *steady1.StartedAt {
		t.Errorf("steady in attempt 2: %+v, want attempt 1's result (started %v)", steady2, steady1.StartedAt)
	}
	if n := lines(count); n != 1 {
		t.Errorf("steady ran %d times after re-running failed jobs, want 1", n)
	}
	if l := h.jobLog(steady2.ID); !strings.Contains(l, "steady says "+word) {
		t.Errorf("attempt 2's steady job lacks attempt 1's log:\n%s", l)
	}
	if l := h.jobLog(report2.ID); !strings.Contains(l, "report got "+word) {
		t.Errorf("report in attempt 2 did not get steady's attempt-1 output %q:\n%s", word, l)
	}
	var old apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, first.ID), &old)
	if old.RunAttempt != 1 || concl(old.Conclusion) != "failure" {
		t.Errorf("attempt 1 after the re-run: %+v, want unchanged", old)
	}

	code, body, _ = h.api("POST", fmt.Sprintf("%s/%d/rerun-failed-jobs", runsPath, second.ID), nil)
	if code != http.StatusConflict {
		t.Errorf("rerun-failed-jobs of a successful run: %d %s, want 409", code, body)
	}
	if code, body, _ = h.api("POST", fmt.Sprintf("%s/%d/rerun", runsPath, first.ID), nil); code != http.StatusCreated {
		t.Fatalf("rerun: %d %s", code, body)
	}
	third := h.waitRunOf(sha)
	if third.RunAttempt != 3 || concl(third.Conclusion) != "success" || lines(count) != 2 {
		t.Errorf("attempt 3: %+v conclusion %s, steady ran %d times; want attempt 3, success, 2", third,
			concl(third.Conclusion), lines(count))
	}
	var list struct {
		TotalCount int       `json:"total_count"`
		Runs       []apiRunT `json:"workflow_runs"`
	}
	h.apiJSON(runsPath+"?head_sha="+sha, &list)
	if list.TotalCount != 1 || len(list.Runs) != 1 || list.Runs[0].ID != third.ID {
		t.Errorf("runs of %s: %+v, want only the latest attempt", sha[:7], list)
	}

	// Re-running one job: attempt 4 runs it and what needs it, keeps steady.
	flaky3 := jobNamed(h.jobs(third.ID), "flaky")
	if code, body, _ = h.api("POST", fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d/rerun", flaky3.ID), nil); code != http.StatusCreated {
		t.Fatalf("job rerun: %d %s", code, body)
	}
	fourth := h.waitRunOf(sha)
	jobs4 := h.jobs(fourth.ID)
	if fourth.RunAttempt != 4 || lines(count) != 2 || jobNamed(jobs4, "flaky").ID == flaky3.ID ||
		concl(jobNamed(jobs4, "report").Conclusion) != "success" {
		t.Errorf("attempt 4: %+v, jobs %+v, steady ran %d times; want flaky and report re-run, steady kept", fourth, jobs4, lines(count))
	}

	// The run's logs: a zip of one text file per job, as GitHub's download.
	code, body, hdr = h.api("GET", fmt.Sprintf("%s/%d/logs", runsPath, fourth.ID), nil)
	if code != 200 || hdr.Get("Content-Type") != "application/zip" {
		t.Fatalf("run logs: %d %s", code, hdr.Get("Content-Type"))
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("run logs: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if len(names) != 3 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, "_report.txt") }) {
		t.Errorf("run logs archive holds %v, want one file per job", names)
	}
	// GitHub's attempt routes: any attempt's id names the run.
	var a1 apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d/attempts/1", runsPath, fourth.ID), &a1)
	if a1.ID != first.ID || a1.RunAttempt != 1 {
		t.Errorf("attempts/1 of run %d: %+v, want attempt 1 (id %d)", fourth.ID, a1, first.ID)
	}
	var a2 map[string]any
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, second.ID), &a2)
	if u, _ := a2["previous_attempt_url"].(string); !strings.HasSuffix(u, fmt.Sprintf("/actions/runs/%d", first.ID)) {
		t.Errorf("previous_attempt_url of attempt 2 = %v, want attempt 1's", a2["previous_attempt_url"])
	}
	var a2jobs struct {
		Jobs []apiJobT `json:"jobs"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d/attempts/2/jobs", runsPath, first.ID), &a2jobs)
	if len(a2jobs.Jobs) != 3 || jobNamed(a2jobs.Jobs, "steady").ID != steady2.ID {
		t.Errorf("attempts/2/jobs: %+v, want attempt 2's jobs", a2jobs.Jobs)
	}
	if code, body, _ := h.api("GET", fmt.Sprintf("%s/%d/attempts/9", runsPath, first.ID), nil); code != 404 {
		t.Errorf("attempts/9: %d %s, want 404", code, body)
	}
	testFieldShape(t, h, third.ID)
	testFilters(t, h, sha)
}

// ghRunFields and ghJobFields are GitHub's documented names of a workflow
// run and a job ("Get a workflow run", "Get a job for a workflow run").
var (
	ghRunFields = []string{"id", "name", "display_title", "path", "head_branch", "head_sha", "run_number", "run_attempt",
		"event", "status", "conclusion", "url", "html_url", "jobs_url", "logs_url", "cancel_url", "rerun_url",
		"previous_attempt_url", "created_at", "updated_at", "run_started_at", "actor", "triggering_actor", "repository",
		"head_repository", "pull_requests"}
	ghJobFields = []string{"id", "run_id", "run_url", "run_attempt", "head_sha", "head_branch", "workflow_name", "name",
		"url", "html_url", "status", "conclusion", "created_at", "started_at", "completed_at", "steps", "labels",
		"runner_name", "runner_group_name"}
	ghStepFields = []string{"name", "status", "conclusion", "number", "started_at", "completed_at"}
)

func missing(m map[string]any, names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := m[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// testFieldShape: a run, its jobs and steps carry GitHub's field names with
// GitHub's JSON types, and unknown ids are 404 {"message":"Not Found"}.
func testFieldShape(t *testing.T, h *harness, runID int64) {
	var run map[string]any
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, runID), &run)
	if m := missing(run, ghRunFields); len(m) > 0 {
		t.Errorf("run lacks %v", m)
	}
	if repo, _ := run["repository"].(map[string]any); repo["full_name"] != e2eRepo {
		t.Errorf("repository = %v", run["repository"])
	}
	if actor, _ := run["actor"].(map[string]any); actor["login"] == "" || actor["login"] == nil {
		t.Errorf("actor = %v", run["actor"])
	}
	if _, ok := run["id"].(float64); !ok {
		t.Errorf("id is %T, want a number", run["id"])
	}
	if run["head_branch"] != "main" || !strings.HasSuffix(run["jobs_url"].(string), fmt.Sprintf("/actions/runs/%d/jobs", runID)) {
		t.Errorf("head_branch %v jobs_url %v", run["head_branch"], run["jobs_url"])
	}
	var jobs struct {
		Jobs []map[string]any `json:"jobs"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d/jobs", runsPath, runID), &jobs)
	if len(jobs.Jobs) == 0 {
		t.Fatal("no jobs")
	}
	for _, j := range jobs.Jobs {
		if m := missing(j, ghJobFields); len(m) > 0 {
			t.Errorf("job %v lacks %v", j["name"], m)
		}
		steps, _ := j["steps"].([]any)
		if len(steps) == 0 {
			t.Errorf("job %v has no steps", j["name"])
		}
		for _, s := range steps {
			if m := missing(s.(map[string]any), ghStepFields); len(m) > 0 {
				t.Errorf("step of %v lacks %v", j["name"], m)
			}
		}
		var one map[string]any
		h.apiJSON(fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%v", j["id"]), &one)
		if one["id"] != j["id"] || one["run_id"] != float64(runID) {
			t.Errorf("GET job %v: %v", j["id"], one)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", runsPath + "/999999"},
		{"GET", runsPath + "/999999/jobs"},
		{"GET", "/api/repos/octo/hello/actions/jobs/999999"},
		{"GET", "/api/repos/octo/hello/actions/jobs/999999/logs"},
		{"POST", runsPath + "/999999/cancel"},
		{"POST", runsPath + "/999999/rerun"},
		{"GET", fmt.Sprintf("/api/repos/octo/other/actions/runs/%d", runID)}, // another repository's path
	} {
		code, body, _ := h.api(tc.method, tc.path, nil)
		var m map[string]any
		json.Unmarshal(body, &m)
		if code != 404 || m["message"] != "Not Found" {
			t.Errorf("%s %s: %d %s, want 404 Not Found", tc.method, tc.path, code, body)
		}
	}
	resp, err := http.Get(h.url + runsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("runs without the token: %d, want 401", resp.StatusCode)
	}
}

// testFilters: GitHub's status values (a status or a conclusion), branch,
// event and paging on the runs list; a bad filter is 400 naming it.
func testFilters(t *testing.T, h *harness, sha string) {
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"status=completed", 1}, {"status=success", 1}, {"status=failure", 0}, {"status=in_progress", 0},
		{"status=queued", 0}, {"branch=main", 1}, {"branch=dev", 0}, {"event=push", 1}, {"event=pull_request", 0},
		{"head_sha=" + sha, 1}, {"head_sha=" + strings.Repeat("1", 40), 0}, {"actor=nobody", 0},
	} {
		var list struct {
			TotalCount int               `json:"total_count"`
			Runs       []json.RawMessage `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?"+tc.query, &list)
		if list.TotalCount != tc.want || len(list.Runs) != tc.want {
			t.Errorf("?%s: total_count %d, %d runs, want %d", tc.query, list.TotalCount, len(list.Runs), tc.want)
		}
	}
	for _, q := range []string{"status=bogus", "per_page=x", "page=0"} {
		code, body, _ := h.api("GET", runsPath+"?"+q, nil)
		name, _, _ := strings.Cut(q, "=")
		if code != 400 || !strings.Contains(string(body), name) {
			t.Errorf("?%s: %d %s, want 400 naming %s", q, code, body, name)
		}
	}
}

const deployWorkflow = `name: Deploy
on:
  workflow_dispatch:
    inputs:
      target:
        type: string
        required: true
      dry:
        type: boolean
        default: true
      count:
        type: number
        default: 1
      level:
        type: choice
        options: [low, high]
        default: low
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo '${{ toJSON(inputs) }}' | tr -d ' \n'; echo
          echo "dry is ${{ inputs.dry && 'truthy' || 'falsy' }}"
`

// TestAPIDispatch: a workflow_dispatch with inputs runs that workflow only,
// with inputs typed (a boolean false is falsy, a number is a number); every
// bad request is refused with GitHub's status and a message naming the
// input, and stores nothing.
func TestAPIDispatch(t *testing.T) {
	h := newAPIHarness(t)
	h.repo.Commit("workflows", map[string]string{
		".github/workflows/deploy.yml": deployWorkflow,
		".github/workflows/other.yml":  "on: workflow_dispatch\njobs:\n  o:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo other\n",
		".github/workflows/ci.yml":     "on: push\njobs:\n  c:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ci\n",
		// Outside .github/workflows: never a workflow, whatever the path says.
		"evil.yml": "on: workflow_dispatch\njobs:\n  e:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo escaped\n",
	})
	h.repo.Push("main")
	dispatches := "/api/repos/octo/hello/actions/workflows/deploy.yml/dispatches"
	for _, tc := range []struct {
		name string
		path string
		body any
		code int
		want string
	}{
		{"missing required", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{}}, 422, "Required input 'target' not provided"},
		{"empty required", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": ""}}, 422, "Required input 'target' not provided"},
		{"undeclared", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "color": "red"}}, 422, `Unexpected inputs provided: ["color"]`},
		{"boolean", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "dry": "maybe"}}, 422, "Provided value 'maybe' for input 'dry' not in the list of allowed values"},
		{"choice", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "level": "mid"}}, 422, "Provided value 'mid' for input 'level' not in the list of allowed values"},
		{"number", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "count": "abc"}}, 422, "input 'count' is not a valid number"},
		{"object value", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": map[string]any{}}}, 422, "input 'target'"},
		{"no ref", dispatches, map[string]any{"inputs": map[string]any{"target": "x"}}, 422, `"ref" wasn't supplied`},
		{"unknown ref", dispatches, map[string]any{"ref": "nope", "inputs": map[string]any{"target": "x"}}, 422, "No ref found for: nope"},
		{"unknown workflow", "/api/repos/octo/hello/actions/workflows/nope.yml/dispatches", map[string]any{"ref": "main"}, 404, "Not Found"},
		{"no dispatch trigger", "/api/repos/octo/hello/actions/workflows/ci.yml/dispatches", map[string]any{"ref": "main"}, 422, "Workflow does not have 'workflow_dispatch' trigger"},
		{"bad JSON", dispatches, `{"ref": "main",`, 400, "Problems parsing JSON"},
		{"too many inputs", dispatches, map[string]any{"ref": "main", "inputs": manyInputs(26)}, 422, "up to 25 inputs"},
		{"path traversal", "/api/repos/octo/hello/actions/workflows/..%2F..%2Fevil.yml/dispatches", map[string]any{"ref": "main"}, 404, "Not Found"},
		{"full path traversal", "/api/repos/octo/hello/actions/workflows/.github%2Fworkflows%2F..%2F..%2Fevil.yml/dispatches", map[string]any{"ref": "main"}, 404, "Not Found"},
	} {
		code, body, _ := h.api("POST", tc.path, tc.body)
		var m struct{ Message string }
		json.Unmarshal(body, &m)
		if code != tc.code || !strings.Contains(m.Message, tc.want) {
			t.Errorf("%s: got %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// Without the token nothing is dispatched, cancelled or re-run.
	for _, path := range []string{dispatches, runsPath + "/1/cancel", runsPath + "/1/rerun", runsPath + "/1/rerun-failed-jobs",
		"/api/actions/runs/1/cancel", "/api/repos/octo/hello/actions/jobs/1/rerun"} {
		resp, err := http.Post(h.url+path, "application/json", strings.NewReader(`{"ref":"main","inputs":{"target":"x"}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without the token: %d, want 401", path, resp.StatusCode)
		}
	}
	for _, d := range h.deliveries() {
		if d["event"] == "workflow_dispatch" {
			t.Errorf("a refused dispatch stored a delivery: %v", d)
		}
	}

	code, body, _ := h.api("POST", dispatches, map[string]any{"ref": "main",
		"inputs": map[string]any{"target": "prod", "dry": false, "count": "3", "level": "high"}})
	if code != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("dispatch: %d %s, want 204 and no body", code, body)
	}
	var run apiRunT
	waitFor(t, "the dispatched run to complete", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?event=workflow_dispatch&status=completed", &list)
		if len(list.Runs) > 0 {
			run = list.Runs[0]
		}
		return len(list.Runs) > 0
	})
	var all struct {
		TotalCount int       `json:"total_count"`
		Runs       []apiRunT `json:"workflow_runs"`
	}
	h.apiJSON(runsPath+"?event=workflow_dispatch", &all)
	if all.TotalCount != 1 || run.Path != ".github/workflows/deploy.yml" || run.HeadBranch != "main" || concl(run.Conclusion) != "success" {
		t.Fatalf("dispatched runs: %+v (first %+v), want deploy.yml only, on main, success", all, run)
	}
	if run.Actor.Login == "" {
		t.Errorf("the dispatched run has no actor")
	}
	log := h.jobLog(h.jobs(run.ID)[0].ID)
	for _, want := range []string{`"target":"prod"`, `"dry":false`, `"count":3`, `"level":"high"`, "dry is falsy"} {
		if !strings.Contains(log, want) {
			t.Errorf("the job's inputs lack %s:\n%s", want, log)
		}
	}
}

func manyInputs(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("in%d", i)] = "x"
	}
	return m
}

// TestCheckSuiteRerequestedIsAnAttempt: GitHub's "Re-run all jobs" button
// (check_suite rerequested) shares newAttempt with the API: attempt 2 of the
// same run number, every job run again.
func TestCheckSuiteRerequestedIsAnAttempt(t *testing.T) {
	h := newAPIHarness(t)
	dir := t.TempDir()
	count, marker := filepath.Join(dir, "count"), filepath.Join(dir, "marker")
	sha := h.pushWorkflow("ci", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(rerunWorkflow, count, marker)})
	first := h.waitRunOf(sha)
	if concl(first.Conclusion) != "failure" {
		t.Fatalf("attempt 1: %s, want failure", concl(first.Conclusion))
	}
	h.sendSigned("check_suite", "suite-rerun", payload(t, "check_suite", "rerequested.payload.json", func(p map[string]any) {
		p["check_suite"].(map[string]any)["head_sha"] = sha
	}))
	var second apiRunT
	waitFor(t, "attempt 2 to complete", func() bool {
		second = h.waitRunOf(sha)
		return second.RunAttempt == 2
	})
	if second.RunNumber != first.RunNumber || concl(second.Conclusion) != "success" || lines(count) != 2 {
		t.Errorf("attempt 2: %+v %s, steady ran %d times; want run #%d, success, 2", second, concl(second.Conclusion),
			lines(count), first.RunNumber)
	}
}
