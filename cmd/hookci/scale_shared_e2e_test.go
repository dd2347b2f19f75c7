package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// pushMain is pushPayload with the repository's default branch main (the
// example payload says master), so that pushes register schedules.
func pushMain(t *testing.T, before, after string) []byte {
	var p map[string]any
	if err := json.Unmarshal(pushPayload(t, before, after), &p); err != nil {
		t.Fatal(err)
	}
	p["repository"].(map[string]any)["default_branch"] = "main"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cronWorkflow is a scheduled workflow (GitHub's 5-minute minimum).
const cronWorkflow = `name: Cron
on:
  schedule:
    - cron: '*/5 * * * *'
jobs:
  cron:
    runs-on: ubuntu-latest
    steps:
      - run: echo "scheduled on $PWD"
`

// shareWorkflow is a run whose first job, on the host serving label
// h<producer>, uploads an artifact and saves a cache, and whose second, on
// the host serving h<consumer>, downloads and restores them.
func shareWorkflow(producer, consumer int) string {
	return fmt.Sprintf(`name: CI
on: push
jobs:
  produce:
    runs-on: h%d
    steps:
      - run: echo "workspace $PWD" && mkdir out && head -c 1000000 /dev/urandom > out/data.bin && cd out && sha256sum data.bin > data.sum
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: out
      - run: echo "cached-by-producer $GITHUB_RUN_ID" > c.txt
      - uses: actions/cache/save@v4
        with:
          path: c.txt
          key: shared-${{ github.run_id }}
  consume:
    needs: produce
    runs-on: h%d
    steps:
      - run: echo "workspace $PWD"
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: got
      - run: cd got && sha256sum -c data.sum
      - uses: actions/cache/restore@v4
        with:
          path: c.txt
          key: shared-${{ github.run_id }}
          fail-on-cache-miss: true
      - run: grep "cached-by-producer $GITHUB_RUN_ID" c.txt
`, producer, consumer)
}

// checkShared checks the run of sha (shareWorkflow): its jobs succeeded,
// the producer's on the producer host and the consumer's on the consumer
// host (their logs name workspaces under those hosts' data directories),
// and the viewer host serves the artifact's zip, whose data.bin matches the
// sha256 the producer's job wrote.
func checkShared(t *testing.T, db *sql.DB, sha string, producer, consumer, viewer *scaleHost) {
	t.Helper()
	var runID int64
	if err := db.QueryRow(`SELECT id FROM runs WHERE sha = $1 AND event = 'push'`, sha).Scan(&runID); err != nil {
		t.Fatalf("the sharing run: %v", err)
	}
	rows, err := db.Query(`SELECT id, job_key, COALESCE(conclusion, '') FROM jobs WHERE run_id = $1`, runID)
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		id         int64
		conclusion string
	}
	jobs := map[string]job{}
	for rows.Next() {
		var j job
		var key string
		if err := rows.Scan(&j.id, &key, &j.conclusion); err != nil {
			t.Fatal(err)
		}
		jobs[key] = j
	}
	rows.Close()
	for key, host := range map[string]*scaleHost{"produce": producer, "consume": consumer} {
		j, ok := jobs[key]
		log := viewer.getText(fmt.Sprintf("/api/jobs/%d/log", j.id))
		if !ok || j.conclusion != "success" {
			t.Errorf("the sharing run's %s job: %+v (present %v), want success; its log:\n%s", key, j, ok, log)
			continue
		}
		if !strings.Contains(log, "workspace "+host.dataDir+"/") {
			t.Errorf("the %s job did not run on its host (data directory %s); its log:\n%s", key, host.dataDir, log)
		}
	}
	if producer == consumer {
		t.Errorf("the producer and the consumer are one host: the test shows nothing")
	}
	var list []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(viewer.getText(fmt.Sprintf("/api/runs/%d/artifacts", runID))), &list); err != nil || len(list) != 1 {
		t.Fatalf("the third host's artifact list of run %d: %+v, %v; want dist", runID, list, err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/runs/%d/artifacts/dist", viewer.addr, runID))
	if err != nil {
		t.Fatal(err)
	}
	zb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || int64(len(zb)) != list[0].Size {
		t.Fatalf("the third host's download: %d, %d bytes; want 200 and %d", resp.StatusCode, len(zb), list[0].Size)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	sum := sha256.Sum256(files["data.bin"])
	if want := strings.Fields(string(files["data.sum"])); len(want) == 0 || want[0] != hex.EncodeToString(sum[:]) || len(files["data.bin"]) != 1000000 {
		t.Errorf("the zip served by the third host: data.bin %d bytes, sha256 %x; data.sum %q", len(files["data.bin"]), sum, files["data.sum"])
	}
}

// logTimes are the times of the log lines of msg in a host's text log.
func logTimes(t *testing.T, log, msg string) []time.Time {
	t.Helper()
	re := regexp.MustCompile(`(?m)^time=(\S+) level=\S+ msg="?` + regexp.QuoteMeta(msg) + `"?( |$)`)
	var out []time.Time
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("log time %q: %v", m[1], err)
		}
		out = append(out, at)
	}
	return out
}

// checkScheduledOnce checks, from the hosts' logs (every run of each) and the
// database, that scheduled work fired on one host at a time: each schedule
// firing (a delivery) was logged by exactly one host, and there was one at
// least; the reconciler's passes, all hosts' together, are a period (5 s,
// less the claim's tenth of slack and some scheduling noise) apart; the
// shared bucket was pruned once (every host prunes at its start, the
// restarted one twice, all within the day).
func checkScheduledOnce(t *testing.T, db *sql.DB, hosts []*scaleHost) {
	t.Helper()
	rows, err := db.Query(`SELECT id FROM deliveries WHERE event = 'schedule'`)
	if err != nil {
		t.Fatal(err)
	}
	var fired []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		fired = append(fired, id)
	}
	rows.Close()
	if len(fired) == 0 {
		t.Errorf("the due schedule never fired")
	}
	var passes []time.Time
	prunes, fireLines := 0, 0
	for _, h := range hosts {
		log := h.allLogs()
		fireLines += len(logTimes(t, log, "schedule fired"))
		passes = append(passes, logTimes(t, log, "reconciler pass")...)
		prunes += len(logTimes(t, log, "pruned caches and artifacts"))
	}
	if fireLines != len(fired) {
		t.Errorf("the hosts logged %d schedule firings, the database has %d schedule deliveries (%v); want one host per firing", fireLines, len(fired), fired)
	}
	sort.Slice(passes, func(i, j int) bool { return passes[i].Before(passes[j]) })
	if len(passes) < 3 {
		t.Errorf("the reconciler passed %d times in all, want several (every 5 s)", len(passes))
	}
	for i := 1; i < len(passes); i++ {
		if gap := passes[i].Sub(passes[i-1]); gap < 3*time.Second {
			t.Errorf("reconciler passes %d and %d are %s apart: two hosts reconciled within one 5 s period", i-1, i, gap)
		}
	}
	if prunes != 1 {
		t.Errorf("the shared bucket was pruned %d times by the hosts' starts, want 1", prunes)
	}
	t.Logf("schedule firings %d (one host each), reconciler passes %d across the hosts, bucket prunes %d", len(fired), len(passes), prunes)
}
