package backends

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/sandbox"
)

// ErrForkHost is wrapped by the error a pull request from a fork gets when
// its job would run on the host backend.
var ErrForkHost = errors.New("the host backend is not available to pull requests from forks")

// ErrNoRunner is wrapped by the error a job gets when one of its runs-on
// labels is served by no backend here (GitHub would leave it queued); its
// message starts with "no runner for labels".
var ErrNoRunner = errors.New("no runner for labels")

// decide is the label policy, without the backends. Every runs-on label
// must be served, as on GitHub a runner must have all of a job's labels: a
// label is served when cfg.Labels names it (on purpose, whatever it says),
// when the default Linux backends serve it on a host of architecture goarch
// (see linuxServes), or when cfg.AnyLabel is set; otherwise the job fails
// with ErrNoRunner. The first label named in cfg.Labels chooses the backend
// and size (a label whose repos do not name the job's repository is
// refused), else cfg.Sandbox; "auto" (or "") becomes what auto returns. A
// pull request from a fork never runs on the host, whichever way host was
// reached: it fails with the reason instead of being moved elsewhere.
func decide(cfg config.Config, labels []string, o sandbox.Origin, goarch string, auto func() string) (sandbox.Choice, error) {
	c := sandbox.Choice{Name: cfg.Sandbox}
	mapped := false
	var unserved []string
	for _, l := range labels {
		name, lc, ok := lookupLabel(cfg.Labels, l)
		if !ok {
			if !cfg.AnyLabel && !linuxServes(l, goarch) {
				unserved = append(unserved, l)
			}
			continue
		}
		if !lc.Permits(o.Repo) {
			return sandbox.Choice{}, fmt.Errorf("runs-on %s: repository %s may not use this label (labels.%s.repos)", l, o.Repo, name)
		}
		if mapped {
			continue
		}
		mapped = true
		c.Label, c.CPUs, c.MemoryMiB = name, lc.CPUs, lc.MemoryMiB
		if lc.Backend != "" {
			c.Name = lc.Backend
		}
	}
	if len(unserved) > 0 {
		return sandbox.Choice{}, fmt.Errorf("%w [%s]: no backend here serves %s (hookci's sandboxes run Linux %s; "+
			"a [labels.%s] section in the config, or hookci run --run-any-label, runs it there on purpose)",
			ErrNoRunner, strings.Join(labels, ", "), strings.Join(unserved, ", "), archName(goarch), tomlKey(unserved[0]))
	}
	if c.Name == "" || c.Name == "auto" {
		c.Name = auto()
	}
	if o.Fork && c.Name == "host" {
		what := c.Label
		if what == "" {
			what = strings.Join(labels, ", ")
		}
		return sandbox.Choice{}, fmt.Errorf("runs-on %s: %w", what, ErrForkHost)
	}
	c.Network = cfg.EgressAllowed(o.Repo)
	return c, nil
}

// DefaultServes reports whether the default Linux backends serve a runs-on
// label on this host without a [labels] section (for hookci lint).
func DefaultServes(label string) bool { return linuxServes(label, runtime.GOARCH) }

// DefaultPlatform names what the default backends run: "Linux x64" on an
// amd64 host.
func DefaultPlatform() string { return "Linux " + archName(runtime.GOARCH) }

// lookupLabel finds label in the configured labels, as GitHub matches
// labels: without regard to case. It returns the configured name.
func lookupLabel(labels map[string]config.Label, label string) (string, config.Label, bool) {
	if lc, ok := labels[label]; ok {
		return label, lc, true
	}
	for name, lc := range labels {
		if strings.EqualFold(name, label) {
			return name, lc, true
		}
	}
	return "", config.Label{}, false
}

// linuxServes reports whether the default backends (Linux guests of the
// host's architecture goarch) serve a runs-on label: GitHub's hosted Ubuntu
// labels of that architecture (ubuntu-latest, ubuntu-24.04, ubuntu-slim,
// larger-runner names such as ubuntu-latest-4-cores; -arm makes a label
// arm64, as ubuntu-24.04-arm; other ubuntu-* names are custom labels), and
// the self-hosted runner's default labels self-hosted, linux and x64 or
// arm64. Windows, macOS and every other label are not served.
func linuxServes(label, goarch string) bool {
	l := strings.ToLower(strings.TrimSpace(label))
	switch l {
	case "self-hosted", "linux":
		return true
	case "x64":
		return goarch == "amd64"
	case "arm64":
		return goarch == "arm64"
	}
	m := ubuntuLabel.FindStringSubmatch(l)
	if m == nil {
		return false
	}
	arm := m[1] != ""
	switch goarch {
	case "amd64":
		return !arm
	case "arm64":
		return arm
	}
	return false
}

// ubuntuLabel matches GitHub's hosted Ubuntu labels: a version, latest or
// slim, then -arm for arm64 and a larger runner's size (-4-cores, -16core).
var ubuntuLabel = regexp.MustCompile(`^ubuntu-(?:latest|slim|\d+\.\d+)(-arm(?:64)?)?(?:-\d+-?cores?)?$`)

// tomlKey is label as a TOML key: bare when it can be, else quoted.
func tomlKey(label string) string {
	for _, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return strconv.Quote(label)
		}
	}
	return label
}

// archName is GitHub's name of an architecture (runner.arch, lower case).
func archName(goarch string) string {
	switch goarch {
	case "amd64":
		return "x64"
	case "arm64":
		return "arm64"
	}
	return goarch
}

// hostLabels are the labels mapped to the host backend, sorted.
func hostLabels(cfg config.Config) []string {
	var out []string
	for name, l := range cfg.Labels {
		if l.Backend == "host" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
