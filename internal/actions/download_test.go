package actions

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// tarGz builds a .tar.gz of files (name → content; a "->" prefix makes a symlink).
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, c := range files {
		h := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg}
		if target, ok := strings.CutPrefix(c, "->"); ok {
			h = &tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeSymlink, Mode: 0o777}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(c))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// distServer serves a Go index (?mode=json&include=all) and a Node index
// (index.json, SHASUMS256.txt) in the official formats, with archives
// built here; tamper serves other bytes than the index's sha256 describes.
type distServer struct {
	*httptest.Server
	hits    atomic.Int64
	tamper  atomic.Bool
	goArc   []byte
	nodeArc []byte
}

func newDistServer(t *testing.T, goArc []byte) *distServer {
	t.Helper()
	d := &distServer{goArc: goArc}
	d.nodeArc = tarGz(t, map[string]string{
		"node-v98.2.0-linux-x64/bin/node": "#!/bin/sh\necho \"fake node 98.2.0\"\n",
		"node-v98.2.0-linux-x64/bin/npx":  "->node",
	})
	arch := goArch(toolArch(""))
	goIndex, _ := json.Marshal([]map[string]any{
		{"version": "go1.99.1", "stable": true, "files": []map[string]any{
			{"filename": "go1.99.1.linux-" + arch + ".tar.gz", "os": "linux", "arch": arch, "version": "go1.99.1", "sha256": sum(goArc), "size": len(goArc), "kind": "archive"},
			{"filename": "go1.99.1.src.tar.gz", "os": "", "arch": "", "version": "go1.99.1", "sha256": strings.Repeat("0", 64), "kind": "source"}}},
		{"version": "go1.98.7", "stable": true, "files": []map[string]any{
			{"filename": "go1.98.7.linux-" + arch + ".tar.gz", "os": "linux", "arch": arch, "version": "go1.98.7", "sha256": sum(goArc), "kind": "archive"}}},
	})
	nodeIndex, _ := json.Marshal([]map[string]any{
		{"version": "v99.0.0", "files": []string{"linux-x64", "linux-arm64"}, "lts": false},
		{"version": "v98.2.0", "files": []string{"linux-x64", "linux-arm64"}, "lts": "Hydrogen"},
	})
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		serve := func(b []byte) {
			if d.tamper.Load() {
				b = append(append([]byte{}, b...), "tampered"...)
			}
			w.Write(b)
		}
		switch {
		case r.URL.Path == "/go/" && r.URL.Query().Get("mode") == "json" && r.URL.Query().Get("include") == "all":
			w.Write(goIndex)
		case strings.HasPrefix(r.URL.Path, "/go/go1.99.1.linux-"), strings.HasPrefix(r.URL.Path, "/go/go1.98.7.linux-"):
			serve(d.goArc)
		case r.URL.Path == "/node/index.json":
			w.Write(nodeIndex)
		case r.URL.Path == "/node/v98.2.0/SHASUMS256.txt":
			fmt.Fprintf(w, "%s  node-v98.2.0-linux-x64.tar.gz\n%s  node-v98.2.0-linux-arm64.tar.gz\n", sum(d.nodeArc), strings.Repeat("1", 64))
		case r.URL.Path == "/node/v98.2.0/node-v98.2.0-linux-x64.tar.gz":
			serve(d.nodeArc)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

const fakeGoArchive = "#!/bin/sh\nif [ \"$1\" = env ]; then echo \"$HOME/go\"; exit 0; fi\necho \"fake go downloaded\"\n"

func downloadEnv(t *testing.T, d *distServer) (*env, string) {
	tc := t.TempDir()
	e := newEnv(t, func(c *Config) {
		c.ToolCache = tc
		c.Dist.Go, c.Dist.Node = d.URL+"/go/", d.URL+"/node/"
	})
	return e, tc
}

func setupStep(uses, with string) string {
	return `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: s
        uses: ` + uses + `
        with:
          ` + with + `
      - run: |
          go version 2>/dev/null || true
          node 2>/dev/null || true
          echo "out=${{ steps.s.outputs.go-version }}${{ steps.s.outputs.node-version }}"
`
}

// TestSetupDownloadsMissingVersion: with egress, a version the tool cache
// lacks is found in the index (1.99 and stable for Go, lts/* for Node),
// downloaded, checked and added to the tool cache, then found there.
func TestSetupDownloadsMissingVersion(t *testing.T) {
	d := newDistServer(t, tarGz(t, map[string]string{"go/bin/go": fakeGoArchive, "go/VERSION": "go1.99.1\n"}))
	e, tc := downloadEnv(t, d)
	arch := toolArch("")

	res, rec := e.run(setupStep("actions/setup-go@v5", "go-version: '1.99'\n          cache: false"), "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Downloading Go 1.99.1 from "+d.URL+"/go/go1.99.1.linux-", "matches the index; added to the tool cache", "fake go downloaded", "out=1.99.1")
	if _, err := os.Stat(filepath.Join(tc, "go", "1.99.1", arch+".complete")); err != nil {
		t.Errorf("the tool cache has no complete go 1.99.1: %v", err)
	}
	res, rec = e.run(setupStep("actions/setup-go@v5", "go-version: '1.99.x'\n          cache: false"), "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	if all := rec.all(); contains(all, "Downloading") || !contains(all, "Found Go 1.99.1 in the tool cache") {
		t.Errorf("the second run downloaded again or did not use the tool cache:\n%s", all)
	}

	res, rec = e.run(setupStep("actions/setup-go@v5", "go-version: oldstable\n          cache: false"), "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Downloading Go 1.98.7", "'oldstable' resolved to 1.98.7")

	res, rec = e.run(setupStep("actions/setup-node@v4", "node-version: lts/*"), "build", runOpts{toolCache: tc})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Downloading Node 98.2.0 from "+d.URL+"/node/v98.2.0/node-v98.2.0-linux-x64.tar.gz", "fake node 98.2.0", "out=v98.2.0")
}

// TestSetupDownloadChecksumMismatch is an attack test: the server hands out
// an archive other than the one the index's sha256 describes (a tampered
// mirror); it is refused, nothing enters the tool cache and nothing of it runs.
func TestSetupDownloadChecksumMismatch(t *testing.T) {
	d := newDistServer(t, tarGz(t, map[string]string{"go/bin/go": fakeGoArchive}))
	d.tamper.Store(true)
	e, tc := downloadEnv(t, d)
	for _, step := range []string{setupStep("actions/setup-go@v5", "go-version: '1.99'"), setupStep("actions/setup-node@v4", "node-version: 98")} {
		res, rec := e.run(step, "build", runOpts{toolCache: tc})
		wantConclusion(t, res, rec, "failure")
		wantLog(t, rec, "checksum mismatch", "refused (nothing was added to the tool cache)")
		if all := rec.all(); contains(all, "fake go downloaded") || contains(all, "fake node") {
			t.Errorf("the tampered archive ran:\n%s", all)
		}
	}
	for _, p := range []string{"go/1.99.1", "node/98.2.0"} {
		if _, err := os.Stat(filepath.Join(tc, p)); err == nil {
			t.Errorf("the tampered archive was added to the tool cache at %s", p)
		}
	}
}

// TestSetupDownloadRefusesEscapingArchive is an attack test: an archive
// whose entries lead out of the tool's directory (.. names, a symlink out,
// a file written through a symlink) is refused and writes nothing outside.
func TestSetupDownloadRefusesEscapingArchive(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"dotdot":          {"go/bin/go": fakeGoArchive, "go/../../../escaped": "x"},
		"symlink out":     {"go/bin/go": fakeGoArchive, "go/link": "->../../../.."},
		"through symlink": {"go/bin/go": fakeGoArchive, "go/d": "->.", "go/d/e": "->..", "go/d/e/escaped": "x"},
	} {
		t.Run(name, func(t *testing.T) {
			d := newDistServer(t, tarGz(t, files))
			e, tc := downloadEnv(t, d)
			res, rec := e.run(setupStep("actions/setup-go@v5", "go-version: '1.99'"), "build", runOpts{toolCache: tc})
			wantConclusion(t, res, rec, "failure")
			wantLog(t, rec, "extracting")
			found := false
			filepath.Walk(filepath.Dir(tc), func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Name() == "escaped" {
					found = true
				}
				return nil
			})
			if found {
				t.Errorf("the archive wrote a file outside the tool's directory")
			}
			if _, err := os.Stat(filepath.Join(tc, "go", "1.99.1")); err == nil {
				t.Errorf("the refused archive is in the tool cache")
			}
		})
	}
}

// TestSetupWithoutEgressNamesTheVersion: a job without egress downloads
// nothing; the error names the version and the two ways to provide it.
func TestSetupWithoutEgressNamesTheVersion(t *testing.T) {
	d := newDistServer(t, tarGz(t, map[string]string{"go/bin/go": fakeGoArchive}))
	e, tc := downloadEnv(t, d)
	res, rec := e.run(setupStep("actions/setup-go@v5", "go-version: '1.99'"), "build", runOpts{toolCache: tc, noNetwork: true})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "unable to find Go version '1.99'", "add it to the tool cache as "+filepath.Join(tc, "go")+"/<version>/",
		"or grant the job network egress so that hookci downloads it from "+d.URL+"/go/?mode=json&include=all")
	if n := d.hits.Load(); n != 0 {
		t.Errorf("a job without egress made hookci ask the index %d times", n)
	}
}
