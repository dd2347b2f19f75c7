package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const labelsWorkflow = `name: Labels
on: push
jobs:
  legs:
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, windows-latest]
    steps:
      - run: echo leg
  plain:
    runs-on: [ubuntu-latest]
    steps:
      - run: echo plain
`

// TestAPIJobLabels: the job JSON's labels (…/runs/{id}/jobs and
// …/jobs/{id}) are each job's runs-on labels as evaluated when it was picked
// up — a matrix expression's value per leg, a list as written — also for a
// leg no backend serves (it fails, labels still shown); they were always
// empty before.
func TestAPIJobLabels(t *testing.T) {
	h := newAPIHarness(t)
	sha := h.pushWorkflow("labels", map[string]string{".github/workflows/labels.yml": labelsWorkflow})
	run := h.waitRunOf(sha)
	jobs := h.apiJobs(run.ID)
	if len(jobs) != 3 {
		t.Fatalf("got %d jobs, want 3: %+v", len(jobs), jobs)
	}
	for _, j := range jobs {
		var want []string
		switch {
		case j.Name == "plain":
			want = []string{"ubuntu-latest"}
		case strings.Contains(j.Name, "windows-latest"):
			want = []string{"windows-latest"}
		case strings.Contains(j.Name, "ubuntu-latest"):
			want = []string{"ubuntu-latest"}
		default:
			t.Errorf("unexpected job %q", j.Name)
			continue
		}
		var one apiJobT
		h.apiJSON(fmt.Sprintf("/api/repos/octo/hello/actions/jobs/%d", j.ID), &one)
		if !slices.Equal(j.Labels, want) || !slices.Equal(one.Labels, want) {
			t.Errorf("job %q labels: got %q in the list, %q alone; want %q", j.Name, j.Labels, one.Labels, want)
		}
	}
}
