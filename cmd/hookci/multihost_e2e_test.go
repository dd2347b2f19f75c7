package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/store/pgtest"
	"github.com/hookci/hookci/internal/webhook"
)

// TestTwoHostsOnePostgres: two `hookci serve` on one PostgreSQL (separate
// data directories and ports), every delivery sent to both, as a load
// balancer retrying would: each delivery is stored and planned once, each
// job runs exactly once (every job appends a line to a file outside the
// sandbox), and GitHub sees each run end in success.
func TestTwoHostsOnePostgres(t *testing.T) {
	url := pgtest.URL(t)
	ran := filepath.Join(t.TempDir(), "ran")
	workflow := `name: CI
on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo "one $GITHUB_SHA" >> ` + ran + `
  two:
    runs-on: ubuntu-latest
    steps:
      - run: echo "two $GITHUB_SHA" >> ` + ran + `
`
	a := newHarness(t, "host", func(c *config.Config) { c.DatabaseURL = url; c.MaxJobs = 2 })
	b := &harness{t: t, gh: a.gh, repo: a.repo, sandbox: "host", cfg: a.cfg}
	b.cfg.DataDir = t.TempDir()
	b.start()
	t.Cleanup(func() { b.stop() })

	const pushes = 6
	var shas []string
	prev := strings.Repeat("0", 40)
	var bodies [][]byte
	for i := range pushes {
		files := map[string]string{"n.txt": fmt.Sprint(i)}
		if i == 0 {
			files[".github/workflows/ci.yml"] = workflow
		}
		sha := a.repo.Commit(fmt.Sprintf("c%d", i), files)
		a.repo.Push("main")
		bodies = append(bodies, pushPayload(t, prev, sha))
		shas = append(shas, sha)
		prev = sha
	}
	// Every delivery to both hosts at once.
	var wg sync.WaitGroup
	codes := make([][2]int, pushes)
	for i, body := range bodies {
		for j, h := range []*harness{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i][j], _ = h.send("push", fmt.Sprintf("two-hosts-%d", i), body, webhook.SignatureHeader([]byte(e2eSecret), body))
			}()
		}
	}
	wg.Wait()
	for i, c := range codes {
		if !(c[0] == 202 && c[1] == 200 || c[0] == 200 && c[1] == 202) {
			t.Errorf("delivery %d answered %d and %d, want 202 from one host and 200 (duplicate) from the other", i, c[0], c[1])
		}
	}
	for _, sha := range shas {
		if sts := a.waitStatus(sha); sts[len(sts)-1].State != "success" {
			t.Errorf("commit %s: statuses %+v, want … success", sha[:7], sts)
		}
	}
	// Each delivery planned once: one run per commit, whichever host asks.
	for _, h := range []*harness{a, b} {
		var runs []map[string]any
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		perSHA := map[string]int{}
		for _, r := range runs {
			perSHA[fmt.Sprint(r["SHA"])]++
		}
		for _, sha := range shas {
			if perSHA[sha] != 1 {
				t.Errorf("host %s lists %d runs of %s, want 1", h.url, perSHA[sha], sha[:7])
			}
		}
	}
	// Each job ran exactly once.
	out, err := os.ReadFile(ran)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		lines[l]++
	}
	for _, sha := range shas {
		for _, job := range []string{"one", "two"} {
			if n := lines[job+" "+sha]; n != 1 {
				t.Errorf("job %s of %s ran %d times, want once", job, sha[:7], n)
			}
		}
	}
	if len(lines) != 2*pushes {
		t.Errorf("%d distinct job executions, want %d: %v", len(lines), 2*pushes, lines)
	}
	// Which host worked what (a figure, not a pass/fail condition).
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT kind, COALESCE(attempted_by[array_length(attempted_by, 1)], '-'), COUNT(*)
		FROM river_job GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, host string
		var n int
		if err := rows.Scan(&kind, &host, &n); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s worked by %s: %d", kind, host, n)
	}
}

// TestFailoverAfterKill9: two `hookci serve` processes on one PostgreSQL
// with a 3 s lease; the host running a job is killed with SIGKILL; the
// other host presumes it dead once the lease passes, runs the job again
// (attempt 2) and the run ends in success on GitHub; /api/hosts shows the
// killed host not alive.
func TestFailoverAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	url := pgtest.URL(t)
	bin := filepath.Join(t.TempDir(), "hookci")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gh := newFakeGitHub(t)
	gitRoot := t.TempDir()
	repo := newRepo(t, gitRoot)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 6 && echo finished
