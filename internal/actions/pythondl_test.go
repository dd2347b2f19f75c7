package actions

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// pyArchive is a python-versions style archive (entries at the top level,
// "./"-prefixed, a setup.sh) whose python3.X prints "Python <v>".
func pyArchive(t *testing.T, v string) []byte {
	p, _ := parseVersion(v)
	dot := "python" + strings.Join(strings.Split(v, ".")[:2], ".")
	_ = p
	return tarGz(t, map[string]string{
		"./bin/" + dot:              "#!/bin/sh\necho \"Python " + v + "\"\n",
		"./bin/python3":             "->" + dot,
		"./lib/libpython-fake.so":   "x",
		"./setup.sh":                "#!/bin/sh\necho must not run\n",
		"./include/" + dot + "/x.h": "",
	})
}

// pyServer serves a versions-manifest.json in actions/python-versions'
// format and the archives its download_urls name.
type pyServer struct {
	*httptest.Server
	hits     atomic.Int64
	archives map[string][]byte // path → body
}

func newPyServer(t *testing.T, archives map[string][]byte) *pyServer {
	t.Helper()
	d := &pyServer{archives: archives}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		if r.URL.Path == "/python/versions-manifest.json" {
			w.Write(d.manifest())
			return
		}
		if b, ok := d.archives[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *pyServer) manifest() []byte {
	file := func(v, platform, pv, arch string) map[string]any {
		name := "python-" + v + "-" + platform + "-" + pv + "-" + arch + ".tar.gz"
		if platform == "darwin" {
			name = "python-" + v + "-darwin-" + arch + ".tar.gz"
		}
		return map[string]any{"filename": name, "arch": arch, "platform": platform, "platform_version": pv,
			"download_url": d.URL + "/dl/" + name}
	}
	rel := func(v string, stable bool, files ...map[string]any) map[string]any {
		return map[string]any{"version": v, "stable": stable, "release_url": "https://github.example/actions/python-versions/releases/tag/" + v, "files": files}
	}
	// newest first, as the real manifest is
	b, _ := json.Marshal([]map[string]any{
		rel("3.100.0-beta.1", false, file("3.100.0-beta.1", "linux", "22.04", "x64")),
		rel("3.99.2", true, file("3.99.2", "linux", "24.04", "x64"), file("3.99.2", "linux", "22.04", "x64"),
			file("3.99.2", "linux", "22.04", "arm64"), file("3.99.2", "darwin", "", "x64")),
		rel("3.99.1", true, file("3.99.1", "linux", "22.04", "x64")),
		rel("3.98.5", true, file("3.98.5", "linux", "22.04", "x64")),
		rel("3.97.0", true, file("3.97.0", "linux", "20.04", "x64")),
	})
	return b
}

func pyServerAll(t *testing.T) *pyServer {
	arcs := map[string][]byte{}
	for _, v := range []string{"3.100.0-beta.1", "3.99.2", "3.99.1", "3.98.5", "3.97.0"} {
		for _, pv := range []string{"20.04", "22.04"} {
			arcs["/dl/python-"+v+"-linux-"+pv+"-x64.tar.gz"] = pyArchive(t, v)
		}
	}
	// the 24.04 build must not be picked: it would print another version
	arcs["/dl/python-3.99.2-linux-24.04-x64.tar.gz"] = pyArchive(t, "0.0.24")
	return newPyServer(t, arcs)
}

func pyStep(with string) string {
	return `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: s
        uses: actions/setup-python@v5
        with:
          ` + with + `
      - run: |
          python --version
          python3 --version
          echo "out=${{ steps.s.outputs.python-version }} path=${{ steps.s.outputs.python-path }} loc=$pythonLocation"
`
}

// TestSetupPythonDownloads: with egress and a version the tool cache lacks,
// setup-python reads a versions-manifest.json in actions/python-versions'
// format, picks the highest stable version matching the spec with a linux
// 22.04 x64 build (not the 24.04 one, not a pre-release unless
// allow-prereleases), downloads it and lays it out as Python/<v>/x64 with
// x64.complete; python and python3 on PATH are the downloaded build and the
// outputs and pythonLocation name it.
func TestSetupPythonDownloads(t *testing.T) {
	for _, c := range []struct {
		name, with, file, want string
	}{
		{"minor", "python-version: '3.99'", "", "3.99.2"},
		// (3.x itself would be met by the sandbox's own python3, which
		// hookci uses before downloading; TestLookupPythonSpecs covers 3.x)
		{"x", "python-version: 3.99.x", "", "3.99.2"},
		{"exact older", "python-version: 3.99.1", "", "3.99.1"},
		{"version file", "python-version-file: .python-version", "3.98\n", "3.98.5"},
		{"prerelease allowed", "python-version: '3.100'\n          allow-prereleases: true", "", "3.100.0-beta.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := pyServerAll(t)
			tc := t.TempDir()
			e := newEnv(t, func(cf *Config) { cf.ToolCache, cf.Dist.Python = tc, d.URL+"/python/versions-manifest.json" })
			if c.file != "" {
				e.write(map[string]string{".python-version": c.file})
			}
			res, rec := e.run(pyStep(c.with), "build", runOpts{toolCache: tc})
			wantConclusion(t, res, rec, "success")
			dir := filepath.Join(tc, "Python", c.want, "x64")
			wantLog(t, rec, "Downloading Python "+c.want+" from "+d.URL+"/dl/python-"+c.want+"-linux-22.04-x64.tar.gz",
				"gives no checksum", "Python "+c.want, "out="+c.want+" path=")
			if all := rec.all(); strings.Contains(all, "must not run") || strings.Contains(all, "Python 0.0.24") {
				t.Errorf("the archive's setup.sh ran or the 24.04 build was picked:\n%s", all)
			}
			if all := rec.all(); !strings.Contains(all, "/Python/"+c.want+"/x64/bin/python loc=") || !strings.Contains(all, "/Python/"+c.want+"/x64\n") {
				t.Errorf("python-path or pythonLocation do not name Python/%s/x64:\n%s", c.want, all)
			}
			if _, err := os.Stat(dir + ".complete"); err != nil {
				t.Errorf("no x64.complete marker: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "setup.sh")); err == nil {
				t.Errorf("setup.sh left in the tool cache")
			}
			for _, l := range []string{"python", "bin/python"} {
				if _, err := os.Stat(filepath.Join(dir, l)); err != nil {
					t.Errorf("the layout lacks %s: %v", l, err)
				}
			}
			// a second run finds it in the tool cache
			hits := d.hits.Load()
			res, rec = e.run(pyStep(c.with), "build", runOpts{toolCache: tc})
			wantConclusion(t, res, rec, "success")
			wantLog(t, rec, "Found Python "+c.want+" in the tool cache")
			if n := d.hits.Load(); n != hits {
				t.Errorf("the second run asked the server %d more times, want 0", n-hits)
			}
		})
	}
}

// TestSetupPythonDownloadFailures: no matching entry fails naming the
// version, the platform looked for and how to provide it; a pre-release
// without allow-prereleases says so; without egress nothing is asked; an
// archive that is not a Python build or not a tar.gz is refused and leaves
// nothing (no half-extracted version) in the tool cache.
func TestSetupPythonDownloadFailures(t *testing.T) {
	for _, c := range []struct {
		name, with string
		noNet      bool
		serve      map[string][]byte // replaces the archives when set
		want       []string
		wantHits   bool
	}{
		{"no such version", "python-version: '3.42'", false, nil,
			[]string{"unable to find Python version '3.42'", "has no stable Python version matching '3.42' for linux 22.04 x64", "add it to the tool cache as "}, true},
		{"only a 20.04 build", "python-version: '3.97'", false, nil,
			[]string{"no stable Python version matching '3.97' for linux 22.04 x64"}, true},
		{"pre-release not allowed", "python-version: '3.100'", false, nil,
			[]string{"set allow-prereleases: true to use it"}, true},
		{"no egress", "python-version: '3.99'", true, nil,
			[]string{"unable to find Python version '3.99'", "or grant the job network egress so that hookci downloads it from "}, false},
		{"not a python build", "python-version: '3.99'", false,
			map[string][]byte{"/dl/python-3.99.2-linux-22.04-x64.tar.gz": tarGz(t, map[string]string{"./bin/other": "x"})},
			[]string{"the archive has no bin/python3: not a Python build", "nothing was added to the tool cache"}, true},
		{"not a tar.gz", "python-version: '3.99'", false,
			map[string][]byte{"/dl/python-3.99.2-linux-22.04-x64.tar.gz": []byte("<html>rate limited</html>")},
			[]string{"extracting ", "gzip"}, true},
		{"truncated", "python-version: '3.99'", false,
			map[string][]byte{"/dl/python-3.99.2-linux-22.04-x64.tar.gz": pyArchive(t, "3.99.2")[:200]},
			[]string{"extracting "}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := pyServerAll(t)
			if c.serve != nil {
				d.archives = c.serve
			}
			tc := t.TempDir()
			e := newEnv(t, func(cf *Config) { cf.ToolCache, cf.Dist.Python = tc, d.URL+"/python/versions-manifest.json" })
			res, rec := e.run(pyStep(c.with), "build", runOpts{toolCache: tc, noNetwork: c.noNet})
			wantConclusion(t, res, rec, "failure")
			wantLog(t, rec, c.want...)
			if got := d.hits.Load() > 0; got != c.wantHits {
				t.Errorf("server asked: got %v, want %v", got, c.wantHits)
			}
			ents, _ := os.ReadDir(filepath.Join(tc, "Python"))
			for _, en := range ents {
				t.Errorf("the tool cache holds %s after a failed download", en.Name())
			}
		})
	}
}

