package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestDatabaseLostJobFinishesAndReports: PostgreSQL goes away while a job
// runs on a `hookci serve` (default 30 s lease). A webhook meanwhile is
// answered 503 and the server's log says GitHub does not retry it by
// itself. The job goes on: it prints lines and ends while the database is
// away. Once the database is back the job's end is recorded and reported:
// GitHub gets one final status, success, the job ran once (attempt 1) and
// its log has every line, those printed during the outage included.
func TestDatabaseLostJobFinishesAndReports(t *testing.T) {
	c := newScaleCluster(t)
	cluster := pgtest.Own(t)
	url, err := cluster.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.url = url
	dir := t.TempDir()
	ticksFile, release, ended := filepath.Join(dir, "ticks"), filepath.Join(dir, "release"), filepath.Join(dir, "ended")
	repo := newRepo(t, c.gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(`name: CI
on: push
jobs:
  outage:
    runs-on: ubuntu-latest
    steps:
      - run: |
          while [ ! -e %[2]s ]; do echo "tick $PWD $(date +%%s%%N)" >> %[1]s; sleep 0.1; done
          for i in 1 2 3 4 5; do echo "printed during the outage $i"; sleep 0.1; done
      - run: echo "last step during the outage" && touch %[3]s
`, ticksFile, release, ended)})
	repo.Push("main")
	h := c.start("", "HOOKCI_LEASE=30s")
	if st := h.send("push", "outage-1", pushPayload(t, strings.Repeat("0", 40), sha)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	waitFor(t, "the job to tick", func() bool { return len(ticks(t, ticksFile)) == 1 })
	cluster.Pause()
	paused := true
	defer func() {
		if paused {
			cluster.Resume()
		}
	}()
	c2 := repo.Commit("c2", map[string]string{"n": "2"})
	repo.Push("main")
	if st := h.send("push", "outage-2", pushPayload(t, sha, c2)); st != 503 {
		t.Errorf("webhook with the database down: %d, want 503", st)
	}
	// The server's stderr reaches the buffer through a pipe: wait for the line.
	waitFor(t, "the log to say GitHub will not retry the refused delivery", func() bool {
		return strings.Contains(h.logs.String(), "GitHub does not retry it automatically")
	})
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job's last step to run during the outage", func() bool {
		_, err := os.Stat(ended)
		return err == nil
	})
	time.Sleep(2 * time.Second) // the job's end meets the missing database
	if last, _ := finalStatus(c.gh, e2eRepo, sha, "hookci/CI"); last != "pending" {
		t.Errorf("GitHub's status with the database down: %q, want pending (nothing recorded yet)", last)
	}
	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	waitLong(t, "the job to report once the database is back", func() bool {
		last, _ := finalStatus(c.gh, e2eRepo, sha, "hookci/CI")
		return last != "" && last != "pending"
	})
	if last, finals := finalStatus(c.gh, e2eRepo, sha, "hookci/CI"); last != "success" || finals != 1 {
		t.Errorf("GitHub statuses: last %q with %d final ones, want success and 1", last, finals)
	}
	for _, js := range h.runJobs() {
		for _, j := range js {
			if j.Conclusion != "success" || j.Attempt != 1 {
				t.Errorf("job %d: %s, attempt %d; want success in its first attempt", j.ID, j.Conclusion, j.Attempt)
			}
			log := h.getText(fmt.Sprintf("/api/jobs/%d/log", j.ID))
			for _, want := range []string{"printed during the outage 1", "printed during the outage 5", "last step during the outage"} {
				if !strings.Contains(log, want) {
					t.Errorf("job %d's log lacks %q (written while the database was away):\n%s", j.ID, want, log)
				}
			}
		}
	}
	if ws := ticks(t, ticksFile); len(ws) != 1 {
		t.Errorf("the job ran in %d workspaces, want 1 (never run again)", len(ws))
	}
}
