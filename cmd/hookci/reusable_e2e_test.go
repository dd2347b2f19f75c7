package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// Reusable workflows end to end (issue 13 item 1): through the signed
// webhook, the real planner/dispatcher/runner (host sandbox), real git
// repositories (the caller's and a second one holding a remote reusable
// workflow at a tag) and the strict fake GitHub in App mode.

const reusableCaller = `name: CI
on: push
jobs:
  local:
    uses: ./.github/workflows/build.yml
    with:
      greeting: hello
      count: 3
      flag: ${{ github.event_name == 'push' }}
    secrets:
      token: ${{ secrets.DEPLOY_KEY }}
  inherit:
    uses: ./.github/workflows/show.yml
    with:
      label: inherit
    secrets: inherit
  notpassed:
    uses: ./.github/workflows/show.yml
    with:
      label: notpassed
  remote:
    strategy:
      max-parallel: 1
      matrix:
        leg: [a, b]
    uses: acme/shared/.github/workflows/lib.yml@v1
    with:
      leg: ${{ matrix.leg }}
  perms:
    permissions:
      contents: read
      statuses: write
    uses: ./.github/workflows/perms.yml
  after:
    needs: [local, remote]
    runs-on: ubuntu-latest
    steps:
      - run: echo "after local=${{ needs.local.outputs.message }} result=${{ needs.local.result }} remote=${{ needs.remote.outputs.leg }}"
`

const reusableBuild = `on:
  workflow_call:
    inputs:
      greeting: {type: string, required: true}
      count: {type: number, required: true}
      flag: {type: boolean, default: false}
      optional: {type: string, default: dflt}
    secrets:
      token: {required: true}
    outputs:
      message:
        value: ${{ jobs.build.outputs.msg }}
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      msg: ${{ steps.m.outputs.msg }}
    steps:
      - id: m
        run: |
          echo "inputs=${{ inputs.greeting }}/${{ inputs.count }}/${{ inputs.flag }}/${{ inputs.optional }} typed=${{ inputs.count == 3 && inputs.flag == true }}"
          echo "token-ok=${{ secrets.token == 's3cr3t-deploy-key' }} event=${{ github.event_name }}"
          echo "msg=${{ inputs.greeting }}-built" >> "$GITHUB_OUTPUT"
  later:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo "later sees ${{ needs.build.outputs.msg }}"
`

// reusableShow tries every way a called job could reach a secret its caller
// did not pass: by name, through the whole secrets context, and the env.
const reusableShow = `on:
  workflow_call:
    inputs:
      label: {type: string, required: true}
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - env:
          ALL: ${{ toJSON(secrets) }}
        run: |
          echo "label=${{ inputs.label }} has-key=${{ secrets.DEPLOY_KEY == 's3cr3t-deploy-key' }}"
          echo "all=$ALL" | tr -d '\n'; echo
          echo "envcount=$(env | grep -c s3cr3t-deploy-key)"
`

// reusablePerms: one job asks for more than its caller has, one asks nothing.
const reusablePerms = `on: workflow_call
jobs:
  asks:
    permissions:
      contents: write
      issues: write
    runs-on: ubuntu-latest
    steps:
      - run: echo asks
  inherits:
    runs-on: ubuntu-latest
    steps:
      - run: echo inherits
`

const reusableLib = `on:
  workflow_call:
    inputs:
      leg: {type: string, required: true}
    outputs:
      leg:
        value: ${{ jobs.run.outputs.leg }}
jobs:
  run:
    runs-on: ubuntu-latest
    outputs:
      leg: ${{ steps.s.outputs.leg }}
    steps:
      - id: s
        run: echo "leg=${{ inputs.leg }}" >> "$GITHUB_OUTPUT"
  nested:
    needs: run
    uses: ./.github/workflows/inner.yml
    with:
      from: ${{ needs.run.outputs.leg }}
`

// reusableInner is called by reusableLib with ./: from acme/shared, not
// from the caller's repository (which has no such file).
const reusableInner = `on:
  workflow_call:
    inputs:
      from: {type: string, required: true}
jobs:
  inner:
    runs-on: ubuntu-latest
    steps:
      - run: echo "inner of acme/shared from=${{ inputs.from }}"
`

type e2eRunView struct {
	ID         int64
	Status     string
	Conclusion string
	Message    string
	Jobs       []struct {
		ID         int64
		Name       string
		Conclusion string
		Message    string
		Steps      []struct{ Log string }
	}
}

