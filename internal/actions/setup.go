package actions

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/hookci/hookci/internal/runner"
)

// The native actions/setup-go, setup-node and setup-python: tools come from
// the tool cache directory (GitHub's hostedtoolcache layout
// <tool>/<version>/<arch>/). Where the cache lacks a matching version and
// the job has egress, it is downloaded from the official index (download.go,
// pythondl.go); otherwise a matching tool already installed in the sandbox
// (on its PATH) is used instead.

// tool describes one setup-* action.
type tool struct {
	action   string // setup-go
	label    string // Go
	dir      string // directory name in the tool cache
	probe    string // script printing the installed version
	outName  string // output holding the version
	outFmt   func(v string) string
	versionF []string // default version files
}

var (
	// The probe runs go with GO_TELEMETRY_CHILD=2 (x/telemetry's "started by
	// the telemetry child" value): otherwise go starts a detached (setsid)
	// telemetry uploader that outlives the step and writes into the job's
	// home after the job (seen on the host backend).
	goTool = &tool{action: "setup-go", label: "Go", dir: "go", probe: `GO_TELEMETRY_CHILD=2 go env GOVERSION 2>/dev/null`,
		outName: "go-version", outFmt: func(v string) string { return strings.TrimPrefix(v, "go") }, versionF: nil}
	nodeTool = &tool{action: "setup-node", label: "Node", dir: "node", probe: `node --version 2>/dev/null`,
		outName: "node-version", outFmt: func(v string) string { return "v" + strings.TrimPrefix(v, "v") }}
	pythonTool = &tool{action: "setup-python", label: "Python", dir: "Python",
		probe:   `(python3 --version || python --version) 2>/dev/null | sed 's/^Python //'`,
		outName: "python-version", outFmt: func(v string) string { return v }}
)

func toolArch(want string) string {
	if want != "" {
		return strings.ToLower(want)
	}
	switch runtime.GOARCH {
	case "arm64":
		return "arm64"
	case "386":
		return "x86"
	}
	return "x64"
}

// found is where a set-up tool lives in the sandbox ("" dir: already on PATH).
type found struct {
	version string
	dir     string
	why     string // how an alias (stable, oldstable) was resolved, for the log
}

// toolVersions lists the versions of t in the tool cache that have arch,
// and the directory name the cache uses for t.
func (r *Executor) toolVersions(t *tool, arch string) (name string, avail []string) {
	name = t.dir
	if r.cfg.ToolCache == "" {
		return name, nil
	}
	ents, _ := os.ReadDir(r.cfg.ToolCache)
	for _, e := range ents {
		if strings.EqualFold(e.Name(), t.dir) {
			name = e.Name()
		}
	}
	vers, _ := os.ReadDir(filepath.Join(r.cfg.ToolCache, name))
	for _, v := range vers {
		if fi, err := os.Stat(filepath.Join(r.cfg.ToolCache, name, v.Name(), arch)); err == nil && fi.IsDir() {
			avail = append(avail, v.Name())
		}
	}
	return name, avail
}

// resolveAlias turns setup-go's stable and oldstable into a version spec
// over the versions known (avail): stable is the newest release, oldstable
// the newest release of the minor line before it. Other specs are returned
// as they are, with why "".
func resolveAlias(spec string, avail []string, where string) (string, string) {
	alias := strings.ToLower(strings.TrimSpace(spec))
	if alias != "stable" && alias != "oldstable" {
		return spec, ""
	}
	newest := bestVersion("*", avail)
	if newest == "" {
		return spec, ""
	}
	if alias == "stable" {
		return newest, fmt.Sprintf("'stable' resolved to %s: the newest release %s", newest, where)
	}
	v, _ := parseVersion(newest)
	prev := fmt.Sprintf("%d.%d", v.nums[0], v.nums[1]-1)
	if v.nums[1] == 0 {
		prev = fmt.Sprintf("<%d", v.nums[0])
	}
	old := bestVersion(prev, avail)
	if old == "" {
		return prev, ""
	}
	return old, fmt.Sprintf("'oldstable' resolved to %s: the newest release of the minor line before %s, the newest release %s", old, newest, where)
}

