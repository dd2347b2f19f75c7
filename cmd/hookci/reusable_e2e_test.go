package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/github/githubtest"
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

	var names []string
	for _, c := range h.gh.CheckRuns(e2eRepo) {
		if c.HeadSHA == sha {
			names = append(names, c.Name+"="+c.Conclusion)
		}
	}
	sort.Strings(names)
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

// TestAttackReusableWorkflowPrivateRepo: the git server is a real
// smart-HTTP server where every repository of the owner is private and
// readable with the server's token. A workflow calling a reusable workflow
// of another private repository does not get it through the server's
// credential: the run fails saying the workflow cannot be read, the called
// job never runs, and the server's token never reaches the git server for
// that repository (it does for the run's own repository: planning).
func TestAttackReusableWorkflowPrivateRepo(t *testing.T) {
	h := newHarness(t, "host")
	h.stop()
	gitRoot := strings.TrimPrefix(h.cfg.GitURL, "file://")
	srv := gittest.NewHTTPServer(t, gitRoot)
	for _, r := range []string{e2eRepo, "octo/private-lib"} {
		srv.Private(r, e2eToken)
	}
	h.cfg.GitURL = srv.URL
	h.start()
	lib := gittest.New(t, gitRoot, "octo/private-lib")
	lib.Commit("lib", map[string]string{".github/workflows/lib.yml": "on: workflow_call\njobs:\n  steal:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo PRIVATE-LIB-RAN-5e1f\n"})
	lib.Push("HEAD:refs/tags/v1")
	sha := h.repo.Commit("call private", map[string]string{".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  call:\n    uses: octo/private-lib/.github/workflows/lib.yml@v1\n"})
	h.repo.Push("main")
	h.sendSigned("push", "private-call", pushPayload(t, strings.Repeat("0", 40), sha))
	runs := h.waitRuns(1)
	v := runs[0]
	if v.Conclusion != "failure" || !strings.Contains(v.Message, `"octo/private-lib/.github/workflows/lib.yml@v1"`) ||
		!strings.Contains(v.Message, "cannot be read without a credential") {
		t.Errorf("run: %s %q, want failure naming the call and why", v.Conclusion, v.Message)
	}
	if strings.Contains(h.get(fmt.Sprintf("/runs/%d", v.ID)), "PRIVATE-LIB-RAN-5e1f") || len(v.Jobs) != 0 {
		t.Errorf("ATTACK: the private reusable workflow ran: %+v", v.Jobs)
	}
	reqs := srv.Requests("octo/private-lib")
	if len(reqs) == 0 {
		t.Fatal("hookci never asked the git server for octo/private-lib: the attack was not tried")
	}
	for _, r := range reqs {
		if r.HasAuth {
			t.Errorf("ATTACK: a fetch of another repository's reusable workflow presented a credential (server's token: %v)", r.Password == e2eToken)
		}
	}
	if got := srv.Passwords(e2eRepo); len(got) == 0 || got[0] != e2eToken {
		t.Errorf("planning fetched %s with %q, want the server's token (the git server is really private)", e2eRepo, got)
	}
}

