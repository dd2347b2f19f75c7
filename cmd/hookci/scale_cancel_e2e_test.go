package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCancelAcrossHosts: a job runs on host A; its cancel is asked of host
// B (the load balancer sent the click there). B can only mark the row: A
// must notice and stop the sandbox, so the job ends cancelled, with B's
// "canceled by" message, its step's processes gone, long before the step
// would have ended by itself (1,200 ticks: 2 minutes).
func TestCancelAcrossHosts(t *testing.T) {
	c := newScaleCluster(t)
	tickFile := filepath.Join(t.TempDir(), "ticks")
	repo := newRepo(t, c.gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": tickWorkflow(tickFile, 1200)})
	repo.Push("main")
	a := c.start("")
	if st := a.send("push", "xcancel-1", pushPayload(t, strings.Repeat("0", 40), sha)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	var ws string
	waitLong(t, "the job to tick on A", func() bool {
		for w := range ticks(t, tickFile) {
			ws = w
		}
		return ws != ""
	})
	var job scaleJob
	for _, js := range a.runJobs() {
		if len(js) == 1 {
			job = js[0]
		}
	}
	if job.ID == 0 || job.Status != "in_progress" {
		t.Fatalf("the job on A: %+v, want in progress", job)
	}
	sandboxDir := filepath.Dir(ws)
	if len(processesIn(sandboxDir)) == 0 {
		t.Fatalf("no process of the job in %s: the test would show nothing", sandboxDir)
	}

	b := c.start("")
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/repos/%s/actions/jobs/%d/cancel", b.addr, e2eRepo, job.ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("cancel through B: %d, want 202", resp.StatusCode)
	}
	asked := time.Now()
	waitLong(t, "the job to end cancelled", func() bool {
		for _, js := range b.runJobs() {
			if len(js) == 1 && js[0].Status == "completed" {
				job = js[0]
				return true
			}
		}
		return false
	})
	if job.Conclusion != "cancelled" || !strings.Contains(job.Message, "canceled by @") {
		t.Errorf("after a cancel through B: %s %q, want cancelled with the canceller named", job.Conclusion, job.Message)
	}
	waitLong(t, "the step's processes on A to be gone", func() bool { return len(processesIn(sandboxDir)) == 0 })
	n := len(ticks(t, tickFile)[ws])
	time.Sleep(500 * time.Millisecond)
	if m := len(ticks(t, tickFile)[ws]); m != n {
		t.Errorf("the step still ticks after the cancel: %d ticks, then %d", n, m)
	}
	if n >= 1200 {
		t.Errorf("the step ran to its end (%d ticks): the cancel did not stop it", n)
	}
	t.Logf("cancel through B to the job ended: %s, %d ticks", time.Since(asked).Round(time.Millisecond), n)
	if last, finals := finalStatus(c.gh, e2eRepo, sha, "hookci/CI"); last == "success" || finals != 1 {
		t.Errorf("GitHub got %d final statuses, the last %q: want one, not success", finals, last)
	}
}
