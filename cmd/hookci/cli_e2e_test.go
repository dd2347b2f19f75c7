package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const cliWorkflow = `name: CI
on: push
jobs:
  hello:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo before-sleep
          sleep 1
          echo after-sleep
`

// cli runs a client command against the harness's server and returns its
// exit status, stdout and stderr.
func (h *harness) cli(cmd func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := cmd(context.Background(), append([]string{"--server", h.url}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestCLIAgainstServer runs the client commands (runs, logs, cancel, rerun,
// dispatch) against a real server: tables without colour off a terminal,
// --json, following a live log to the end, and exit statuses 0 (done), 1
// (refused by the server, naming why) and 2 (usage).
func TestCLIAgainstServer(t *testing.T) {
	h := newAPIHarness(t)
	t.Setenv("HOOKCI_API_TOKEN", apiToken)
	t.Setenv("HOOKCI_SERVER", "")
	sha := h.pushWorkflow("cli", map[string]string{
		".github/workflows/ci.yml":     cliWorkflow,
		".github/workflows/deploy.yml": deployWorkflow,
	})
	var runID int64
	waitFor(t, "the run to appear", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &list)
		if len(list.Runs) == 1 {
			runID = list.Runs[0].ID
		}
		return runID != 0
	})
	run := fmt.Sprint(runID)

	// Following the run's log from (nearly) its start to its end.
	code, out, errs := h.cli(cmdLogs, "--follow", run)
	if code != 0 || !strings.Contains(out, "before-sleep") || !strings.Contains(out, "after-sleep") || !strings.Contains(out, "==> hello") {
		t.Fatalf("logs --follow: exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = h.cli(cmdRuns, "--repo", e2eRepo)
	if code != 0 || !strings.HasPrefix(out, "STATUS") || !strings.Contains(out, "success") || !strings.Contains(out, "#1.1") ||
		strings.Contains(out, "\x1b[") {
		t.Errorf("runs: exit %d, want a plain table with the run:\n%s%s", code, out, errs)
	}
	code, out, _ = h.cli(cmdRuns)
	if code != 0 || !strings.Contains(out, "REPOSITORY") || !strings.Contains(out, e2eRepo) {
		t.Errorf("runs of every repository: exit %d\n%s", code, out)
	}
	code, out, _ = h.cli(cmdRuns, "--repo", e2eRepo, "--json", "--status", "success")
	var list struct {
		TotalCount int `json:"total_count"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || list.TotalCount != 1 {
		t.Errorf("runs --json: exit %d, %v, total %d\n%s", code, err, list.TotalCount, out)
	}

	var jobs struct {
		Jobs []apiJobT `json:"jobs"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d/jobs", runsPath, runID), &jobs)
	code, out, _ = h.cli(cmdLogs, fmt.Sprintf("job:%d", jobs.Jobs[0].ID))
	if code != 0 || !strings.Contains(out, "after-sleep") {
		t.Errorf("logs job:ID: exit %d\n%s", code, out)
	}

	code, out, _ = h.cli(cmdRerun, run)
	if code != 0 || !strings.Contains(out, "run "+run+": attempt 2 of CI #1") { // the run keeps its id
		t.Errorf("rerun: exit %d\n%s", code, out)
	}
	// The run's latest attempt is running or done; attempt 1 is done.
	waitFor(t, "attempt 2 to finish", func() bool {
		var l struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &l)
		return len(l.Runs) == 1 && l.Runs[0].RunAttempt == 2 && l.Runs[0].Status == "completed"
	})
	code, _, errs = h.cli(cmdRerun, "--failed", run)
	if code != 1 || !strings.Contains(errs, "HTTP 409") {
		t.Errorf("rerun --failed of a run without failures: exit %d %s, want 1 and the 409", code, errs)
	}
	code, _, errs = h.cli(cmdCancel, run)
	if code != 1 || !strings.Contains(errs, "Cannot cancel a workflow run that is completed.") {
		t.Errorf("cancel of a finished run: exit %d %s", code, errs)
	}

	code, _, errs = h.cli(cmdDispatch, e2eRepo, "deploy.yml", "-f", "dry=false")
	if code != 1 || !strings.Contains(errs, "Required input 'target' not provided") || !strings.Contains(errs, "-f target=<string>  required") {
		t.Errorf("dispatch without the required input: exit %d %s", code, errs)
	}
	code, out, errs = h.cli(cmdDispatch, e2eRepo, "deploy.yml", "--ref", "main", "-f", "target=prod", "-f", "count=7")
	if code != 0 || !strings.Contains(out, "dispatched deploy.yml on main") {
		t.Fatalf("dispatch: exit %d %s %s", code, out, errs)
	}
	waitFor(t, "the dispatched run to finish", func() bool {
		code, out, _ := h.cli(cmdRuns, "--repo", e2eRepo, "--event", "workflow_dispatch", "--status", "success", "--json")
		return code == 0 && strings.Contains(out, `"total_count": 1`)
	})

	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600)
	t.Setenv("HOOKCI_API_TOKEN", "")
	code, _, errs = h.cli(cmdRuns)
	if code != 1 || !strings.Contains(errs, "HOOKCI_API_TOKEN") {
		t.Errorf("runs without a token: exit %d %s, want 1 and a hint", code, errs)
	}
	if code, _, errs = h.cli(cmdRuns, "--token-file", tokenFile); code != 0 {
		t.Errorf("runs --token-file: exit %d %s", code, errs)
	}

	for _, tc := range []struct {
		name string
		cmd  func(context.Context, []string, io.Writer, io.Writer) int
		args []string
	}{
		{"runs with an argument", cmdRuns, []string{"x"}},
		{"runs bad repo", cmdRuns, []string{"--repo", "nope"}},
		{"runs limit", cmdRuns, []string{"--limit", "500"}},
		{"logs without id", cmdLogs, nil},
		{"logs bad id", cmdLogs, []string{"abc"}},
		{"cancel bad kind", cmdCancel, []string{"step:3"}},
		{"rerun job --failed", cmdRerun, []string{"--failed", "job:3"}},
		{"dispatch one argument", cmdDispatch, []string{e2eRepo}},
		{"dispatch bad input", cmdDispatch, []string{e2eRepo, "deploy.yml", "-f", "novalue"}},
		{"bad server", cmdRuns, []string{"--server", "ftp://x"}},
	} {
		if code, _, _ := h.cli(tc.cmd, tc.args...); code != 2 {
			t.Errorf("%s: exit %d, want 2", tc.name, code)
		}
	}
}

var ansiCodes = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestTableColourAligned: coloured status cells keep the columns aligned
// once the colour codes are stripped (as a terminal shows them).
func TestTableColourAligned(t *testing.T) {
	p := painter(true)
	ok, bad, running := "success", "failure", ""
	var buf bytes.Buffer
	cliTable(&buf, []string{p.header("STATUS"), "ID"}, [][]string{
		{p.state("completed", &ok), "1"}, {p.state("completed", &bad), "22"}, {p.state("in_progress", &running), "333"},
		{p.state("weird", nil), "4"},
	})
	lines := strings.Split(strings.TrimSpace(ansiCodes.ReplaceAllString(buf.String(), "")), "\n")
	col := strings.Index(lines[0], "ID")
	for _, l := range lines[1:] {
		if i := strings.IndexAny(l, "1234"); i != col {
			t.Errorf("line %q: second column at %d, want %d", l, i, col)
		}
	}
	if !strings.Contains(buf.String(), "\x1b[32msuccess") || !strings.Contains(buf.String(), "\x1b[31mfailure") {
		t.Errorf("no colours on a terminal:\n%q", buf.String())
	}
}
