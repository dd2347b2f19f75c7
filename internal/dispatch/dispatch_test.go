package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/store/pgtest"
)

// env is a real store, real git and the host sandbox, with the queue running.
type env struct {
	t    *testing.T
	st   *store.Store
	repo *gittest.Repo
	n    int
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with the Dispatcher's configuration changed by edit.
func newEnvWith(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	gitRoot := t.TempDir()
	e := &env{t: t, repo: gittest.New(t, gitRoot, "octo/hello")}
	st, err := store.Open(ctx, t.TempDir(), store.Options{MaxJobs: 4, DatabaseURL: pgtest.StoreURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	hb, err := host.New(host.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store: st, Git: gitrepo.New(t.TempDir(), "file://"+gitRoot, nil),
		Choose: func(labels []string, o sandbox.Origin) (sandbox.StartFunc, sandbox.Choice, error) {
			for _, l := range labels {
				if l == "no-such-runner" {
					return nil, sandbox.Choice{}, fmt.Errorf("no backend serves runs-on %v", labels)
				}
			}
			return hb.Start, sandbox.Choice{Name: "host"}, nil
		},
		Vars: map[string]string{"GREETING": "hi"},
	}
	if edit != nil {
		edit(&cfg)
	}
	d := New(cfg)
	if err := st.StartQueue(ctx, d.Handlers(nil)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Wait) // runs after the store closed (cleanups run last-in first-out)
	t.Cleanup(func() { st.Close() })
	return e
}

// push commits files, delivers a push and returns the delivery id.
func (e *env) push(files map[string]string) string {
	e.t.Helper()
	sha := e.repo.Commit("c", files)
	e.repo.Push("main")
	e.n++
	id := fmt.Sprintf("d%d", e.n)
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository": map[string]any{"full_name": "octo/hello", "default_branch": "main"}, "sender": map[string]any{"login": "me"}})
	if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: id, Event: "push", Repo: "octo/hello", SHA: sha,
		ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// wait returns the delivery's runs once all are completed, with their jobs by name.
func (e *env) wait(id string) ([]store.Run, map[string]store.Job) {
	e.t.Helper()
	ctx := context.Background()
	q := e.st.Queries()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		d, _ := q.Delivery(ctx, id)
		runs, _ := q.RunsForDelivery(ctx, id)
		done := d.Status != store.DeliveryQueued
		for _, r := range runs {
			if r.Status != store.StatusCompleted {
				done = false
			}
		}
		if done {
			jobs := map[string]store.Job{}
			for _, r := range runs {
				js, _ := q.RunJobs(ctx, r.ID)
				for _, j := range js {
					jobs[j.Name] = j
				}
			}
			return runs, jobs
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("delivery %s did not finish", id)
	return nil, nil
}

func (e *env) log(jobID int64) string {
	chunks, _ := e.st.Queries().LogAfter(context.Background(), jobID, 0)
	var b strings.Builder
	for _, c := range chunks {
		b.Write(c.Data)
	}
	return b.String()
}

func conclusions(jobs map[string]store.Job) string {
	var out []string
	for name, j := range jobs {
		out = append(out, name+"="+j.Conclusion)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestNeedsIfAndOutputs(t *testing.T) {
	e := newEnv(t)
	id := e.push(map[string]string{".github/workflows/ci.yml": `
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs:
      v: ${{ steps.s.outputs.v }}
    steps:
      - id: s
        run: echo "v=from-a" >> "$GITHUB_OUTPUT"
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: echo "got ${{ needs.a.outputs.v }} ${{ needs.a.result }} ${{ vars.GREETING }}"
      - run: exit 1
  c:
    needs: b
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  d:
    needs: [a, b]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "b was ${{ needs.b.result }}"
  e:
    needs: b
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "handling failure"
  f:
    if: github.ref == 'refs/heads/other'
    runs-on: ubuntu-latest
    steps:
      - run: echo never
`})
	runs, jobs := e.wait(id)
	if want := "a=success b=failure c=skipped d=success e=success f=skipped"; conclusions(jobs) != want {
		t.Errorf("conclusions = %s, want %s", conclusions(jobs), want)
	}
	if runs[0].Conclusion != "failure" {
		t.Errorf("run conclusion %s, want failure", runs[0].Conclusion)
	}
	if l := e.log(jobs["b"].ID); !strings.Contains(l, "got from-a success hi") {
		t.Errorf("b log:\n%s", l)
	}
	if l := e.log(jobs["d"].ID); !strings.Contains(l, "b was failure") {
		t.Errorf("d log:\n%s", l)
	}
}

func TestMatrixIncludeExcludeFailFastAndDynamic(t *testing.T) {
	e := newEnv(t)
	id := e.push(map[string]string{".github/workflows/ci.yml": `
on: push
jobs:
  gen:
    runs-on: ubuntu-latest
    outputs:
      m: ${{ steps.m.outputs.m }}
    steps:
      - id: m
        run: echo 'm={"n":[1,2,3]}' >> "$GITHUB_OUTPUT"
  dyn:
    needs: gen
    runs-on: ubuntu-latest
    strategy:
      matrix: ${{ fromJSON(needs.gen.outputs.m) }}
    steps:
      - run: echo "n=${{ matrix.n }} index=${{ strategy.job-index }} total=${{ strategy.job-total }}"
  static:
    name: static ${{ matrix.os }}-${{ matrix.v }}
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest, ubuntu-22.04]
        v: [1, 2]
        exclude:
          - os: ubuntu-22.04
            v: 1
        include:
          - os: ubuntu-latest
            v: 2
            extra: yes
          - os: special
            v: 9
    steps:
      - run: echo "${{ matrix.os }} ${{ matrix.v }} ${{ matrix.extra }}"
  ff:
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 1
      matrix:
        k: [bad, later1, later2]
    steps:
      - run: test "${{ matrix.k }}" != bad
`})
	runs, jobs := e.wait(id)
	want := []string{"dyn (1)=success", "dyn (2)=success", "dyn (3)=success", "ff (bad)=failure", "ff (later1)=cancelled",
		"ff (later2)=cancelled", "gen=success", "static special-9=success", "static ubuntu-22.04-2=success",
		"static ubuntu-latest-1=success", "static ubuntu-latest-2=success"}
	if got := conclusions(jobs); got != strings.Join(want, " ") {
		t.Errorf("conclusions:\n got %s\nwant %s", got, strings.Join(want, " "))
	}
	if runs[0].Conclusion != "failure" {
		t.Errorf("run %s, want failure", runs[0].Conclusion)
	}
	if l := e.log(jobs["static ubuntu-latest-2"].ID); !strings.Contains(l, "ubuntu-latest 2 yes") {
		t.Errorf("include did not extend the matching leg:\n%s", l)
	}
	if l := e.log(jobs["dyn (3)"].ID); !strings.Contains(l, "n=3 index=2 total=3") {
		t.Errorf("dyn (3) log:\n%s", l)
	}
}

func TestInvalidWorkflowAndBadRunsOn(t *testing.T) {
	e := newEnv(t)
	id := e.push(map[string]string{
		".github/workflows/bad.yml": "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nosuch.context }}\n",
		".github/workflows/ok.yml":  "on: push\njobs:\n  y:\n    runs-on: no-such-runner\n    steps:\n      - run: echo hi\n",
	})
	runs, jobs := e.wait(id)
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	var bad store.Run
	for _, r := range runs {
		if r.WorkflowFile == ".github/workflows/bad.yml" {
			bad = r
		}
	}
	if bad.Conclusion != "failure" || !strings.Contains(bad.Message, ".github/workflows/bad.yml:6:") {
		t.Errorf("invalid workflow run: %s %q, want failure pointing at file:line:col", bad.Conclusion, bad.Message)
	}
	if j := jobs["y"]; j.Conclusion != "failure" || !strings.Contains(j.Message, "runs-on") {
		t.Errorf("job with unknown runs-on: %s %q", j.Conclusion, j.Message)
	}
}

func TestConcurrencyCancelInProgress(t *testing.T) {
	e := newEnv(t)
	wf := `
on: push
concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: true
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 20 && echo %s
`
	first := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "one")})
	// Wait for the first run's job to be running.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		runs, _ := e.st.Queries().RunsForDelivery(context.Background(), first)
		if len(runs) == 1 && runs[0].Status == store.StatusInProgress {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	second := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "two"), "x": "y"})
	runs1, _ := e.wait(first)
	if runs1[0].Conclusion != "cancelled" {
		t.Errorf("first run %s (%s), want cancelled", runs1[0].Conclusion, runs1[0].Message)
	}
	third := e.push(map[string]string{".github/workflows/ci.yml": strings.Replace(fmt.Sprintf(wf, "three"), "sleep 20", "true", 1)})
	runs3, _ := e.wait(third)
	if runs3[0].Conclusion != "success" {
		t.Errorf("third run %s, want success", runs3[0].Conclusion)
	}
	runs2, _ := e.wait(second)
	if runs2[0].Conclusion != "cancelled" {
		t.Errorf("second run %s, want cancelled by the third", runs2[0].Conclusion)
	}
}

// fakeHeads is the reconciler's view of a repository, as a test sets it.
type fakeHeads struct {
	heads map[string]string
	prs   []PullHead
}

func (f fakeHeads) BranchHeads(ctx context.Context, repo string) (map[string]string, error) {
	return f.heads, nil
}
func (f fakeHeads) OpenPullRequests(ctx context.Context, repo string) ([]PullHead, error) {
	return f.prs, nil
}

func TestReconcileRunsMissedPush(t *testing.T) {
	e := newEnv(t)
	wf := map[string]string{".github/workflows/ci.yml": "on: [push, pull_request]\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.event_name }}\n"}
	first := e.push(wf)
	e.wait(first)
	// A push whose webhook never arrived.
	missed := e.repo.Commit("missed", map[string]string{"a.txt": "1"})
	e.repo.Push("main")
	ctx := context.Background()
	d := New(Config{Store: e.st})
	f := fakeHeads{heads: map[string]string{"main": missed}, prs: []PullHead{{Number: 3, HeadSHA: missed, HeadRef: "main", BaseRef: "main"}}}
	n, err := d.Reconcile(ctx, f, []string{"octo/hello"})
	if err != nil || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want 1 started (the PR head is the same commit)", n, err)
	}
	runs, _ := e.wait("reconcile-push-octo/hello-main-" + missed)
	if len(runs) != 1 || runs[0].Conclusion != "success" || runs[0].SHA != missed {
		t.Fatalf("reconciled runs = %+v", runs)
	}
	// A second pass finds nothing missing.
	if n, err := d.Reconcile(ctx, f, []string{"octo/hello"}); err != nil || n != 0 {
		t.Errorf("second Reconcile = %d, %v; want 0", n, err)
	}
}

// TestInfrastructureFailureIsRetriedOnce: the sandbox dying mid-step (its
// agent killed) is an infrastructure failure, not a step failure: the job is
// run again on a fresh sandbox; when that dies too, the job fails with the
// reason given as infrastructure.
func TestInfrastructureFailureIsRetriedOnce(t *testing.T) {
	e := newEnv(t)
	marker := t.TempDir() + "/once"
	id := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(`
on: push
jobs:
  flaky-infra:
    runs-on: x
    steps:
      - run: |
          if [ ! -f %[1]s ]; then touch %[1]s; kill -9 $PPID; sleep 5; fi
          echo second sandbox worked
  dead-infra:
    runs-on: x
    steps:
      - run: kill -9 $PPID; sleep 5
`, marker)})
	_, jobs := e.wait(id)
	if j := jobs["flaky-infra"]; j.Conclusion != "success" {
		t.Errorf("flaky-infra: %s %q, want success on the second sandbox", j.Conclusion, j.Message)
	}
	if l := e.log(jobs["flaky-infra"].ID); !strings.Contains(l, "retrying once on a fresh sandbox") || !strings.Contains(l, "second sandbox worked") {
		t.Errorf("flaky-infra log:\n%s", l)
	}
	if j := jobs["dead-infra"]; j.Conclusion != "failure" || !strings.Contains(j.Message, "infrastructure failure") {
		t.Errorf("dead-infra: %s %q, want failure reported as infrastructure", j.Conclusion, j.Message)
	}
}

