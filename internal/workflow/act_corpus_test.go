package workflow

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// actSyntaxErrors are the nektos-act workflows actionlint reports syntax
// errors for (corpus README), as path substrings. Two of the eight
// (job-container-invalid-credentials, workflow_call_inputs) are kept aside
// by the corpus and may be absent.
var actSyntaxErrors = []string{
	"empty-workflow/push.yml", "issue-1595/no-event.yml", "job-nil-step/", "uses-and-run-in-one-step/",
	"uses-github-empty/", "shells/custom/", "job-container-invalid-credentials/", "workflow_call_inputs/",
}

// actOtherRejects are act fixtures that are invalid on purpose (act's own
// tests expect an error) or that GitHub rejects, with the reason.
var actOtherRejects = map[string]string{
	"issue-1595/missing.yml":         "needs an unknown job (act's planner test expects an error)",
	"issue-1595/no-first.yml":        "needs an unknown job (act's planner test expects an error)",
	"uses-github-noref/":             "uses: without @ref (act's invalid-step fixture)",
	"invalid-job-name/invalid-1.yml": "invalid job id (act's test expects it rejected)",
	"invalid-job-name/invalid-2.yml": "invalid job id (act's test expects it rejected)",
	"invalid-job-name/valid-2.yml":   "job id ___x: GitHub reserves ids starting with __ (act accepts it)",
	"nested/workflows/fail.yml":      "empty workflow (act's test expects it rejected)",
}

func matchAny[V any](m map[string]V, rel string) bool {
	for k := range m {
		if strings.Contains(rel, k) {
			return true
		}
	}
	return false
}

func actWorkflows(t *testing.T) (root string, files []string) {
	t.Helper()
	root = corpusDir(t, "nektos-act")
	for _, sub := range []string{"pkg/runner/testdata", "pkg/model/testdata"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := filepath.Ext(p)
			base := filepath.Base(p)
			isWorkflow := (ext == ".yml" || ext == ".yaml") && base != "action.yml" && base != "action.yaml" &&
				filepath.Base(filepath.Dir(p)) != "config" // act's own config files
			if !d.IsDir() && isWorkflow {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return root, files
}

// TestActCorpus: every act workflow loads except the 8 with syntax errors,
// which Lint must flag; every loaded one plans.
func TestActCorpus(t *testing.T) {
	root, files := actWorkflows(t)
	var loaded, flagged, rejected int
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bad := slices.ContainsFunc(actSyntaxErrors, func(s string) bool { return strings.Contains(rel, s) })
		w, err := Load(rel, src)
		if bad {
			ps := Lint(rel, src, Options{})
			if !slices.ContainsFunc(ps, func(p Problem) bool { return p.Kind == "syntax-check" }) {
				t.Errorf("%s: Lint finds no syntax error, want one; problems %v", rel, ps)
			}
			flagged++
			t.Logf("%s: Load error: %v", rel, err)
			continue
		}
		if matchAny(actOtherRejects, rel) {
			if err == nil {
				t.Errorf("%s: loaded, want an error", rel)
			}
			rejected++
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		loaded++
		if _, _, err := plan(w); err != nil {
			t.Errorf("%s: plan: %v", rel, err)
		}
	}
	t.Logf("act corpus: %d workflows, %d loaded and planned, %d with syntax errors (of %d listed), %d invalid on purpose",
		len(files), loaded, flagged, len(actSyntaxErrors), rejected)
	if flagged < len(actSyntaxErrors)-2 || rejected != len(actOtherRejects) {
		t.Errorf("found %d syntax-error and %d invalid workflows, want at least %d and %d",
			flagged, rejected, len(actSyntaxErrors)-2, len(actOtherRejects))
	}
}

// TestActBasic is act's planner test: basic/ plans check→build→test for
// push and nothing for release.
func TestActBasic(t *testing.T) {
	root := corpusDir(t, "nektos-act")
	src, err := os.ReadFile(filepath.Join(root, "pkg/runner/testdata/basic/push.yml"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := Load("push.yml", src)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why, err := w.Match(Event{Name: "push", Ref: "refs/heads/main"}); !ok || err != nil {
		t.Errorf("push: Match = %v, %q, %v; want true", ok, why, err)
	}
	if ok, why, err := w.Match(Event{Name: "release", Action: "published"}); ok || err != nil {
		t.Errorf("release: Match = %v, %q, %v; want false", ok, why, err)
	}
	stages, err := w.Stages()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"check"}, {"build"}, {"test"}}, stageIDs(stages)); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

// TestActStrategy expands act's model/testdata/strategy matrix: exclude
// removes one product entry, an include without matrix keys is added to
// every remaining combination, conflicting includes become new ones.
func TestActStrategy(t *testing.T) {
	root := corpusDir(t, "nektos-act")
	src, err := os.ReadFile(filepath.Join(root, "pkg/model/testdata/strategy/push.yml"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := Load("push.yml", src)
	if err != nil {
		t.Fatal(err)
	}
	j := w.Job("strategy-all")
	combos, err := ExpandMatrix(j.Strategy.Matrix)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"datacenter=site-c node-version=14.x site=staging php-version=5.4",
		"datacenter=site-c node-version=16.x site=staging php-version=5.4",
		"datacenter=site-d node-version=16.x site=staging php-version=5.4",
		"datacenter=site-a node-version=10.x site=prod",
		"datacenter=site-b node-version=12.x site=dev",
	}
	if diff := cmp.Diff(want, suffixes(combos)); diff != "" {
		t.Errorf("combinations (-want +got):\n%s", diff)
	}
	if s := j.Strategy; s.FailFast != "false" || s.MaxParallel != "2" {
		t.Errorf("fail-fast %q max-parallel %q, want false and 2", s.FailFast, s.MaxParallel)
	}
	if s := w.Job("strategy-no-matrix").Strategy; s == nil || s.Matrix != nil || s.MaxParallel != "2" {
		t.Errorf("strategy-no-matrix: %+v, want no matrix and max-parallel 2", s)
	}
}