// TestReusableCallerFailFast: a matrix caller whose first leg's called job
// fails cancels the leg held back by max-parallel (fail-fast), and the
// failure reaches the run and a dependant's needs.<caller>.result.
func TestReusableCallerFailFast(t *testing.T) {
	h := newHarness(t, "host")
	sha := h.repo.Commit("fail-fast", map[string]string{
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  call:
    strategy:
      max-parallel: 1
      matrix:
        what: [bad, good]
    uses: ./.github/workflows/may-fail.yml
    with:
      what: ${{ matrix.what }}
  report:
    needs: call
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "call result=${{ needs.call.result }}"
`,
		".github/workflows/may-fail.yml": "on:\n  workflow_call:\n    inputs:\n      what: {type: string, required: true}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: '[ \"${{ inputs.what }}\" = good ]'\n",
	})
	h.repo.Push("main")
	h.sendSigned("push", "reusable-ff", pushPayload(t, strings.Repeat("0", 40), sha))
	v := h.waitRuns(1)[0]
	if v.Conclusion != "failure" {
		t.Errorf("run conclusion = %s, want failure", v.Conclusion)
	}
	got := map[string]string{}
	for _, j := range v.Jobs {
		got[j.Name] = j.Conclusion
	}
	if got["call (bad) / j"] != "failure" {
		t.Errorf("call (bad) / j = %q, want failure; jobs %v", got["call (bad) / j"], got)
	}
	if _, ran := got["call (good) / j"]; ran {
		t.Errorf("the held leg ran although fail-fast should have cancelled it: %v", got)
	}
	if got["call (good)"] != "cancelled" {
		t.Errorf("held caller leg = %q, want cancelled; jobs %v", got["call (good)"], got)
	}
	if log, _ := jobLog(v, "report"); !strings.Contains(log, "call result=failure") {
		t.Errorf("report: %s", log)
	}
}

// TestReusableCalledJobRerun: a called job re-run from its check run (App
// mode, check_run rerequested) reopens its caller leg, whose result — and
// the run's — follow the new attempt.
func TestReusableCalledJobRerun(t *testing.T) {
	h := newAppHarness(t)
	marker := filepath.Join(t.TempDir(), "attempted")
	sha := h.repo.Commit("rerun", map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  call:\n    uses: ./.github/workflows/flaky.yml\n",
		".github/workflows/flaky.yml": "on: workflow_call\njobs:\n  flaky:\n    runs-on: ubuntu-latest\n    steps:\n" +
			"      - run: if [ ! -f " + marker + " ]; then touch " + marker + "; exit 1; fi\n",
	})
	h.repo.Push("main")
	body := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("push", "reusable-rerun", body)
	if v := h.waitRuns(1)[0]; v.Conclusion != "failure" {
		t.Fatalf("first attempt: run %s, want failure", v.Conclusion)
	}
	var first githubtest.CheckRun
	waitFor(t, "the called job's check run", func() bool {
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.Name == "CI / call / flaky" && c.Status == "completed" {
				first = c
				return true
			}
		}
		return false
	})
	rerun := payload(t, "check_run", "rerequested.payload.json", func(p map[string]any) {
		cr := p["check_run"].(map[string]any)
		cr["external_id"], cr["head_sha"], cr["id"] = first.ExternalID, sha, first.ID
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("check_run", "reusable-rerun-2", rerun)
	var runs []struct {
		ID                 int64
		Status, Conclusion string
	}
	defer func() {
		if t.Failed() && len(runs) > 0 {
			t.Logf("run: %s\ndeliveries: %s", h.get(fmt.Sprintf("/api/runs/%d", runs[0].ID)), h.get("/api/deliveries"))
		}
	}()
	waitFor(t, "the re-run to succeed", func() bool {
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		return len(runs) == 1 && runs[0].Status == "completed" && runs[0].Conclusion == "success"
	})
	v := h.runView(runs[0].ID)
	for _, j := range v.Jobs {
		if j.Conclusion != "success" {
			t.Errorf("after the re-run: %s is %s", j.Name, j.Conclusion)
		}
	}
}

// TestReusableFailFastCancelsCalledJobs: a matrix caller's leg whose called
// job fails cancels what the other leg already called (fail-fast), running
// or not: the other leg's job waits for a file nobody creates, so the run
// ends only if it is cancelled.
func TestReusableFailFastCancelsCalledJobs(t *testing.T) {
	h := newHarness(t, "host")
	never := filepath.Join(t.TempDir(), "never")
	sha := h.repo.Commit("ff-running", map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  call:\n    strategy:\n      matrix:\n        what: [bad, wait]\n" +
			"    uses: ./.github/workflows/w.yml\n    with:\n      what: ${{ matrix.what }}\n",
		".github/workflows/w.yml": "on:\n  workflow_call:\n    inputs:\n      what: {type: string, required: true}\njobs:\n" +
			"  first:\n    runs-on: ubuntu-latest\n    steps:\n" +
			"      - run: if [ \"${{ inputs.what }}\" = bad ]; then exit 1; fi; while [ ! -f " + never + " ]; do sleep 0.2; done\n" +
			"  second:\n    needs: first\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo second\n",
	})
	h.repo.Push("main")
	h.sendSigned("push", "reusable-ff-running", pushPayload(t, strings.Repeat("0", 40), sha))
	v := h.waitRuns(1)[0]
	got := map[string]string{}
	for _, j := range v.Jobs {
		got[j.Name] = j.Conclusion
	}
	want := map[string]string{"call (bad)": "failure", "call (bad) / first": "failure", "call (bad) / second": "skipped",
		"call (wait)": "cancelled", "call (wait) / first": "cancelled", "call (wait) / second": "cancelled"}
	for name, c := range want {
		if got[name] != c {
			t.Errorf("%s = %q, want %s (jobs %v)", name, got[name], c, got)
		}
	}
	if v.Conclusion != "failure" {
		t.Errorf("run = %s, want failure", v.Conclusion)
	}
}

// TestReusableCancelInProgress: a calling job's concurrency group with
// cancel-in-progress cancels the jobs an older run's caller leg called when
// a newer run's leg enters the group. The older called job waits for a file
// nobody creates: its run ends only if it is cancelled.
func TestReusableCancelInProgress(t *testing.T) {
	h := newHarness(t, "host")
	never := filepath.Join(t.TempDir(), "never")
	files := map[string]string{
		".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  deploy:\n    concurrency:\n      group: deploy\n      cancel-in-progress: true\n" +
			"    uses: ./.github/workflows/d.yml\n",
		".github/workflows/d.yml": "on: workflow_call\njobs:\n  run:\n    runs-on: ubuntu-latest\n    steps:\n" +
			"      - run: if [ -f wait.txt ]; then while [ ! -f " + never + " ]; do sleep 0.2; done; fi\n",
		"wait.txt": "the first run waits",
	}
	first := h.repo.Commit("first", files)
	h.repo.Push("main")
	h.sendSigned("push", "cip-1", pushPayload(t, strings.Repeat("0", 40), first))
	waitFor(t, "the first run's called job to start", func() bool {
		v := h.runView(1)
		for _, j := range v.Jobs {
			if j.Name == "deploy / run" && j.Conclusion == "" && strings.Contains(h.get("/api/runs/1"), `"in_progress"`) {
				return true
			}
		}
		return false
	})
	second := h.repo.Commit("second", map[string]string{"wait.txt": ""}) // deletes it
	h.repo.Push("main")
	h.sendSigned("push", "cip-2", pushPayload(t, first, second))
	runs := h.waitRuns(2)
	byID := map[int64]e2eRunView{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	if c := byID[1].Conclusion; c != "cancelled" {
		t.Errorf("first run = %s, want cancelled; jobs %+v", c, byID[1].Jobs)
	}
	if c := byID[2].Conclusion; c != "success" {
		t.Errorf("second run = %s, want success; jobs %+v", c, byID[2].Jobs)
	}
}
