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
// <tool>/<version>/<arch>/), never from the network. Where the cache lacks
// a matching version, a matching tool already installed in the sandbox
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
	goTool = &tool{action: "setup-go", label: "Go", dir: "go", probe: `go env GOVERSION 2>/dev/null`,
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
}

// find picks the best version for spec: from the tool cache, else the
// sandbox's own installation.
func (r *Executor) find(ctx context.Context, j *runner.Job, t *tool, spec, arch string) (found, error) {
	var avail []string
	if r.cfg.ToolCache != "" && j.Guest.Layout.ToolCache != "" {
		name := t.dir
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
		if best := bestVersion(spec, avail); best != "" {
			return found{version: best, dir: path.Join(j.Guest.Layout.ToolCache, name, best, arch)}, nil
		}
	}
	if out, err := shell(ctx, j, t.probe); err == nil {
		if v := strings.TrimSpace(out); v != "" && bestVersion(spec, []string{v}) != "" {
			return found{version: strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v")}, nil
		}
	}
	sort.Strings(avail)
	where := "no tool cache is configured (HOOKCI_TOOL_CACHE)"
	if r.cfg.ToolCache != "" {
		where = fmt.Sprintf("the tool cache %s has %s", filepath.Join(r.cfg.ToolCache, t.dir), orNone(avail, arch))
	}
	return found{}, fmt.Errorf("%s: unable to find %s version '%s' for %s: %s, and the sandbox has no matching %s installed; hookci downloads nothing (the sandbox has no network)",
		t.action, t.label, spec, arch, where, t.label)
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
	f, err := r.find(ctx, j, t, spec, toolArch(with["architecture"]))
	if err != nil {
		return runner.StepOutcome{}, f, err
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

func (r *Executor) setupGo(ctx context.Context, j *runner.Job, idx int, with, env map[string]string) (runner.StepOutcome, error) {
	spec, err := r.versionSpec(ctx, j, with, "go-version", "go-version-file", parseGoVersionFile)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	out, f, err := r.setup(ctx, j, idx, goTool, spec, with,
		func(dir string) []string { return []string{path.Join(dir, "bin")} },
		func(dir string) map[string]string { return map[string]string{"GOROOT": dir, "GOTOOLCHAIN": "local"} })
	if err != nil {
		return out, err
	}
	return out, goDepCache(f.version, with).run(ctx, r, j, idx, &out)
}

func (r *Executor) setupNode(ctx context.Context, j *runner.Job, idx int, with, env map[string]string) (runner.StepOutcome, error) {
	spec, err := r.versionSpec(ctx, j, with, "node-version", "node-version-file", parseNodeVersionFile)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	dc, err := nodeDepCache(with)
	if err != nil {
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

func (r *Executor) setupPython(ctx context.Context, j *runner.Job, idx int, with, env map[string]string) (runner.StepOutcome, error) {
	spec, err := r.versionSpec(ctx, j, with, "python-version", "python-version-file", parsePlainVersionFile)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	out, f, err := r.setup(ctx, j, idx, pythonTool, spec, with,
		func(dir string) []string { return []string{path.Join(dir, "bin"), dir} },
		func(dir string) map[string]string {
			return map[string]string{"pythonLocation": dir, "Python_ROOT_DIR": dir, "Python2_ROOT_DIR": dir,
				"Python3_ROOT_DIR": dir, "PKG_CONFIG_PATH": path.Join(dir, "lib", "pkgconfig")}
		})
	if err != nil {
		return out, err
	}
	out.Outputs["python-path"] = "python3"
	if f.dir != "" {
		out.Outputs["python-path"] = path.Join(f.dir, "bin", "python")
	}
	dc, err := pythonDepCache(f.version, with)
	if err != nil {
		return out, err
	}
	return out, dc.run(ctx, r, j, idx, &out)
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
