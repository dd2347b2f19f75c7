package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/github/githubtest"
)

const appWorkflow = `name: CI
on: push
jobs:
  flaky:
    runs-on: ubuntu-latest
    steps:
      - name: Flaky test
        run: |
          echo "token ${{ secrets.DEPLOY_KEY }}"
          echo "## Flaky summary" >> "$GITHUB_STEP_SUMMARY"
          if [ ! -f "$MARKER" ]; then
            touch "$MARKER"
            echo "::error file=src/main.sh,line=1,title=Boom::first attempt fails"
            exit 1
          fi
          echo "second attempt passes"
        env:
          MARKER: %s
  steady:
    runs-on: ubuntu-latest
    steps:
      - run: echo steady
`

// TestAppModeCheckRunsAndRerun: in GitHub App mode every job is a check run
// with its conclusion, step table, summary, log tail and annotations, all
// masked; a rerequested check run re-runs only that job, and its new check
// run replaces the old result.
const installation = 4242

// newAppHarness is the end-to-end server in GitHub App mode; edit changes
// its config before it starts.
func newAppHarness(t *testing.T, edit ...func(*config.Config)) *harness {
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: githubtest.NewServer(t), sandbox: "host"}
	h.repo = newRepo(t, gitRoot)
	h.gh.AddRepo("octo", "hello", installation)
	key := h.gh.EnableApp(99)
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	os.WriteFile(keyFile, key, 0o600)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.GitHubToken, h.cfg.GitHubAppID, h.cfg.GitHubAppKeyFile = "", 99, keyFile
	for _, e := range edit {
		e(&h.cfg)
	}
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// TestAppModeForkGetsReadOnlyToken: in App mode a fork's pull request runs
// with a contents:read installation token (masked) and no secrets. (In a
// namespace sandbox: a fork's job never runs on the host.)
func TestAppModeForkGetsReadOnlyToken(t *testing.T) {
	requireSandbox(t, "namespace")
	h := newAppHarness(t, func(c *config.Config) { c.Sandbox = "namespace" })
	base := h.repo.Commit("base", map[string]string{".github/workflows/ci.yml": "name: CI\non: pull_request\njobs:\n  show:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"token-set=${{ github.token != '' }} secret=[${{ secrets.DEPLOY_KEY }}]\"\n"})
	h.repo.Push("main")
	h.repo.Branch("fork")
	head := h.repo.Commit("change", map[string]string{"f.txt": "1"})
	h.repo.Push("fork")
	h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: 21, State: "open", HeadSHA: head, BaseSHA: base, BaseRef: "main"})
	pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["number"], p["installation"] = 21, map[string]any{"id": installation}
		pr := p["pull_request"].(map[string]any)
		pr["number"] = 21
		hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
		hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, "fork", base, "main"
		hd["repo"].(map[string]any)["full_name"] = "evil/hello"
		bs["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "app-fork", pr)
	waitFor(t, "the fork's check run to complete", func() bool {
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.HeadSHA == head && c.Status == "completed" {
				return true
			}
		}
		return false
	})
	if n := h.gh.ReadOnlyTokensIssued(); n < 1 {
		t.Errorf("read-only tokens issued = %d, want the fork's job to get one", n)
	}
	var runs []struct{ ID int64 }
	json.Unmarshal([]byte(h.get("/api/runs")), &runs)
	page := h.get(fmt.Sprintf("/runs/%d", runs[0].ID))
	if !strings.Contains(page, "token-set=true secret=[]") {
		t.Errorf("fork job: want a token and no secrets; page:\n%s", page)
	}
}

