package dispatch

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hookci/hookci/internal/workflow"
)

const inputsWorkflow = `on:
  workflow_dispatch:
    inputs:
      target: {type: string, required: true}
      dry: {type: boolean, default: true}
      count: {type: number}
      level: {type: choice, options: [low, high], default: low}
      env: {type: environment}
      note: {description: untyped}
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
`

// TestValidateInputs: the inputs a dispatch may give, in canonical form,
// and each refusal's status and GitHub message.
func TestValidateInputs(t *testing.T) {
	wf, err := workflow.Load("d.yml", []byte(inputsWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	decl := wf.Trigger("workflow_dispatch").Inputs
	many := map[string]any{}
	for i := range 26 {
		many[string(rune('a'+i))] = "x"
	}
	for _, tc := range []struct {
		name  string
		given map[string]any
		want  map[string]any
		code  int
		msg   string
	}{
		{"minimal", map[string]any{"target": "prod"}, map[string]any{"target": "prod", "dry": true, "level": "low"}, 0, ""},
		{"typed", map[string]any{"target": "p", "dry": false, "count": 3.5, "level": "high", "env": "staging", "note": "n"},
			map[string]any{"target": "p", "dry": false, "count": "3.5", "level": "high", "env": "staging", "note": "n"}, 0, ""},
		{"strings", map[string]any{"TARGET": "p", "dry": "true", "count": "-2"},
			map[string]any{"target": "p", "dry": true, "count": "-2", "level": "low"}, 0, ""},
		{"missing", map[string]any{}, nil, 422, "Required input 'target' not provided"},
		{"empty required", map[string]any{"target": ""}, nil, 422, "Required input 'target' not provided"},
		{"undeclared", map[string]any{"target": "p", "zeta": "1", "alpha": "2"}, nil, 422, `Unexpected inputs provided: ["alpha", "zeta"]`},
		{"boolean", map[string]any{"target": "p", "dry": "yes"}, nil, 422, "Provided value 'yes' for input 'dry' not in the list of allowed values"},
		{"empty boolean", map[string]any{"target": "p", "dry": ""}, nil, 422, "Provided value '' for input 'dry' not in the list of allowed values"},
		{"choice", map[string]any{"target": "p", "level": "LOW"}, nil, 422, "Provided value 'LOW' for input 'level' not in the list of allowed values"},
		{"number", map[string]any{"target": "p", "count": "3x"}, nil, 422, "Provided value '3x' for input 'count' is not a valid number"},
		{"object", map[string]any{"target": []any{"a"}}, nil, 422, "Provided value for input 'target' must be a string, number or boolean"},
		{"too many", many, nil, 422, "you may only provide up to 25 inputs, got 26"},
	} {
		got, err := validateInputs(decl, tc.given)
		var ce *ControlError
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		case tc.code == 0 && !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		case tc.code != 0 && (!errors.As(err, &ce) || ce.Code != tc.code || ce.Message != tc.msg):
			t.Errorf("%s: got %v, want %d %q", tc.name, err, tc.code, tc.msg)
		}
	}
}

func TestWorkflowPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"ci.yml", ".github/workflows/ci.yml", true},
		{"deploy.yaml", ".github/workflows/deploy.yaml", true},
		{".github/workflows/ci.yml", ".github/workflows/ci.yml", true},
		{"../ci.yml", "", false},
		{"sub/ci.yml", "", false},
		{"ci", "", false},
		{"", "", false},
		{`..\ci.yml`, "", false},
	} {
		got, ok := workflowPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("workflowPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
