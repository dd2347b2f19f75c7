package actions

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name, src, err string
	}{
		{"composite ok", "name: x\ninputs:\n  a:\n    required: true\n    default: ${{ github.token }}\nruns:\n  using: composite\n  steps:\n    - run: echo\n      shell: bash\n", ""},
		{"node ok", "runs:\n  using: node20\n  main: index.js\n  post: post.js\n  post-if: success()\n", ""},
		{"docker ok", "runs:\n  using: docker\n  image: Dockerfile\n  args: [a, b]\n", ""},
		{"no runs", "name: x\n", "x.yml:1: 'runs' is required"},
		{"no using", "runs:\n  main: a.js\n", "x.yml:2: 'runs.using' is required"},
		{"bad using", "runs:\n  using: node8\n  main: a.js\n", `'runs.using' is "node8"`},
		{"node no main", "runs:\n  using: node20\n", "'runs.main' is required"},
		{"no steps", "runs:\n  using: composite\n", "x.yml:2: composite action: 'runs.steps' is required"},
		{"no shell", "runs:\n  using: composite\n  steps:\n    - name: a\n      run: echo\n", "x.yml:4: a composite 'run' step requires 'shell'"},
		{"empty step", "runs:\n  using: composite\n  steps:\n    - name: Foo\n", "x.yml:4: a composite step needs 'run' or 'uses'"},
		{"unknown key", "runs:\n  using: composite\n  steps:\n    - run: a\n      shell: sh\n      bogus: 1\n", `x.yml:6: unknown step key "bogus"`},
		{"bad yaml", "runs: [\n", "x.yml: invalid YAML"},
		{"bad required", "inputs:\n  a:\n    required: maybe\nruns:\n  using: node20\n  main: a.js\n", `x.yml:3: expected a boolean, got "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata("x.yml", []byte(tt.src))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestParseMetadataFields(t *testing.T) {
	m, err := ParseMetadata("a.yml", []byte(`name: n
inputs:
  who:
    description: d
    default: World
    deprecationMessage: old
outputs:
  o:
    value: ${{ steps.s.outputs.o }}
runs:
  using: node20
  pre: pre.js
  pre-if: runner.os == 'Linux'
  main: main.js
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Metadata{File: "a.yml", Name: "n",
		Inputs:  []Input{{Name: "who", Description: "d", Default: "World", HasDefault: true, DeprecationMessage: "old"}},
		Outputs: []Output{{Name: "o", Value: "${{ steps.s.outputs.o }}"}},
		Runs:    Runs{Using: "node20", Pre: "pre.js", PreIf: "runner.os == 'Linux'", Main: "main.js"}}
	m.Raw = nil
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		"runs:\n  using: composite\n  steps:\n    - run: a\n      shell: bash\n",
		"inputs:\n  a: {default: x, required: true}\nruns: {using: node20, main: a.js}\n",
		"runs: &a\n  using: docker\n  image: *a\n", "- x\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata("f.yml", data)
		if err == nil && m.Runs.Using == "" {
			t.Errorf("accepted metadata without runs.using: %q", data)
		}
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"actions/checkout@v4", "./x", "docker://a", "o/r/p/q@r", "@", "a/@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err == nil && r.Kind == RefRemote && (r.Owner == "" || r.Repo == "" || r.Ref == "" || strings.Contains(r.Path, "..")) {
			t.Errorf("ParseRef(%q) = %+v", s, r)
		}
	})
}
