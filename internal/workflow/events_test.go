package workflow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/corpus"
)

func TestActivityTypesAndWorkflowRunFilters(t *testing.T) {
	load := func(on string) *Workflow {
		t.Helper()
		w, err := Load("w.yml", []byte("on:\n"+on+"jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	cases := []struct {
		on   string
		ev   Event
		want bool
	}{
		// Without types: every documented activity type, and only those.
		{"  issues:\n", Event{Name: "issues", Action: "opened"}, true},
		{"  issues:\n", Event{Name: "issues", Action: "typed"}, true},
		{"  issues:\n", Event{Name: "issues", Action: "no_such_action"}, false},
		{"  check_suite:\n", Event{Name: "check_suite", Action: "completed"}, true},
		{"  check_suite:\n", Event{Name: "check_suite", Action: "requested"}, false},
		{"  check_suite:\n    types: [requested]\n", Event{Name: "check_suite", Action: "requested"}, false},
		{"  merge_group:\n", Event{Name: "merge_group", Action: "checks_requested"}, true},
		{"  merge_group:\n", Event{Name: "merge_group", Action: "destroyed"}, false},
		{"  merge_group:\n    branches: [main]\n", Event{Name: "merge_group", Action: "checks_requested", BaseRef: "main",
			Ref: "refs/heads/gh-readonly-queue/main/pr-1-abc"}, true},
		{"  merge_group:\n    branches: [release]\n", Event{Name: "merge_group", Action: "checks_requested", BaseRef: "main",
			Ref: "refs/heads/gh-readonly-queue/main/pr-1-abc"}, false},
		{"  watch:\n    types: [started]\n", Event{Name: "watch", Action: "started"}, true},
		{"  release:\n    types: [published]\n", Event{Name: "release", Action: "created"}, false},
		{"  release:\n    types: [published]\n", Event{Name: "release", Action: "published"}, true},
		{"  pull_request_review:\n", Event{Name: "pull_request_review", Action: "submitted"}, true},
		{"  pull_request:\n", Event{Name: "pull_request", Action: "labeled", BaseRef: "main"}, false},
		{"  pull_request:\n    types: [labeled]\n", Event{Name: "pull_request", Action: "labeled", BaseRef: "main"}, true},
		// repository_dispatch: custom types, all by default.
		{"  repository_dispatch:\n", Event{Name: "repository_dispatch", Action: "anything"}, true},
		{"  repository_dispatch:\n    types: [deploy]\n", Event{Name: "repository_dispatch", Action: "test"}, false},
		{"  repository_dispatch:\n    types: [deploy]\n", Event{Name: "repository_dispatch", Action: "deploy"}, true},
		// workflow_run: names, types (all three by default), branches of the triggering run.
		{"  workflow_run:\n    workflows: [CI]\n", Event{Name: "workflow_run", Action: "in_progress", Workflow: "CI", Ref: "refs/heads/x"}, true},
		{"  workflow_run:\n    workflows: [CI]\n", Event{Name: "workflow_run", Action: "completed", Workflow: "Other", Ref: "refs/heads/x"}, false},
		{"  workflow_run:\n    workflows: [CI, Build]\n    types: [completed]\n", Event{Name: "workflow_run", Action: "requested", Workflow: "Build", Ref: "refs/heads/x"}, false},
		{"  workflow_run:\n    workflows: [CI]\n    branches: [canary]\n", Event{Name: "workflow_run", Action: "completed", Workflow: "CI", Ref: "refs/heads/canary"}, true},
		{"  workflow_run:\n    workflows: [CI]\n    branches: [canary]\n", Event{Name: "workflow_run", Action: "completed", Workflow: "CI", Ref: "refs/heads/main"}, false},
		{"  workflow_run:\n    workflows: [CI]\n    branches-ignore: ['releases/**']\n", Event{Name: "workflow_run", Action: "completed", Workflow: "CI", Ref: "refs/heads/releases/1"}, false},
		// schedule: the cron that fired must still be the workflow's.
		{"  schedule:\n    - cron: '0 0 * * *'\n", Event{Name: "schedule", Schedule: "0 0 * * *"}, true},
		{"  schedule:\n    - cron: '0 0 * * *'\n", Event{Name: "schedule", Schedule: "5 0 * * *"}, false},
		// Events without activity types.
		{"  create:\n", Event{Name: "create", Ref: "refs/tags/v1"}, true},
		{"  status:\n", Event{Name: "status"}, true},
	}
	for _, c := range cases {
		got, why, err := load(c.on).Match(c.ev)
		if err != nil || got != c.want {
			t.Errorf("on:\n%s%+v: got %v (%s, %v), want %v", c.on, c.ev, got, why, err, c.want)
		}
	}
}

// TestActivityTypesMatchGitHubSchema: the activity types of every event are
// those of GitHub's own workflow schema (actions-languageservices corpus).
func TestActivityTypesMatchGitHubSchema(t *testing.T) {
	dir := corpus.Dir(t, "actions-languageservices", "workflow-parser", "src")
	b, err := os.ReadFile(filepath.Join(dir, "workflow-v1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Definitions map[string]struct {
			AllowedValues []string `json:"allowed-values"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for name, def := range schema.Definitions {
		ev, ok := strings.CutSuffix(name, "-activity-type")
		if !ok || def.AllowedValues == nil || ev == "image-version" { // image_version is no webhook
			continue
		}
		ev = strings.ReplaceAll(ev, "-", "_")
		seen++
		got, want := slices.Sorted(slices.Values(activityTypes[ev])), slices.Sorted(slices.Values(def.AllowedValues))
		if !slices.Equal(got, want) {
			t.Errorf("%s: got activity types %v, want GitHub's %v", ev, got, want)
		}
	}
	if seen != len(activityTypes) {
		t.Errorf("the schema has %d events with activity types, the table %d", seen, len(activityTypes))
	}
}
