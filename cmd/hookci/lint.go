package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/sandbox/backends"
	"github.com/hookci/hookci/internal/workflow"
)

// cmdLint implements "hookci lint [-errors-only] [FILE|DIR...]": it checks
// workflow files (a directory means its *.yml and *.yaml files; the default
// is .github/workflows) and prints one "file:line:col: message [kind]" line
// per problem. Lint-only findings GitHub would accept are marked
// "[kind, warning]". It returns 0 when clean, 1 when problems were found or
// a file could not be read, 2 for bad usage.
func cmdLint(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	errorsOnly := fs.Bool("errors-only", false, "report only problems GitHub would reject the workflow for")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci lint [-errors-only] [FILE|DIR...]  (default .github/workflows)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{filepath.Join(".github", "workflows")}
	}
	files, err := workflowFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "hookci lint: %v\n", err)
		return 1
	}
	status := 0
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			fmt.Fprintf(stderr, "hookci lint: %v\n", err)
			return 1
		}
		if n, err := lintFile(f, *errorsOnly, stdout); err != nil {
			fmt.Fprintf(stderr, "hookci lint: %v\n", err)
			status = 1
		} else if n > 0 {
			status = 1
		}
	}
	return status
}

// workflowFiles expands directories into their workflow files, sorted.
func workflowFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		for _, pat := range []string{"*.yml", "*.yaml"} {
			m, err := filepath.Glob(filepath.Join(p, pat))
			if err != nil {
				return nil, err
			}
			slices.Sort(m)
			files = append(files, m...)
		}
	}
	return files, nil
}

// lintFile prints the problems of one file and returns how many it printed.
func lintFile(file string, errorsOnly bool, stdout io.Writer) (int, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range workflow.Lint(file, src, workflow.Options{ProjectDir: projectDir(file)}) {
		kind := p.Kind
		if p.Severity == workflow.SeverityWarning {
			if errorsOnly {
				continue
			}
			kind += ", warning"
		}
		fmt.Fprintf(stdout, "%s:%d:%d: %s [%s]\n", p.File, p.Line, p.Col, p.Message, kind)
		n++
	}
	if !errorsOnly {
		for _, p := range append(unservedLabels(file, src), containerJobs(file, src)...) {
			fmt.Fprintln(stdout, p)
			n++
		}
	}
	return n, nil
}

// unservedLabels warns about the runs-on labels (of every matrix leg, where
// the matrix and runs-on need nothing but the matrix) that hookci's default
// Linux backends do not serve: without a [labels] section on the server such
// a job fails with "no runner for labels".
func unservedLabels(file string, src []byte) []workflow.Problem {
	wf, err := workflow.Load(file, src)
	if err != nil {
		return nil // workflow.Lint reported it
	}
	var out []workflow.Problem
	for _, j := range wf.Jobs {
		if j.Uses != "" {
			continue
		}
		legs, err := j.EvalMatrix(nil)
		if err != nil {
			legs = []workflow.Combination{nil}
		}
		var unserved []string
		for _, leg := range legs {
			env := &expr.Env{Contexts: map[string]expr.Value{"matrix": expr.ObjectValue(leg.Context())}}
			labels, err := j.RunsOn.Eval(env)
			if err != nil {
				continue // needs contexts known only when it runs
			}
			for _, l := range labels {
				if !backends.DefaultServes(l) && !slices.Contains(unserved, l) {
					unserved = append(unserved, l)
				}
			}
		}
		for _, l := range unserved {
			out = append(out, workflow.Problem{File: file, Line: j.Pos.Line, Col: j.Pos.Col, Kind: "runner-os, warning",
				Message: fmt.Sprintf("jobs.%s runs-on %s: hookci's sandboxes run %s, so this job fails with \"no runner for labels\" "+
					"unless the server maps the label ([labels.%s]) or runs any label (any_label, hookci run --run-any-label)",
					j.ID, l, backends.DefaultPlatform(), l)})
		}
	}
	return out
}

// containerJobs warns about jobs with container: or services:, which run
// only inside a namespace or microVM sandbox: on the host or firecracker
// backend such a job is refused.
func containerJobs(file string, src []byte) []workflow.Problem {
	wf, err := workflow.Load(file, src)
	if err != nil {
		return nil // workflow.Lint reported it
	}
	var out []workflow.Problem
	for _, j := range wf.Jobs {
		for _, k := range []struct {
			key string
			set bool
		}{{"container", j.Container != nil}, {"services", j.Services != nil}} {
			if k.set {
				out = append(out, workflow.Problem{File: file, Line: j.Pos.Line, Col: j.Pos.Col, Kind: "containers, warning",
					Message: fmt.Sprintf("jobs.%s.%s: containers run only on the namespace and microvm sandbox backends; on the host or firecracker backend this job is refused", j.ID, k.key)})
			}
		}
	}
	return out
}

// projectDir returns the repository root of a file under .github/workflows,
// so that local actions and reusable workflows can be checked; "" otherwise.
func projectDir(file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return ""
	}
	dir := filepath.Dir(abs)
	if filepath.Base(dir) != "workflows" || filepath.Base(filepath.Dir(dir)) != ".github" {
		return ""
	}
	root := filepath.Dir(filepath.Dir(dir))
	if strings.TrimSpace(root) == "" {
		return ""
	}
	return root
}