func (h *harness) runView(id int64) e2eRunView {
	var v e2eRunView
	json.Unmarshal([]byte(h.get(fmt.Sprintf("/api/runs/%d", id))), &v)
	return v
}

// waitRuns waits until n runs exist and all are completed, and returns them.
func (h *harness) waitRuns(n int) []e2eRunView {
	var out []e2eRunView
	waitFor(h.t, fmt.Sprintf("%d completed runs", n), func() bool {
		var runs []struct {
			ID     int64
			Status string
		}
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		if len(runs) < n {
			return false
		}
		out = out[:0]
		for _, r := range runs {
			if r.Status != "completed" {
				return false
			}
			out = append(out, h.runView(r.ID))
		}
		return true
	})
	return out
}

func jobLog(v e2eRunView, name string) (string, bool) {
	for _, j := range v.Jobs {
		if j.Name == name {
			var b strings.Builder
			for _, s := range j.Steps {
				b.WriteString(s.Log)
			}
			return b.String(), true
		}
	}
	return "", false
}

// TestReusableWorkflows: a local and a remote (another real repository, at
// a tag) reusable workflow called with typed inputs, secrets by name and
// inherited, a matrix caller, outputs mapped to a later caller job, needs
// inside the called workflow, a ./ call nested in the remote workflow (read
// from that repository); check runs named "<workflow> / <caller> /
// <called>" with the caller's matrix values, and no check run for a caller.
// Attack: a called workflow whose caller passes no secret reads none — not by
// name, not through toJSON(secrets), not from its environment.
func TestReusableWorkflows(t *testing.T) {
	h := newAppHarness(t)
	shared := gittest.New(t, strings.TrimPrefix(h.cfg.GitURL, "file://"), "acme/shared")
	shared.Commit("lib", map[string]string{".github/workflows/lib.yml": reusableLib, ".github/workflows/inner.yml": reusableInner})
	shared.Git("tag", "v1")
	shared.Push("v1")
	sha := h.repo.Commit("reusable", map[string]string{
		".github/workflows/ci.yml":    reusableCaller,
		".github/workflows/build.yml": reusableBuild,
		".github/workflows/show.yml":  reusableShow,
		".github/workflows/perms.yml": reusablePerms,
	})
	h.repo.Push("main")
	h.sendSigned("push", "reusable-1", pushPayload(t, "0000000000000000000000000000000000000000", sha))
	runs := h.waitRuns(1)
	v := runs[0]
	if v.Conclusion != "success" {
		t.Errorf("run conclusion = %q (%s), want success; jobs: %+v", v.Conclusion, v.Message, v.Jobs)
	}
	want := map[string]string{
		"local / build": "inputs=hello/3/true/dflt typed=true",
		"local / later": "later sees hello-built",
		"after":         "after local=hello-built result=success remote=b",
		// a ./ call inside a remote workflow is read from that repository
		"remote (b) / nested / inner": "inner of acme/shared from=b",
	}
	for name, text := range want {
		log, ok := jobLog(v, name)
		if !ok {
			t.Errorf("no job %q", name)
			continue
		}
		if !strings.Contains(log, text) {
			t.Errorf("job %q: log lacks %q:\n%s", name, text, log)
		}
	}
	if log, _ := jobLog(v, "local / build"); !strings.Contains(log, "token-ok=true event=push") {
		t.Errorf("local / build: the secret passed by name did not arrive, or github.event_name is not the caller's:\n%s", log)
	}
	if log, _ := jobLog(v, "inherit / show"); !strings.Contains(log, "has-key=true") {
		t.Errorf("inherit / show: secrets: inherit did not pass DEPLOY_KEY:\n%s", log)
	}
	log, ok := jobLog(v, "notpassed / show")
	if !ok || !strings.Contains(log, "label=notpassed has-key=false") {
		t.Errorf("ATTACK: a called job whose caller passed no secret can read DEPLOY_KEY (or did not run):\n%s", log)
	}
	if strings.Contains(log, "s3cr3t") {
		t.Errorf("ATTACK: toJSON(secrets) in a called job shows a secret its caller did not pass:\n%s", log)
	}
	if !strings.Contains(log, "envcount=0") {
		t.Errorf("ATTACK: the environment of a called job holds a secret its caller did not pass:\n%s", log)
	}
	for _, leg := range []string{"a", "b"} {
		if log, ok := jobLog(v, "remote ("+leg+") / run"); !ok {
			t.Errorf("no job for the remote call's leg %s", leg)
		} else if strings.Contains(log, "error") {
			t.Errorf("remote (%s) / run: %s", leg, log)
		}
	}

	// The check runs are reported by the report queue after the run is
	// recorded complete: wait until every one has its conclusion.
	checks := func() []string {
		var names []string
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.HeadSHA == sha {
				names = append(names, c.Name+"="+c.Conclusion)
			}
		}
		sort.Strings(names)
		return names
	}
	var names []string
	waitFor(t, "every check run to be concluded", func() bool {
		names = checks()
		for _, n := range names {
			if strings.HasSuffix(n, "=") {
				return false
			}
		}
		return len(names) > 0
	})
	wantChecks := []string{
		"CI / after=success",
		"CI / inherit / show=success",
		"CI / local / build=success",
		"CI / local / later=success",
		"CI / notpassed / show=success",
		"CI / perms / asks=success",
		"CI / perms / inherits=success",
		"CI / remote (a) / nested / inner=success",
		"CI / remote (a) / run=success",
		"CI / remote (b) / nested / inner=success",
		"CI / remote (b) / run=success",
	}
	if strings.Join(names, "\n") != strings.Join(wantChecks, "\n") {
		t.Errorf("check runs:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantChecks, "\n"))
	}

	// Permissions: a called job can only reduce its caller's (asks: contents
	// write and issues write under a caller with contents read → contents
	// read, no issues); one that sets none gets the caller's.
	var perms []string
	for _, m := range h.gh.MintedTokens() {
		if len(m.Repositories) == 1 {
			keys := make([]string, 0, len(m.Permissions))
			for k, v := range m.Permissions {
				keys = append(keys, k+":"+v)
			}
			sort.Strings(keys)
			perms = append(perms, strings.Join(keys, ","))
		}
	}
	for _, want := range []string{"contents:read,metadata:read", "contents:read,metadata:read,statuses:write"} {
		found := false
		for _, p := range perms {
			found = found || p == want
		}
		if !found {
			t.Errorf("no job token with %s; tokens: %v", want, perms)
		}
	}
	for _, p := range perms {
		if strings.Contains(p, "issues") || strings.Contains(p, "contents:write") {
			t.Errorf("ATTACK: a called job got more than its caller's permissions: %s", p)
		}
	}
}

