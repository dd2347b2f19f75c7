package workflow

import (
	"fmt"
	"strings"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v4"
)

// Lint reports every problem in a workflow file: the ones GitHub rejects
// (SeverityError, the same as Load) and lint findings (SeverityWarning).
// It never panics and reads no file unless opts.ProjectDir is set.
func Lint(file string, src []byte, opts Options) []Problem {
	ps, _ := check(file, src, opts)
	return ps
}

// check lints src and returns the problems and the YAML tree (nil when the
// YAML does not parse or a limit was exceeded).
func check(file string, src []byte, opts Options) (out []Problem, root *yaml.Node) {
	opts = opts.withDefaults()
	ps := &problems{file: file}
	defer func() {
		if r := recover(); r != nil {
			out, root = append(ps.sorted(), internalProblem(file, r)), nil
		}
	}()
	if len(src) > opts.MaxFileSize {
		ps.addAt(Pos{}, fmt.Sprintf("the maximum file size of %d bytes has been exceeded", opts.MaxFileSize), "limits")
		return ps.sorted(), nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal(src, &n); err != nil {
		runActionlint(file, src, opts.ProjectDir, ps) // reports the YAML error its way
		if len(ps.list) == 0 {
			ps.addAt(Pos{}, err.Error(), "yaml")
		}
		return ps.sorted(), nil
	}
	// Limits first: actionlint expands aliases and compares matrix values
	// pairwise, so oversized input must not reach it.
	sc := newStructChecker(opts, ps)
	if !sc.walk(&n, 0) || !checkMatrixSizes(&n, ps) {
		return ps.sorted(), nil
	}
	runActionlint(file, src, opts.ProjectDir, ps)
	relaxLoose(&n, ps)
	checkJobIDs(&n, ps)
	sc.finish()
	for _, p := range ps.list {
		if p.Severity == SeverityError {
			return ps.sorted(), nil
		}
	}
	return ps.sorted(), &n
}

// runActionlint runs actionlint's parser and the rules its Linter runs,
// without external programs (shellcheck, pyflakes) and without reading files
// unless projectDir is set.
func runActionlint(file string, src []byte, projectDir string, ps *problems) {
	w, errs := actionlint.Parse(nbspInExpressions(src))
	if w != nil {
		var proj *actionlint.Project
		if projectDir != "" {
			p, err := actionlint.NewProject(projectDir)
			if err != nil { // a broken .github/actionlint.yaml: lint without it
				ps.list = append(ps.list, Problem{File: file, Message: fmt.Sprintf("reading project %s: %v", projectDir, err),
					Kind: "config", Severity: SeverityWarning})
			}
			proj = p
		}
		actions := actionlint.NewLocalActionsCache(proj, nil)
		workflows := actionlint.NewLocalReusableWorkflowCache(proj, projectDir, nil)
		rules := []actionlint.Rule{
			actionlint.NewRuleMatrix(),
			actionlint.NewRuleCredentials(),
			actionlint.NewRuleShellName(),
			actionlint.NewRuleRunnerLabel(),
			actionlint.NewRuleEvents(),
			actionlint.NewRuleJobNeeds(),
			actionlint.NewRuleAction(actions),
			actionlint.NewRuleEnvVar(),
			actionlint.NewRuleID(),
			actionlint.NewRuleGlob(),
			actionlint.NewRulePermissions(),
			actionlint.NewRuleWorkflowCall(file, workflows),
			actionlint.NewRuleExpression(actions, workflows),
			actionlint.NewRuleDeprecatedCommands(),
			actionlint.NewRuleIfCond(),
		}
		v := actionlint.NewVisitor()
		for _, r := range rules {
			if proj != nil && proj.Config() != nil {
				r.SetConfig(proj.Config())
			}
			v.AddPass(r)
		}
		if err := v.Visit(w); err != nil {
			ps.addAt(Pos{}, fmt.Sprintf("validating: %v", err), "internal")
		}
		for _, r := range rules {
			errs = append(errs, r.Errs()...)
		}
	}
	for _, e := range errs {
		if e.Kind == "events" && strings.Contains(e.Message, `unknown Webhook event "pull_request_comment"`) {
			e.Message = pullRequestCommentMsg
		}
		ps.list = append(ps.list, Problem{
			File: file, Line: e.Line, Col: e.Column, Message: e.Message, Kind: e.Kind,
			Severity: classify(e.Kind, e.Message),
		})
	}
}

// pullRequestCommentMsg names the event to use instead of
// pull_request_comment, which GitHub's list of events shows only as
// "pull_request_comment (use issue_comment)": no delivery has that name, so
// such a workflow never runs.
const pullRequestCommentMsg = `"pull_request_comment" is not an event GitHub sends, so this never runs: comments on pull requests ` +
	`arrive as issue_comment (GitHub's docs: "pull_request_comment (use issue_comment)"); use on: issue_comment with ` +
	`if: github.event.issue.pull_request`

// acceptedSyntax lists actionlint syntax-check messages for keys GitHub
// accepts (newer than actionlint 1.7.12, or accepted leniently by GitHub).
var acceptedSyntax = []string{
	`unexpected key "description" for "workflow" section`,
	`unexpected key "cancel-timeout-minutes" for "job" section`,
	`"steps" section is missing in job`,
}

// fatalExpression lists actionlint expression messages GitHub also rejects
// when it reads the file (syntax, unknown names, wrong arity, availability).
var fatalExpression = []string{
	"while lexing", "scan error", "while parsing", "parsing invalid", "parser did not reach end",
	"undefined variable", "undefined function", "is not allowed here", "number of arguments is wrong",
	"expecting a single ${{...}} expression", "should be included in",
}

// classify decides whether GitHub would reject a workflow for an actionlint
// finding. GitHub reads on: loosely (any event, any keys, except
// workflow_call), so "events" and "glob" findings are warnings: an unknown
// event or activity type never matches, and Match reports bad patterns.
func classify(kind, msg string) Severity {
	switch kind {
	case "syntax-check":
		for _, s := range acceptedSyntax {
			if strings.Contains(msg, s) {
				return SeverityWarning
			}
		}
		return SeverityError
	case "job-needs", "id", "permissions", "workflow-call":
		return SeverityError
	case "expression":
		for _, s := range fatalExpression {
			if strings.Contains(msg, s) {
				return SeverityError
			}
		}
		return SeverityWarning
	case "action":
		if strings.Contains(msg, "in invalid format") {
			return SeverityError
		}
		return SeverityWarning
	}
	return SeverityWarning
}
