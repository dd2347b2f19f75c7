package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAPIWorkflowEnableDisable: GitHub's "Disable a workflow" / "Enable a
// workflow" (PUT …/actions/workflows/{file}/disable|enable → 204) through a
// real server: a disabled workflow shows state disabled_manually and cannot
// be dispatched (GitHub's 422 message), enabling it again makes it
// dispatchable; an unknown file is 404 and the token is required.
func TestAPIWorkflowEnableDisable(t *testing.T) {
	h := newAPIHarness(t)
	sha := h.repo.Commit("workflows", map[string]string{".github/workflows/deploy.yml": deployWorkflow,
		".github/workflows/nightly.yml": "on:\n  schedule:\n    - cron: '0 3 * * *'\njobs:\n  n:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo nightly\n"})
	h.repo.Push("main")
	h.sendSigned("push", "d1", payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["repository"].(map[string]any)["default_branch"] = "main"
	}))
	base := "/api/repos/octo/hello/actions/workflows/"
	schedState := func() string {
		t.Helper()
		var list []struct{ Path, State string }
		h.apiJSON("/api/schedules", &list)
		if len(list) != 1 {
			return ""
		}
		return list[0].State
	}
	waitFor(t, "the push's schedule to be read", func() bool { return schedState() == "active" })
	if code, body, _ := h.api("PUT", base+"nightly.yml/disable", nil); code != http.StatusNoContent {
		t.Fatalf("disable nightly: %d %s, want 204", code, body)
	}
	if got := schedState(); got != "disabled_manually" {
		t.Errorf("/api/schedules state %q, want disabled_manually", got)
	}
	state := func() string {
		t.Helper()
		var w struct{ State string }
		h.apiJSON(base+"deploy.yml", &w)
		return w.State
	}
	if got := state(); got != "active" {
		t.Fatalf("state %q, want active", got)
	}
	if code, body, _ := h.api("PUT", base+"deploy.yml/disable", nil); code != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("disable: %d %s, want 204", code, body)
	}
	if got := state(); got != "disabled_manually" {
		t.Fatalf("state %q, want disabled_manually", got)
	}
	var list struct {
		Workflows []struct{ Path, State string } `json:"workflows"`
	}
	h.apiJSON(strings.TrimSuffix(base, "/"), &list)
	if len(list.Workflows) != 2 || list.Workflows[0].State != "disabled_manually" || list.Workflows[1].State != "disabled_manually" {
		t.Errorf("list: %+v, want deploy.yml and nightly.yml disabled_manually", list.Workflows)
	}
	code, body, _ := h.api("POST", base+"deploy.yml/dispatches", map[string]any{"ref": "main", "inputs": map[string]any{"target": "x"}})
	var m struct{ Message string }
	json.Unmarshal(body, &m)
	if code != http.StatusUnprocessableEntity || m.Message != "Cannot trigger a 'workflow_dispatch' on a disabled workflow" {
		t.Errorf("dispatch of a disabled workflow: %d %s, want 422 with GitHub's message", code, body)
	}
	if code, body, _ := h.api("PUT", base+"nope.yml/enable", nil); code != http.StatusNotFound {
		t.Errorf("enable of an unknown workflow: %d %s, want 404", code, body)
	}
	req, _ := http.NewRequest("PUT", h.url+base+"deploy.yml/enable", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("enable without the token: %d, want 401", resp.StatusCode)
	}
	if got := state(); got != "disabled_manually" {
		t.Fatalf("after the refused enable: state %q", got)
	}
	if code, body, _ := h.api("PUT", base+"deploy.yml/enable", nil); code != http.StatusNoContent {
		t.Fatalf("enable: %d %s, want 204", code, body)
	}
	if got := state(); got != "active" {
		t.Fatalf("state %q, want active", got)
	}
	if code, body, _ := h.api("POST", base+"deploy.yml/dispatches", map[string]any{"ref": "main", "inputs": map[string]any{"target": "x"}}); code != http.StatusNoContent {
		t.Errorf("dispatch after enable: %d %s, want 204", code, body)
	}

	// The same through the CLI (hookci workflow, as gh workflow).
	t.Setenv("HOOKCI_API_TOKEN", apiToken)
	if code, out, errs := h.cli(cmdWorkflow, "disable", "octo/hello", "deploy.yml"); code != exitOK || out != "disabled deploy.yml of octo/hello\n" {
		t.Errorf("hookci workflow disable: %d %q %q", code, out, errs)
	}
	code, out, errs := h.cli(cmdWorkflow, "list", "octo/hello")
	if code != exitOK || !strings.Contains(out, "STATE") || strings.Count(out, "disabled_manually") != 2 {
		t.Errorf("hookci workflow list: %d %q %q, want both disabled_manually", code, out, errs)
	}
	if code, out, errs := h.cli(cmdWorkflow, "enable", "octo/hello", ".github/workflows/deploy.yml"); code != exitOK || out != "enabled deploy.yml of octo/hello\n" {
		t.Errorf("hookci workflow enable: %d %q %q", code, out, errs)
	}
	if got := state(); got != "active" {
		t.Errorf("after the CLI's enable: state %q", got)
	}
	if code, _, errs := h.cli(cmdWorkflow, "enable", "octo/hello", "nope.yml"); code != exitFailed || !strings.Contains(errs, "HTTP 404") {
		t.Errorf("hookci workflow enable nope.yml: %d %q, want exit 1 naming 404", code, errs)
	}
	if code, _, _ := h.cli(cmdWorkflow, "enable", "octo/hello"); code != exitUsage {
		t.Errorf("hookci workflow enable without a workflow: exit %d, want %d", code, exitUsage)
	}
}
