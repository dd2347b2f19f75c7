package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSIGSTOPHostTakenOverAndFenced: host A (alive process, no heartbeats:
// SIGSTOP) runs two jobs of a run; one ends while A is frozen, the other
// loops until the test releases it. Host B takes both over after the lease
// and runs them. When A is SIGCONT'd, its late results are refused and its
// sandboxes stopped: A's looping job's processes are gone before the test
// releases the loop (so B's attempt is the only one that can end it), A's
// log says it stopped or was refused, the jobs' logs are B's attempts' (A's
// workspace never appears), and GitHub gets one final status: success.
func TestSIGSTOPHostTakenOverAndFenced(t *testing.T) {
	c := newScaleCluster(t)
	dir := t.TempDir()
	long, short, release := filepath.Join(dir, "long"), filepath.Join(dir, "short"), filepath.Join(dir, "release")
	repo := newRepo(t, c.gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(`name: CI
on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "workspace $PWD"
          while [ ! -e %[3]s ]; do echo "tick $PWD $(date +%%s%%N)" >> %[1]s; sleep 0.1; done
  short:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "workspace $PWD"
          for i in 1 2 3 4 5; do echo "tick $PWD $(date +%%s%%N)" >> %[2]s; sleep 0.1; done
`, long, short, release)})
	repo.Push("main")
	a := c.start("", "HOOKCI_MAX_JOBS=2")
	if st := a.send("push", "sigstop-1", pushPayload(t, strings.Repeat("0", 40), sha)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	waitFor(t, "both jobs to tick on A", func() bool { return len(ticks(t, long)) == 1 && len(ticks(t, short)) == 1 })
	var aLong string
	for ws := range ticks(t, long) {
		aLong = ws
	}
	if !strings.HasPrefix(aLong, a.dataDir+"/") {
		t.Fatalf("the long job's workspace %s is not A's (%s)", aLong, a.dataDir)
	}
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			a.cmd.Process.Signal(syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume() // the cleanup's SIGTERM must reach a running process
	b := c.start("")
	onB := func(file string) bool {
		for ws := range ticks(t, file) {
			if strings.HasPrefix(ws, b.dataDir+"/") {
				return true
			}
		}
		return false
	}
	waitLong(t, "B to take both jobs over", func() bool { return onB(long) && onB(short) })
	sandbox := filepath.Dir(aLong)
	if len(processesIn(sandbox)) == 0 {
		t.Fatalf("A's looping job has no process while A is frozen: the test shows nothing")
	}
	resume()
	waitLong(t, "A to stop its sandbox after SIGCONT", func() bool { return len(processesIn(sandbox)) == 0 })
	aTicks := len(ticks(t, long)[aLong])
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the run to end on GitHub", func() bool {
		last, _ := finalStatus(c.gh, e2eRepo, sha, "hookci/CI")
		return last != "" && last != "pending"
	})
	if last, finals := finalStatus(c.gh, e2eRepo, sha, "hookci/CI"); last != "success" || finals != 1 {
		t.Errorf("GitHub statuses: last %q with %d final ones, want success and 1", last, finals)
	}
	if got := len(ticks(t, long)[aLong]); got != aTicks {
		t.Errorf("A's looping job ticked %d times after its sandbox was reported stopped (%d before)", got-aTicks, aTicks)
	}
	for _, js := range b.runJobs() {
		for _, j := range js {
			log := b.getText(fmt.Sprintf("/api/jobs/%d/log", j.ID))
			if j.Conclusion != "success" || j.Attempt < 2 {
				t.Errorf("job %d: %s attempt %d, want success by B's attempt (2 or more)", j.ID, j.Conclusion, j.Attempt)
			}
			if strings.Contains(log, "workspace "+a.dataDir+"/") || !strings.Contains(log, "workspace "+b.dataDir+"/") {
				t.Errorf("job %d's log is not B's attempt alone (A's data directory %s, B's %s):\n%s", j.ID, a.dataDir, b.dataDir, log)
			}
		}
	}
	aLog := a.logs.String()
	if !strings.Contains(aLog, "lease lost: stopping every job") && !strings.Contains(aLog, "job attempt superseded") {
		t.Errorf("A's log does not say it stopped its jobs after SIGCONT:\n%s", aLog)
	}
	for _, l := range strings.Split(aLog, "\n") {
		if strings.Contains(l, "refused") || strings.Contains(l, "superseded") || strings.Contains(l, "lease lost") {
			t.Logf("A: %s", l)
		}
	}
}
