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
			if tool == "go" { // go env GOPATH / GOVERSION as go answers them
				script = "#!/bin/sh\nif [ \"$1\" = env ]; then case \"$2\" in GOPATH) echo \"${GOPATH:-$HOME/go}\";; GOVERSION) echo go" + v +
					";; esac; exit 0; fi\necho \"fake go " + v + " GOTOOLCHAIN=$GOTOOLCHAIN\"\n"
			}
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
	if all := rec.all(); contains(all, "no network") {
		t.Errorf("the error claims the sandbox has no network, yet this host sandbox has it:\n%s", all)
	}
}

// TestSetupGoPerMajor: the environment, PATH, cache and alias resolution of
// setup-go as each major of the real action leaves them.
func TestSetupGoPerMajor(t *testing.T) {
	tc := fakeToolCache(t, map[string][]string{"go": {"1.21.13", "1.22.4", "1.22.5", "1.23rc1"}})
	e := newEnv(t, func(c *Config) { c.ToolCache = tc })
	e.write(map[string]string{"go.sum": "example.com/x v1.0.0 h1:abc\n", "go.mod": "module x\n\ngo 1.21\n"})
	tests := []struct {
		name, uses, with string
		want, not        []string
	}{
		{"v6 pins the toolchain", "actions/setup-go@v6", "go-version: '1.22'",
			[]string{"fake go 1.22.5 GOTOOLCHAIN=local", "gopathbin=yes", "key: setup-go-Linux"}, nil},
		{"v5 leaves GOTOOLCHAIN unset", "actions/setup-go@v5", "go-version: '1.22'",
			[]string{"fake go 1.22.5 GOTOOLCHAIN=\n", "gopathbin=yes", "key: setup-go-Linux"}, []string{"GOTOOLCHAIN=local"}},
		{"v4.1.0 caches by default", "actions/setup-go@v4.1.0", "go-version: '1.22'",
			[]string{"key: setup-go-Linux"}, []string{"GOTOOLCHAIN=local"}},
		{"v3 caches only when asked", "actions/setup-go@v3", "go-version: '1.22'",
			[]string{"gopathbin=yes"}, []string{"setup-go-Linux", "Restore cache failed"}},
		{"v3 with cache: true", "actions/setup-go@v3", "go-version: '1.22'\n          cache: true",
			[]string{"key: setup-go-Linux"}, nil},
		{"v2 has no cache input and no GOPATH/bin", "actions/setup-go@v2", "go-version: '1.22'",
			[]string{"gopathbin=no"}, []string{"setup-go-Linux", "Restore cache failed", "Unexpected input"}},
		{"v2 warns about a cache input", "actions/setup-go@v2", "go-version: '1.22'\n          cache: true",
			[]string{"Unexpected input 'cache'"}, []string{"setup-go-Linux"}},
		{"stable says what it resolved to", "actions/setup-go@v5", "go-version: stable\n          cache: false",
			[]string{"fake go 1.22.5", "'stable' resolved to 1.22.5: the newest release in the tool cache"}, nil},
		{"oldstable", "actions/setup-go@v5", "go-version: oldstable\n          cache: false",
			[]string{"fake go 1.21.13", "'oldstable' resolved to 1.21.13", "before 1.22.5"}, nil},
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
        uses: ` + tt.uses + `
        with:
          ` + tt.with + `
      - run: |
          go version
          case ":$PATH:" in *":$HOME/go/bin:"*) echo gopathbin=yes;; *) echo gopathbin=no;; esac
          echo "goenv=[${GOPATH-unset}|${GOMODCACHE-unset}|${GOCACHE-unset}]"
          rm -rf ~/go/pkg/mod/example.com; mkdir -p ~/go/pkg/mod/example.com && echo m > ~/go/pkg/mod/example.com/x
`
			res, rec := e.run(src, "build", runOpts{toolCache: tc, runID: int64(len(tt.name))})
			wantConclusion(t, res, rec, "success")
			all := rec.all()
			if !hasLine(rec, "goenv=[unset|unset|unset]") {
				t.Errorf("setup-go set GOPATH, GOMODCACHE or GOCACHE, which the real action leaves to go's defaults:\n%s", all)
			}
			for _, w := range tt.want {
				if !contains(all, w) {
					t.Errorf("log lacks %q:\n%s", w, all)
				}
			}
			for _, n := range tt.not {
				if contains(all, n) {
					t.Errorf("log has %q:\n%s", n, all)
				}
			}
		})
	}
}

// TestSetupGoToolchainSwitchWithoutEgress: setup-go@v5 leaves GOTOOLCHAIN
// unset, so a go.mod asking for a newer Go makes go download it; a job
// without egress is told before its build fails.
func TestSetupGoToolchainSwitchWithoutEgress(t *testing.T) {
	tc := fakeToolCache(t, map[string][]string{"go": {"1.22.5"}})
	e := newEnv(t, func(c *Config) { c.ToolCache = tc })
	e.write(map[string]string{"go.mod": "module x\n\ngo 1.24.0\n"})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: '1.22'
          cache: false
`
	res, rec := e.run(src, "build", runOpts{toolCache: tc, noNetwork: true})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "go.mod asks for go 1.24.0, newer than the Go 1.22.5 set up", "GOTOOLCHAIN unset (auto)", "no network egress: that download will fail")
	res, rec = e.run(src, "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	if all := rec.all(); contains(all, "download will fail") || !contains(all, "as on GitHub") {
		t.Errorf("with egress the switch is only noted, as on GitHub:\n%s", all)
	}
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

func TestRefMajor(t *testing.T) {
	for _, tt := range []struct {
		ref  string
		want int
	}{{"v5", 5}, {"v5.1.0", 5}, {"6", 6}, {"v10.2", 10}, {"main", latestMajor}, {"5a3b9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b", latestMajor}, {"v5-beta", latestMajor}, {"", latestMajor}} {
		if got := refMajor(tt.ref); got != tt.want {
			t.Errorf("refMajor(%q) = %d, want %d", tt.ref, got, tt.want)
		}
	}
}

// TestSetupNodePythonV1HaveNoCacheInput: v1 of setup-node and setup-python
// had no cache input: it is warned about and nothing is cached.
func TestSetupNodePythonV1HaveNoCacheInput(t *testing.T) {
	tc := fakeToolCache(t, map[string][]string{"node": {"20.15.1"}, "Python": {"3.12.4"}})
	e := newEnv(t, func(c *Config) { c.ToolCache = tc })
	e.write(map[string]string{"package-lock.json": "{}", "requirements.txt": "x\n"})
	for _, tt := range []struct{ uses, with, cacheKey string }{
		{"actions/setup-node@v1", "node-version: 20\n          cache: npm", "node-cache-Linux"},
		{"actions/setup-python@v1", "python-version: '3.12'\n          cache: pip", "setup-python-Linux"},
	} {
		src := "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: " + tt.uses +
			"\n        with:\n          " + tt.with + "\n"
		res, rec := e.run(src, "build", runOpts{toolCache: tc})
		wantConclusion(t, res, rec, "success")
		wantLog(t, rec, "Unexpected input 'cache'", "has no cache input (it came in v2)")
		if contains(rec.all(), tt.cacheKey) {
			t.Errorf("%s cached although v1 has no cache input:\n%s", tt.uses, rec.all())
		}
	}
}
