package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const stopWorkflow = `name: Long
on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo started
          sleep 120
          echo "should not be reached"
`

// The dashboard's stop button on a real server: a running job's sandbox is
// listed on /sandboxes and /api/overview counts it; POST
// /sandboxes/{job}/stop cancels the job through the dispatcher's CancelJob
// (as the Cancel button): it ends cancelled (not failed as a lost sandbox
// would), is not retried on a fresh sandbox, and its sandbox is gone.
func TestDashboardStopsASandbox(t *testing.T) {
	h := newHarness(t, "host")
	c1 := h.repo.Commit("long", map[string]string{".github/workflows/ci.yml": stopWorkflow})
	h.repo.Push("main")
	h.sendSigned("push", "stop-delivery-1", pushPayload(t, strings.Repeat("0", 40), c1))
	var jobID int64
	var runID string
	waitFor(t, "the job to run", func() bool {
		var runs []struct{ ID int64 }
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		if len(runs) == 0 {
			return false
		}
		runID = strconv.FormatInt(runs[0].ID, 10)
		var v struct {
			Jobs []struct {
				ID     int64
				Status string
			} `json:"jobs"`
		}
		json.Unmarshal([]byte(h.get("/api/runs/"+runID)), &v)
		if len(v.Jobs) == 1 && v.Jobs[0].Status == "in_progress" && strings.Contains(h.get("/api/jobs/"+strconv.FormatInt(v.Jobs[0].ID, 10)+"/log"), "started") {
			jobID = v.Jobs[0].ID
			return true
		}
		return false
	})
	page := h.get("/sandboxes")
	if !strings.Contains(page, "/sandboxes/"+strconv.FormatInt(jobID, 10)+"/stop") {
		t.Fatalf("/sandboxes lists no stop button for job %d:\n%s", jobID, page)
	}
	var o struct {
		Sandboxes struct{ Backends []struct{ Running int } } `json:"sandboxes"`
	}
	json.Unmarshal([]byte(h.get("/api/overview")), &o)
	if len(o.Sandboxes.Backends) != 1 || o.Sandboxes.Backends[0].Running != 1 {
		t.Errorf("/api/overview sandboxes: got %+v, want one backend running 1", o.Sandboxes)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(h.url+"/sandboxes/"+strconv.FormatInt(jobID, 10)+"/stop", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop answered %d, want 303", resp.StatusCode)
	}
	var job struct {
		Jobs []struct{ Status, Conclusion, Message string } `json:"jobs"`
	}
	waitFor(t, "the stopped job to end", func() bool {
		json.Unmarshal([]byte(h.get("/api/runs/"+runID)), &job)
		return len(job.Jobs) == 1 && job.Jobs[0].Status == "completed"
	})
	if j := job.Jobs[0]; j.Conclusion != "cancelled" {
		t.Errorf("stopped job: got %s %q, want cancelled (through CancelJob, not the infrastructure path)", j.Conclusion, j.Message)
	}
	if strings.Contains(h.get("/api/jobs/"+strconv.FormatInt(jobID, 10)+"/log"), "should not be reached") {
		t.Error("the job ran on after its sandbox was stopped")
	}
	if strings.Contains(h.get("/sandboxes"), "/sandboxes/"+strconv.FormatInt(jobID, 10)+"/stop") {
		t.Error("the stopped job's sandbox is still listed")
	}
}
