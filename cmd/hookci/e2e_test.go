package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/corpus"
	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/sandbox/backends"
	"github.com/hookci/hookci/internal/web"
	"github.com/hookci/hookci/internal/webhook"
)

const (
	e2eSecret = "e2e-webhook-secret"
	e2eToken  = "ghp_e2etoken"
	e2eRepo   = "octo/hello"
)

// harness is a real hookci server (SQLite file, real HTTP, real git, host
// sandbox with the real agent) talking to the fake GitHub.
type harness struct {
	t       *testing.T
	cfg     config.Config
	gh      *githubtest.Server
	repo    *gittest.Repo
	url     string
	stop    func()
	sandbox string
}

func newHarness(t *testing.T, sandbox string, edit ...func(*config.Config)) *harness {
	t.Helper()
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: githubtest.NewServer(t), repo: newRepo(t, gitRoot), sandbox: sandbox}
	h.gh.AddRepo("octo", "hello", 0)
	h.gh.SetToken(e2eToken)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.Sandbox = sandbox
	for _, e := range edit {
		e(&h.cfg)
	}
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

func newRepo(t *testing.T, gitRoot string) *gittest.Repo { return gittest.New(t, gitRoot, e2eRepo) }

// newFakeGitHub is the fake GitHub with the test repository, in token mode.
func newFakeGitHub(t *testing.T) *githubtest.Server {
	gh := githubtest.NewServer(t)
	gh.AddRepo("octo", "hello", 0)
	gh.SetToken(e2eToken)
	return gh
}

// jobsOf returns the conclusions of the jobs of the run whose page is runURL.
func (h *harness) jobsOf(runURL string) []string {
	id := runURL[strings.LastIndex(runURL, "/")+1:]
	var view struct{ Jobs []struct{ Conclusion string } }
	json.Unmarshal([]byte(h.get("/api/runs/"+id)), &view)
	var out []string
	for _, j := range view.Jobs {
		out = append(out, j.Conclusion)
	}
	return out
}

// baseConfig is the server configuration of the end-to-end tests (token mode, host sandbox).
func baseConfig(t *testing.T, gitRoot, apiURL string) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WebhookSecret = e2eSecret
	cfg.GitURL = "file://" + gitRoot
	cfg.GitHubAPIURL = apiURL
	cfg.GitHubToken = e2eToken
	cfg.Sandbox = "host"
	cfg.ImageDir = os.Getenv("HOOKCI_DATA_DIR") // where scripts/test.sh builds the guest image
	cfg.AgentPath = agenttest.Binary(t)
	cfg.MaxJobs = 4
	cfg.Secrets = map[string]string{"DEPLOY_KEY": "s3cr3t-deploy-key"}
	return cfg
}

func (h *harness) start() {
	h.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.url = "http://" + l.Addr().String()
	cfg := h.cfg
	cfg.Listen = l.Addr().String()
	cfg.PublicURL = h.url
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	go func() { done <- serveOn(ctx, cfg, log, l) }()
	h.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("server: %v", err)
			}
		case <-time.After(30 * time.Second):
			h.t.Error("server did not stop")
		}
	}
	h.waitHealthy()
}

func (h *harness) waitHealthy() {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("server never became healthy")
}

// payload loads a real payload from the corpus and points it at the test repository.
func payload(t *testing.T, event, file string, edit func(p map[string]any)) []byte {
	t.Helper()
	dir := corpus.Dir(t, "octokit-webhooks", "payload-examples", "api.github.com", event)
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	repo := p["repository"].(map[string]any)
	repo["full_name"], repo["name"] = e2eRepo, "hello"
	repo["owner"].(map[string]any)["login"] = "octo"
	delete(p, "installation")
	edit(p)
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pushPayload(t *testing.T, before, after string) []byte {
	return payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"] = "refs/heads/main", before, after
		p["deleted"] = false
		p["commits"] = []any{}
	})
}

func (h *harness) send(event, delivery string, body []byte, sig string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) sendSigned(event, delivery string, body []byte) int {
	h.t.Helper()
	code, msg := h.send(event, delivery, body, webhook.SignatureHeader([]byte(e2eSecret), body))
	if code >= 300 {
		h.t.Fatalf("webhook %s answered %d: %s", delivery, code, msg)
	}
	return code
}

