package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/github/githubtest"
)

// hostSecret is what the server's config file on the host holds; no job
// log or page may ever show it.
const hostSecret = "host-config-secret-5e1c7"

// attackWorkflow is a job that, run on the host, leaves a marker and prints
// the server's config file.
func attackWorkflow(name, on, runsOn, marker, configFile string) string {
	return fmt.Sprintf(`name: %s
on: %s
jobs:
  grab:
    runs-on: %s
    steps:
      - run: |
          touch %s
          cat %s
          echo grabbed
`, name, on, runsOn, marker, configFile)
}

// forkPR sends a signed pull_request delivery whose head is in another
// repository (a fork) and returns its head commit.
func (h *harness) forkPR(num int, files map[string]string, base string) string {
	h.t.Helper()
	branch := fmt.Sprintf("fork%d", num)
	h.repo.Branch(branch)
	head := h.repo.Commit("from a fork", files)
	h.repo.Push(branch)
	h.repo.Branch("main")
	h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: num, State: "open", HeadSHA: head, BaseSHA: base, BaseRef: "main"})
	pr := payload(h.t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["number"], p["action"] = num, "opened"
		pr := p["pull_request"].(map[string]any)
		pr["number"] = num
		hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
		hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, branch, base, "main"
		hd["repo"].(map[string]any)["full_name"] = "evil/hello"
		hd["repo"].(map[string]any)["fork"] = true
		bs["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", fmt.Sprintf("fork-pr-%d", num), pr)
	return head
}

// runPage waits for the final status of workflow on sha and returns it with
// the run page and every job log of the run.
func (h *harness) runPage(sha, workflow string) (state, page string) {
	h.t.Helper()
	sts := h.waitContext(sha, "hookci/"+workflow)
	path := strings.TrimPrefix(sts[len(sts)-1].TargetURL, h.url)
	page = h.get(path)
	id := path[strings.LastIndex(path, "/")+1:]
	var view struct{ Jobs []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(h.get("/api/runs/"+id)), &view); err != nil {
		h.t.Fatalf("run %s: %v", id, err)
	}
	for _, j := range view.Jobs {
		page += h.get(fmt.Sprintf("/api/jobs/%d/log", j.ID))
	}
	return sts[len(sts)-1].State, page
}

