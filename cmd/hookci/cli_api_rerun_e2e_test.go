package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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

func lineCount(path string) int {
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
	jobs1 := h.apiJobs(first.ID)
	if concl(first.Conclusion) != "failure" || concl(jobNamed(jobs1, "flaky").Conclusion) != "failure" ||
		concl(jobNamed(jobs1, "steady").Conclusion) != "success" || concl(jobNamed(jobs1, "report").Conclusion) != "skipped" {
		t.Fatalf("attempt 1: run %s, jobs %+v", concl(first.Conclusion), jobs1)
	}
	steady1 := jobNamed(jobs1, "steady")
	log1 := h.apiJobLog(steady1.ID)
	_, word, _ := strings.Cut(log1, "steady says ")
	word, _, _ = strings.Cut(word, "\n")
	if word == "" {
		t.Fatalf("steady's log has no word:\n%s", log1)
	}

	code, body, hdr := h.api("POST", fmt.Sprintf("%s/%d/rerun-failed-jobs", runsPath, first.ID), nil)
	wantLoc := fmt.Sprintf("/actions/runs/%d/attempts/2", first.ID)
	if code != http.StatusCreated || strings.TrimSpace(string(body)) != "{}" || !strings.HasSuffix(hdr.Get("Location"), wantLoc) {
		t.Fatalf("rerun-failed-jobs: %d %s (Location %q), want 201 {} and …%s", code, body, hdr.Get("Location"), wantLoc)
	}
	// The run keeps its id, as on GitHub: at once it is attempt 2 (running,
	// or already done), never attempt 1's finished failure.
	var now apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, first.ID), &now)
	if now.ID != first.ID || now.RunAttempt != 2 || (now.Status == "completed" && concl(now.Conclusion) != "success") {
		t.Fatalf("run %d just after the re-run: %+v (%s), want attempt 2 not yet failed", first.ID, now, concl(now.Conclusion))
	}
	second := h.waitRunOf(sha)
	if second.ID != first.ID || second.RunAttempt != 2 || second.RunNumber != first.RunNumber || concl(second.Conclusion) != "success" {
		t.Fatalf("attempt 2: %+v (conclusion %s), want id %d, attempt 2, run number %d, success", second,
			concl(second.Conclusion), first.ID, first.RunNumber)
	}
	var byID apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, first.ID), &byID)
	if byID.RunAttempt != 2 || concl(byID.Conclusion) != "success" {
		t.Errorf("GET run %d after attempt 2: %+v %s, want attempt 2's success", first.ID, byID, concl(byID.Conclusion))
	}
	jobs2 := h.apiJobs(second.ID)
	steady2, report2 := jobNamed(jobs2, "steady"), jobNamed(jobs2, "report")
	if concl(steady2.Conclusion) != "success" || steady2.StartedAt == nil || steady1.StartedAt == nil || *steady2.StartedAt != *steady1.StartedAt {
		t.Errorf("steady in attempt 2: %+v, want attempt 1's result (started %v)", steady2, steady1.StartedAt)
	}
	if n := lineCount(count); n != 1 {
		t.Errorf("steady ran %d times after re-running failed jobs, want 1", n)
	}
	if l := h.apiJobLog(steady2.ID); !strings.Contains(l, "steady says "+word) {
		t.Errorf("attempt 2's steady job lacks attempt 1's log:\n%s", l)
	}
	if l := h.apiJobLog(report2.ID); !strings.Contains(l, "report got "+word) {
		t.Errorf("report in attempt 2 did not get steady's attempt-1 output %q:\n%s", word, l)
	}
	// Attempt 1 stays as it ended, under attempts/1, with its own jobs.
	var old apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d/attempts/1", runsPath, first.ID), &old)
	if old.ID != first.ID || old.RunAttempt != 1 || concl(old.Conclusion) != "failure" {
		t.Errorf("attempt 1 after the re-run: %+v, want unchanged", old)
	}
	var old1jobs struct {
		Jobs []apiJobT `json:"jobs"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d/attempts/1/jobs", runsPath, first.ID), &old1jobs)
	if f := jobNamed(old1jobs.Jobs, "flaky"); len(old1jobs.Jobs) != 3 || f.ID != jobNamed(jobs1, "flaky").ID ||
		concl(f.Conclusion) != "failure" || f.RunAttempt != 1 || f.RunID != first.ID {
		t.Errorf("attempts/1/jobs: %+v, want attempt 1's jobs (flaky failed)", old1jobs.Jobs)
	}
	// Jobs: the latest attempt's by default, every attempt's with filter=all.
	var all struct {
		TotalCount int       `json:"total_count"`
		Jobs       []apiJobT `json:"jobs"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d/jobs?filter=all", runsPath, first.ID), &all)
	attempts := map[int]int{}
	for _, j := range all.Jobs {
		attempts[j.RunAttempt]++
		if j.RunID != first.ID {
			t.Errorf("job %d of filter=all: run_id %d, want %d", j.ID, j.RunID, first.ID)
		}
	}
	if all.TotalCount != 6 || attempts[1] != 3 || attempts[2] != 3 {
		t.Errorf("jobs?filter=all: %d jobs by attempt %v, want 3 of each of 2 attempts", all.TotalCount, attempts)
	}
	if code, body, _ := h.api("GET", fmt.Sprintf("%s/%d/jobs?filter=some", runsPath, first.ID), nil); code != http.StatusUnprocessableEntity {
		t.Errorf("jobs?filter=some: %d %s, want 422", code, body)
	}
	// The row id attempt 2 had before runs kept one id (in check runs'
	// links, GITHUB_RUN_ID) still names attempt 2.
	var rows []struct {
		ID, FirstID int64
		SHA         string
		Attempt     int
	}
	h.apiJSON("/api/runs", &rows)
	for _, row := range rows {
		if row.SHA == sha && row.Attempt == 2 {
			var legacy apiRunT
			h.apiJSON(fmt.Sprintf("%s/%d", runsPath, row.ID), &legacy)
			if row.ID == first.ID || row.FirstID != first.ID || legacy.ID != first.ID || legacy.RunAttempt != 2 {
				t.Errorf("attempt 2's row %+v: the API shows %+v, want run %d attempt 2", row, legacy, first.ID)
			}
		}
	}

	code, body, _ = h.api("POST", fmt.Sprintf("%s/%d/rerun-failed-jobs", runsPath, second.ID), nil)
	if code != http.StatusConflict {
		t.Errorf("rerun-failed-jobs of a successful run: %d %s, want 409", code, body)
	}
	if code, body, _ = h.api("POST", fmt.Sprintf("%s/%d/rerun", runsPath, first.ID), nil); code != http.StatusCreated {
		t.Fatalf("rerun: %d %s", code, body)
	}
	third := h.waitRunOf(sha)
	if third.RunAttempt != 3 || concl(third.Conclusion) != "success" || lineCount(count) != 2 {
		t.Errorf("attempt 3: %+v conclusion %s, steady ran %d times; want attempt 3, success, 2", third,
			concl(third.Conclusion), lineCount(count))
	}
	var list struct {
		TotalCount int       `json:"total_count"`
		Runs       []apiRunT `json:"workflow_runs"`
	}
	h.apiJSON(runsPath+"?head_sha="+sha, &list)
	if list.TotalCount != 1 || len(list.Runs) != 1 || list.Runs[0].ID != first.ID || list.Runs[0].RunAttempt != 3 || third.ID != first.ID {
		t.Errorf("runs of %s: %+v, want only the latest attempt", sha[:7], list)
	}

	// Re-running one job: attempt 4 runs it and what needs it, keeps steady.
	flaky3 := jobNamed(h.apiJobs(third.ID), "flaky")
	if code, body, _ = h.api("POST", fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d/rerun", flaky3.ID), nil); code != http.StatusCreated {
		t.Fatalf("job rerun: %d %s", code, body)
	}
	fourth := h.waitRunOf(sha)
	jobs4 := h.apiJobs(fourth.ID)
	if fourth.RunAttempt != 4 || lineCount(count) != 2 || jobNamed(jobs4, "flaky").ID == flaky3.ID ||
		concl(jobNamed(jobs4, "report").Conclusion) != "success" {
		t.Errorf("attempt 4: %+v, jobs %+v, steady ran %d times; want flaky and report re-run, steady kept", fourth, jobs4, lineCount(count))
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
	// The dashboard: the runs page lists the run once, under its id; the
	// run's page is its latest attempt with links to the earlier ones.
	if code, page, _ := h.api("GET", "/runs", nil); code != 200 || strings.Count(string(page), `<tr><td><a href="/runs/`) != 1 ||
		!strings.Contains(string(page), fmt.Sprintf(`<tr><td><a href="/runs/%d">`, first.ID)) {
		t.Errorf("runs page: %d, want one row for run %d:\n%s", code, first.ID, page)
	}
	if code, page, _ := h.api("GET", fmt.Sprintf("/runs/%d", first.ID), nil); code != 200 || !strings.Contains(string(page), "attempt 4") ||
		!strings.Contains(string(page), fmt.Sprintf(`href="/runs/%d/attempts/1"`, first.ID)) {
		t.Errorf("run page %d: %d, want attempt 4 with a link to attempt 1:\n%s", first.ID, code, page)
	}
	if code, page, _ := h.api("GET", fmt.Sprintf("/runs/%d/attempts/1", first.ID), nil); code != 200 || !strings.Contains(string(page), "attempt 1") {
		t.Errorf("attempt 1's page: %d:\n%s", code, page)
	}
	if code, _, _ := h.api("GET", fmt.Sprintf("/runs/%d/attempts/9", first.ID), nil); code != 404 {
		t.Errorf("attempt 9's page: %d, want 404", code)
	}
	// GitHub's attempt routes.
	var a1 apiRunT
	h.apiJSON(fmt.Sprintf("%s/%d/attempts/1", runsPath, fourth.ID), &a1)
	if a1.ID != first.ID || a1.RunAttempt != 1 {
		t.Errorf("attempts/1 of run %d: %+v, want attempt 1 (id %d)", fourth.ID, a1, first.ID)
	}
	var a2 map[string]any
	h.apiJSON(fmt.Sprintf("%s/%d/attempts/2", runsPath, first.ID), &a2)
	if u, _ := a2["previous_attempt_url"].(string); !strings.HasSuffix(u, fmt.Sprintf("/actions/runs/%d/attempts/1", first.ID)) {
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

func missingFields(m map[string]any, names []string) []string {
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
	if m := missingFields(run, ghRunFields); len(m) > 0 {
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
		if m := missingFields(j, ghJobFields); len(m) > 0 {
			t.Errorf("job %v lacks %v", j["name"], m)
		}
		steps, _ := j["steps"].([]any)
		if len(steps) == 0 {
			t.Errorf("job %v has no steps", j["name"])
		}
		for _, s := range steps {
			if m := missingFields(s.(map[string]any), ghStepFields); len(m) > 0 {
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
	if second.RunNumber != first.RunNumber || concl(second.Conclusion) != "success" || lineCount(count) != 2 {
		t.Errorf("attempt 2: %+v %s, steady ran %d times; want run #%d, success, 2", second, concl(second.Conclusion),
			lineCount(count), first.RunNumber)
	}
}
