package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/github/githubtest"
)

// osMatrixWorkflow is a matrix over GitHub's three hosted OSes whose every
// leg that runs leaves a marker in dir (named after its matrix.os).
const osMatrixWorkflow = `name: CI
on: [push, pull_request]
jobs:
  test:
    name: Test on ${{ matrix.os }}
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest, windows-latest, macos-latest]
    steps:
      - run: touch %s/ran-${{ matrix.os }} && echo "leg ${{ matrix.os }} ran on ${{ runner.os }} ${{ runner.arch }}"
`

// ranLegs are the matrix.os values whose leg left its marker in dir.
func ranLegs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if label, ok := strings.CutPrefix(e.Name(), "ran-"); ok {
			out[label] = true
		}
	}
	return out
}

// TestNoRunnerForLabels (issue 13 item 0): a pull request whose matrix runs
// on ubuntu-latest, windows-latest and macos-latest runs only the ubuntu
// leg (successfully, not cancelled by fail-fast); the windows and macos
// legs do not run and end failure with "no runner for labels [...]" in
// their commit status, on the run page, in the job API and in the PR
// comment, and the workflow's status is failure, never success. Were every
// label run on Linux again, the markers and the success statuses fail it.
func TestNoRunnerForLabels(t *testing.T) {
	h := newHarness(t, "host")
	marks := t.TempDir()
	base := h.repo.Commit("base", map[string]string{"README": "x\n"})
	h.repo.Push("main")
	h.repo.Branch("oses")
	head := h.repo.Commit("matrix", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(osMatrixWorkflow, marks)})
	h.repo.Push("oses")
	h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: 13, State: "open", HeadSHA: head, HeadRef: "oses", BaseRef: "main", BaseSHA: base})
	pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["number"], p["action"] = 13, "opened"
		pr := p["pull_request"].(map[string]any)
		pr["number"] = 13
		hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
		hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, "oses", base, "main"
		hd["repo"].(map[string]any)["full_name"] = e2eRepo
		bs["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "labels-pr", pr)

	state, page := h.runPage(head, "CI")
	if state != "failure" {
		t.Errorf("workflow status %s, want failure (legs that cannot run are not a success)", state)
	}
	ran := ranLegs(t, marks)
	if !ran["ubuntu-latest"] {
		t.Errorf("the ubuntu-latest leg did not run; page:\n%s", page)
	}
	for _, label := range []string{"windows-latest", "macos-latest"} {
		if ran[label] {
			t.Errorf("the %s leg RAN on the Linux sandbox", label)
		}
		want := "no runner for labels [" + label + "]"
		if !strings.Contains(page, want) {
			t.Errorf("run page lacks %q:\n%s", want, page)
		}
		sts := h.waitContext(head, "hookci/CI / Test on "+label)
		if got := sts[len(sts)-1]; got.State != "failure" || !strings.HasPrefix(got.Description, want) {
			t.Errorf("status of the %s leg = %s %q, want failure %q…", label, got.State, got.Description, want)
		}
	}
	if sts := h.waitContext(head, "hookci/CI / Test on ubuntu-latest"); sts[len(sts)-1].State != "success" {
		t.Errorf("status of the ubuntu leg = %+v, want success", sts[len(sts)-1])
	}
	if !strings.Contains(page, "leg ubuntu-latest ran on Linux X64") {
		t.Errorf("the ubuntu leg's log lacks its runner (Linux X64):\n%s", page)
	}
	waitFor(t, "the comment to say why the legs did not run", func() bool {
		cs := h.gh.Comments(e2eRepo, 13)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "no runner for labels [windows-latest]") &&
			strings.Contains(cs[0].Body, "no runner for labels [macos-latest]")
	})
	if body := h.gh.Comments(e2eRepo, 13)[0].Body; !strings.Contains(body, "❌ 2 failed") {
		t.Errorf("comment does not count the two refused legs as failed:\n%s", body)
	}
}

