package webhook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookci/hookci/internal/corpus"
)

// TestEveryWorkflowEventIsPlanned: every event GitHub's workflow schema lets
// a workflow run on, and that GitHub delivers as a webhook, is planned.
func TestEveryWorkflowEventIsPlanned(t *testing.T) {
	dir := corpus.Dir(t, "actions-languageservices", "workflow-parser", "src")
	b, err := os.ReadFile(filepath.Join(dir, "workflow-v1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Definitions struct {
			On struct {
				Mapping struct {
					Properties map[string]any `json:"properties"`
				} `json:"mapping"`
			} `json:"on-mapping-strict"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	notWebhooks := map[string]string{
		"schedule":             "made by hookci's scheduler",
		"workflow_call":        "a reusable workflow's trigger",
		"workflow_run":         "made by hookci's own runs (GitHub's are about its hosted runs)",
		"image_version":        "no webhook",
		"pull_request_target":  "delivered as pull_request",
		"pull_request_comment": "delivered as issue_comment",
	}
	n := 0
	for ev := range schema.Definitions.On.Mapping.Properties {
		n++
		if why, ok := notWebhooks[ev]; ok {
			t.Logf("%s: %s", ev, why)
			continue
		}
		if !Planned(ev) {
			t.Errorf("%s: not planned", ev)
		}
	}
	if n < 30 {
		t.Fatalf("read %d events from the schema, want the full list", n)
	}
}