// hostConfigFile writes the stand-in of the server's config on the host.
func hostConfigFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "hookci.toml")
	if err := os.WriteFile(p, []byte("webhook_secret = \""+hostSecret+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refused checks that a job was refused with reason before running: the
// run failed, the page says why, the marker is absent, the secret unseen.
func refused(t *testing.T, what, state, page, reason, marker string) {
	t.Helper()
	if state != "failure" {
		t.Errorf("%s: run %s, want failure", what, state)
	}
	if !strings.Contains(page, reason) {
		t.Errorf("%s: run page lacks the reason %q:\n%s", what, reason, page)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("%s: ATTACK SUCCEEDED: the job ran on the host (marker %s exists)", what, marker)
	}
	if strings.Contains(page, hostSecret) || strings.Contains(page, "grabbed") {
		t.Errorf("%s: ATTACK SUCCEEDED: the job ran and read the host's config", what)
	}
}

// TestAttackLabelPolicy (issue 9 item 9): with HOOKCI_SANDBOX=host and
// labels mapped to host, a fork's pull request can reach the host neither
// through a host label nor through the default; a push of a repository a
// label's repos do not name is refused; a repository they name runs.
func TestAttackLabelPolicy(t *testing.T) {
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: "host"}
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.Labels = map[string]config.Label{
		"evil":    {Backend: "host"},
		"gpu":     {Backend: "host", Repos: []string{"other/repo"}},
		"trusted": {Backend: "host", Repos: []string{"octo"}},
	}
	h.start()
	t.Cleanup(func() { h.stop() })
	conf := hostConfigFile(t)
	dir := t.TempDir()
	mark := func(name string) string { return filepath.Join(dir, name) }

	base := h.repo.Commit("base", map[string]string{"README": "hi\n"})
	h.repo.Push("main")

	// A fork's job on a label mapped to host.
	head := h.forkPR(31, map[string]string{".github/workflows/a.yml": attackWorkflow("ForkLabel", "pull_request", "evil", mark("fork-label"), conf)}, base)
	state, page := h.runPage(head, "ForkLabel")
	refused(t, "fork, runs-on evil", state, page, "runs-on evil: the host backend is not available to pull requests from forks", mark("fork-label"))

	// A fork's job on an unmapped label: the default, host.
	head = h.forkPR(32, map[string]string{".github/workflows/a.yml": attackWorkflow("ForkDefault", "pull_request", "ubuntu-latest", mark("fork-default"), conf)}, base)
	state, page = h.runPage(head, "ForkDefault")
	refused(t, "fork, default host", state, page, "runs-on ubuntu-latest: the host backend is not available to pull requests from forks", mark("fork-default"))

	// A push of a repository the label's repos do not name.
	c := h.repo.Commit("gpu", map[string]string{".github/workflows/b.yml": attackWorkflow("Gpu", "push", "gpu", mark("gpu"), conf)})
	h.repo.Push("main")
	h.sendSigned("push", "push-gpu", pushPayload(t, base, c))
	state, page = h.runPage(c, "Gpu")
	refused(t, "push, runs-on gpu of other/repo", state, page, "runs-on gpu: repository octo/hello may not use this label (labels.gpu.repos)", mark("gpu"))

	// A push of a repository the label's repos name runs there.
	c2 := h.repo.Commit("trusted", map[string]string{".github/workflows/c.yml": "name: Trusted\non: push\njobs:\n  t:\n    runs-on: trusted\n    steps:\n      - run: touch " + mark("trusted") + " && echo ran-trusted\n"})
	h.repo.Push("main")
	h.sendSigned("push", "push-trusted", pushPayload(t, c, c2))
	if state, page := h.runPage(c2, "Trusted"); state != "success" || !strings.Contains(page, "ran-trusted") || !strings.Contains(page, "sandbox: host") {
		t.Errorf("push, runs-on trusted: run %s, want success on host; page:\n%s", state, page)
	}
	if _, err := os.Stat(mark("trusted")); err != nil {
		t.Errorf("push, runs-on trusted: the job did not run on the host: %v", err)
	}
}

// TestAttackForkHostLabelNamespaceDefault (issue 9 item 9): the server
// isolates by default (namespace) but maps one label to host; a fork's job
// choosing that label is refused with the reason, while its job on the
// default runs, isolated.
func TestAttackForkHostLabelNamespaceDefault(t *testing.T) {
	requireSandbox(t, "namespace")
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: "namespace"}
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.Sandbox = "namespace"
	h.cfg.Labels = map[string]config.Label{"evil": {Backend: "host"}}
	h.start()
	t.Cleanup(func() { h.stop() })
	conf := hostConfigFile(t)
	marker := filepath.Join(t.TempDir(), "fork-evil")

	base := h.repo.Commit("base", map[string]string{"README": "hi\n"})
	h.repo.Push("main")
	head := h.forkPR(41, map[string]string{
		".github/workflows/a.yml": attackWorkflow("Evil", "pull_request", "evil", marker, conf),
		".github/workflows/b.yml": "name: Plain\non: pull_request\njobs:\n  p:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo isolated-ok\n",
	}, base)
	state, page := h.runPage(head, "Evil")
	refused(t, "fork, runs-on evil", state, page, "runs-on evil: the host backend is not available to pull requests from forks", marker)
	if state, page := h.runPage(head, "Plain"); state != "success" || !strings.Contains(page, "isolated-ok") || !strings.Contains(page, "sandbox: namespace") {
		t.Errorf("fork, default namespace: run %s, want success in namespace; page:\n%s", state, page)
	}
}
