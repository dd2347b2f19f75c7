package runner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/expr"
)

// EventInfo is what the github context and the GITHUB_* variables are made
// from: the event and the run it started.
type EventInfo struct {
	Name        string // event name: push, pull_request, …
	Payload     []byte // the webhook payload (JSON object), GITHUB_EVENT_PATH's content
	Repo        string // owner/name
	SHA         string
	Ref         string // full ref
	HeadRef     string // pull requests: head branch
	BaseRef     string // pull requests: base branch
	Actor       string
	RunID       int64
	RunNumber   int
	RunAttempt  int
	Workflow    string // workflow name (or file path when unnamed)
	WorkflowRef string
	ServerURL   string // https://github.com
	APIURL      string // https://api.github.com
	GraphQLURL  string
	// Token is github.token / GITHUB_TOKEN ("" when none); always masked.
	Token string
	// RetentionDays for artifacts (GITHUB_RETENTION_DAYS).
	RetentionDays int
	// Fork: a pull request from another repository (its head repository
	// is in Payload). Builds of Dockerfile actions are cached apart.
	Fork bool
}

// refType and refName split a full ref as GitHub does.
func refParts(ref string) (name, typ string) {
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		return strings.TrimPrefix(ref, "refs/heads/"), "branch"
	case strings.HasPrefix(ref, "refs/tags/"):
		return strings.TrimPrefix(ref, "refs/tags/"), "tag"
	case strings.HasPrefix(ref, "refs/pull/"):
		return strings.TrimPrefix(ref, "refs/pull/"), "branch"
	}
	return ref, ""
}

// GitHubContext builds the github context for a job (without the step fields
// action and action_path, which the runner sets per step).
func GitHubContext(ev EventInfo, job, workspace string) (*expr.Object, error) {
	event := expr.ObjectValue(expr.NewObject())
	if len(ev.Payload) > 0 {
		v, err := expr.FromJSON(ev.Payload)
		if err != nil {
			return nil, fmt.Errorf("event payload: %w", err)
		}
		if v.Kind() == expr.KindObject {
			event = v
		}
	}
	owner, _, _ := strings.Cut(ev.Repo, "/")
	refName, refType := refParts(ev.Ref)
	if ev.Name == "pull_request" || ev.Name == "pull_request_target" {
		if num, ok := event.Object().Get("number"); ok {
			refName = expr.String(num) + "/merge"
		}
	}
	o := expr.NewObject()
	set := func(k, v string) { o.Set(k, expr.StringValue(v)) }
	set("action", "")
	set("action_path", "")
	set("action_ref", "")
	set("action_repository", "")
	set("actor", ev.Actor)
	set("triggering_actor", ev.Actor)
	set("api_url", ev.APIURL)
	set("base_ref", ev.BaseRef)
	o.Set("event", event)
	set("event_name", ev.Name)
	set("event_path", "") // set by the runner once the file is in the sandbox
	set("graphql_url", ev.GraphQLURL)
	set("head_ref", ev.HeadRef)
	set("job", job)
	set("ref", ev.Ref)
	set("ref_name", refName)
	set("ref_type", refType)
	o.Set("ref_protected", expr.BoolValue(false))
	set("repository", ev.Repo)
	set("repository_owner", owner)
	if repo, ok := event.Object().Get("repository"); ok && repo.Kind() == expr.KindObject {
		if id, ok := repo.Object().Get("id"); ok {
			set("repository_id", expr.String(id))
		}
		if ow, ok := repo.Object().Get("owner"); ok && ow.Kind() == expr.KindObject {
			if id, ok := ow.Object().Get("id"); ok {
				set("repository_owner_id", expr.String(id))
			}
		}
	}
	set("retention_days", strconv.Itoa(max(ev.RetentionDays, 90)))
	set("run_id", strconv.FormatInt(ev.RunID, 10))
	set("run_number", strconv.Itoa(ev.RunNumber))
	set("run_attempt", strconv.Itoa(max(ev.RunAttempt, 1)))
	set("server_url", ev.ServerURL)
	set("sha", ev.SHA)
	set("token", ev.Token)
	set("workflow", ev.Workflow)
	set("workflow_ref", ev.WorkflowRef)
	set("workflow_sha", ev.SHA)
	set("workspace", workspace)
	set("secret_source", "None")
	return o, nil
}

// githubEnv returns the GITHUB_* and RUNNER_* variables GitHub sets for every step.
func githubEnv(gh *expr.Object, runner *expr.Object) map[string]string {
	get := func(o *expr.Object, k string) string {
		v, _ := o.Get(k)
		return expr.String(v)
	}
	env := map[string]string{
		"CI":                         "true",
		"GITHUB_ACTIONS":             "true",
		"GITHUB_ACTOR":               get(gh, "actor"),
		"GITHUB_TRIGGERING_ACTOR":    get(gh, "triggering_actor"),
		"GITHUB_API_URL":             get(gh, "api_url"),
		"GITHUB_BASE_REF":            get(gh, "base_ref"),
		"GITHUB_EVENT_NAME":          get(gh, "event_name"),
		"GITHUB_EVENT_PATH":          get(gh, "event_path"),
		"GITHUB_GRAPHQL_URL":         get(gh, "graphql_url"),
		"GITHUB_HEAD_REF":            get(gh, "head_ref"),
		"GITHUB_JOB":                 get(gh, "job"),
		"GITHUB_REF":                 get(gh, "ref"),
		"GITHUB_REF_NAME":            get(gh, "ref_name"),
		"GITHUB_REF_TYPE":            get(gh, "ref_type"),
		"GITHUB_REF_PROTECTED":       "false",
		"GITHUB_REPOSITORY":          get(gh, "repository"),
		"GITHUB_REPOSITORY_OWNER":    get(gh, "repository_owner"),
		"GITHUB_REPOSITORY_ID":       get(gh, "repository_id"),
		"GITHUB_REPOSITORY_OWNER_ID": get(gh, "repository_owner_id"),
		"GITHUB_RETENTION_DAYS":      get(gh, "retention_days"),
		"GITHUB_RUN_ID":              get(gh, "run_id"),
		"GITHUB_RUN_NUMBER":          get(gh, "run_number"),
		"GITHUB_RUN_ATTEMPT":         get(gh, "run_attempt"),
		"GITHUB_SERVER_URL":          get(gh, "server_url"),
		"GITHUB_SHA":                 get(gh, "sha"),
		"GITHUB_WORKFLOW":            get(gh, "workflow"),
		"GITHUB_WORKFLOW_REF":        get(gh, "workflow_ref"),
		"GITHUB_WORKFLOW_SHA":        get(gh, "workflow_sha"),
		"GITHUB_WORKSPACE":           get(gh, "workspace"),
		"RUNNER_OS":                  get(runner, "os"),
		"RUNNER_ARCH":                get(runner, "arch"),
		"RUNNER_NAME":                get(runner, "name"),
		"RUNNER_TEMP":                get(runner, "temp"),
		"RUNNER_TOOL_CACHE":          get(runner, "tool_cache"),
		"RUNNER_ENVIRONMENT":         "self-hosted",
	}
	return env
}

// stringMapValue turns a map into an object value (keys sorted for stability).
func stringMapValue(m map[string]string) expr.Value {
	anyMap := make(map[string]any, len(m))
	for k, v := range m {
		anyMap[k] = v
	}
	return expr.FromGo(anyMap)
}
