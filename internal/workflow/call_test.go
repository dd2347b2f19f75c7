package workflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/expr"
)

func TestParseCallRef(t *testing.T) {
	for _, tc := range []struct {
		uses string
		want CallRef
		err  string
	}{
		{uses: "./.github/workflows/build.yml", want: CallRef{Local: true, Path: ".github/workflows/build.yml"}},
		{uses: "./.github/workflows/b.yaml", want: CallRef{Local: true, Path: ".github/workflows/b.yaml"}},
		{uses: "octo/lib/.github/workflows/ci.yml@v1", want: CallRef{Repo: "octo/lib", Path: ".github/workflows/ci.yml", Ref: "v1"}},
		{uses: "octo/lib/.github/workflows/ci.yml@0123456789abcdef0123456789abcdef01234567",
			want: CallRef{Repo: "octo/lib", Path: ".github/workflows/ci.yml", Ref: "0123456789abcdef0123456789abcdef01234567"}},
		{uses: "./.github/workflows/build.yml@v1", err: "takes no @ref"},
		{uses: "./build.yml", err: "rooted in '.github/workflows'"},
		{uses: "./.github/workflows/sub/x.yml", err: "rooted in '.github/workflows'"},
		{uses: "./.github/workflows/x.txt", err: "rooted in '.github/workflows'"},
		{uses: "octo/lib/.github/workflows/ci.yml", err: "no version specified"},
		{uses: "octo/lib/ci.yml@v1", err: "rooted in '.github/workflows'"},
		{uses: "octo/.github/workflows/ci.yml@v1", err: "rooted in '.github/workflows'"},
		{uses: "octo/lib@v1", err: "expected {owner}/{repo}"},
		{uses: "../x/.github/workflows/ci.yml@v1", err: "expected {owner}/{repo}"},
		{uses: "octo/lib/.github/workflows/ci.yml@a..b", err: "invalid ref"},
	} {
		got, err := ParseCallRef(tc.uses)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error with %q", tc.uses, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v", tc.uses, got, err, tc.want)
		}
		if err == nil && got.String() != tc.uses {
			t.Errorf("%s: String() = %q", tc.uses, got.String())
		}
	}
}

const calledTyped = `on:
  workflow_call:
    inputs:
      s: {type: string, required: true}
      n: {type: number, required: true}
      b: {type: boolean, required: false}
      sd: {type: string, default: dflt}
      nd: {type: number, default: "${{ 1 }}"}
      bd: {type: boolean, default: true}
      nz: {type: number}
    secrets:
      key: {required: true}
      opt: {}
    outputs:
      out:
        value: ${{ jobs.build.outputs.o }}-${{ jobs.build.result }}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo
`

func loadTest(t *testing.T, file, src string) *Workflow {
	t.Helper()
	w, err := Load(file, []byte(src))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return w
}

func callerJob(t *testing.T, job string) *Job {
	t.Helper()
	w := loadTest(t, ".github/workflows/ci.yml", "on: push\njobs:\n"+job)
	return w.Jobs[0]
}

func testEnv() *expr.Env {
	return &expr.Env{Contexts: map[string]expr.Value{
		"github":  expr.FromGo(map[string]any{"event_name": "push"}),
		"matrix":  expr.FromGo(map[string]any{"v": "leg"}),
		"secrets": expr.FromGo(map[string]any{"DEPLOY": "d3ploy", "OTHER": "0ther"}),
	}}
}

// TestCallInputs: with: values typed as on.workflow_call.inputs declares
// them, defaults (also expressions) filled in, and GitHub's refusals with
// the caller's file:line:col.
func TestCallInputs(t *testing.T) {
	called := loadTest(t, ".github/workflows/called.yml", calledTyped)
	for _, tc := range []struct {
		name, with string
		want       string // JSON of the inputs context
		err        string
	}{
		{name: "literals and defaults", with: "      s: x\n      n: 2\n      b: true\n",
			want: `{"b":true,"bd":true,"n":2,"nd":1,"nz":0,"s":"x","sd":"dflt"}`},
		{name: "expressions keep their type", with: "      s: ${{ matrix.v }}-${{ 1 }}\n      n: ${{ 3 }}\n      b: ${{ github.event_name == 'push' }}\n      bd: false\n",
			want: `{"b":true,"bd":false,"n":3,"nd":1,"nz":0,"s":"leg-1","sd":"dflt"}`},
		{name: "a string input takes any scalar", with: "      s: 5\n      n: 1\n",
			want: `{"b":false,"bd":true,"n":1,"nd":1,"nz":0,"s":"5","sd":"dflt"}`},
		{name: "unknown input", with: "      s: x\n      n: 1\n      nope: 1\n",
			err: ".github/workflows/ci.yml:10:7: Invalid input, nope is not defined in the referenced workflow."},
		{name: "missing required", with: "      s: x\n",
			err: ".github/workflows/ci.yml:3:3: Input n is required, but not provided while calling."},
		{name: "literal of the wrong type", with: "      s: x\n      n: abc\n",
			err: ".github/workflows/ci.yml:9:7: Unexpected value for input n: expected a number, got string \"abc\""},
		{name: "boolean given a string", with: "      s: x\n      n: 1\n      b: 'true'\n",
			err: ".github/workflows/ci.yml:10:7: Unexpected value for input b: expected a boolean, got string \"true\""},
		{name: "evaluated to the wrong type", with: "      s: x\n      n: ${{ matrix.v }}\n",
			err: ".github/workflows/ci.yml:9:7: Unexpected value for input n: expected a number, got string \"leg\""},
		{name: "object for a string", with: "      s: ${{ github }}\n      n: 1\n",
			err: ".github/workflows/ci.yml:8:7: Unexpected value for input s: expected a string, got object"},
	} {
		job := callerJob(t, "  call:\n    uses: ./.github/workflows/called.yml\n    secrets:\n      key: k\n    with:\n"+tc.with)
		got, err := CallInputs(".github/workflows/ci.yml", job, called, testEnv())
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: got error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		b, _ := json.Marshal(got)
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: got %s %v, want %s", tc.name, b, err, tc.want)
		}
	}
}

