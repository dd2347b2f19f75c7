package runner

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkFiveRunSteps: the runner's own cost for a job of five trivial
// run: steps in an already started host sandbox (no planning, no queue).
func BenchmarkFiveRunSteps(b *testing.B) {
	src := "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n" + strings.Repeat("      - run: echo hi\n", 5)
	w, j := loadJob(&testing.T{}, src, "j")
	inst := startHostB(b)
	spec := &Spec{Workflow: w, Job: j, Event: EventInfo{Name: "push", Repo: "o/r", SHA: strings.Repeat("a", 40)}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), inst, spec, newRecorder())
		if err != nil || res.Conclusion != "success" {
			b.Fatalf("%v %v", res, err)
		}
	}
}
