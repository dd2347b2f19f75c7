package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob/s3test"
)

// TestThreeHostsKill9Under200Webhooks: three `hookci serve` processes
// (separate data directories and ports, host sandbox, lease 3 s, 4 job slots
// each) on one PostgreSQL; 200 signed push webhooks, each for a commit of
// its own, sent round-robin; one host is kill -9'd while jobs run and
// restarted later. Every acknowledged delivery produces exactly one run,
// every job completes with success and one final status in the strict
// GitHub fake, and no job ran on two sandboxes at once: each job's step
// writes ticks (workspace, time) to a file named by its commit, and the
// attempts' tick spans of one job never overlap.
//
// In the same run: the hosts share one S3 bucket (a real versitygw) and
// each serves a runs-on label of its own (h0, h1, h2). After the restart a
// run's first job, on the restarted host, uploads an artifact and saves a
// cache; its second job, on another host, downloads the artifact (checking
// the sha256 the first wrote) and restores the cache (fail-on-cache-miss);
// the third host's dashboard serves the artifact's zip. Scheduled work
// fires on one host: a cron schedule made due (its registration moved back
// in the database, so every host's scheduler finds it due) fires once, by
// the hosts' logs and the schedule deliveries; the reconciler (every 5 s on
// each host) passes at most once per period across the hosts; the blob
// store's prune (at each host's start) runs once for the shared bucket.
func TestThreeHostsKill9Under200Webhooks(t *testing.T) {
	c := newScaleCluster(t)
	s3 := s3test.Start(t)
	c.env = append(s3.Env("hookci"), "HOOKCI_RECONCILE_INTERVAL=5s")
	tickDir := t.TempDir()
	repo := newRepo(t, c.gitRoot)
	const n = 200
	wf := fmt.Sprintf(`name: CI
on: push
jobs:
  tick:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "tick $PWD $(date +%%s%%N)" >> %[1]s/$GITHUB_SHA
          while [ -e %[1]s/hold ]; do sleep 0.05; done
          for i in 2 3 4 5; do sleep 0.1; echo "tick $PWD $(date +%%s%%N)" >> %[1]s/$GITHUB_SHA; done
`, tickDir)
	// Every job holds after its first tick while this file exists, so the
	// kill -9 below finds a job running on its victim (a CI machine fast
	// enough to finish each job between the test's look and the kill made
	// the test show nothing).
	hold := filepath.Join(tickDir, "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	shas := make([]string, n)
	for i := range shas {
		shas[i] = repo.Commit(fmt.Sprintf("c%d", i), map[string]string{".github/workflows/ci.yml": wf,
			".github/workflows/cron.yml": cronWorkflow, "n.txt": fmt.Sprint(i)})
		repo.Push("main")
	}
	var hosts []*scaleHost
	for i := 0; i < 3; i++ {
		cfg := filepath.Join(t.TempDir(), "labels.toml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[labels.h%d]\nbackend = \"host\"\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, c.start("", "HOOKCI_MAX_JOBS=4", "--config="+cfg))
	}
	all := append([]*scaleHost(nil), hosts...) // by label: all[i] serves h<i>
	var mu sync.Mutex                          // guards acked
	acked := map[string]string{}
	send := func(i int) {
		h := hosts[i%3]
		id := fmt.Sprintf("big-%d", i)
		if st := h.send("push", id, pushMain(t, strings.Repeat("0", 40), shas[i])); st == 202 {
			mu.Lock()
			acked[id] = shas[i]
			mu.Unlock()
		}
	}
	for i := 0; i < n/2; i++ {
		send(i)
	}
	db, err := sql.Open("pgx", c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var k int
		if err := db.QueryRow(q).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	// The victim is a host running a job now: one whose workspace (under
	// its data directory) wrote a first tick and holds.
	v := -1
	waitFor(t, "a job to run and hold", func() bool {
		ents, _ := os.ReadDir(tickDir)
		for _, e := range ents {
			if e.Name() == "hold" {
				continue
			}
			for ws := range ticks(t, filepath.Join(tickDir, e.Name())) {
				for i, h := range hosts {
					if strings.HasPrefix(ws, h.dataDir+"/") {
						v = i
						return true
					}
				}
			}
		}
		return false
	})
	victim := hosts[v]
	victim.stop(true) // kill -9 mid-jobs
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	live := hosts[(v+1)%3]
	for i := n / 2; i < n; i++ {
		if i%3 == v {
			hosts[i%3] = live // the dead host's share goes to a live one, as the balancer would
		}
		send(i)
	}
	victim.run() // restarted on its data directory, after the second half was sent
	hosts[v] = victim
	// Across hosts: produced on the restarted host, consumed on the next,
	// shown by the third's dashboard.
	producer, consumer, viewer := all[v], all[(v+1)%3], all[(v+2)%3]
	shareSHA := repo.Commit("share", map[string]string{".github/workflows/ci.yml": shareWorkflow(v, (v+1)%3),
		".github/workflows/cron.yml": cronWorkflow})
	repo.Push("main")
	if st := viewer.send("push", "big-share", pushMain(t, shas[n-1], shareSHA)); st != 202 {
		t.Fatalf("the sharing run's webhook: %d", st)
	}
	// Every host's scheduler (every 20 s) now finds the schedule due.
	waitFor(t, "the schedule to be registered", func() bool { return count(`SELECT COUNT(*) FROM schedules`) == 1 })
	if _, err := db.Exec(`UPDATE schedules SET registered_at = registered_at - 600000 WHERE last_fired = 0`); err != nil {
		t.Fatal(err)
	}
	madeDue := time.Now()
	deadline := time.Now().Add(15 * time.Minute)
	for count(`SELECT COUNT(*) FROM jobs WHERE status != 'completed'`) > 0 || count(`SELECT COUNT(*) FROM jobs`) < len(acked)+3 {
		if time.Now().After(deadline) {
			t.Fatalf("jobs not completed after 15 minutes: %d left, %d in all (want %d: the pushes', the sharing run's 2, the schedule's 1)",
				count(`SELECT COUNT(*) FROM jobs WHERE status != 'completed'`), count(`SELECT COUNT(*) FROM jobs`), len(acked)+3)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if wait := 25*time.Second - time.Since(madeDue); wait > 0 {
		time.Sleep(wait) // every host's scheduler has looked at the due schedule at least once
	}
	checkShared(t, db, shareSHA, producer, consumer, viewer)
	checkScheduledOnce(t, db, all)
	if last, finals := finalStatus(c.gh, e2eRepo, shareSHA, "hookci/CI"); last != "success" || finals != 1 {
		t.Errorf("the sharing run: GitHub's last status %q, %d final ones; want success, 1", last, finals)
	}
	if len(acked) != n {
		t.Errorf("%d of %d webhooks acknowledged", len(acked), n)
	}
	// Exactly one run per acknowledged delivery, one job each, all success.
	rows, err := db.Query(`SELECT r.delivery_id, COUNT(DISTINCT r.id), COUNT(j.id), SUM(CASE WHEN j.conclusion = 'success' THEN 1 ELSE 0 END),
		MAX(j.attempt) FROM runs r LEFT JOIN jobs j ON j.run_id = r.id
		WHERE r.delivery_id LIKE 'big-%' AND r.delivery_id != 'big-share' GROUP BY r.delivery_id`)
	if err != nil {
		t.Fatal(err)
	}
	runs, retried := map[string]bool{}, 0
	for rows.Next() {
		var id string
		var nRuns, nJobs, nOK, maxAttempt int
		if err := rows.Scan(&id, &nRuns, &nJobs, &nOK, &maxAttempt); err != nil {
			t.Fatal(err)
		}
		runs[id] = true
		if nRuns != 1 || nJobs != 1 || nOK != 1 {
			t.Errorf("delivery %s: %d runs, %d jobs, %d successful; want 1, 1, 1", id, nRuns, nJobs, nOK)
		}
		if maxAttempt > 1 {
			retried++
		}
	}
	rows.Close()
	for id := range acked {
		if !runs[id] {
			t.Errorf("acknowledged delivery %s has no run", id)
		}
	}
	if retried == 0 {
		t.Errorf("no job ran a second attempt: the kill -9 hit no running job, the test shows nothing")
	}
	overlaps := 0
	for id, sha := range acked {
		last, finals := finalStatus(c.gh, e2eRepo, sha, "hookci/CI")
		if last != "success" || finals != 1 {
			t.Errorf("delivery %s (%s): GitHub's last status %q, %d final ones; want success, 1", id, sha[:7], last, finals)
		}
		spans := ticks(t, filepath.Join(tickDir, sha))
		type span struct{ from, to int64 }
		var ss []span
		for _, ts := range spans {
			ss = append(ss, span{ts[0], ts[len(ts)-1]})
		}
		for i := range ss {
			for j := i + 1; j < len(ss); j++ {
				if ss[i].from <= ss[j].to && ss[j].from <= ss[i].to {
					overlaps++
					t.Errorf("commit %s ran on two sandboxes at once: %v", sha[:7], spans)
				}
			}
		}
	}
	t.Logf("%d deliveries, %d runs, %d jobs run again after the kill -9, %d overlaps", len(acked), len(runs), retried, overlaps)
}