// runStatuses are the statuses of sha in the workflow run's context.
func (h *harness) runStatuses(sha, context string) []githubtest.Status {
	var out []githubtest.Status
	for _, s := range h.gh.Statuses(e2eRepo, sha) {
		if s.Context == context {
			out = append(out, s)
		}
	}
	return out
}

// waitStatus waits until the fake GitHub has a final status of the CI
// workflow run for sha, and returns that context's statuses.
func (h *harness) waitStatus(sha string) []githubtest.Status {
	h.t.Helper()
	return h.waitContext(sha, "hookci/CI")
}

func (h *harness) waitContext(sha, context string) []githubtest.Status {
	h.t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		sts := h.runStatuses(sha, context)
		if n := len(sts); n > 0 && sts[n-1].State != "pending" {
			return sts
		}
		h.failOnInvalidWorkflow(sha, context)
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("no final status for %s; statuses so far: %+v; deliveries: %s", sha, h.gh.Statuses(e2eRepo, sha), h.get("/api/deliveries"))
	return nil
}

// failOnInvalidWorkflow ends the test at once when a workflow pushed at sha
// was reported invalid under another context than the one awaited: the
// awaited job then never runs, and waiting for it would only time out
// minutes later without the reason.
func (h *harness) failOnInvalidWorkflow(sha, awaited string) {
	h.t.Helper()
	for _, s := range h.gh.Statuses(e2eRepo, sha) {
		if s.Context != awaited && strings.HasPrefix(s.Description, "Invalid workflow") {
			h.t.Fatalf("waiting for %s, but %s says: %s", awaited, s.Context, s.Description)
		}
	}
}

