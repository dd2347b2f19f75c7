package runner

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/workflow"
)

// recorder is a Sink that keeps everything.
type recorder struct {
	mu    sync.Mutex
	names map[int]string
	logs  map[int][]string
	res   map[int]StepResult
}

func newRecorder() *recorder {
	return &recorder{names: map[int]string{}, logs: map[int][]string{}, res: map[int]StepResult{}}
}
func (r *recorder) StepStarted(i int, name string) { r.mu.Lock(); r.names[i] = name; r.mu.Unlock() }
func (r *recorder) StepLog(i int, line string) {
	r.mu.Lock()
	r.logs[i] = append(r.logs[i], line)
	r.mu.Unlock()
}
func (r *recorder) StepFinished(i int, s StepResult) { r.mu.Lock(); r.res[i] = s; r.mu.Unlock() }
func (r *recorder) log(i int) string                 { return strings.Join(r.logs[i], "\n") }
func (r *recorder) all() string {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		for _, l := range r.logs[i] {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func startHost(t *testing.T) *Guest { return startHostB(t) }

func startHostB(t testing.TB) *Guest {
	t.Helper()
	b, err := host.New(host.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return guestOf(inst)
}

// guestOf is the runner's view of a started sandbox (as dispatch builds it).
func guestOf(inst *sandbox.Instance) *Guest {
	return &Guest{Client: inst.Client, Layout: inst.Layout, Backend: inst.Backend, WorkspaceReady: inst.WorkspaceReady}
}

func loadJob(t *testing.T, src, job string) (*workflow.Workflow, *workflow.Job) {
	t.Helper()
	w, err := workflow.Load("ci.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	j := w.Job(job)
	if j == nil {
		t.Fatalf("no job %s", job)
	}
	return w, j
}

func runJob(t *testing.T, src, job string, mod func(*Spec)) (*Result, *recorder) {
	t.Helper()
	w, j := loadJob(t, src, job)
	spec := &Spec{Workflow: w, Job: j, Event: EventInfo{Name: "push", Repo: "octo/hello", SHA: strings.Repeat("a", 40),
		Ref: "refs/heads/main", Payload: []byte(`{"ref":"refs/heads/main"}`), RunID: 7, RunNumber: 3, Workflow: "CI"}}
	if mod != nil {
		mod(spec)
	}
	rec := newRecorder()
	res, err := Run(context.Background(), startHost(t), spec, rec)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

func TestMultilineRunAndEnvLayers(t *testing.T) {
	src := `
on: push
env:
  LEVEL: workflow
  W: w
jobs:
  build:
    runs-on: ubuntu-latest
    env:
      LEVEL: job
    steps:
      - name: multi
        env:
          STEP: s-${{ env.W }}
        run: |
          echo "first line"
          for i in 1 2 3; do
            echo "loop $i"
          done
          echo "level=$LEVEL step=$STEP ref=$GITHUB_REF_NAME sha=$GITHUB_SHA event=$GITHUB_EVENT_NAME ci=$CI"
          test -f "$GITHUB_EVENT_PATH" && echo "event file ok"
          echo "workspace=$GITHUB_WORKSPACE"
`
	res, rec := runJob(t, src, "build", nil)
	if res.Conclusion != "success" {
		t.Fatalf("conclusion = %s, want success; log:\n%s", res.Conclusion, rec.all())
	}
	log := rec.log(1)
	for _, want := range []string{"first line", "loop 3", "level=job step=s-w ref=main sha=" + strings.Repeat("a", 40) +
		" event=push ci=true", "event file ok"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestFailureSkipsLaterStepsButAlwaysRuns(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo before
      - id: bad
        run: |
          echo failing now
          exit 3
      - run: echo should-not-run
      - if: always()
        run: echo cleanup ${{ steps.bad.outcome }}
      - if: failure()
        run: echo on-failure
`
	res, rec := runJob(t, src, "j", nil)
	if res.Conclusion != "failure" || res.FailedStep != 2 {
		t.Fatalf("conclusion %s failed step %d, want failure at 2; log:\n%s", res.Conclusion, res.FailedStep, rec.all())
	}
	if got := rec.res[3].Conclusion; got != "skipped" {
		t.Errorf("step after failure: %s, want skipped", got)
	}
	if !strings.Contains(rec.log(2), "exit code 3") {
		t.Errorf("failed step log lacks the exit code:\n%s", rec.log(2))
	}
	if !strings.Contains(rec.log(4), "cleanup failure") || !strings.Contains(rec.log(5), "on-failure") {
		t.Errorf("always()/failure() steps did not run as expected:\n%s", rec.all())
	}
}

func TestFileCommandsOutputsMasking(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.set.outputs.greeting }}
    steps:
      - id: set
        run: |
          echo "greeting=hello" >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=yes" >> "$GITHUB_ENV"
          { echo "MULTI<<EOF"; echo "a"; echo "b"; echo "EOF"; } >> "$GITHUB_ENV"
          mkdir -p "$RUNNER_TEMP/bin" && printf '#!/bin/sh\necho tool-ran\n' > "$RUNNER_TEMP/bin/mytool" && chmod +x "$RUNNER_TEMP/bin/mytool"
          echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
          echo "## Summary" >> "$GITHUB_STEP_SUMMARY"
          echo "::add-mask::dynamic-secret-123"
          echo "value dynamic-secret-123 and ${{ secrets.TOKEN }}"
          echo "::error file=src/a.go,line=4,col=2::broken thing"
      - run: |
          echo "env=$FROM_ENV multi=$(echo "$MULTI" | tr '\n' ,)"
          mytool
          echo "out=${{ steps.set.outputs.greeting }}"
          echo "$SECRET_B64" | base64 -d >/dev/null && echo "b64: $SECRET_B64"
        env:
          SECRET_B64: ${{ secrets.B64 }}
`
	res, rec := runJob(t, src, "j", func(s *Spec) {
		s.Secrets = map[string]string{"TOKEN": "sup3r-s3cret", "B64": "c3VwM3ItczNjcmV0"}
	})
	if res.Conclusion != "success" {
		t.Fatalf("conclusion %s; log:\n%s", res.Conclusion, rec.all())
	}
	if res.Outputs["greeting"] != "hello" {
		t.Errorf("job output greeting = %q, want hello", res.Outputs["greeting"])
	}
	log := rec.all()
	for _, want := range []string{"value *** and ***", "env=yes multi=a,b,", "tool-ran", "out=hello", "b64: ***",
		"##[error]src/a.go:4:broken thing"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, leak := range []string{"dynamic-secret-123", "sup3r-s3cret", "c3VwM3ItczNjcmV0"} {
		if strings.Contains(log, leak) {
			t.Errorf("log leaks %q:\n%s", leak, log)
		}
	}
	if len(res.Annotations) != 1 || res.Annotations[0].File != "src/a.go" || res.Annotations[0].Line != 4 {
		t.Errorf("annotations = %+v", res.Annotations)
	}
	if !strings.Contains(res.Summary, "## Summary") {
		t.Errorf("summary = %q", res.Summary)
	}
}

func TestShellsAndDefaults(t *testing.T) {
	src := `
on: push
defaults:
  run:
    shell: bash
jobs:
  j:
    runs-on: ubuntu-latest
    defaults:
      run:
        working-directory: sub
    steps:
      - run: mkdir -p sub
        working-directory: .
      - run: echo "pwd=$(basename "$PWD")"; false | true; echo piped-ok
        shell: sh
      - run: |
          import os
          print("python ok", os.getcwd().endswith("sub"))
        shell: python
      - run: set -o | grep pipefail
      - run: echo custom {0}
        shell: bash -c "cat {0}; echo custom-shell"
`
	res, rec := runJob(t, src, "j", nil)
	if res.Conclusion != "success" {
		t.Fatalf("conclusion %s; log:\n%s", res.Conclusion, rec.all())
	}
	log := rec.all()
	for _, want := range []string{"pwd=sub", "piped-ok", "python ok True", "pipefail       \ton", "custom-shell"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestContinueOnErrorAndTimeout(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: soft
        continue-on-error: true
        run: exit 1
      - run: echo "outcome=${{ steps.soft.outcome }} conclusion=${{ steps.soft.conclusion }}"
      - timeout-minutes: 0.02
        run: sleep 30
`
	res, rec := runJob(t, src, "j", nil)
	if !strings.Contains(rec.log(2), "outcome=failure conclusion=success") {
		t.Errorf("continue-on-error not reflected:\n%s", rec.all())
	}
	if res.Conclusion != "failure" || rec.res[3].Outcome != "failure" {
		t.Errorf("timed-out step: job %s step %+v, want failure", res.Conclusion, rec.res[3])
	}
	if d := rec.res[3].Finished.Sub(rec.res[3].Started); d > 5e9 {
		t.Errorf("timed-out step took %v, want it killed at about 1.2s", d)
	}
}

// TestJobTimeoutMinutes: a job's timeout-minutes ends it timed_out with
// GitHub's message naming the limit (the default is 360 minutes).
func TestJobTimeoutMinutes(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    timeout-minutes: 0.02
    steps:
      - run: sleep 30
      - if: always()
        run: echo after the timeout
`
	res, rec := runJob(t, src, "j", nil)
	if res.Conclusion != "timed_out" {
		t.Errorf("job conclusion: got %s, want timed_out", res.Conclusion)
	}
	if want := "The job has exceeded the maximum execution time of 0.02 minutes."; !strings.Contains(rec.log(1), want) {
		t.Errorf("step log lacks %q:\n%s", want, rec.all())
	}
}