// TestCallSecrets: inherit passes every secret; by name passes exactly the
// named ones (evaluated), so a secret not passed is not in the called
// workflow's secrets context; undeclared and missing required secrets are refused.
func TestCallSecrets(t *testing.T) {
	called := loadTest(t, ".github/workflows/called.yml", calledTyped)
	callerSecrets := map[string]string{"DEPLOY": "d3ploy", "OTHER": "0ther"}
	for _, tc := range []struct {
		name, secrets string
		want          string
		err           string
	}{
		{name: "inherit", secrets: "    secrets: inherit\n", want: `{"DEPLOY":"d3ploy","OTHER":"0ther"}`},
		{name: "by name", secrets: "    secrets:\n      key: ${{ secrets.DEPLOY }}\n", want: `{"key":"d3ploy"}`},
		{name: "by name, case of the declaration", secrets: "    secrets:\n      KEY: ${{ secrets.DEPLOY }}\n      opt: lit\n", want: `{"key":"d3ploy","opt":"lit"}`},
		{name: "undeclared", secrets: "    secrets:\n      key: a\n      DEPLOY: ${{ secrets.DEPLOY }}\n",
			err: ".github/workflows/ci.yml:10:7: Invalid secret, DEPLOY is not defined in the referenced workflow."},
		{name: "required missing", secrets: "    secrets:\n      opt: a\n",
			err: "Secret key is required, but not provided while calling."},
	} {
		job := callerJob(t, "  call:\n    uses: ./.github/workflows/called.yml\n    with:\n      s: x\n      n: 1\n"+tc.secrets)
		err := CheckCall(".github/workflows/ci.yml", job, called)
		var got map[string]string
		if err == nil {
			got, err = CallSecrets(".github/workflows/ci.yml", job, called, callerSecrets, testEnv())
		}
		if tc.err != "" {
			if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
				t.Errorf("%s: got error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		b, _ := json.Marshal(got)
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: got %s %v, want %s", tc.name, b, err, tc.want)
		}
	}
}

// TestCallOutputs: on.workflow_call.outputs evaluated with the jobs context.
func TestCallOutputs(t *testing.T) {
	called := loadTest(t, ".github/workflows/called.yml", calledTyped)
	env := &expr.Env{Contexts: map[string]expr.Value{
		"jobs": expr.FromGo(map[string]any{"build": map[string]any{"result": "success", "outputs": map[string]any{"o": "v1"}}}),
	}}
	got, err := CallOutputs(called, env)
	if err != nil || got["out"] != "v1-success" || len(got) != 1 {
		t.Errorf("got %v %v, want out=v1-success", got, err)
	}
	plain := loadTest(t, ".github/workflows/p.yml", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n")
	if _, err := CallOutputs(plain, env); err == nil || !strings.Contains(err.Error(), "missing a `on.workflow_call` trigger") {
		t.Errorf("a workflow without workflow_call: got %v", err)
	}
	job := callerJob(t, "  call:\n    uses: ./.github/workflows/p.yml\n")
	if err := CheckCall(".github/workflows/ci.yml", job, plain); err == nil || !strings.HasPrefix(err.Error(), ".github/workflows/ci.yml:4:11: workflow is not reusable") {
		t.Errorf("CheckCall of a workflow without workflow_call: got %v", err)
	}
}

// TestCallLimits pins GitHub's documented limits.
func TestCallLimits(t *testing.T) {
	if MaxCallDepth != 10 || MaxCalledWorkflows != 50 {
		t.Errorf("limits: depth %d, workflows %d; GitHub documents 10 levels (top-level included) and 50 unique workflows", MaxCallDepth, MaxCalledWorkflows)
	}
}
