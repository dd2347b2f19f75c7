package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Event is what happened, as far as trigger matching needs it.
type Event struct {
	Name   string // push, pull_request, workflow_dispatch, schedule, …
	Action string // activity type (payload "action"), e.g. opened
	// Ref is the full ref the event concerns: refs/heads/x or refs/tags/y
	// (for workflow_run: refs/heads/<head_branch> of the run that completed).
	Ref string
	// BaseRef is the base branch of pull_request(_target) and merge_group
	// events (branch filters apply to it); "refs/heads/" may be omitted.
	BaseRef string
	// Workflow is, for workflow_run, the name of the workflow that ran
	// (matched exactly against on.workflow_run.workflows).
	Workflow string
	// Schedule is, for schedule, the cron that fired: the workflow must
	// still list it ("" matches any schedule).
	Schedule string
	// ChangedFiles lists the changed paths; called only when the trigger has
	// a paths or paths-ignore filter. Nil means the diff is unknown, and
	// then path filters pass (GitHub runs the workflow when it has no diff).
	ChangedFiles func() ([]string, error)
}

// Match reports whether ev triggers the workflow, with a human-readable
// reason either way. The error is for invalid filter patterns or a failing
// ChangedFiles.
func (w *Workflow) Match(ev Event) (bool, string, error) {
	t := w.Trigger(ev.Name)
	if t == nil {
		return false, fmt.Sprintf("workflow does not run on %s", ev.Name), nil
	}
	if ok, why := matchTypes(t, ev); !ok {
		return false, why, nil
	}
	if ev.Name == "schedule" && ev.Schedule != "" && !slices.ContainsFunc(t.Schedules, func(s Schedule) bool { return s.Cron == ev.Schedule }) {
		return false, fmt.Sprintf("the workflow no longer has the schedule %q", ev.Schedule), nil
	}
	if t.Workflows != nil && !slices.Contains(t.Workflows, ev.Workflow) {
		return false, fmt.Sprintf("workflow %q is not in workflows %v", ev.Workflow, t.Workflows), nil
	}
	ok, why, err := matchRef(t, ev)
	if err != nil || !ok {
		return false, why, err
	}
	if strings.HasPrefix(ev.Ref, "refs/tags/") && ev.Name == "push" {
		return true, why, nil // path filters are not evaluated for tag pushes
	}
	return matchPaths(t, ev, why)
}

func matchTypes(t *Trigger, ev Event) (bool, string) {
	if ev.Action != "" && !ActivityTypeTriggers(ev.Name, ev.Action) {
		return false, fmt.Sprintf("activity type %q of %s does not trigger workflows", ev.Action, ev.Name)
	}
	types := t.Types
	if types == nil {
		types = defaultTypes[ev.Name]
	}
	if len(types) == 0 || slices.Contains(types, ev.Action) {
		return true, ""
	}
	return false, fmt.Sprintf("activity type %q is not in types %v", ev.Action, types)
}

// matchRef applies branches/tags filters (base branch for pull requests).
func matchRef(t *Trigger, ev Event) (bool, string, error) {
	branchF := t.Branches != nil || t.BranchesIgnore != nil
	tagF := t.Tags != nil || t.TagsIgnore != nil
	if !branchF && !tagF {
		return true, "", nil
	}
	kind, name := "branch", strings.TrimPrefix(ev.Ref, "refs/heads/")
	switch {
	case ev.Name == "pull_request" || ev.Name == "pull_request_target" || ev.Name == "merge_group":
		name = strings.TrimPrefix(ev.BaseRef, "refs/heads/") // the branch merged into
	case strings.HasPrefix(ev.Ref, "refs/tags/"):
		kind, name = "tag", strings.TrimPrefix(ev.Ref, "refs/tags/")
	}
	include, ignore, has := t.Branches, t.BranchesIgnore, branchF
	if kind == "tag" {
		include, ignore, has = t.Tags, t.TagsIgnore, tagF
	}
	if !has {
		return false, fmt.Sprintf("%s %q: the workflow filters only %s", kind, name, other(kind)), nil
	}
	return applyFilters(kind, name, include, ignore)
}

func other(kind string) string {
	if kind == "tag" {
		return "branches"
	}
	return "tags"
}

// applyFilters applies an include list (must match) or an ignore list
// (must not match) to name.
func applyFilters(kind, name string, include, ignore []string) (bool, string, error) {
	if include != nil {
		ok, err := MatchFilter(include, name)
		if err != nil || !ok {
			return false, fmt.Sprintf("%s %q does not match %v", kind, name, include), err
		}
		return true, fmt.Sprintf("%s %q matches %v", kind, name, include), nil
	}
	ignored, err := MatchFilter(ignore, name)
	if err != nil || ignored {
		return false, fmt.Sprintf("%s %q is ignored by %v", kind, name, ignore), err
	}
	return true, fmt.Sprintf("%s %q is not ignored by %v", kind, name, ignore), nil
}

// ErrChangedFilesUnknown, wrapped in an error of Event.ChangedFiles, says
// the diff cannot be known (a shallow history): path filters then pass, as
// GitHub lets a workflow run when it cannot compute the diff.
var ErrChangedFilesUnknown = errors.New("changed files unknown")

// matchPaths applies paths/paths-ignore to the changed files.
func matchPaths(t *Trigger, ev Event, why string) (bool, string, error) {
	if t.Paths == nil && t.PathsIgnore == nil {
		return true, join(why, "no path filter"), nil
	}
	if ev.ChangedFiles == nil {
		return true, join(why, "changed files unknown: path filters pass"), nil
	}
	files, err := ev.ChangedFiles()
	if errors.Is(err, ErrChangedFilesUnknown) {
		return true, join(why, "changed files unknown ("+err.Error()+"): path filters pass, as on GitHub"), nil
	}
	if err != nil {
		return false, "listing changed files failed", fmt.Errorf("changed files: %w", err)
	}
	if t.Paths != nil {
		ps, err := compilePatterns(t.Paths)
		if err != nil {
			return false, "invalid paths filter", err
		}
		for _, f := range files {
			if matchList(ps, f) {
				return true, join(why, fmt.Sprintf("changed file %q matches paths", f)), nil
			}
		}
		return false, fmt.Sprintf("no changed file matches paths %v", t.Paths), nil
	}
	ps, err := compilePatterns(t.PathsIgnore)
	if err != nil {
		return false, "invalid paths-ignore filter", err
	}
	for _, f := range files {
		if !matchList(ps, f) {
			return true, join(why, fmt.Sprintf("changed file %q is not ignored", f)), nil
		}
	}
	return false, fmt.Sprintf("every changed file is ignored by paths-ignore %v", t.PathsIgnore), nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
