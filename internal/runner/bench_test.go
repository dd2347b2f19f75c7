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

// BenchmarkMaskLine: masking one ordinary 100-byte log line with five
// secrets registered (each with its base64 forms), none present.
func BenchmarkMaskLine(b *testing.B) {
	m := NewMasker("s3cr3t-deploy-key", "ghp_0123456789abcdefghijklmnopqrstuvwxyz", "hunter2", "another-secret-value", "x9y8z7w6")
	line := strings.Repeat("compiling package github.com/example/thing ", 3)[:100]
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		m.Mask(line)
	}
}
