package actions

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeToolCache makes <root>/<tool>/<version>/x64/bin/<cmd> scripts that print their version.
func fakeToolCache(t *testing.T, tools map[string][]string) string {
	t.Helper()
	root := t.TempDir()
	cmds := map[string]string{"go": "go", "node": "node", "Python": "python"}
	for tool, versions := range tools {
		for _, v := range versions {
			bin := filepath.Join(root, tool, v, toolArch(""), "bin")
			os.MkdirAll(bin, 0o755)
			script := "#!/bin/sh\necho \"fake " + cmds[tool] + " " + v + "\"\n"
			os.WriteFile(filepath.Join(bin, cmds[tool]), []byte(script), 0o755)
		}
	}
	return root
}

func TestSetupActions(t *testing.T) {
	tc := fakeToolCache(t, map[string][]string{
		"go": {"1.21.13", "1.22.4", "1.22.5", "1.23rc1"}, "node": {"18.20.4", "20.15.1", "22.4.0"}, "Python": {"3.11.9", "3.12.4"},
	})
	e := newEnv(t, func(c *Config) { c.ToolCache = tc })
	e.write(map[string]string{"go.mod": "module x\n\ngo 1.21\n", ".nvmrc": "v18\n"})
	tests := []struct {
		name, step string
		want       []string
	}{
		{"go x-range", "uses: actions/setup-go@v5\n        with:\n          go-version: '1.22'",
			[]string{"fake go 1.22.5", "out=1.22.5"}},
		{"go exact", "uses: actions/setup-go@v5\n        with:\n          go-version: 1.22.4",
			[]string{"fake go 1.22.4", "out=1.22.4"}},
		{"go file", "uses: actions/setup-go@v5\n        with:\n          go-version-file: go.mod",
			[]string{"fake go 1.21.13"}},
		{"node caret", "uses: actions/setup-node@v4\n        with:\n          node-version: ^20",
			[]string{"fake node 20.15.1", "out=v20.15.1"}},
		{"node nvmrc", "uses: actions/setup-node@v4\n        with:\n          node-version-file: .nvmrc",
			[]string{"fake node 18.20.4"}},
		{"python x", "uses: actions/setup-python@v5\n        with:\n          python-version: 3.12.x",
			[]string{"fake python 3.12.4", "out=3.12.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: s
        ` + tt.step + `
      - run: |
          go version 2>/dev/null | grep fake || true
          node 2>/dev/null | grep fake || true
          python 2>/dev/null | grep fake || true
          echo "out=${{ steps.s.outputs.go-version }}${{ steps.s.outputs.node-version }}${{ steps.s.outputs.python-version }}"
`
			res, rec := e.run(src, "build", runOpts{toolCache: tc})
			wantConclusion(t, res, rec, "success")
			wantLog(t, rec, tt.want...)
		})
	}

	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-go@v5
        with:
          go-version: '1.99'
`
	res, rec := e.run(src, "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "setup-go: unable to find Go version '1.99' for x64", "only 1.21.13, 1.22.4, 1.22.5, 1.23rc1")
}

func TestBestVersion(t *testing.T) {
	avail := []string{"1.20.14", "1.21.0", "1.21.13", "1.22.5", "1.22.10", "1.23rc1", "20.1.0", "20.15.1", "22.4.0"}
	tests := []struct{ spec, want string }{
		{"1.22", "1.22.10"},
		{"1.22.x", "1.22.10"},
		{"1.22.5", "1.22.5"},
		{"~1.21.0", "1.21.13"},
		{"^20", "20.15.1"},
		{"20", "20.15.1"},
		{">=1.21 <1.22", "1.21.13"},
		{"1.23rc1", "1.23rc1"},
		{"1.23", ""},
		{"19 || 22", "22.4.0"},
		{"*", "22.4.0"},
		{"v20.1", "20.1.0"},
		{"3.99", ""},
	}
	for _, tt := range tests {
		if got := bestVersion(tt.spec, avail); got != tt.want {
			t.Errorf("bestVersion(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

func TestSetupGoDependencyCache(t *testing.T) {
	tc := fakeToolCache(t, map[string][]string{"go": {"1.22.5"}})
	e := newEnv(t, func(c *Config) { c.ToolCache = tc })
	e.write(map[string]string{"go.sum": "example.com/x v1.0.0 h1:abc\n"})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: s
        uses: actions/setup-go@v5
        with:
          go-version: '1.22'
      - run: |
          echo "cache-hit=${{ steps.s.outputs.cache-hit }}"
          ls ~/go/pkg/mod 2>/dev/null || { mkdir -p ~/go/pkg/mod/example.com && echo m > ~/go/pkg/mod/example.com/x; }
`
	res, rec := e.run(src, "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "cache-hit=false", "Cache saved with key: setup-go-Linux-"+toolArch("")+"-go-1.22.5-")
	res, rec = e.run(src, "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "cache-hit=true", "example.com")
	if _, ok := rec.names[4]; ok {
		t.Errorf("a hit must not register a save, but step 4 is %q", rec.names[4])
	}
}