// TestNoRunnerForLabelsCheckRunsAndMapping: in App mode the refused legs'
// check runs conclude failure with the reason in their output; a
// [labels.windows-latest] section maps that label to a backend on purpose,
// and its leg runs, while macos-latest, unmapped, is still refused.
func TestNoRunnerForLabelsCheckRunsAndMapping(t *testing.T) {
	h := newAppHarness(t, func(c *config.Config) {
		c.Labels = map[string]config.Label{"windows-latest": {Backend: "host"}}
	})
	marks := t.TempDir()
	sha := h.repo.Commit("matrix", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(osMatrixWorkflow, marks)})
	h.repo.Push("main")
	body := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("push", "labels-app-push", body)
	check := func(name string) *githubtest.CheckRun {
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.Name == name && c.Status == "completed" {
				return &c
			}
		}
		return nil
	}
	waitFor(t, "the three check runs to complete", func() bool {
		return check("CI / Test on ubuntu-latest") != nil && check("CI / Test on windows-latest") != nil &&
			check("CI / Test on macos-latest") != nil
	})
	for name, want := range map[string]string{"ubuntu-latest": "success", "windows-latest": "success", "macos-latest": "failure"} {
		if c := check("CI / Test on " + name); c.Conclusion != want {
			t.Errorf("check run of %s: %s, want %s; summary:\n%s", name, c.Conclusion, want, c.Summary)
		}
	}
	if c := check("CI / Test on macos-latest"); !strings.Contains(c.Summary+c.Text, "no runner for labels [macos-latest]") {
		t.Errorf("macos check run does not say why it did not run:\n%s\n%s", c.Summary, c.Text)
	}
	ran := ranLegs(t, marks)
	if !ran["ubuntu-latest"] || !ran["windows-latest"] || ran["macos-latest"] {
		t.Errorf("legs that ran: %v, want ubuntu-latest and windows-latest (mapped on purpose), not macos-latest", ran)
	}
}

// TestRunRefusesUnservedLabels: hookci run refuses the windows and macos
// legs the same way and exits non-zero; --run-any-label runs them on Linux.
func TestRunRefusesUnservedLabels(t *testing.T) {
	repo, marks := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(repo, ".github", "workflows"), 0o755)
	if err := os.WriteFile(filepath.Join(repo, ".github", "workflows", "ci.yml"), []byte(fmt.Sprintf(osMatrixWorkflow, marks)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "matrix"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	conf := filepath.Join(t.TempDir(), "hookci.toml")
	agentPath, _ := json.Marshal(agenttest.Binary(t))
	if err := os.WriteFile(conf, []byte("agent_path = "+string(agentPath)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (int, string) {
		var out, errOut bytes.Buffer
		args := append([]string{"--sandbox", "host", "--config", conf}, extra...)
		code := runLocal(context.Background(), append(args, repo), &out, &errOut)
		return code, out.String() + errOut.String()
	}

	code, out := run()
	if code == 0 {
		t.Errorf("hookci run exited 0 with legs that cannot run:\n%s", out)
	}
	for _, label := range []string{"windows-latest", "macos-latest"} {
		if want := "[CI/Test on " + label + "] failure — no runner for labels [" + label + "]"; !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "--run-any-label") {
		t.Errorf("output does not name the flag that runs them anyway:\n%s", out)
	}
	if ran := ranLegs(t, marks); !ran["ubuntu-latest"] || ran["windows-latest"] || ran["macos-latest"] {
		t.Errorf("legs that ran: %v, want ubuntu-latest only", ran)
	}

	code, out = run("--run-any-label")
	if code != 0 {
		t.Errorf("hookci run --run-any-label exited %d:\n%s", code, out)
	}
	if ran := ranLegs(t, marks); !ran["windows-latest"] || !ran["macos-latest"] {
		t.Errorf("with --run-any-label, legs that ran: %v, want all three", ran)
	}
	if strings.Contains(out, "no runner for labels") {
		t.Errorf("with --run-any-label a leg was still refused:\n%s", out)
	}
}
