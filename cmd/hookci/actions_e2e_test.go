package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

const actionsWorkflow = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: go
        uses: actions/setup-go@v5
        with:
          go-version: '%GOMINOR%'
          cache: false
      - run: echo "setup-go gave ${{ steps.go.outputs.go-version }}; $(go version) from $(command -v go)"
      - id: cache
        uses: actions/cache@v4
        with:
          path: ~/.cache/go-build
          key: gobuild-${{ runner.os }}-${{ hashFiles('go.mod', '**/*.go') }}
          restore-keys: gobuild-${{ runner.os }}-
      - run: echo "cache-hit=${{ steps.cache.outputs.cache-hit }}"
      - name: Build
        run: |
          start=$(date +%s%N)
          go build -o bin/hello .
          echo "build took $(( ($(date +%s%N) - start) / 1000000 )) ms"
      - uses: actions/upload-artifact@v4
        with:
          name: hello
          path: bin/hello
  use:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - id: dl
        uses: actions/download-artifact@v4
        with:
          name: hello
          path: out
      - run: chmod +x out/hello && ./out/hello
`

const helloGo = `package main

import "fmt"

func main() { fmt.Println("hello from the artifact") }
`

// goToolCache links the host's Go into a fabricated hostedtoolcache
// (<root>/go/<version>/x64) and returns the root and the Go version.
func goToolCache(t *testing.T) (string, string) {
	t.Helper()
	const goroot = "/usr/local/go"
	raw, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		if os.Getenv("CI") == "true" && goEnvGOROOT() == goroot {
			t.Fatalf("Go is expected at %s in CI: %v", goroot, err)
		}
		t.Skipf("no Go installation at %s to fabricate a tool cache from: %v", goroot, err)
	}
	version := strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)[0], "go")
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	root := t.TempDir()
	dir := filepath.Join(root, "go", version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(goroot, filepath.Join(dir, arch)); err != nil {
		t.Fatal(err)
	}
	return root, version
}

func TestActionsEndToEnd(t *testing.T) {
	tc, version := goToolCache(t)
	h := newHarness(t, "host")
	h.stop()
	h.cfg.ToolCache = tc
	h.start()

	minor := strings.Join(strings.SplitN(version, ".", 3)[:2], ".")
	zero := strings.Repeat("0", 40)
	c1 := h.repo.Commit("first", map[string]string{
		".github/workflows/ci.yml": strings.ReplaceAll(actionsWorkflow, "%GOMINOR%", minor),
		"go.mod":                   "module example.com/hello\n\ngo 1.22\n",
		"main.go":                  helloGo,
	})
	h.repo.Push("main")

	page1 := h.runAndPage(t, "delivery-actions-1", zero, c1)
	for _, want := range []string{
		"setup-go gave " + version + "; go version go" + version,
		filepath.Join(tc, "go", version) + "/",
		"cache-hit=false",
		"Cache saved with key: gobuild-Linux-",
		"Artifact hello has been successfully uploaded!",
		"hello from the artifact",
	} {
		if !strings.Contains(page1, want) {
			t.Errorf("first run page lacks %q", want)
		}
	}

	// A second push on the same branch restores the build cache.
	c2 := h.repo.Commit("second", map[string]string{"README.md": "docs\n"})
	h.repo.Push("main")
	page2 := h.runAndPage(t, "delivery-actions-2", c1, c2)
	for _, want := range []string{"cache-hit=true", "Cache restored from key: gobuild-Linux-", "hello from the artifact"} {
		if !strings.Contains(page2, want) {
			t.Errorf("second run page lacks %q", want)
		}
	}
	re := regexp.MustCompile(`build took (\d+) ms`)
	if m1, m2 := re.FindStringSubmatch(page1), re.FindStringSubmatch(page2); m1 != nil && m2 != nil {
		t.Logf("go build: %s ms with a cold cache (miss), %s ms after the cache hit", m1[1], m2[1])
	}
	for _, p := range []string{page1, page2} {
		if m := regexp.MustCompile(`Cache (saved with|restored from) key: [^ ]+ \([^)]*\)`).FindString(p); m != "" {
			t.Log(m)
		}
	}
}

// runAndPage sends a push for after, waits for a successful final status
// and returns the run page.
func (h *harness) runAndPage(t *testing.T, delivery, before, after string) string {
	t.Helper()
	start := time.Now()
	h.sendSigned("push", delivery, pushPayload(t, before, after))
	sts := h.waitStatus(after)
	final := sts[len(sts)-1]
	page := h.get(strings.TrimPrefix(final.TargetURL, h.url))
	if final.State != "success" {
		t.Fatalf("status for %.7s = %s, want success; run page:\n%s", after, final.State, page)
	}
	t.Logf("run for %.7s: webhook to final status %v", after, time.Since(start).Round(time.Millisecond))
	return page
}

// goEnvGOROOT is the GOROOT of the go command on PATH ("" when there is none).
func goEnvGOROOT() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