func (h *harness) get(path string) string {
	resp, err := http.Get(h.url + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (h *harness) deliveries() []map[string]any {
	var ds []map[string]any
	json.Unmarshal([]byte(h.get("/api/deliveries")), &ds)
	return ds
}

const twoJobWorkflow = `name: CI
on:
  push:
    branches: [main]
  pull_request:
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      artifact: ${{ steps.b.outputs.name }}
    steps:
      - uses: actions/checkout@v4
      - id: b
        name: Build
        run: |
          echo "building $GITHUB_REPOSITORY at $GITHUB_SHA"
          test -f src/main.sh
          echo "name=app-${GITHUB_SHA::7}" >> "$GITHUB_OUTPUT"
          echo "deploy key is ${{ secrets.DEPLOY_KEY }}"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Test
        run: |
          ./src/main.sh
          echo "artifact ${{ needs.build.outputs.artifact }}"
          if [ "$FAIL" = yes ]; then
            echo "assertion failed: expected 2, got 3"
            exit 1
          fi
        env:
          FAIL: ${{ contains(github.event.pull_request.title, 'broken') && 'yes' || 'no' }}
`

func TestEndToEnd(t *testing.T) { testEndToEnd(t, "host") }

// The same path with every job in a bubblewrap sandbox.
func TestEndToEndNamespace(t *testing.T) {
	requireSandbox(t, "namespace")
	testEndToEnd(t, "namespace")
}

// The same path with every job in its own QEMU microVM (TCG where KVM cannot run a guest).
func TestEndToEndMicroVM(t *testing.T) {
	requireSandbox(t, "microvm")
	testEndToEnd(t, "microvm")
}

// requireSandbox skips (or under CI fails) when a backend cannot run here.
func requireSandbox(t *testing.T, name string) {
	t.Helper()
	if testing.Short() {
		t.Skip("sandbox end-to-end tests are slow; skipped in -short mode")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ImageDir = os.Getenv("HOOKCI_DATA_DIR")
	cfg.AgentPath = agenttest.Binary(t)
	if err := backends.Available(cfg, name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sandbox %s cannot run in CI: %v", name, err)
		}
		t.Skipf("skipping: sandbox %s cannot run here: %v", name, err)
	}
}

func testEndToEnd(t *testing.T, sandbox string, edit ...func(*config.Config)) {
	h := newHarness(t, sandbox, edit...)
	zero := strings.Repeat("0", 40)
	c1 := h.repo.Commit("first", map[string]string{
		".github/workflows/ci.yml": twoJobWorkflow,
		"src/main.sh":              "#!/bin/sh\necho main works\n",
	})
	h.repo.Push("main")

	// A push runs both jobs; the status goes pending → success.
	body := pushPayload(t, zero, c1)
	if code := h.sendSigned("push", "delivery-1", body); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	sts := h.waitStatus(c1)
	if sts[0].State != "pending" || sts[len(sts)-1].State != "success" {
		t.Fatalf("statuses = %+v, want pending … success", sts)
	}
	if got := sts[len(sts)-1]; got.Context != "hookci/CI" || !strings.HasPrefix(got.TargetURL, h.url+"/runs/") {
		t.Errorf("final status = %+v, want context hookci/CI and a run page link", got)
	}
	// Token mode also gives each job a status of its own.
	for _, job := range []string{"build", "test"} {
		if js := h.waitContext(c1, "hookci/CI / "+job); js[len(js)-1].State != "success" {
			t.Errorf("job %s statuses = %+v, want … success", job, js)
		}
	}
	page := h.get(strings.TrimPrefix(sts[len(sts)-1].TargetURL, h.url))
	for _, want := range []string{"building octo/hello at " + c1, "main works", "artifact app-" + c1[:7], "deploy key is ***"} {
		if !strings.Contains(page, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	if strings.Contains(page, "s3cr3t-deploy-key") {
		t.Error("run page leaks the secret")
	}
	if !strings.Contains(page, "sandbox: "+sandbox) {
		t.Errorf("run page does not say the jobs ran in sandbox %s", sandbox)
	}
	// A run on the host is marked as not isolated; an isolated one is not (issue 9 item 15).
	if got := strings.Contains(page, web.UnisolatedBanner); got != (sandbox == "host") {
		t.Errorf("run page in sandbox %s shows the not-isolated warning: %v, want %v", sandbox, got, sandbox == "host")
	}

	// The same delivery again: 200 duplicate, no second run.
	code, msg := h.send("push", "delivery-1", body, webhook.SignatureHeader([]byte(e2eSecret), body))
	if code != 200 || !strings.Contains(msg, "duplicate") {
		t.Errorf("duplicate delivery: %d %s, want 200 duplicate", code, msg)
	}

	// Bad input is refused and nothing is stored.
	before := len(h.deliveries())
	big := bytes.Repeat([]byte("x"), 26<<20)
	for _, tc := range []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"bad signature", body, "sha256=" + strings.Repeat("ab", 32), 401},
		{"wrong secret", body, webhook.SignatureHeader([]byte("not-the-secret"), body), 401},
		{"26 MiB body", big, webhook.SignatureHeader([]byte(e2eSecret), big), 413},
		{"malformed JSON", []byte(`{"ref":`), webhook.SignatureHeader([]byte(e2eSecret), []byte(`{"ref":`)), 400},
	} {
		if code, msg := h.send("push", "bad-"+tc.name, tc.body, tc.sig); code != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, code, msg, tc.want)
		}
	}
	if after := len(h.deliveries()); after != before {
		t.Errorf("bad requests stored deliveries: %d before, %d after", before, after)
	}

	// A pull request whose test fails: failure status and a comment with the failing step's log.
	h.repo.Branch("feature")
	c2 := h.repo.Commit("break it", map[string]string{"src/other.txt": "x\n"})
	h.repo.Push("feature")
	h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: 7, State: "open", HeadSHA: c2, HeadRef: "feature",
		BaseRef: "main", BaseSHA: c1})
	pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["number"] = 7
		p["action"] = "opened"
		pr := p["pull_request"].(map[string]any)
		pr["number"], pr["title"] = 7, "a broken change"
		head, base := pr["head"].(map[string]any), pr["base"].(map[string]any)
		head["sha"], head["ref"], base["sha"], base["ref"] = c2, "feature", c1, "main"
		head["repo"].(map[string]any)["full_name"] = e2eRepo
		base["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "delivery-pr", pr)
	sts = h.waitStatus(c2)
	if got := sts[len(sts)-1].State; got != "failure" {
		t.Fatalf("pull request status = %s, want failure", got)
	}
	waitFor(t, "the comment to show the failure", func() bool {
		cs := h.gh.Comments(e2eRepo, 7)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "assertion failed: expected 2, got 3") && strings.Contains(cs[0].Body, "❌")
	})
	cs := h.gh.Comments(e2eRepo, 7)
	if !strings.Contains(cs[0].Body, "| [CI](") || !strings.Contains(cs[0].Body, "test") {
		t.Errorf("comment lacks the jobs table:\n%s", cs[0].Body)
	}

	// A second push to the pull request updates the same comment in place.
	c3 := h.repo.Commit("fix", map[string]string{"src/other.txt": "y\n"})
	h.repo.Push("feature")
	sync := payload(t, "pull_request", "synchronize.payload.json", func(p map[string]any) {
		p["number"], p["action"] = 7, "synchronize"
		pr := p["pull_request"].(map[string]any)
		pr["number"], pr["title"] = 7, "a good change"
		head, base := pr["head"].(map[string]any), pr["base"].(map[string]any)
		head["sha"], head["ref"], base["sha"], base["ref"] = c3, "feature", c1, "main"
		head["repo"].(map[string]any)["full_name"] = e2eRepo
		base["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "delivery-pr-2", sync)
	if sts := h.waitStatus(c3); sts[len(sts)-1].State != "success" {
		t.Errorf("fixed pull request status = %+v, want success", sts[len(sts)-1])
	}
	waitFor(t, "the comment to be updated in place", func() bool {
		cs := h.gh.Comments(e2eRepo, 7)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "all passed") && cs[0].Edits > 0
	})

	// A paths filter that does not match runs nothing.
	h.repo.Branch("main")
	c4 := h.repo.Commit("docs only", map[string]string{
		".github/workflows/ci.yml": strings.Replace(twoJobWorkflow, "    branches: [main]", "    branches: [main]\n    paths: ['src/**']", 1),
	})
	c5 := h.repo.Commit("readme", map[string]string{"docs/README.md": "docs\n"})
	h.repo.Push("main")
	h.sendSigned("push", "delivery-paths", pushPayload(t, c4, c5))
	waitFor(t, "the paths delivery to be planned", func() bool {
		for _, d := range h.deliveries() {
			if d["id"] == "delivery-paths" {
				return d["status"] == "planned"
			}
		}
		return false
	})
	for _, d := range h.deliveries() {
		if d["id"] == "delivery-paths" && !strings.HasPrefix(fmt.Sprint(d["message"]), "0 run(s)") {
			t.Errorf("paths-filtered push planned %v, want 0 runs", d["message"])
		}
	}
	if sts := h.gh.Statuses(e2eRepo, c5); len(sts) != 0 {
		t.Errorf("paths-filtered push reported statuses %+v, want none", sts)
	}

	// Metrics count what happened.
	metrics := h.get("/metrics")
	for _, want := range []string{`hookci_webhook_deliveries_total{event="push",outcome="accepted"}`,
		`hookci_webhook_deliveries_total{event="push",outcome="bad_signature"} 2`, `hookci_runs_total{conclusion="failure"} 1`,
		"hookci_queue_depth", "hookci_job_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRestartRunsQueuedWork: a delivery acknowledged while no worker ran (the
// server went down right after the 202) is run after a restart.
func TestRestartRunsQueuedWork(t *testing.T) {
	h := newHarness(t, "host")
	c1 := h.repo.Commit("first", map[string]string{".github/workflows/ci.yml": twoJobWorkflow, "src/main.sh": "#!/bin/sh\necho ok\n"})
	h.repo.Push("main")
	h.stop()
	// Accept a webhook with the queue not running, exactly as the server does.
	acceptOnly(t, h.cfg, "delivery-queued", pushPayload(t, strings.Repeat("0", 40), c1))
	if sts := h.gh.Statuses(e2eRepo, c1); len(sts) != 0 {
		t.Fatalf("statuses before restart: %+v", sts)
	}
	h.start()
	if sts := h.waitStatus(c1); sts[len(sts)-1].State != "success" {
		t.Fatalf("after restart: %+v, want success", sts)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
