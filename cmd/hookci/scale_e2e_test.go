package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/store/pgtest"
	"github.com/hookci/hookci/internal/webhook"
)

// scaleCluster is `hookci serve` processes (host sandbox, lease 3 s) on one
// throwaway PostgreSQL, a git server directory and the strict GitHub fake.
type scaleCluster struct {
	t       *testing.T
	bin     string
	url     string
	gitRoot string
	gh      *githubtest.Server
	env     []string // environment of every host (after the defaults, before the host's own)
}

// scaleHost is one `hookci serve` process.
type scaleHost struct {
	c       *scaleCluster
	cmd     *exec.Cmd
	addr    string
	dataDir string
	env     []string
	logs    *lockedBuffer
	past    []*lockedBuffer // the logs of earlier runs on this data directory
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newScaleCluster(t *testing.T) *scaleCluster {
	if testing.Short() {
		t.Skip("builds the binary and starts several servers; skipped in -short mode")
	}
	c := &scaleCluster{t: t, url: pgtest.URL(t), gitRoot: t.TempDir(), gh: newFakeGitHub(t)}
	c.bin = filepath.Join(t.TempDir(), "hookci")
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return c
}

// start starts a server on dataDir ("" : a new one) with extra environment
// (entries starting with "--" are flags of serve).
func (c *scaleCluster) start(dataDir string, env ...string) *scaleHost {
	t := c.t
	if dataDir == "" {
		dataDir = t.TempDir()
		t.Cleanup(func() { killProcessesUnder(dataDir) })
	}
	h := &scaleHost{c: c, dataDir: dataDir, env: env}
	h.run()
	return h
}

func (h *scaleHost) run() {
	t := h.c.t
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	l.Close()
	args := []string{"serve"}
	var env []string
	for _, e := range h.env { // "--flag=value" entries are serve's flags
		if strings.HasPrefix(e, "--") {
			args = append(args, e)
		} else {
			env = append(env, e)
		}
	}
	cmd := exec.Command(h.c.bin, args...)
	cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+h.addr, "HOOKCI_WEBHOOK_SECRET="+e2eSecret, "HOOKCI_DATA_DIR="+h.dataDir,
		"HOOKCI_GIT_URL=file://"+h.c.gitRoot, "HOOKCI_SANDBOX=host", "HOOKCI_AGENT_PATH="+agenttest.Binary(t),
		"HOOKCI_GITHUB_API_URL="+h.c.gh.URL(), "HOOKCI_GITHUB_TOKEN="+e2eToken, "HOOKCI_DATABASE_URL="+h.c.url, "HOOKCI_LEASE=3s",
		"HOOKCI_PUBLIC_URL=http://"+h.addr)
	cmd.Env = append(append(cmd.Env, h.c.env...), env...)
	if h.logs != nil {
		h.past = append(h.past, h.logs)
	}
	h.logs = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.cmd = cmd
	logs, addr := h.logs, h.addr
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("server %s log:\n%s", addr, logs.String())
		}
	})
	waitFor(t, "the server to listen", func() bool {
		r, err := http.Get("http://" + h.addr + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	})
}

// allLogs is the log of every run of the host, in order.
func (h *scaleHost) allLogs() string {
	var b strings.Builder
	for _, l := range append(h.past, h.logs) {
		b.WriteString(l.String())
	}
	return b.String()
}

// stop ends the server: SIGTERM, or SIGKILL when kill9.
func (h *scaleHost) stop(kill9 bool) {
	if kill9 {
		h.cmd.Process.Signal(syscall.SIGKILL)
	} else {
		h.cmd.Process.Signal(syscall.SIGTERM)
	}
	h.cmd.Wait()
}

func (h *scaleHost) getJSON(path string, v any) {
	if r, err := http.Get("http://" + h.addr + path); err == nil {
		json.NewDecoder(r.Body).Decode(v)
		r.Body.Close()
	}
}

func (h *scaleHost) getText(path string) string {
	r, err := http.Get("http://" + h.addr + path)
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(r.Body)
	return b.String()
}

