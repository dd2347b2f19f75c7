package workflow

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Severity says whether GitHub would reject a workflow for a problem.
type Severity int

const (
	// SeverityError problems make Load fail: GitHub rejects such a workflow.
	SeverityError Severity = iota
	// SeverityWarning problems are lint findings only (Workflow.Warnings).
	SeverityWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one finding in a workflow file. Line and Col are 1-based
// (0 when the problem concerns the whole file).
type Problem struct {
	File     string
	Line     int
	Col      int
	Message  string
	Kind     string // actionlint rule name (syntax-check, expression, …) or ours (yaml, limits, internal)
	Severity Severity
}

// String renders "file:line:col: message [kind]".
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s [%s]", p.File, p.Line, p.Col, p.Message, p.Kind)
}

// LoadError holds every problem that made Load fail, sorted by position.
type LoadError struct {
	Problems []Problem
}

// Error renders one "file:line:col: message [kind]" line per problem.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Options tune Load. The zero value means the defaults.
type Options struct {
	// MaxFileSize is the largest accepted file in bytes (default 1 MiB).
	MaxFileSize int
	// MaxDepth is the deepest accepted nesting of YAML collections
	// (default 50, GitHub's limit).
	MaxDepth int
	// ProjectDir, when set, is the repository root: local actions
	// (uses: ./x) and local reusable workflows are read from it for
	// validation. When empty nothing but src is read.
	ProjectDir string
}

func (o Options) withDefaults() Options {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 1 << 20
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 50
	}
	return o
}

// problems accumulates findings for one file.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(n *yaml.Node, msg, kind string) {
	p := Problem{File: ps.file, Message: msg, Kind: kind}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	ps.list = append(ps.list, p)
}

func (ps *problems) addAt(pos Pos, msg, kind string) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: pos.Line, Col: pos.Col, Message: msg, Kind: kind})
}

// sorted returns the problems sorted by position, duplicates removed.
func (ps *problems) sorted() []Problem {
	l := slices.Clone(ps.list)
	slices.SortStableFunc(l, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Col != b.Col {
			return a.Col - b.Col
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.CompactFunc(l, func(a, b Problem) bool {
		return a.Line == b.Line && a.Col == b.Col && a.Message == b.Message
	})
}

// Load parses and validates one workflow file. file is used in positions
// and messages only; nothing is read from disk. On failure the error is a
// *LoadError listing every problem GitHub would reject the file for.
func Load(file string, src []byte) (*Workflow, error) {
	return LoadWithOptions(file, src, Options{})
}

// LoadWithOptions is Load with limits and an optional project directory.
func LoadWithOptions(file string, src []byte, opts Options) (w *Workflow, err error) {
	all, root := check(file, src, opts)
	var errs, warns []Problem
	for _, p := range all {
		if p.Severity == SeverityError {
			errs = append(errs, p)
		} else {
			warns = append(warns, p)
		}
	}
	if len(errs) > 0 {
		return nil, &LoadError{Problems: errs}
	}
	defer func() {
		if r := recover(); r != nil {
			w, err = nil, &LoadError{Problems: []Problem{internalProblem(file, r)}}
		}
	}()
	if root == nil {
		return nil, &LoadError{Problems: []Problem{{File: file, Message: "no workflow found", Kind: "yaml"}}}
	}
	ps := &problems{file: file}
	w = convertWorkflow(file, root, ps)
	if errs := ps.sorted(); len(errs) > 0 {
		return nil, &LoadError{Problems: errs}
	}
	w.Warnings = warns
	return w, nil
}

func internalProblem(file string, r any) Problem {
	return Problem{File: file, Message: fmt.Sprintf("internal error while reading workflow: %v", r), Kind: "internal"}
}
