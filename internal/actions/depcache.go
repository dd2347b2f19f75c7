package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
)

// Dependency caching of the setup-* actions (setup-go's cache: true, which
// is its default; setup-node's and setup-python's cache: npm|yarn|pnpm|pip),
// done with the native cache: restored now, saved in a post step on a miss.

type depCache struct {
	keyPrefix string   // without the hash of the dependency files
	pattern   []string // dependency files (hashFiles patterns)
	paths     []string
	what      string // for messages: go.sum, package-lock.json…
}

// goDepCache is setup-go's cache; def is the cache input's default.
func goDepCache(version string, with map[string]string, def bool) *depCache {
	if !boolInput(with, "cache", def) {
		return nil
	}
	return &depCache{keyPrefix: fmt.Sprintf("setup-go-Linux-%s-go-%s-", toolArch(with["architecture"]), version),
		pattern: orLines(with["cache-dependency-path"], "go.sum"), paths: []string{"~/go/pkg/mod", "~/.cache/go-build"}, what: "go.sum"}
}

// nodeDepCache is setup-node's cache for one package manager.
func nodeDepCache(with map[string]string) (*depCache, error) {
	pm := strings.TrimSpace(with["cache"])
	arch := toolArch(with["architecture"])
	var d *depCache
	switch pm {
	case "":
		return nil, nil
	case "npm":
		d = &depCache{pattern: []string{"**/package-lock.json", "**/npm-shrinkwrap.json"}, paths: []string{"~/.npm"}, what: "package-lock.json"}
	case "yarn":
		d = &depCache{pattern: []string{"**/yarn.lock"}, paths: []string{"~/.cache/yarn"}, what: "yarn.lock"}
	case "pnpm":
		d = &depCache{pattern: []string{"**/pnpm-lock.yaml"}, paths: []string{"~/.local/share/pnpm/store"}, what: "pnpm-lock.yaml"}
	default:
		//lint:ignore ST1005 setup-node's wording, shown in the step log
		return nil, fmt.Errorf("Caching for '%s' is not supported", pm)
	}
	d.keyPrefix = fmt.Sprintf("node-cache-Linux-%s-%s-", arch, pm)
	if p := lines(with["cache-dependency-path"]); len(p) > 0 {
		d.pattern = p
	}
	return d, nil
}

// pythonDepCache is setup-python's cache (pip only).
func pythonDepCache(version string, with map[string]string) (*depCache, error) {
	switch pm := strings.TrimSpace(with["cache"]); pm {
	case "":
		return nil, nil
	case "pip":
		return &depCache{keyPrefix: fmt.Sprintf("setup-python-Linux-%s-python-%s-pip-", toolArch(with["architecture"]), version),
			pattern: orLines(with["cache-dependency-path"], "**/requirements.txt"), paths: []string{"~/.cache/pip"}, what: "requirements.txt"}, nil
	default:
		//lint:ignore ST1005 setup-python's wording, shown in the step log
		return nil, fmt.Errorf("Caching for '%s' is not supported by hookci's native setup-python (pip only)", pm)
	}
}

func orLines(s, def string) []string {
	if l := lines(s); len(l) > 0 {
		return l
	}
	return []string{def}
}

// run restores the dependency cache, sets cache-hit in out and registers
// the save for a miss. A missing dependency file only warns, as upstream.
func (d *depCache) run(ctx context.Context, r *Executor, j *runner.Job, idx int, out *runner.StepOutcome) error {
	if d == nil {
		return nil
	}
	quoted := make([]string, len(d.pattern))
	for i, p := range d.pattern {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	v, err := expr.EvaluateValue("${{ hashFiles("+strings.Join(quoted, ", ")+") }}", j.ExprEnv(nil))
	if err != nil {
		return fmt.Errorf("hashing %s: %w", strings.Join(d.pattern, ", "), err)
	}
	hash := expr.String(v)
	if hash == "" {
		j.Log(idx, fmt.Sprintf("##[warning]Restore cache failed: Dependencies file is not found in %s. Supported file pattern: %s",
			j.Guest.Layout.Workspace, d.what))
		return nil
	}
	with := map[string]string{"key": d.keyPrefix + hash, "path": strings.Join(d.paths, "\n")}
	o, q, exact, err := r.restore(ctx, j, idx, with)
	if err != nil {
		return err
	}
	out.Outputs["cache-hit"] = o.Outputs["cache-hit"]
	if !exact {
		j.AddPost(runner.PostStep{Name: "Post save dependency cache " + q.key, If: "success()", Run: func(ctx context.Context, pidx int) (runner.StepOutcome, error) {
			return runner.StepOutcome{}, r.save(ctx, j, pidx, q)
		}})
	}
	return nil
}