// TestReusableWorkflowRefusals: calls GitHub refuses fail the run with its
// message (file:line:col where the caller's file has one), and nothing runs:
// nesting one level over GitHub's ten (while exactly ten runs), a cycle, an
// undeclared input, a missing required input or secret, a literal of the
// wrong type, a workflow without on.workflow_call; a value that only has the
// wrong type once evaluated fails the calling job with the reason; 51 unique
// called workflows (one over GitHub's 50) are refused.
func TestReusableWorkflowRefusals(t *testing.T) {
	h := newHarness(t, "host")
	files := map[string]string{}
	// chainN calls chainN+1; chain10 runs a step.
	for i := 1; i < 10; i++ {
		files[fmt.Sprintf(".github/workflows/chain%d.yml", i)] = fmt.Sprintf(
			"on: workflow_call\njobs:\n  next:\n    uses: ./.github/workflows/chain%d.yml\n", i+1)
	}
	files[".github/workflows/chain10.yml"] = "on: workflow_call\njobs:\n  leaf:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo deepest\n"
	files[".github/workflows/cyc1.yml"] = "on: workflow_call\njobs:\n  c:\n    uses: ./.github/workflows/cyc2.yml\n"
	files[".github/workflows/cyc2.yml"] = "on: workflow_call\njobs:\n  c:\n    uses: ./.github/workflows/cyc1.yml\n"
	files[".github/workflows/typed.yml"] = `on:
  workflow_call:
    inputs:
      n: {type: number, required: true}
    secrets:
      key: {required: true}
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo n=${{ inputs.n }}
`
	files[".github/workflows/plain.yml"] = "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo plain\n"
	caller := func(name, job string) string {
		return "name: " + name + "\non: push\njobs:\n" + job
	}
	files[".github/workflows/deep-ok.yml"] = caller("deep-ok", "  top:\n    uses: ./.github/workflows/chain2.yml\n")
	files[".github/workflows/deep-bad.yml"] = caller("deep-bad", "  top:\n    uses: ./.github/workflows/chain1.yml\n")
	files[".github/workflows/cycle.yml"] = caller("cycle", "  top:\n    uses: ./.github/workflows/cyc1.yml\n")
	files[".github/workflows/unknown.yml"] = caller("unknown", "  top:\n    uses: ./.github/workflows/typed.yml\n    with:\n      n: 1\n      bogus: x\n    secrets:\n      key: k\n")
	files[".github/workflows/missing.yml"] = caller("missing", "  top:\n    uses: ./.github/workflows/typed.yml\n    secrets:\n      key: k\n")
	files[".github/workflows/nosecret.yml"] = caller("nosecret", "  top:\n    uses: ./.github/workflows/typed.yml\n    with:\n      n: 1\n")
	files[".github/workflows/wrongtype.yml"] = caller("wrongtype", "  top:\n    uses: ./.github/workflows/typed.yml\n    with:\n      n: abc\n    secrets:\n      key: k\n")
	files[".github/workflows/evaltype.yml"] = caller("evaltype", "  top:\n    uses: ./.github/workflows/typed.yml\n    with:\n      n: ${{ github.sha }}\n    secrets:\n      key: k\n")
	files[".github/workflows/notreusable.yml"] = caller("notreusable", "  top:\n    uses: ./.github/workflows/plain.yml\n")
	// 51 unique called workflows: one over GitHub's 50.
	var many strings.Builder
	for i := 1; i <= 51; i++ {
		files[fmt.Sprintf(".github/workflows/u%d.yml", i)] = "on: workflow_call\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo u\n"
		fmt.Fprintf(&many, "  c%d:\n    uses: ./.github/workflows/u%d.yml\n", i, i)
	}
	files[".github/workflows/many.yml"] = caller("many", many.String())
	sha := h.repo.Commit("refusals", files)
	h.repo.Push("main")
	h.sendSigned("push", "reusable-refusals", pushPayload(t, "0000000000000000000000000000000000000000", sha))
	runs := h.waitRuns(11)
	byName := map[string]e2eRunView{}
	for _, r := range runs {
		var full struct{ WorkflowFile string }
		json.Unmarshal([]byte(h.get(fmt.Sprintf("/api/runs/%d", r.ID))), &full)
		byName[strings.TrimSuffix(strings.TrimPrefix(full.WorkflowFile, ".github/workflows/"), ".yml")] = r
	}
	for _, tc := range []struct{ name, conclusion, msg string }{
		{"deep-ok", "success", ""},
		{"deep-bad", "failure", `error parsing called workflow ".github/workflows/chain9.yml" -> "./.github/workflows/chain10.yml": job "next" calls workflow "./.github/workflows/chain10.yml", but doing so would exceed the limit on called workflow depth of 10`},
		{"cycle", "failure", "a cycle of reusable workflows"},
		{"unknown", "failure", ".github/workflows/unknown.yml:8:7: Invalid input, bogus is not defined in the referenced workflow."},
		{"missing", "failure", ".github/workflows/missing.yml:4:3: Input n is required, but not provided while calling."},
		{"nosecret", "failure", ".github/workflows/nosecret.yml:4:3: Secret key is required, but not provided while calling."},
		{"wrongtype", "failure", ".github/workflows/wrongtype.yml:7:7: Unexpected value for input n: expected a number, got string \"abc\""},
		{"evaltype", "failure", ".github/workflows/evaltype.yml:7:7: Unexpected value for input n: expected a number, got string \"" + sha[:40]},
		{"notreusable", "failure", "workflow is not reusable as it is missing a `on.workflow_call` trigger"},
		{"plain", "success", ""},
		{"many", "failure", `job "c51" calls workflow "./.github/workflows/u51.yml", but doing so would exceed the limit on called workflows of 50`},
	} {
		r, ok := byName[tc.name]
		if !ok {
			t.Errorf("%s: no run", tc.name)
			continue
		}
		if r.Conclusion != tc.conclusion || !strings.Contains(r.Message, tc.msg) {
			t.Errorf("%s: got %s %q, want %s with %q", tc.name, r.Conclusion, r.Message, tc.conclusion, tc.msg)
		}
		if tc.conclusion == "failure" && tc.name != "evaltype" && len(r.Jobs) != 0 {
			t.Errorf("%s: a refused call tree ran %d job(s)", tc.name, len(r.Jobs))
		}
	}
	if log, _ := jobLog(byName["deep-ok"], "top / next / next / next / next / next / next / next / next / leaf"); !strings.Contains(log, "deepest") {
		t.Errorf("deep-ok: the tenth level did not run: %+v", byName["deep-ok"].Jobs)
	}
}