func TestAppModeCheckRunsAndRerun(t *testing.T) {
	h := newAppHarness(t)

	marker := filepath.Join(t.TempDir(), "attempted")
	sha := h.repo.Commit("app", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(appWorkflow, marker)})
	h.repo.Push("main")
	body := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("push", "app-push", body)

	checks := func(name string) []githubtest.CheckRun {
		var out []githubtest.CheckRun
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.Name == name {
				out = append(out, c)
			}
		}
		return out
	}
	waitFor(t, "both check runs to complete", func() bool {
		f, s := checks("CI / flaky"), checks("CI / steady")
		return len(f) == 1 && len(s) == 1 && f[0].Status == "completed" && s[0].Status == "completed"
	})
	flaky, steady := checks("CI / flaky")[0], checks("CI / steady")[0]
	if flaky.Conclusion != "failure" || steady.Conclusion != "success" {
		t.Fatalf("conclusions flaky=%s steady=%s, want failure and success", flaky.Conclusion, steady.Conclusion)
	}
	if flaky.HeadSHA != sha || !strings.HasPrefix(flaky.DetailsURL, h.url+"/runs/") {
		t.Errorf("flaky check run: head %s details %s", flaky.HeadSHA, flaky.DetailsURL)
	}
	if !strings.Contains(flaky.Summary, "| Flaky test |") || !strings.Contains(flaky.Summary, "## Flaky summary") {
		t.Errorf("summary lacks the step table or the step summary:\n%s", flaky.Summary)
	}
	if !strings.Contains(flaky.Text, "first attempt fails") {
		t.Errorf("text lacks the failed step's log tail:\n%s", flaky.Text)
	}
	if len(flaky.Annotations) != 1 || flaky.Annotations[0].Path != "src/main.sh" || flaky.Annotations[0].StartLine != 1 ||
		flaky.Annotations[0].Level != "failure" {
		t.Errorf("annotations = %+v", flaky.Annotations)
	}
	for _, c := range h.gh.CheckRuns(e2eRepo) {
		if strings.Contains(c.Summary+c.Text+c.Title, "s3cr3t-deploy-key") {
			t.Errorf("check run %q leaks the secret", c.Name)
		}
	}

	// Re-run the failed job from GitHub.
	rerun := payload(t, "check_run", "rerequested.payload.json", func(p map[string]any) {
		cr := p["check_run"].(map[string]any)
		cr["external_id"], cr["head_sha"], cr["id"] = flaky.ExternalID, sha, flaky.ID
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("check_run", "app-rerun", rerun)
	defer func() {
		if t.Failed() {
			t.Logf("deliveries: %s\ncheck runs: %+v", h.get("/api/deliveries"), checks("CI / flaky"))
		}
	}()
	waitFor(t, "the re-run check run to succeed", func() bool {
		f := checks("CI / flaky")
		return len(f) == 2 && f[1].Status == "completed" && f[1].Conclusion == "success"
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(checks("CI / steady")); n != 1 {
		t.Errorf("steady job has %d check runs, want 1 (only the rerequested job re-runs)", n)
	}
}

// TestForkPullRequestGetsNoSecrets: a pull request from a fork runs without
// secrets or token; one from the repository itself gets the secrets, masked,
// and (token mode, no job_token opt-in) no token either. (In a namespace
// sandbox: a fork's job never runs on the host.)
func TestForkPullRequestGetsNoSecrets(t *testing.T) {
	requireSandbox(t, "namespace")
	h := newHarness(t, "namespace")
	base := h.repo.Commit("base", map[string]string{".github/workflows/ci.yml": `name: CI
on: pull_request
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "secret=[${{ secrets.DEPLOY_KEY }}] token=[${{ github.token }}] fork=${{ github.event.pull_request.head.repo.fork }}"
`})
	h.repo.Push("main")
	for i, tc := range []struct {
		headRepo string
		want     string
	}{
		{"evil/hello", "secret=[] token=[]"},
		{e2eRepo, "secret=[***] token=[]"},
	} {
		h.repo.Branch(fmt.Sprintf("pr%d", i))
		head := h.repo.Commit("change", map[string]string{"f.txt": fmt.Sprint(i)})
		h.repo.Push(fmt.Sprintf("pr%d", i))
		num := 10 + i
		h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: num, State: "open", HeadSHA: head, BaseSHA: base, BaseRef: "main"})
		pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
			p["number"] = num
			pr := p["pull_request"].(map[string]any)
			pr["number"] = num
			hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
			hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, "feature", base, "main"
			hd["repo"].(map[string]any)["full_name"] = tc.headRepo
			hd["repo"].(map[string]any)["fork"] = tc.headRepo != e2eRepo
			bs["repo"].(map[string]any)["full_name"] = e2eRepo
		})
		h.sendSigned("pull_request", fmt.Sprintf("pr-%d", i), pr)
		sts := h.waitStatus(head)
		page := h.get(strings.TrimPrefix(sts[len(sts)-1].TargetURL, h.url))
		if !strings.Contains(page, tc.want) {
			t.Errorf("head repo %s: run page lacks %q", tc.headRepo, tc.want)
		}
		if strings.Contains(page, "s3cr3t-deploy-key") || strings.Contains(page, e2eToken) {
			t.Errorf("head repo %s: run page leaks a secret", tc.headRepo)
		}
		h.repo.Branch("main")
	}
}

// TestReconcilerRunsMissedPush: a push whose webhook never arrived runs
// after one reconciler pass over the allowed repositories.
func TestReconcilerRunsMissedPush(t *testing.T) {
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: githubtest.NewServer(t), sandbox: "host"}
	h.repo = newRepo(t, gitRoot)
	h.gh.AddRepo("octo", "hello", 0)
	h.gh.SetToken(e2eToken)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.Allow = []string{e2eRepo}
	h.cfg.ReconcileInterval = config.Duration(300 * time.Millisecond)
	sha := h.repo.Commit("missed", map[string]string{".github/workflows/ci.yml": twoJobWorkflow, "src/main.sh": "#!/bin/sh\necho ok\n"})
	h.repo.Push("main")
	h.gh.SetBranch(e2eRepo, "main", sha) // GitHub knows the push; hookci never heard of it
	h.start()
	t.Cleanup(func() { h.stop() })
	if sts := h.waitStatus(sha); sts[len(sts)-1].State != "success" {
		t.Fatalf("reconciled push: statuses %+v", sts)
	}
}

// TestMicroVMWorkspaceDisk: a checkout over the threshold goes into the
// microVM as an ext4 disk, holding the files and the repository.
func TestMicroVMWorkspaceDisk(t *testing.T) {
	requireSandbox(t, "microvm")
	h := newHarness(t, "microvm")
	sha := h.repo.Commit("big", map[string]string{
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  big:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          test "$(stat -c %s big.bin)" -eq 9437184
          echo "head=$(git rev-parse HEAD)"
          touch written-by-the-job
`,
		"big.bin": strings.Repeat("x", 9<<20),
	})
	h.repo.Push("main")
	h.sendSigned("push", "big-push", pushPayload(t, strings.Repeat("0", 40), sha))
	sts := h.waitStatus(sha)
	page := h.get(strings.TrimPrefix(sts[len(sts)-1].TargetURL, h.url))
	if sts[len(sts)-1].State != "success" {
		t.Fatalf("status %s; page:\n%s", sts[len(sts)-1].State, page)
	}
	for _, want := range []string{"The workspace came with the sandbox", "head=" + sha} {
		if !strings.Contains(page, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
}