// TestJobConcurrencyGroup: a job-level group lets one job run at a time; a
// newer waiting job replaces an older waiting one.
func TestJobConcurrencyGroup(t *testing.T) {
	e := newEnv(t)
	wf := `
on: push
jobs:
  deploy:
    runs-on: x
    concurrency:
      group: deploy-${{ github.ref }}
    steps:
      - run: %s
`
	ctx := context.Background()
	// The first job holds the group until the test opens its gate (a
	// file on the host backend), so the second and third are planned
	// while it runs however slow the machine is.
	gate := filepath.Join(t.TempDir(), "gate")
	first := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "while [ ! -e "+gate+" ]; do sleep 0.05; done")})
	waitJob := func(id, status string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			runs, _ := e.st.Queries().RunsForDelivery(ctx, id)
			if len(runs) == 1 {
				jobs, _ := e.st.Queries().RunJobs(ctx, runs[0].ID)
				if len(jobs) == 1 && jobs[0].Status == status {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("delivery %s: job never %s", id, status)
	}
	waitJob(first, store.StatusInProgress)
	second := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "true"), "a": "1"})
	waitJob(second, store.StatusPending)
	third := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "true"), "a": "2"})
	_, j2 := e.wait(second)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if j := j2["deploy"]; j.Conclusion != "cancelled" || !strings.Contains(j.Message, "newer job") {
		t.Errorf("second deploy: %s %q, want cancelled by the third", j.Conclusion, j.Message)
	}
	_, j1 := e.wait(first)
	_, j3 := e.wait(third)
	if j1["deploy"].Conclusion != "success" || j3["deploy"].Conclusion != "success" {
		t.Errorf("first %s third %s, want both success", j1["deploy"].Conclusion, j3["deploy"].Conclusion)
	}
	if !j3["deploy"].StartedAt.After(j1["deploy"].FinishedAt.Add(-50 * time.Millisecond)) {
		t.Errorf("third deploy started %v before the first finished %v", j3["deploy"].StartedAt, j1["deploy"].FinishedAt)
	}
}

