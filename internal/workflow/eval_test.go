package workflow

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hookci/hookci/internal/expr"
)

// evalEnv is an environment with inputs, vars and a matrix leg.
func evalEnv(t *testing.T) *expr.Env {
	t.Helper()
	v, err := expr.FromJSON([]byte(`{
		"inputs": {"oses": "[\"ubuntu\",\"macos\"]", "os": "ubuntu", "cancel": true, "obj": {"k": "v"}},
		"vars": {"GROUP": "deploy", "LIST": ["a", "b"]},
		"matrix": {"node": 18}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	env := &expr.Env{Contexts: map[string]expr.Value{}}
	v.Object().Range(func(k string, x expr.Value) bool { env.Contexts[k] = x; return true })
	return env
}

// jobOf loads a workflow whose only job has the given keys (indented by 4).
func jobOf(t *testing.T, keys string) *Job {
	t.Helper()
	src := "on: push\njobs:\n  a:\n" + keys + "    steps:\n      - run: echo\n"
	w, err := Load("w.yml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, src)
	}
	return w.Jobs[0]
}

func TestEvalTree(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    any
		wantErr string
	}{
		{"plain scalar", "ubuntu", "ubuntu", ""},
		{"number untouched", 3.0, 3.0, ""},
		{"interpolated", "os-${{ inputs.os }}", "os-ubuntu", ""},
		{"whole expression keeps its type", "${{ matrix.node }}", 18.0, ""},
		{"whole expression object", "${{ inputs.obj }}", []KV{{Key: "k", Value: "v"}}, ""},
		{"fromJSON array", "${{ fromJSON(inputs.oses) }}", []any{"ubuntu", "macos"}, ""},
		{"key interpolated", []KV{{Key: "${{ inputs.os }}-x", Value: "y"}}, []KV{{Key: "ubuntu-x", Value: "y"}}, ""},
		{"insert merges an object", []KV{{Key: "a", Value: 1.0}, {Key: "${{ insert }}", Value: "${{ inputs.obj }}"}},
			[]KV{{Key: "a", Value: 1.0}, {Key: "k", Value: "v"}}, ""},
		{"insert needs an object", []KV{{Key: "${{ insert }}", Value: "x"}}, nil, "${{ insert }} needs an object"},
		{"whole-expression item spliced", []any{"z", "${{ vars.LIST }}"}, []any{"z", "a", "b"}, ""},
		{"mixed item not spliced", []any{"x ${{ vars.LIST }}"}, []any{"x [\n  \"a\",\n  \"b\"\n]"}, ""},
		{"evaluation error", "${{ nosuch.x }}", nil, "nosuch"},
	}
	env := evalEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvalTree(tt.in, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EvalTree error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EvalTree: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("EvalTree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvalMatrix(t *testing.T) {
	tests := []struct {
		name, keys string
		want       []string // Combination.JSON of each leg
		wantErr    string
	}{
		{"no strategy", "    runs-on: x\n", []string{""}, ""},
		{"strategy without matrix", "    runs-on: x\n    strategy:\n      fail-fast: false\n", []string{""}, ""},
		{"literal", "    runs-on: x\n    strategy:\n      matrix:\n        os: [a, b]\n", []string{`{"os":"a"}`, `{"os":"b"}`}, ""},
		{"vector from an expression", "    runs-on: x\n    strategy:\n      matrix:\n        os: ${{ fromJSON(inputs.oses) }}\n        n: [1]\n",
			[]string{`{"os":"ubuntu","n":1}`, `{"os":"macos","n":1}`}, ""},
		{"whole matrix from an expression", "    runs-on: x\n    strategy:\n      matrix: ${{ fromJSON('{\"v\":[1,2]}') }}\n",
			[]string{`{"v":1}`, `{"v":2}`}, ""},
		{"not an object", "    runs-on: x\n    strategy:\n      matrix: ${{ inputs.os }}\n", nil, "matrix must be an object"},
		{"evaluation error", "    runs-on: x\n    strategy:\n      matrix:\n        os: ${{ fromJSON('[') }}\n", nil, "invalid JSON"},
	}
	env := evalEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			legs, err := jobOf(t, tt.keys).EvalMatrix(env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EvalMatrix error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EvalMatrix: %v", err)
			}
			var got []string
			for _, l := range legs {
				got = append(got, l.JSON())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("legs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunsOnEval(t *testing.T) {
	tests := []struct {
		name, keys string
		want       []string
		wantErr    bool
	}{
		{"label", "    runs-on: ubuntu-latest\n", []string{"ubuntu-latest"}, false},
		{"labels interpolated", "    runs-on: [self-hosted, '${{ inputs.os }}-big']\n", []string{"self-hosted", "ubuntu-big"}, false},
		{"whole expression string", "    runs-on: ${{ inputs.os }}\n", []string{"ubuntu"}, false},
		{"whole expression array", "    runs-on: ${{ vars.LIST }}\n", []string{"a", "b"}, false},
		{"group only", "    runs-on:\n      group: big\n", []string{"big"}, false},
		{"group with labels", "    runs-on:\n      group: big\n      labels: [l1]\n", []string{"l1"}, false},
		{"error", "    runs-on: ${{ fromJSON('[') }}\n", nil, true},
	}
	env := evalEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jobOf(t, tt.keys).RunsOn.Eval(env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RunsOn.Eval error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RunsOn.Eval (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConcurrencyEval(t *testing.T) {
	tests := []struct {
		name    string
		c       *Concurrency
		group   string
		cip     bool
		wantErr string
	}{
		{"nil", nil, "", false, ""},
		{"empty group", &Concurrency{Group: "  ", CancelInProgress: "true"}, "", false, ""},
		{"group interpolated", &Concurrency{Group: "${{ vars.GROUP }}-${{ inputs.os }}"}, "deploy-ubuntu", false, ""},
		{"cancel literal", &Concurrency{Group: "g", CancelInProgress: "true"}, "g", true, ""},
		{"cancel false", &Concurrency{Group: "g", CancelInProgress: "false"}, "g", false, ""},
		{"cancel expression", &Concurrency{Group: "g", CancelInProgress: "${{ inputs.cancel }}"}, "g", true, ""},
		{"cancel expression yielding 'false'", &Concurrency{Group: "g", CancelInProgress: "${{ 'false' }}"}, "g", false, ""},
		{"group error", &Concurrency{Group: "${{ nosuch.x }}"}, "", false, "concurrency.group: "},
		{"cancel error", &Concurrency{Group: "g", CancelInProgress: "${{ nosuch.x }}"}, "", false, "concurrency.cancel-in-progress: "},
	}
	env := evalEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group, cip, err := tt.c.Eval(env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Concurrency.Eval error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Concurrency.Eval: %v", err)
			}
			if group != tt.group || cip != tt.cip {
				t.Errorf("Concurrency.Eval = %q, %v, want %q, %v", group, cip, tt.group, tt.cip)
			}
		})
	}
}

func TestCombinationJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    Combination
		json string
	}{
		{"none", nil, ""},
		{"scalars in order", Combination{{Key: "z", Value: "a"}, {Key: "a", Value: 2.0}, {Key: "b", Value: true}, {Key: "n", Value: nil}},
			`{"z":"a","a":2,"b":true,"n":null}`},
		{"nested objects keep their order", Combination{{Key: "cfg", Value: []KV{{Key: "y", Value: 1.0}, {Key: "x", Value: []any{"p", []KV{{Key: "q", Value: "r"}}}}}}},
			`{"cfg":{"y":1,"x":["p",{"q":"r"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.JSON(); got != tt.json {
				t.Fatalf("JSON() = %s, want %s", got, tt.json)
			}
			back, err := ParseCombination(tt.json)
			if err != nil {
				t.Fatalf("ParseCombination: %v", err)
			}
			if diff := cmp.Diff(tt.c, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ParseCombination("{"); err == nil {
		t.Error("ParseCombination(\"{\") = nil error, want one")
	}
}

func TestCombinationContext(t *testing.T) {
	c := Combination{{Key: "os", Value: "ubuntu"}, {Key: "cfg", Value: []KV{{Key: "v", Value: []any{1.0, "x"}}}}}
	got := expr.ToJSON(expr.ObjectValue(c.Context()))
	want := "{\n  \"os\": \"ubuntu\",\n  \"cfg\": {\n    \"v\": [\n      1,\n      \"x\"\n    ]\n  }\n}"
	if got != want {
		t.Errorf("Context() = %s, want %s", got, want)
	}
	if n := Combination(nil).Context().Len(); n != 0 {
		t.Errorf("nil leg Context has %d keys, want 0", n)
	}
}
