package workflow

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// matrixOf loads a workflow whose only job has the given matrix: YAML.
func matrixOf(t *testing.T, m string) any {
	t.Helper()
	src := "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n" + m + "    steps:\n      - run: echo\n"
	w, err := Load("w.yml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, src)
	}
	return w.Jobs[0].Strategy.Matrix
}

func suffixes(cs []Combination) []string {
	out := []string{}
	for _, c := range cs {
		var kv []string
		for _, e := range c {
			kv = append(kv, e.Key+"="+displayValue(e.Value))
		}
		out = append(out, strings.Join(kv, " "))
	}
	return out
}

func TestExpandMatrix(t *testing.T) {
	tests := []struct {
		name, matrix string
		want         []string
	}{
		{"product", "        os: [ubuntu, macos]\n        node: [18, 20]\n",
			[]string{"os=ubuntu node=18", "os=ubuntu node=20", "os=macos node=18", "os=macos node=20"}},
		// GitHub docs, "Excluding matrix configurations".
		{"exclude partial", "        os: [macos-latest, windows-latest]\n        version: [12, 14, 16]\n        environment: [staging, production]\n" +
			"        exclude:\n          - os: macos-latest\n            version: 12\n            environment: production\n          - os: windows-latest\n            version: 16\n",
			[]string{
				"os=macos-latest version=12 environment=staging",
				"os=macos-latest version=14 environment=staging", "os=macos-latest version=14 environment=production",
				"os=macos-latest version=16 environment=staging", "os=macos-latest version=16 environment=production",
				"os=windows-latest version=12 environment=staging", "os=windows-latest version=12 environment=production",
				"os=windows-latest version=14 environment=staging", "os=windows-latest version=14 environment=production",
			}},
		// GitHub docs, "Example: Expanding configurations".
		{"include docs example", "        fruit: [apple, pear]\n        animal: [cat, dog]\n        include:\n" +
			"          - color: green\n          - color: pink\n            animal: cat\n          - fruit: apple\n            shape: circle\n" +
			"          - fruit: banana\n          - fruit: banana\n            animal: cat\n",
			[]string{
				"fruit=apple animal=cat color=pink shape=circle",
				"fruit=apple animal=dog color=green shape=circle",
				"fruit=pear animal=cat color=pink",
				"fruit=pear animal=dog color=green",
				"fruit=banana",
				"fruit=banana animal=cat",
			}},
		// GitHub docs, "Example: Adding configurations".
		{"include adds", "        os: [windows-latest, ubuntu-latest]\n        node: [14, 16]\n        include:\n" +
			"          - os: windows-latest\n            node: 16\n            npm: 6\n",
			[]string{"os=windows-latest node=14", "os=windows-latest node=16 npm=6", "os=ubuntu-latest node=14", "os=ubuntu-latest node=16"}},
		{"include only", "        include:\n          - site: production\n            datacenter: site-a\n          - site: staging\n            datacenter: site-b\n",
			[]string{"site=production datacenter=site-a", "site=staging datacenter=site-b"}},
		{"object values", "        cfg: [{a: 1}, {a: 2}]\n        exclude:\n          - cfg: {a: 2}\n",
			[]string{`cfg={"a":1}`}},
		// actionlint issue #249: exclude filters objects by subset.
		{"exclude object subset", "        os:\n          - {name: Ubuntu, matrix: ubuntu}\n          - {name: Windows, matrix: windows}\n" +
			"        arch:\n          - {name: ARM, matrix: arm}\n          - {name: Intel, matrix: intel}\n" +
			"        exclude:\n          - os: {matrix: windows}\n            arch: {matrix: arm}\n          - os: {matrix: ubuntu, foo: bar}\n",
			[]string{
				`os={"matrix":"ubuntu","name":"Ubuntu"} arch={"matrix":"arm","name":"ARM"}`,
				`os={"matrix":"ubuntu","name":"Ubuntu"} arch={"matrix":"intel","name":"Intel"}`,
				`os={"matrix":"windows","name":"Windows"} arch={"matrix":"intel","name":"Intel"}`,
			}},
		{"exclude everything then include", "        os: [a]\n        exclude:\n          - os: a\n        include:\n          - os: b\n          - os: c\n",
			[]string{"os=b", "os=c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandMatrix(matrixOf(t, tt.matrix))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, suffixes(got)); diff != "" {
				t.Errorf("combinations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandMatrixErrors(t *testing.T) {
	big := []any{}
	for i := 0; i < 17; i++ {
		big = append(big, float64(i))
	}
	tests := []struct {
		name string
		m    any
		want string
	}{
		{"nil", nil, "must be an object"},
		{"expression left", "${{ fromJSON(x) }}", "must be an object"},
		{"empty", []KV{}, "at least one vector"},
		{"empty vector", []KV{{"os", []any{}}}, `"os" does not contain any values`},
		{"scalar vector", []KV{{"os", "linux"}}, `"os" must be an array`},
		{"bad include", []KV{{"include", []any{"x"}}}, "include entry 0 must be an object"},
		{"exclude unknown key", []KV{{"os", []any{"a"}}, {"exclude", []any{[]KV{{"arch", "x"}}}}}, `exclude key "arch" does not match any key`},
		{"too many", []KV{{"a", big}, {"b", big}}, "more than the limit of 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ExpandMatrix(tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ExpandMatrix error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestMatrixJobName(t *testing.T) {
	tests := []struct {
		name string
		c    Combination
		want string
	}{
		{"build", Combination{{"os", "ubuntu"}, {"node", 18.0}, {"exp", true}}, "build (ubuntu, 18, true)"},
		{"build", Combination{{"a", nil}, {"b", ""}, {"c", false}}, "build (false)"},
		{"build", Combination{{"a", nil}}, "build"},
		{"Test", Combination{{"cfg", []KV{{"x", 1.0}}}, {"l", []any{"a"}}}, `Test ({"x":1}, ["a"])`},
		{"Test ${{ matrix.os }}", Combination{{"os", "linux"}}, "Test ${{ matrix.os }}"},
	}
	for _, tt := range tests {
		if got := MatrixJobName(tt.name, tt.c); got != tt.want {
			t.Errorf("MatrixJobName(%q, %v) = %q, want %q", tt.name, tt.c, got, tt.want)
		}
	}
}
