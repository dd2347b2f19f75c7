package backends

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/sandbox"
)

// ErrForkHost is wrapped by the error a pull request from a fork gets when
// its job would run on the host backend.
var ErrForkHost = errors.New("the host backend is not available to pull requests from forks")

// decide is the label policy, without the backends: the first runs-on label
// named in cfg.Labels chooses its backend and size (a label whose repos do
// not name the job's repository is refused), else cfg.Sandbox; "auto" (or
// "") becomes what auto returns. A pull request from a fork never runs on
// the host, whichever way host was reached: it fails with the reason
// instead of being moved elsewhere.
func decide(cfg config.Config, labels []string, o sandbox.Origin, auto func() string) (sandbox.Choice, error) {
	c := sandbox.Choice{Name: cfg.Sandbox}
	for _, l := range labels {
		lc, ok := cfg.Labels[l]
		if !ok {
			continue
		}
		if !lc.Permits(o.Repo) {
			return sandbox.Choice{}, fmt.Errorf("runs-on %s: repository %s may not use this label (labels.%s.repos)", l, o.Repo, l)
		}
		c.Label, c.CPUs, c.MemoryMiB = l, lc.CPUs, lc.MemoryMiB
		if lc.Backend != "" {
			c.Name = lc.Backend
		}
		break
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