// send posts a signed webhook; it returns the HTTP status.
func (h *scaleHost) send(event, delivery string, body []byte) int {
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(e2eSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scaleJob is a job as /api/runs/{id} shows it.
type scaleJob struct {
	ID         int64
	Status     string
	Conclusion string
	Message    string
	Attempt    int
	StartedAt  time.Time
}

// runJobs returns the jobs of every run the host lists, by run.
func (h *scaleHost) runJobs() map[int64][]scaleJob {
	var rs []struct{ ID int64 }
	h.getJSON("/api/runs", &rs)
	out := map[int64][]scaleJob{}
	for _, r := range rs {
		var view struct{ Jobs []scaleJob }
		h.getJSON(fmt.Sprintf("/api/runs/%d", r.ID), &view)
		out[r.ID] = view.Jobs
	}
	return out
}

// tickWorkflow is a job whose step appends "tick <workspace> <unix ns>" to
// file n times, every 100 ms: which sandbox ran when, on one clock.
func tickWorkflow(file string, n int) string {
	return fmt.Sprintf(`name: CI
on: push
jobs:
  tick:
    runs-on: ubuntu-latest
    steps:
      - run: for i in $(seq 1 %d); do echo "tick $PWD $(date +%%s%%N)" >> %s; sleep 0.1; done
`, n, file)
}

// ticks reads a tick file: per workspace, its tick times in order.
func ticks(t *testing.T, file string) map[string][]int64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string][]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		ns, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue
		}
		out[fields[1]] = append(out[fields[1]], ns)
	}
	return out
}

// finalStatus is the last commit status of context on sha, and how many
// non-pending ones were posted.
func finalStatus(gh *githubtest.Server, repo, sha, context string) (last string, finals int) {
	for _, s := range gh.Statuses(repo, sha) {
		if s.Context == context {
			last = s.State
			if s.State != "pending" {
				finals++
			}
		}
	}
	return last, finals
}