`})
	repo.Push("main")
	start := func() (*exec.Cmd, string) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, "serve")
		dataDir := t.TempDir()
		// A host sandbox's agent outlives a kill -9'd server (the host backend
		// is not isolated; docs/architecture.md says so): the test ends them.
		t.Cleanup(func() { killProcessesUnder(dataDir) })
		cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+addr, "HOOKCI_WEBHOOK_SECRET="+e2eSecret, "HOOKCI_DATA_DIR="+dataDir,
			"HOOKCI_GIT_URL=file://"+gitRoot, "HOOKCI_SANDBOX=host", "HOOKCI_AGENT_PATH="+agenttest.Binary(t),
			"HOOKCI_GITHUB_API_URL="+gh.URL(), "HOOKCI_GITHUB_TOKEN="+e2eToken, "HOOKCI_DATABASE_URL="+url, "HOOKCI_LEASE=3s",
			"HOOKCI_PUBLIC_URL=http://"+addr)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() {
				t.Logf("server %s log:\n%s", addr, logs.String())
			}
		})
		waitFor(t, "the server to listen", func() bool {
			r, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				r.Body.Close()
			}
			return err == nil && r.StatusCode == 200
		})
		return cmd, addr
	}
	getJSON := func(addr, path string, v any) {
		if r, err := http.Get("http://" + addr + path); err == nil {
			json.NewDecoder(r.Body).Decode(v)
			r.Body.Close()
		}
	}
	a, addrA := start()
	body := pushPayload(t, strings.Repeat("0", 40), sha)
	req, _ := http.NewRequest("POST", "http://"+addrA+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "failover-1")
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(e2eSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("webhook: %s", resp.Status)
	}
	waitFor(t, "the job to start on host A", func() bool {
		var rs []map[string]any
		getJSON(addrA, "/api/runs", &rs)
		return len(rs) == 1 && rs[0]["Status"] == "in_progress"
	})
	_, addrB := start() // B starts while A runs the job, then A dies
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	killed := time.Now()
	waitFor(t, "host B to start the job again", func() bool {
		var rs []map[string]any
		getJSON(addrB, "/api/runs", &rs)
		if len(rs) != 1 {
			return false
		}
		var view struct{ Jobs []struct{ Attempt int } }
		getJSON(addrB, fmt.Sprintf("/api/runs/%v", rs[0]["ID"]), &view)
		return len(view.Jobs) == 1 && view.Jobs[0].Attempt >= 2
	})
	t.Logf("kill -9 of host A to its job started on host B: %s (lease 3s)", time.Since(killed).Round(100*time.Millisecond))
	var sts []githubtest.Status
	waitFor(t, "host B to finish the job", func() bool {
		sts = nil
		for _, s := range gh.Statuses(e2eRepo, sha) {
			if s.Context == "hookci/CI" {
				sts = append(sts, s)
			}
		}
		return len(sts) > 0 && sts[len(sts)-1].State != "pending"
	})
	if got := sts[len(sts)-1].State; got != "success" {
		t.Errorf("final status %s, want success: %+v", got, sts)
	}
	var rs []map[string]any
	getJSON(addrB, "/api/runs", &rs)
	var view struct{ Jobs []struct{ Attempt int } }
	if len(rs) == 1 {
		getJSON(addrB, fmt.Sprintf("/api/runs/%v", rs[0]["ID"]), &view)
	}
	if len(view.Jobs) != 1 || view.Jobs[0].Attempt < 2 {
		t.Errorf("runs %v, jobs %+v: want one run whose job ran again (attempt 2) on host B", rs, view.Jobs)
	}
	var hosts []struct {
		Alive bool `json:"alive"`
	}
	getJSON(addrB, "/api/hosts", &hosts)
	alive := 0
	for _, h := range hosts {
		if h.Alive {
			alive++
		}
	}
	if len(hosts) != 2 || alive != 1 {
		t.Errorf("/api/hosts = %+v, want two hosts, one alive", hosts)
	}
}

// TestLiveLogAcrossHosts: host B's dashboard streams the live log of a job
// running on host A (the two share PostgreSQL), in order, without gaps or
// repeats, to the job's end.
func TestLiveLogAcrossHosts(t *testing.T) {
	url := pgtest.URL(t)
	a := newHarness(t, "host", func(c *config.Config) { c.DatabaseURL = url })
	c1 := a.repo.Commit("first", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  count:
    runs-on: ubuntu-latest
    steps:
      - run: for i in $(seq 1 20); do echo "line-$i"; sleep 0.2; done
`})
	a.repo.Push("main")
	a.sendSigned("push", "live-log", pushPayload(t, strings.Repeat("0", 40), c1))
	var jobID any
	waitFor(t, "the job to start on host A", func() bool {
		var runs []map[string]any
		json.Unmarshal([]byte(a.get("/api/runs")), &runs)
		if len(runs) != 1 || runs[0]["Status"] != "in_progress" {
			return false
		}
		var view struct{ Jobs []map[string]any }
		json.Unmarshal([]byte(a.get(fmt.Sprintf("/api/runs/%v", runs[0]["ID"]))), &view)
		if len(view.Jobs) == 1 && view.Jobs[0]["Status"] == "in_progress" {
			jobID = view.Jobs[0]["ID"]
			return true
		}
		return false
	})
	b := &harness{t: t, gh: a.gh, repo: a.repo, sandbox: "host", cfg: a.cfg}
	b.cfg.DataDir = t.TempDir()
	b.start() // after the job started on A: B only watches
	t.Cleanup(func() { b.stop() })
	resp, err := http.Get(fmt.Sprintf("%s/api/jobs/%v/log/stream", b.url, jobID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	all, err := io.ReadAll(resp.Body) // the stream ends with the job
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	lastSeq := 0.0
	for _, line := range strings.Split(string(all), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !strings.HasPrefix(data, "{") {
			continue
		}
		var chunk struct {
			Seq  float64
			Data string
		}
		json.Unmarshal([]byte(data), &chunk)
		if chunk.Seq <= lastSeq {
			t.Errorf("chunk %v after %v: out of order or repeated", chunk.Seq, lastSeq)
		}
		lastSeq = chunk.Seq
		text.WriteString(chunk.Data)
	}
	if !strings.Contains(string(all), "event: end") {
		t.Errorf("stream from host B did not end with the job:\n%s", all)
	}
	pos := -1
	for i := 1; i <= 20; i++ {
		want := fmt.Sprintf("line-%d\n", i)
		p := strings.Index(text.String(), want)
		if p <= pos || strings.Count(text.String(), want) != 1 {
			t.Fatalf("log streamed by host B lacks, repeats or misorders %q:\n%s", want, text.String())
		}
		pos = p
	}
}

// killProcessesUnder kills every process whose working directory or command
// line is under dir (a host agent's command line does not name its socket:
// it inherits it as fd 3).
func killProcessesUnder(dir string) {
	for _, pid := range processesIn(dir) {
		if pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
