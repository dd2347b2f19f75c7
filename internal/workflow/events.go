package workflow

import "slices"

// activityTypes lists, per event, the activity types (the payload's action)
// that trigger workflows at all, as GitHub's "Events that trigger workflows"
// documents them. An event missing here has no activity types (create,
// delete, fork, gollum, page_build, public, push, status, schedule, …) or
// custom ones (repository_dispatch: any event_type). A delivery whose action
// is not listed triggers nothing, whatever types: says.
var activityTypes = map[string][]string{
	"branch_protection_rule": {"created", "edited", "deleted"},
	"check_run":              {"created", "rerequested", "completed", "requested_action"},
	"check_suite":            {"completed"},
	"discussion": {"created", "edited", "deleted", "transferred", "pinned", "unpinned", "labeled", "unlabeled",
		"locked", "unlocked", "category_changed", "answered", "unanswered"},
	"discussion_comment": {"created", "edited", "deleted"},
	"issue_comment":      {"created", "edited", "deleted"},
	"issues": {"opened", "edited", "deleted", "transferred", "pinned", "unpinned", "closed", "reopened", "assigned",
		"unassigned", "labeled", "unlabeled", "locked", "unlocked", "milestoned", "demilestoned", "field_added",
		"field_removed", "typed", "untyped"},
	"label":                       {"created", "edited", "deleted"},
	"merge_group":                 {"checks_requested"},
	"milestone":                   {"created", "closed", "opened", "edited", "deleted"},
	"project":                     {"created", "closed", "reopened", "edited", "deleted"},
	"project_card":                {"created", "moved", "converted", "edited", "deleted"},
	"project_column":              {"created", "updated", "moved", "deleted"},
	"pull_request":                pullRequestTypes,
	"pull_request_target":         pullRequestTypes,
	"pull_request_review":         {"submitted", "edited", "dismissed"},
	"pull_request_review_comment": {"created", "edited", "deleted"},
	"registry_package":            {"published", "updated"},
	"release":                     {"published", "unpublished", "created", "edited", "deleted", "prereleased", "released"},
	"watch":                       {"started"},
	"workflow_run":                {"completed", "requested", "in_progress"},
}

var pullRequestTypes = []string{"assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed",
	"reopened", "synchronize", "converted_to_draft", "ready_for_review", "locked", "unlocked", "enqueued", "dequeued",
	"review_requested", "review_request_removed", "auto_merge_enabled", "auto_merge_disabled", "milestoned", "demilestoned",
	"stacked"}

// defaultTypes are the activity types an event triggers on without types:;
// every other event triggers on all of its activity types.
var defaultTypes = map[string][]string{
	"pull_request":        {"opened", "synchronize", "reopened"},
	"pull_request_target": {"opened", "synchronize", "reopened"},
}

// TriggerEvents lists the events a workflow can run on, beyond those of
// activityTypes: the ones without activity types, and the ones GitHub makes
// itself (schedule, workflow_dispatch, workflow_call).
var TriggerEvents = []string{"create", "delete", "deployment", "deployment_status", "fork", "gollum", "page_build",
	"public", "push", "repository_dispatch", "schedule", "status", "workflow_call", "workflow_dispatch"}

// ActivityTypeTriggers reports whether a delivery of event with action can
// trigger a workflow at all (GitHub ignores undocumented actions such as
// check_suite requested or merge_group destroyed).
func ActivityTypeTriggers(event, action string) bool {
	types, ok := activityTypes[event]
	return !ok || slices.Contains(types, action)
}