// TestLeaseLostStopsJobBeforeTakeover: host A runs a job and loses its
// database lease while alive (the test holds a lock on A's registry row, so
// its heartbeats cannot land: a partition from the database as the store
// sees it). A stops the job's sandbox by itself; host B takes the job over
// once the lease passes and runs it to success. The job's own record (a
// tick file written by the step, one clock) shows A's last tick before B's
// first: the job never ran on both at once. GitHub gets one final status.
func TestLeaseLostStopsJobBeforeTakeover(t *testing.T) {
	c := newScaleCluster(t)
	tickFile := filepath.Join(t.TempDir(), "ticks")
	repo := newRepo(t, c.gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": tickWorkflow(tickFile, 80)})
	repo.Push("main")
	// One job slot on A: while its lease is lost that slot holds the job's
	// queue row (store/leasehold.go), so A cannot fetch the job again and
	// the handover is B's one takeover (with more slots, each free one may
	// take the copy once before B's next takeover moves it on).
	a := c.start("", "HOOKCI_MAX_JOBS=1")
	var hosts []struct{ ID string }
	a.getJSON("/api/hosts", &hosts)
	if len(hosts) != 1 {
		t.Fatalf("hosts before B starts: %+v, want A alone", hosts)
	}
	if st := a.send("push", "lease-1", pushPayload(t, strings.Repeat("0", 40), sha)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	waitLong(t, "the job to tick on A", func() bool { return len(ticks(t, tickFile)) == 1 })
	b := c.start("")
	db, err := sql.Open("pgx", c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT id FROM hosts WHERE id = $1 FOR UPDATE`, hosts[0].ID); err != nil {
		t.Fatal(err)
	}
	// Not waitFor's minute: B's 80 ticks took 20 s and more at load 20–30
	// (before issue 11's hold, A's churn of the row added 1.8–14 s).
	defer logLeaseLines(t, a, b)
	waitLong(t, "the job to run to success on B", func() bool {
		last, _ := finalStatus(c.gh, e2eRepo, sha, "hookci/CI")
		return last == "success"
	})
	// Issue 11: A, its lease lost, held the job's queue row instead of
	// giving it back, so it never fetched the job again, and B's takeover
	// moved it exactly once. Before, A gave it back and fetched it again
	// (silently) until B caught it, by a fetch or a takeover.
	aFetches, takeovers := 0, 0
	rows, err := db.Query(`SELECT coalesce(array_to_string(attempted_by, ','), ''), metadata ? 'hookci_taken_over'
		FROM river_job WHERE kind = 'hookci_job'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var by string
		var taken bool
		if err := rows.Scan(&by, &taken); err != nil {
			t.Fatal(err)
		}
		aFetches += strings.Count(","+by+",", ","+hosts[0].ID+",")
		if taken {
			takeovers++
		}
	}
	rows.Close()
	if aFetches != 1 || takeovers != 1 {
		t.Errorf("A fetched the job %d times and it was taken over %d times; want 1 and 1 (A holds it until B's takeover)",
			aFetches, takeovers)
	}
	tx.Rollback()
	got := ticks(t, tickFile)
	if len(got) != 2 {
		t.Fatalf("ticks from %d workspaces, want 2 (A's attempt, B's): %v", len(got), got)
	}
	var aTicks, bTicks []int64
	for ws, ts := range got {
		switch {
		case strings.HasPrefix(ws, a.dataDir+"/"):
			aTicks = ts
		case strings.HasPrefix(ws, b.dataDir+"/"):
			bTicks = ts
		}
	}
	if len(aTicks) == 0 || len(bTicks) != 80 {
		t.Fatalf("A ticked %d times, B %d; want A some (stopped), B all 80", len(aTicks), len(bTicks))
	}
	if len(aTicks) >= 80 {
		t.Errorf("A's attempt ticked %d times: it was never stopped", len(aTicks))
	}
	if last, first := aTicks[len(aTicks)-1], bTicks[0]; last >= first {
		t.Errorf("A's last tick %d is not before B's first %d: the job ran on both hosts at once", last, first)
	} else {
		t.Logf("A stopped %s before B started the job (lease 3s)", time.Duration(first-last))
	}
	if last, finals := finalStatus(c.gh, e2eRepo, sha, "hookci/CI"); last != "success" || finals != 1 {
		t.Errorf("GitHub statuses: last %s with %d final ones, want success and 1", last, finals)
	}
}

// logLeaseLines logs what the hosts said (but the repeated failed
// heartbeats of the host whose row is locked), so that a failure or a slow
// handover shows where it stood.
func logLeaseLines(t *testing.T, hosts ...*scaleHost) {
	for i, h := range hosts {
		for _, l := range strings.Split(h.logs.String(), "\n") {
			if l != "" && !strings.Contains(l, "msg=heartbeat err=") {
				t.Logf("host %c: %s", 'A'+i, l)
			}
		}
	}
}

// TestKill9RestartEndsOrphanedJob: a host-sandbox job's processes outlive
// its kill -9'd server; the server's restart on the same data directory
// ends them (before it serves), and the job is run again to success.
func TestKill9RestartEndsOrphanedJob(t *testing.T) {
	c := newScaleCluster(t)
	tickFile := filepath.Join(t.TempDir(), "ticks")
	repo := newRepo(t, c.gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": tickWorkflow(tickFile, 50)})
	repo.Push("main")
	a := c.start("")
	if st := a.send("push", "orphan-1", pushPayload(t, strings.Repeat("0", 40), sha)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	var ws string
	waitFor(t, "the job to tick", func() bool {
		for w := range ticks(t, tickFile) {
			ws = w
		}
		return ws != ""
	})
	a.stop(true)
	sandboxDir := filepath.Dir(ws)
	if len(processesIn(sandboxDir)) == 0 {
		t.Fatalf("no process left in %s after kill -9: the test shows nothing", sandboxDir)
	}
	a.run() // the same data directory
	if left := processesIn(sandboxDir); len(left) > 0 {
		t.Errorf("processes of the killed server's job still run after its restart: %v", left)
	}
	waitFor(t, "the job to run again to success", func() bool {
		last, _ := finalStatus(c.gh, e2eRepo, sha, "hookci/CI")
		return last == "success"
	})
}

// processesIn lists processes whose working directory or command line is
// under dir.
func processesIn(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(cwd, dir) || bytes.Contains(cmdline, []byte(dir+"/")) {
			out = append(out, pid)
		}
	}
	return out
}

// TestPlacementByLabels: a job on a runs-on label only host A serves
// (its [labels.special]) is never failed by host B, which does not serve
// it: while A is down the job waits, and the run page's API says why; when
// A is back, A runs it (its workspace is under A's data directory).
func TestPlacementByLabels(t *testing.T) {
	c := newScaleCluster(t)
	cfgFile := filepath.Join(t.TempDir(), "special.toml")
	if err := os.WriteFile(cfgFile, []byte("[labels.special]\nbackend = \"host\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := newRepo(t, c.gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  special:
    runs-on: special
    steps:
      - run: echo "workspace $PWD"
`})
	repo.Push("main")
	a := c.start("", "--config="+cfgFile)
	a.stop(false) // registered, then down
	b := c.start("")
	if st := b.send("push", "place-1", pushPayload(t, strings.Repeat("0", 40), sha)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	var job scaleJob
	waitLong(t, "the job to wait for a host serving its label", func() bool {
		for _, js := range b.runJobs() {
			if len(js) == 1 {
				job = js[0]
			}
		}
		// A's registry row is alive until its lease passes, then the reason says so.
		return strings.Contains(job.Message, "none is alive")
	})
	if job.Status != "queued" || !strings.Contains(job.Message, "waiting for a host serving runs-on [special]") {
		t.Errorf("waiting job: %s %q, want queued, saying no serving host is alive", job.Status, job.Message)
	}
	a.run() // the same data directory and config
	waitLong(t, "the job to run to success", func() bool {
		last, _ := finalStatus(c.gh, e2eRepo, sha, "hookci/CI")
		return last == "success"
	})
	log := b.getText(fmt.Sprintf("/api/jobs/%d/log", job.ID))
	if !strings.Contains(log, "workspace "+a.dataDir+"/") {
		t.Errorf("the job did not run on A (whose data directory is %s); its log:\n%s", a.dataDir, log)
	}
	if _, finals := finalStatus(c.gh, e2eRepo, sha, "hookci/CI"); finals != 1 {
		t.Errorf("GitHub got %d final statuses for the run, want 1", finals)
	}
}

// TestFairShareAcrossRepos: two hosts with one job slot each; repository
// octo/hello queues 8 jobs, then octo/other one. The other repository's
// job does not wait behind all 8: it starts while most of them have not.
func TestFairShareAcrossRepos(t *testing.T) {
	c := newScaleCluster(t)
	c.gh.AddRepo("octo", "other", 0)
	many := newRepo(t, c.gitRoot)
	shaMany := many.Commit("c", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  legs:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3, 4, 5, 6, 7, 8]
    steps:
      - run: sleep 1
`})
	many.Push("main")
	one := gittest.New(t, c.gitRoot, "octo/other")
	shaOne := one.Commit("c", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  single:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
`})
	one.Push("main")
	a := c.start("", "HOOKCI_MAX_JOBS=1")
	c.start("", "HOOKCI_MAX_JOBS=1")
	if st := a.send("push", "fair-many", pushPayload(t, strings.Repeat("0", 40), shaMany)); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	waitFor(t, "octo/hello's jobs to start", func() bool {
		for _, js := range a.runJobs() {
			for _, j := range js {
				if j.Status == "in_progress" {
					return true
				}
			}
		}
		return false
	})
	other := pushPayload(t, strings.Repeat("0", 40), shaOne)
	var p map[string]any
	json.Unmarshal(other, &p)
	r := p["repository"].(map[string]any)
	r["full_name"], r["name"] = "octo/other", "other"
	other, _ = json.Marshal(p)
	if st := a.send("push", "fair-one", other); st != 202 {
		t.Fatalf("webhook: %d", st)
	}
	waitFor(t, "both repositories' runs to finish", func() bool {
		l1, _ := finalStatus(c.gh, e2eRepo, shaMany, "hookci/CI")
		l2, _ := finalStatus(c.gh, "octo/other", shaOne, "hookci/CI")
		return l1 == "success" && l2 == "success"
	})
	var single time.Time
	var legs []time.Time
	for _, js := range a.runJobs() {
		for _, j := range js {
			if len(js) == 1 {
				single = j.StartedAt
			} else {
				legs = append(legs, j.StartedAt)
			}
		}
	}
	if single.IsZero() || len(legs) != 8 {
		t.Fatalf("got %d legs and single start %v, want 8 legs and a start", len(legs), single)
	}
	after := 0
	for _, s := range legs {
		if s.After(single) {
			after++
		}
	}
	// Two slots: without fairness every leg starts before the single job.
	if after < 4 {
		t.Errorf("%d of octo/hello's 8 jobs started after octo/other's single job, want at least 4 (it waited behind them)", after)
	}
}

// waitLong is waitFor with room for a loaded machine: a job given back to
// the queue is offered again at the next fetch poll after its wait (a second and more).
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
