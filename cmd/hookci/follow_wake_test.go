package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// TestFollowWakesOnStoreWrites: follow has no poll: it reads the store
// again when this process commits a write. Each write below (planning's
// message, the run and job planned, a step started, a log line, the step
// and job finished, the run completed) must show in its output, and the
// run's completion must end it, with nothing but the writes to wake it
// (no queue runs here). A missed wake-up leaves follow asleep until the
// test's deadline.
func TestFollowWakesOnStoreWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AddDelivery(ctx, store.Delivery{ID: "d1", Event: "push", Repo: "local/x", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: store.DeliveryQueued}, false); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer // scale_e2e_test.go
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := follow(ctx, st, "d1", &out, time.Hour)
		done <- result{ok, err}
	}()
	// waitFor waits until follow printed want: it does only when a write
	// woke it.
	waitFor := func(step, want string) {
		t.Helper()
		for !strings.Contains(out.String(), want) {
			select {
			case r := <-done:
				t.Fatalf("%s: follow ended early (%v, %v); output:\n%s", step, r.ok, r.err, out.String())
			case <-ctx.Done():
				t.Fatalf("%s: follow never printed %q (not woken by the write); output:\n%s", step, want, out.String())
			case <-time.After(5 * time.Millisecond): // the test's own wait for output, not follow's
			}
		}
	}
	q := st.Queries()
	if err := q.SetDeliveryStatus(ctx, "d1", store.DeliveryQueued, "attempt 1 failed, retrying: boom"); err != nil {
		t.Fatal(err)
	}
	waitFor("planning message", "hookci: planning: attempt 1 failed, retrying: boom")
	run := &store.Run{Repo: "local/x", SHA: "abc", Event: "push", WorkflowFile: "w.yml", WorkflowName: "wf",
		Status: store.StatusQueued, DeliveryID: "d1"}
	job := &store.Job{Key: "build", Name: "build", Status: store.StatusQueued}
	if err := st.InTx(ctx, func(q *store.Queries) error {
		if err := q.CreateRun(ctx, run); err != nil {
			return err
		}
		job.RunID = run.ID
		if err := q.CreateJob(ctx, job, false); err != nil {
			return err
		}
		return q.SetDeliveryStatus(ctx, "d1", store.DeliveryPlanned, "1 run(s)")
	}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := q.PutStep(ctx, store.Step{JobID: job.ID, Index: 0, Name: "Greet", Status: store.StatusInProgress, StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := q.AppendLog(ctx, job.ID, 0, []byte("hello from the step\n")); err != nil {
		t.Fatal(err)
	}
	waitFor("log line", "[wf/build] |   hello from the step")
	if err := q.PutStep(ctx, store.Step{JobID: job.ID, Index: 0, Name: "Greet", Status: store.StatusCompleted, Outcome: "success",
		Conclusion: "success", StartedAt: t0, FinishedAt: t0.Add(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitFor("step finished", "[wf/build] ✅ Greet: success")
	job.Status, job.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	if err := q.UpdateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("follow ended before the run completed (%v, %v); output:\n%s", r.ok, r.err, out.String())
	default:
	}
	run.Status, run.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	if err := q.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !r.ok || r.err != nil {
			t.Fatalf("follow = %v, %v, want true, nil; output:\n%s", r.ok, r.err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("follow did not end when the run completed (not woken); output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[wf] run success") {
		t.Errorf("output lacks the run's end:\n%s", out.String())
	}
}

// TestFollowPrintsHeldLegWhenRunEndsInOneRead: while leg b streams, leg
// a's output is held back; when b's end and the run's end are committed
// together, the one read that sees them must still print a's held lines
// before the summary (found as a flaky TestRunOutputLabelsAndGrouping: leg
// a's output missing).
func TestFollowPrintsHeldLegWhenRunEndsInOneRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AddDelivery(ctx, store.Delivery{ID: "d1", Event: "push", Repo: "local/x", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: store.DeliveryQueued}, false); err != nil {
		t.Fatal(err)
	}
	run := &store.Run{Repo: "local/x", SHA: "abc", Event: "push", WorkflowFile: "w.yml", WorkflowName: "wf",
		Status: store.StatusQueued, DeliveryID: "d1"}
	a := &store.Job{Key: "a", Name: "a", Status: store.StatusInProgress}
	b := &store.Job{Key: "b", Name: "b", Status: store.StatusInProgress}
	if err := st.InTx(ctx, func(q *store.Queries) error {
		if err := q.CreateRun(ctx, run); err != nil {
			return err
		}
		for _, j := range []*store.Job{a, b} {
			j.RunID = run.ID
			if err := q.CreateJob(ctx, j, false); err != nil {
				return err
			}
		}
		return q.SetDeliveryStatus(ctx, "d1", store.DeliveryPlanned, "1 run(s)")
	}); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer // scale_e2e_test.go
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := follow(ctx, st, "d1", &out, time.Hour)
		done <- result{ok, err}
	}()
	q := st.Queries()
	t0 := time.Now()
	step := func(j *store.Job, status string) store.Step {
		s := store.Step{JobID: j.ID, Index: 0, Name: "Work", Status: status, StartedAt: t0}
		if status == store.StatusCompleted {
			s.Outcome, s.Conclusion, s.FinishedAt = "success", "success", t0.Add(time.Millisecond)
		}
		return s
	}
	// b streams first.
	if err := q.PutStep(ctx, step(b, store.StatusInProgress)); err != nil {
		t.Fatal(err)
	}
	if err := q.AppendLog(ctx, b.ID, 0, []byte("b-line\n")); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "[wf/b] |   b-line") {
		select {
		case <-ctx.Done():
			t.Fatalf("b's line never printed; output:\n%s", out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	// a runs whole while b streams: held back.
	if err := q.PutStep(ctx, step(a, store.StatusInProgress)); err != nil {
		t.Fatal(err)
	}
	if err := q.AppendLog(ctx, a.ID, 0, []byte("a-line\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.PutStep(ctx, step(a, store.StatusCompleted)); err != nil {
		t.Fatal(err)
	}
	a.Status, a.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	if err := q.UpdateJob(ctx, a); err != nil {
		t.Fatal(err)
	}
	// b's end and the run's end in one commit: one read sees both. (The
	// pause lets follow finish the reads a's writes woke, so that this
	// commit lands while it waits, not between its reads of the run and
	// of the jobs: there the run would still look unfinished and a later
	// read would print a anyway.)
	time.Sleep(300 * time.Millisecond)
	b.Status, b.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	run.Status, run.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	if err := st.InTx(ctx, func(q *store.Queries) error {
		if err := q.PutStep(ctx, step(b, store.StatusCompleted)); err != nil {
			return err
		}
		if err := q.UpdateJob(ctx, b); err != nil {
			return err
		}
		return q.UpdateRun(ctx, run)
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !r.ok || r.err != nil {
			t.Fatalf("follow = %v, %v, want true, nil; output:\n%s", r.ok, r.err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("follow did not end; output:\n%s", out.String())
	}
	got := out.String()
	for _, want := range []string{"[wf/a] |   a-line", "[wf/a] ✅ Work: success", "[wf/b] ✅ Work: success"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "[wf/a] |   a-line"), strings.Index(got, "[wf] run success"); i < 0 || j < i {
		t.Errorf("a's held line must come before the summary:\n%s", got)
	}
}