// TestUnsupportedJobsFailClearly: what hookci cannot run fails with the
// reason, instead of passing with nothing done.
func TestUnsupportedJobsFailClearly(t *testing.T) {
	e := newEnv(t)
	id := e.push(map[string]string{
		".github/workflows/ci.yml": `
on: push
jobs:
  call:
    uses: ./.github/workflows/reusable.yml
  boxed:
    runs-on: x
    container: node:20
    steps:
      - run: echo hi
`,
		".github/workflows/reusable.yml": "on: workflow_call\njobs:\n  r:\n    runs-on: x\n    steps:\n      - run: echo reused\n",
	})
	_, jobs := e.wait(id)
	if j := jobs["boxed"]; j.Conclusion != "failure" || !strings.Contains(j.Message, "run only on the namespace and microvm sandbox") {
		t.Errorf("boxed: %s %q, want failure mentioning %q", j.Conclusion, j.Message, "run only on the namespace and microvm sandbox")
	}
	// Reusable workflows are supported now (call.go): the called job runs.
	if j := jobs["call / r"]; j.Conclusion != "success" {
		t.Errorf("call / r: %s %q, want success", j.Conclusion, j.Message)
	}
}

// TestJobEndedWithItsLastLogs: the moment a job is seen completed, its last
// step is recorded completed and its last line is in the log — they are
// written in the transaction that records the job's end (sink.writePending),
// so no reader sees a finished job with a log still arriving.
func TestJobEndedWithItsLastLogs(t *testing.T) {
	e := newEnv(t)
	id := e.push(map[string]string{".github/workflows/ci.yml": `
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo first
      - run: |
          for i in $(seq 1 50); do echo "line $i"; done
          echo "the very last line"
`})
	ctx := context.Background()
	q := e.st.Queries()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		runs, _ := q.RunsForDelivery(ctx, id)
		if len(runs) == 1 {
			jobs, _ := q.RunJobs(ctx, runs[0].ID)
			if len(jobs) == 1 && jobs[0].Status == store.StatusCompleted {
				steps, err := q.Steps(ctx, jobs[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(steps) < 2 {
					t.Fatalf("job completed with %d steps recorded, want 2", len(steps))
				}
				last := steps[len(steps)-1]
				if last.Status != store.StatusCompleted {
					t.Errorf("job completed, its last step %q is %s", last.Name, last.Status)
				}
				if l := e.log(jobs[0].ID); !strings.Contains(l, "the very last line") {
					t.Errorf("job completed without its last line in the log:\n%s", l)
				}
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the job did not complete")
}
