package workflow

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

type corpusFile struct {
	name string
	src  []byte
}

func readRealworld(t testing.TB) []corpusFile {
	t.Helper()
	dir := corpusDir(t, "actionlint/testdata/realworld")
	var out []corpusFile
	for _, pat := range []string{"*.yml", "*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, corpusFile{filepath.Base(f), src})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no workflow in %s", dir)
	}
	return out
}

// plan is what the planner does with a loaded workflow: stages and the
// expansion of every matrix that holds no expression.
func plan(w *Workflow) (stages int, combos int, err error) {
	st, err := w.Stages()
	if err != nil {
		return 0, 0, err
	}
	for _, j := range w.Jobs {
		if j.Strategy == nil || j.Strategy.Matrix == nil || hasExpr(j.Strategy.Matrix) {
			continue
		}
		cs, err := ExpandMatrix(j.Strategy.Matrix)
		if err != nil {
			return 0, 0, err
		}
		combos += len(cs)
	}
	return len(st), combos, nil
}

func hasExpr(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, "${{")
	case []KV:
		for _, kv := range v {
			if strings.Contains(kv.Key, "${{") || hasExpr(kv.Value) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, hasExpr)
	}
	return false
}

// TestRealworld loads all of actionlint's real-world workflows: none may
// panic; the loaded ones must plan, and their jobs and needs must agree
// with actionlint's own AST. actionlint 1.7.12 reports syntax errors for 17.
func TestRealworld(t *testing.T) {
	files := readRealworld(t)
	var loaded, alSyntax, rejected, combos int
	for _, f := range files {
		if _, errs := actionlint.Parse(f.src); len(errs) > 0 {
			alSyntax++
		}
		w, err := Load(f.name, f.src)
		var le *LoadError
		switch {
		case errors.As(err, &le):
			if slices.ContainsFunc(le.Problems, func(p Problem) bool { return p.Kind == "internal" }) {
				t.Errorf("%s: internal error: %v", f.name, err)
			}
			rejected++
			t.Logf("%s: rejected: %v", f.name, firstLine(err.Error()))
			continue
		case err != nil:
			t.Errorf("%s: error %T, want *LoadError: %v", f.name, err, err)
			continue
		}
		loaded++
		_, n, err := plan(w)
		if err != nil {
			t.Errorf("%s: plan: %v", f.name, err)
		}
		combos += n
		compareWithActionlint(t, f, w)
	}
	t.Logf("realworld: %d files, %d loaded and planned (%d matrix combinations), %d rejected; actionlint.Parse: %d with syntax errors",
		len(files), loaded, combos, rejected, alSyntax)
	if alSyntax != 17 {
		t.Errorf("actionlint.Parse finds syntax errors in %d files, want 17 (actionlint 1.7.12)", alSyntax)
	}
	if rejected > alSyntax {
		t.Errorf("Load rejects %d files, more than the %d with syntax errors", rejected, alSyntax)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// compareWithActionlint checks job ids (in order) and needs against actionlint.Parse.
func compareWithActionlint(t *testing.T, f corpusFile, w *Workflow) {
	t.Helper()
	aw, errs := actionlint.Parse(f.src)
	if aw == nil {
		t.Errorf("%s: loaded but actionlint.Parse fails: %v", f.name, errs)
		return
	}
	if len(aw.Jobs) != len(w.Jobs) {
		t.Errorf("%s: %d jobs, actionlint %d", f.name, len(w.Jobs), len(aw.Jobs))
		return
	}
	for _, j := range w.Jobs {
		aj := aw.Jobs[strings.ToLower(j.ID)]
		if aj == nil {
			t.Errorf("%s: job %q unknown to actionlint", f.name, j.ID)
			continue
		}
		var needs []string
		for _, n := range aj.Needs {
			needs = append(needs, n.Value)
		}
		if !slices.Equal(needs, j.Needs) || len(aj.Steps) != len(j.Steps) || aj.Pos.Line != j.Pos.Line {
			t.Errorf("%s: job %s needs %q steps %d line %d; actionlint %q %d %d",
				f.name, j.ID, j.Needs, len(j.Steps), j.Pos.Line, needs, len(aj.Steps), aj.Pos.Line)
		}
	}
}

// BenchmarkPlanRealworld loads and plans all real-world workflows per iteration.
func BenchmarkPlanRealworld(b *testing.B) {
	files := readRealworld(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			if w, err := Load(f.name, f.src); err == nil {
				plan(w)
			}
		}
	}
	b.ReportMetric(float64(len(files)), "files/op")
}

// BenchmarkLoadSample loads one typical workflow (two jobs, a matrix).
func BenchmarkLoadSample(b *testing.B) {
	src := []byte(sample)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("ci.yml", src); err != nil {
			b.Fatal(err)
		}
	}
}