// TestCheckPythonURL: the manifest has no checksum, so its download_url must
// be https, unless the operator configured a plain-http manifest (a mirror).
func TestCheckPythonURL(t *testing.T) {
	for _, c := range []struct {
		manifest, url string
		ok            bool
	}{
		{"https://raw.githubusercontent.com/m.json", "https://github.com/a.tar.gz", true},
		{"https://raw.githubusercontent.com/m.json", "http://github.com/a.tar.gz", false},
		{"https://raw.githubusercontent.com/m.json", "file:///etc/passwd", false},
		{"https://raw.githubusercontent.com/m.json", "", false},
		{"http://mirror.local/m.json", "http://mirror.local/a.tar.gz", true},
		{"http://mirror.local/m.json", "ftp://mirror.local/a.tar.gz", false},
	} {
		if err := checkPythonURL(c.manifest, c.url); (err == nil) != c.ok {
			t.Errorf("checkPythonURL(%q, %q) = %v, want ok %v", c.manifest, c.url, err, c.ok)
		}
	}
}

// TestLookupPythonSpecs: version specs against the manifest: the highest
// stable 22.04 x64 build, a pre-release only with allowPre and only when no
// stable release matches.
func TestLookupPythonSpecs(t *testing.T) {
	d := pyServerAll(t)
	e := newEnv(t, func(cf *Config) { cf.Dist.Python = d.URL + "/python/versions-manifest.json" })
	for _, c := range []struct {
		spec     string
		allowPre bool
		want     string
	}{
		{"3.x", false, "3.99.2"},
		{"3.x", true, "3.99.2"},
		{"3", false, "3.99.2"},
		{"3.99", false, "3.99.2"},
		{"3.99.1", false, "3.99.1"},
		{"3.98.x", false, "3.98.5"},
		{">=3.98 <3.99", false, "3.98.5"},
		{"3.100", false, ""},
		{"3.100", true, "3.100.0-beta.1"},
		{"3.100.0-beta.1", true, "3.100.0-beta.1"},
		{"3.97", false, ""}, // only a 20.04 build
		{"2.7", false, ""},
	} {
		rel, err := e.r.lookupPython(context.Background(), c.spec, "x64", c.allowPre)
		if got := rel.version; got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("lookupPython(%q, allowPre %v) = %q, %v; want %q", c.spec, c.allowPre, got, err, c.want)
		}
	}
	rel, err := e.r.lookupPython(context.Background(), "3.99", "arm64", false)
	if err != nil || !strings.HasSuffix(rel.url, "python-3.99.2-linux-22.04-arm64.tar.gz") {
		t.Errorf("arm64: got %q, %v; want the 22.04 arm64 build", rel.url, err)
	}
}
