package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

const deployWorkflow = `name: Deploy
on:
  workflow_dispatch:
    inputs:
      target:
        type: string
        required: true
      dry:
        type: boolean
        default: true
      count:
        type: number
        default: 1
      level:
        type: choice
        options: [low, high]
        default: low
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo '${{ toJSON(inputs) }}' | tr -d ' \n'; echo
          echo "dry is ${{ inputs.dry && 'truthy' || 'falsy' }}"
`

// TestAPIDispatch: a workflow_dispatch with inputs runs that workflow only,
// with inputs typed (a boolean false is falsy, a number is a number); every
// bad request is refused with GitHub's status and a message naming the
// input, and stores nothing.
func TestAPIDispatch(t *testing.T) {
	h := newAPIHarness(t)
	h.repo.Commit("workflows", map[string]string{
		".github/workflows/deploy.yml": deployWorkflow,
		".github/workflows/other.yml":  "on: workflow_dispatch\njobs:\n  o:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo other\n",
		".github/workflows/ci.yml":     "on: push\njobs:\n  c:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ci\n",
		// Outside .github/workflows: never a workflow, whatever the path says.
		"evil.yml": "on: workflow_dispatch\njobs:\n  e:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo escaped\n",
	})
	h.repo.Push("main")
	dispatches := "/api/repos/octo/hello/actions/workflows/deploy.yml/dispatches"

	// The workflows a "Run workflow" form is built from.
	var wfs struct {
		TotalCount int `json:"total_count"`
		Workflows  []struct {
			Name           string `json:"name"`
			Path           string `json:"path"`
			State          string `json:"state"`
			DispatchInputs []struct {
				Name     string   `json:"name"`
				Type     string   `json:"type"`
				Required bool     `json:"required"`
				Default  *string  `json:"default"`
				Options  []string `json:"options"`
			} `json:"dispatch_inputs"`
		} `json:"workflows"`
	}
	h.apiJSON("/api/repos/octo/hello/actions/workflows", &wfs)
	if wfs.TotalCount != 3 || len(wfs.Workflows) != 3 {
		t.Fatalf("workflows: %+v, want the three files of .github/workflows", wfs)
	}
	for _, w := range wfs.Workflows {
		switch w.Path {
		case ".github/workflows/deploy.yml":
			in := w.DispatchInputs
			if w.Name != "Deploy" || len(in) != 4 || in[0].Name != "target" || !in[0].Required || in[1].Type != "boolean" ||
				in[1].Default == nil || *in[1].Default != "true" || fmt.Sprint(in[3].Options) != "[low high]" {
				t.Errorf("deploy.yml: %+v", w)
			}
		case ".github/workflows/ci.yml":
			if w.DispatchInputs != nil {
				t.Errorf("ci.yml has no workflow_dispatch, got inputs %+v", w.DispatchInputs)
			}
		case ".github/workflows/other.yml":
			if w.DispatchInputs == nil || len(w.DispatchInputs) != 0 {
				t.Errorf("other.yml: dispatchable without inputs, got %+v", w.DispatchInputs)
			}
		default:
			t.Errorf("unexpected workflow %s", w.Path)
		}
	}
	var one struct{ Name, Path string }
	h.apiJSON("/api/repos/octo/hello/actions/workflows/deploy.yml?ref=main", &one)
	if one.Path != ".github/workflows/deploy.yml" {
		t.Errorf("GET workflows/deploy.yml: %+v", one)
	}
	for path, want := range map[string]int{"/api/repos/octo/hello/actions/workflows/nope.yml": 404,
		"/api/repos/octo/hello/actions/workflows?ref=nope": 422} {
		if code, body, _ := h.api("GET", path, nil); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	for _, tc := range []struct {
		name string
		path string
		body any
		code int
		want string
	}{
		{"missing required", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{}}, 422, "Required input 'target' not provided"},
		{"empty required", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": ""}}, 422, "Required input 'target' not provided"},
		{"undeclared", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "color": "red"}}, 422, `Unexpected inputs provided: ["color"]`},
		{"boolean", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "dry": "maybe"}}, 422, "Provided value 'maybe' for input 'dry' not in the list of allowed values"},
		{"choice", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "level": "mid"}}, 422, "Provided value 'mid' for input 'level' not in the list of allowed values"},
		{"number", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": "x", "count": "abc"}}, 422, "input 'count' is not a valid number"},
		{"object value", dispatches, map[string]any{"ref": "main", "inputs": map[string]any{"target": map[string]any{}}}, 422, "input 'target'"},
		{"no ref", dispatches, map[string]any{"inputs": map[string]any{"target": "x"}}, 422, `"ref" wasn't supplied`},
		{"unknown ref", dispatches, map[string]any{"ref": "nope", "inputs": map[string]any{"target": "x"}}, 422, "No ref found for: nope"},
		{"unknown workflow", "/api/repos/octo/hello/actions/workflows/nope.yml/dispatches", map[string]any{"ref": "main"}, 404, "Not Found"},
		{"no dispatch trigger", "/api/repos/octo/hello/actions/workflows/ci.yml/dispatches", map[string]any{"ref": "main"}, 422, "Workflow does not have 'workflow_dispatch' trigger"},
		{"bad JSON", dispatches, `{"ref": "main",`, 400, "Problems parsing JSON"},
		{"too many inputs", dispatches, map[string]any{"ref": "main", "inputs": manyInputs(26)}, 422, "up to 25 inputs"},
		{"path traversal", "/api/repos/octo/hello/actions/workflows/..%2F..%2Fevil.yml/dispatches", map[string]any{"ref": "main"}, 404, "Not Found"},
		{"full path traversal", "/api/repos/octo/hello/actions/workflows/.github%2Fworkflows%2F..%2F..%2Fevil.yml/dispatches", map[string]any{"ref": "main"}, 404, "Not Found"},
	} {
		code, body, _ := h.api("POST", tc.path, tc.body)
		var m struct{ Message string }
		json.Unmarshal(body, &m)
		if code != tc.code || !strings.Contains(m.Message, tc.want) {
			t.Errorf("%s: got %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// Without the token nothing is dispatched, cancelled or re-run.
	for _, path := range []string{dispatches, runsPath + "/1/cancel", runsPath + "/1/rerun", runsPath + "/1/rerun-failed-jobs",
		"/api/actions/runs/1/cancel", "/api/repos/octo/hello/actions/jobs/1/rerun"} {
		resp, err := http.Post(h.url+path, "application/json", strings.NewReader(`{"ref":"main","inputs":{"target":"x"}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without the token: %d, want 401", path, resp.StatusCode)
		}
	}
	for _, d := range h.deliveries() {
		if d["event"] == "workflow_dispatch" {
			t.Errorf("a refused dispatch stored a delivery: %v", d)
		}
	}

	code, body, _ := h.api("POST", dispatches, map[string]any{"ref": "main",
		"inputs": map[string]any{"target": "prod", "dry": false, "count": "3", "level": "high"}})
	if code != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("dispatch: %d %s, want 204 and no body", code, body)
	}
	var run apiRunT
	waitFor(t, "the dispatched run to complete", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?event=workflow_dispatch&status=completed", &list)
		if len(list.Runs) > 0 {
			run = list.Runs[0]
		}
		return len(list.Runs) > 0
	})
	var all struct {
		TotalCount int       `json:"total_count"`
		Runs       []apiRunT `json:"workflow_runs"`
	}
	h.apiJSON(runsPath+"?event=workflow_dispatch", &all)
	if all.TotalCount != 1 || run.Path != ".github/workflows/deploy.yml" || run.HeadBranch != "main" || concl(run.Conclusion) != "success" {
		t.Fatalf("dispatched runs: %+v (first %+v), want deploy.yml only, on main, success", all, run)
	}
	if run.Actor.Login == "" {
		t.Errorf("the dispatched run has no actor")
	}
	log := h.apiJobLog(h.apiJobs(run.ID)[0].ID)
	for _, want := range []string{`"target":"prod"`, `"dry":false`, `"count":3`, `"level":"high"`, "dry is falsy"} {
		if !strings.Contains(log, want) {
			t.Errorf("the job's inputs lack %s:\n%s", want, log)
		}
	}
}

func manyInputs(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("in%d", i)] = "x"
	}
	return m
}

// TestAttackDispatchOutsideAllowList: the API cannot start, list or re-run
// anything in a repository the server does not serve (the allow list that
// guards webhooks), even one its git credentials reach: 404 and nothing
// stored.
func TestAttackDispatchOutsideAllowList(t *testing.T) {
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: "host"}
	secret := gittest.New(t, gitRoot, "octo/secret")
	secret.Commit("wf", map[string]string{".github/workflows/run.yml": "on: workflow_dispatch\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ran\n"})
	secret.Push("main")
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.APIToken = apiToken
	h.cfg.Allow = []string{e2eRepo}
	h.start()
	t.Cleanup(func() { h.stop() })
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/repos/octo/secret/actions/workflows/run.yml/dispatches"},
		{"GET", "/api/repos/octo/secret/actions/workflows"},
		{"GET", "/api/repos/octo/secret/actions/workflows/run.yml"},
	} {
		code, body, _ := h.api(tc.method, tc.path, map[string]any{"ref": "main"})
		if code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", tc.method, tc.path, code, body)
		}
	}
	if ds := h.deliveries(); len(ds) != 0 {
		t.Errorf("deliveries stored: %v", ds)
	}
}