// find picks the best version for spec: from the tool cache, else the
// sandbox's own installation.
func (r *Executor) find(ctx context.Context, j *runner.Job, idx int, t *tool, spec, arch string, allowPre bool) (found, error) {
	canDownload := r.cfg.ToolCache != "" && j.Guest.Layout.ToolCache != "" && j.Guest.Network
	if canDownload && isAlias(spec) {
		// A moving version is resolved against the index, as the real
		// action does; the tool cache serves it when it has that version.
		f, err := r.download(ctx, j, idx, t, spec, arch, allowPre)
		if err == nil {
			return f, nil
		}
		j.Log(idx, fmt.Sprintf("##[warning]resolving '%s' from %s failed (%v): resolving it against the tool cache instead", spec, r.indexURL(t), err))
	}
	var avail []string
	if r.cfg.ToolCache != "" && j.Guest.Layout.ToolCache != "" {
		var name string
		name, avail = r.toolVersions(t, arch)
		want, why := resolveAlias(spec, avail, "in the tool cache "+filepath.Join(r.cfg.ToolCache, name)+
			" (hookci resolves aliases against the tool cache, not go.dev)")
		best := bestVersion(want, avail)
		if best == "" && allowPre {
			best = bestPre(want, avail)
		}
		if best != "" {
			return found{version: best, dir: path.Join(j.Guest.Layout.ToolCache, name, best, arch), why: why}, nil
		}
	}
	if out, err := shell(ctx, j, t.probe); err == nil {
		v := strings.TrimSpace(out)
		want, why := resolveAlias(spec, []string{v}, "installed in the sandbox (the only one hookci can see)")
		if v != "" && bestVersion(want, []string{v}) != "" {
			return found{version: strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v"), why: why}, nil
		}
	}
	sort.Strings(avail)
	where := "no tool cache is configured (HOOKCI_TOOL_CACHE)"
	if r.cfg.ToolCache != "" {
		where = fmt.Sprintf("the tool cache %s has %s", filepath.Join(r.cfg.ToolCache, t.dir), orNone(avail, arch))
	}
	provide := fmt.Sprintf("add it to the tool cache as %s/<version>/%s (GitHub's hostedtoolcache layout)",
		filepath.Join(cmp.Or(r.cfg.ToolCache, "<tool cache>"), t.dir), arch)
	switch {
	case r.cfg.ToolCache == "" || j.Guest.Layout.ToolCache == "":
		provide += "; with a tool cache configured, hookci downloads a missing version when the job has egress"
	case !j.Guest.Network:
		provide += fmt.Sprintf(", or grant the job network egress so that hookci downloads it from %s", r.indexURL(t))
	default:
		f, err := r.download(ctx, j, idx, t, spec, arch, allowPre)
		if err == nil {
			return f, nil
		}
		provide += " (the download failed: " + err.Error() + ")"
	}
	return found{}, fmt.Errorf("%s: unable to find %s version '%s' for %s: %s, and the sandbox has no matching %s installed; %s",
		t.action, t.label, spec, arch, where, t.label, provide)
}

func orNone(vs []string, arch string) string {
	if len(vs) == 0 {
		return "no versions for " + arch
	}
	return "only " + strings.Join(vs, ", ")
}

// setup runs a setup-* action once its version spec is known.
func (r *Executor) setup(ctx context.Context, j *runner.Job, idx int, t *tool, spec string, with map[string]string,
	paths func(dir string) []string, env func(dir string) map[string]string) (runner.StepOutcome, found, error) {
	allowPre := strings.EqualFold(strings.TrimSpace(with["allow-prereleases"]), "true")
	f, err := r.find(ctx, j, idx, t, spec, toolArch(with["architecture"]), allowPre)
	if err != nil {
		return runner.StepOutcome{}, f, err
	}
	if f.why != "" {
		j.Log(idx, f.why)
	}
	out := runner.StepOutcome{Outputs: map[string]string{t.outName: t.outFmt(f.version), "cache-hit": "false"}}
	if f.dir == "" {
		j.Log(idx, fmt.Sprintf("%s %s is installed in the sandbox; using it", t.label, f.version))
		return out, f, nil
	}
	for _, p := range paths(f.dir) {
		j.AddPath(p)
	}
	for k, v := range env(f.dir) {
		j.SetEnv(k, v)
	}
	j.Log(idx, fmt.Sprintf("Found %s %s in the tool cache: %s", t.label, f.version, f.dir))
	return out, f, nil
}

// setupGo is actions/setup-go. Per major, as the real action: v6 and later
// export GOTOOLCHAIN=local (earlier majors leave it unset, so go may switch
// toolchains as go.mod asks, which needs the network); v3 and later put
// $(go env GOPATH)/bin on PATH; the cache input exists from v3 (default
// false) and defaults to true from v4. GOPATH, GOMODCACHE and GOCACHE are
// left to go's defaults, as the real action leaves them.
func (r *Executor) setupGo(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	spec, err := r.versionSpec(ctx, j, with, "go-version", "go-version-file", parseGoVersionFile)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	out, f, err := r.setup(ctx, j, idx, goTool, spec, with,
		func(dir string) []string { return []string{path.Join(dir, "bin")} },
		func(dir string) map[string]string {
			e := map[string]string{"GOROOT": dir}
			if major >= 6 {
				e["GOTOOLCHAIN"] = "local"
			}
			return e
		})
	if err != nil {
		return out, err
	}
	if major >= 3 {
		if bin := goPathBin(ctx, j); bin != "" {
			j.AddPath(bin)
		}
	}
	if major < 6 {
		r.warnToolchainSwitch(ctx, j, idx, major, f.version)
	}
	if major < 3 {
		if strings.TrimSpace(with["cache"]) != "" {
			j.Log(idx, fmt.Sprintf("##[warning]Unexpected input 'cache': setup-go@v%d has no cache input (it came in v3); nothing is cached", major))
		}
		return out, nil
	}
	dc := goDepCache(f.version, with, major >= 4)
	if dc != nil {
		// The real action caches what go env says (GOMODCACHE, GOCACHE).
		if o, err := shell(ctx, j, `go env GOMODCACHE GOCACHE 2>/dev/null`); err == nil {
			if ps := lines(o); len(ps) == 2 && path.IsAbs(ps[0]) && path.IsAbs(ps[1]) {
				dc.paths = ps
			}
		}
	}
	return out, dc.run(ctx, r, j, idx, &out)
}

// goPathBin is $(go env GOPATH)/bin of the first GOPATH entry, or "".
func goPathBin(ctx context.Context, j *runner.Job) string {
	o, err := shell(ctx, j, `go env GOPATH 2>/dev/null`)
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(strings.TrimSpace(o), ":")
	if !path.IsAbs(first) || strings.ContainsAny(first, "\n ") {
		return ""
	}
	return path.Join(first, "bin")
}

// warnToolchainSwitch says, before the build does, that go.mod asks for a
// newer Go than the one set up: with GOTOOLCHAIN unset (setup-go before v6)
// go switches to that toolchain by downloading it, which a job without
// egress cannot do.
func (r *Executor) warnToolchainSwitch(ctx context.Context, j *runner.Job, idx, major int, have string) {
	data, err := j.Guest.Client.ReadFile(ctx, path.Join(j.Guest.Layout.Workspace, "go.mod"))
	if err != nil {
		return
	}
	want := parseGoVersionFile("go.mod", data)
	wv, ok1 := parseVersion(want)
	hv, ok2 := parseVersion(have)
	if !ok1 || !ok2 || wv.cmp(hv) <= 0 {
		return
	}
	msg := fmt.Sprintf("go.mod asks for go %s, newer than the Go %s set up; setup-go@v%d leaves GOTOOLCHAIN unset (auto), so go will switch to go%s by downloading it",
		want, have, major, want)
	if j.Guest.Network {
		j.Log(idx, msg+", as on GitHub")
		return
	}
	j.Log(idx, "##[warning]"+msg+", and this job has no network egress: that download will fail. "+
		"Put Go "+want+" in the tool cache and ask for it, or grant the job egress")
}

func (r *Executor) setupNode(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	spec, err := r.versionSpec(ctx, j, with, "node-version", "node-version-file", parseNodeVersionFile)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	var dc *depCache
	if major < 2 {
		warnNoCacheInput(j, idx, "setup-node", major, with)
	} else if dc, err = nodeDepCache(with); err != nil {
		return runner.StepOutcome{}, err
	}
	out, _, err := r.setup(ctx, j, idx, nodeTool, spec, with,
		func(dir string) []string { return []string{path.Join(dir, "bin")} },
		func(string) map[string]string { return nil })
	if err != nil {
		return out, err
	}
	return out, dc.run(ctx, r, j, idx, &out)
}

func (r *Executor) setupPython(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	spec, err := r.versionSpec(ctx, j, with, "python-version", "python-version-file", parsePlainVersionFile)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	out, f, err := r.setup(ctx, j, idx, pythonTool, spec, with,
		func(dir string) []string { return []string{path.Join(dir, "bin"), dir} },
		func(dir string) map[string]string {
			return map[string]string{"pythonLocation": dir, "Python_ROOT_DIR": dir, "Python2_ROOT_DIR": dir,
				"Python3_ROOT_DIR": dir, "PKG_CONFIG_PATH": path.Join(dir, "lib", "pkgconfig"),
				// as the real action on Linux: its builds link libpython3.X.so from lib/
				"LD_LIBRARY_PATH": path.Join(dir, "lib")}
		})
	if err != nil {
		return out, err
	}
	out.Outputs["python-path"] = "python3"
	if f.dir != "" {
		out.Outputs["python-path"] = path.Join(f.dir, "bin", "python")
	}
	if major < 2 {
		warnNoCacheInput(j, idx, "setup-python", major, with)
		return out, nil
	}
	dc, err := pythonDepCache(f.version, with)
	if err != nil {
		return out, err
	}
	return out, dc.run(ctx, r, j, idx, &out)
}

// warnNoCacheInput warns, as the runner does, about a cache input given to a
// major that has none (setup-node and setup-python v1).
func warnNoCacheInput(j *runner.Job, idx int, action string, major int, with map[string]string) {
	if strings.TrimSpace(with["cache"]) != "" {
		j.Log(idx, fmt.Sprintf("##[warning]Unexpected input 'cache': %s@v%d has no cache input (it came in v2); nothing is cached", action, major))
	}
}

// versionSpec reads the version input, or the version file input (read
// from the workspace); neither set means any version.
func (r *Executor) versionSpec(ctx context.Context, j *runner.Job, with map[string]string, input, fileInput string, parse func(name string, data []byte) string) (string, error) {
	if v := strings.TrimSpace(with[input]); v != "" {
		if vs := lines(v); len(vs) > 0 {
			return vs[0], nil
		}
	}
	file := strings.TrimSpace(with[fileInput])
	if file == "" {
		return "*", nil
	}
	data, err := j.Guest.Client.ReadFile(ctx, absPath(j, file))
	if err != nil {
		//lint:ignore ST1005 setup-go/node/python's wording, shown in the step log
		return "", fmt.Errorf("The specified %s version file at: %s does not exist", strings.TrimSuffix(input, "-version"), file)
	}
	v := parse(path.Base(file), data)
	if v == "" {
		return "", fmt.Errorf("no version found in %s", file)
	}
	return v, nil
}

var (
	goToolchainRe = regexp.MustCompile(`(?m)^toolchain\s+go(\S+)`)
	goDirectiveRe = regexp.MustCompile(`(?m)^go\s+(\S+)`)
)

func parseGoVersionFile(name string, data []byte) string {
	if name == "go.mod" || name == "go.work" {
		if m := goToolchainRe.FindSubmatch(data); m != nil {
			return string(m[1])
		}
		if m := goDirectiveRe.FindSubmatch(data); m != nil {
			return string(m[1])
		}
		return ""
	}
	return parsePlainVersionFile(name, data)
}

func parseNodeVersionFile(name string, data []byte) string {
	if name == "package.json" {
		var p struct {
			Volta   struct{ Node string } `json:"volta"`
			Engines struct{ Node string } `json:"engines"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return ""
		}
		return cmp.Or(p.Volta.Node, p.Engines.Node)
	}
	return parsePlainVersionFile(name, data)
}

// parsePlainVersionFile reads .nvmrc, .node-version, .python-version,
// .go-version and .tool-versions style files.
func parsePlainVersionFile(name string, data []byte) string {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if f := strings.Fields(l); name == ".tool-versions" && len(f) == 2 {
			l = f[1]
		}
		return strings.TrimPrefix(l, "v")
	}
	return ""
}
