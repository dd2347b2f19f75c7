package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestCopySQLiteToPostgres: an installation's history moves from SQLite to
// PostgreSQL whole (ids, flags, payloads, logs, delivery order, run
// numbers), unfinished work is queued again, and new ids follow the copied
// ones; a destination with history is refused.
func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	url := pgtest.URL(t)
	dst, err := Open(ctx, t.TempDir(), Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	q := src.Queries()
	for i, id := range []string{"z-first", "a-second", "m-third"} {
		status := DeliveryPlanned
		if i == 2 {
			status = DeliveryQueued
		}
		if _, err := src.Intake(ctx, Delivery{ID: id, Event: "push", Repo: "o/r", SHA: "abc", ReceivedAt: time.UnixMilli(1000),
			Payload: []byte{0, 1, 2, 0xff}, Status: status, Fingerprint: "fp-" + id}, IntakeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	run := &Run{DeliveryID: "z-first", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "abc",
		Status: StatusInProgress, Concurrency: "g", CancelInProgress: true}
	if err := q.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	done := &Job{RunID: run.ID, Key: "a", Name: "a", Status: StatusCompleted, Conclusion: ConclusionSuccess, CancelInProgress: true}
	queued := &Job{RunID: run.ID, Key: "b", Name: "b", Status: StatusQueued}
	waiting := &Job{RunID: run.ID, Key: "c", Name: "c", Status: StatusWaiting}
	for _, j := range []*Job{done, queued, waiting} {
		if err := q.CreateJob(ctx, j, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.PutStep(ctx, Step{JobID: done.ID, Index: 0, Name: "build", Status: StatusCompleted, Conclusion: ConclusionSuccess,
		StartedAt: time.UnixMilli(2000)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := q.AppendLog(ctx, done.ID, 0, []byte(fmt.Sprintf("line %d\x00\n", i))); err != nil {
			t.Fatal(err)
		}
	}

	// What the scheduler and the workflow states keep.
	now := time.UnixMilli(5_000_000)
	if err := q.ReplaceSchedules(ctx, "o/r", "main", "abc", []Schedule{{Repo: "o/r", WorkflowFile: "nightly.yml",
		WorkflowName: "Nightly", Cron: "0 3 * * *"}}, now); err != nil {
		t.Fatal(err)
	}
	sched := mustGet(q.Schedules(ctx, "o/r"))
	if ss, ok := sched.([]Schedule); !ok || len(ss) != 1 {
		t.Fatalf("schedules before the copy: %v", sched)
	} else if ok, err := q.ClaimSchedule(ctx, ss[0], now.Add(time.Hour), now.Add(25*time.Hour)); !ok || err != nil {
		t.Fatalf("claim the slot: %v, %v", ok, err)
	}
	if ok, err := q.ClaimWorkflowRunEvent(ctx, run.ID, 1, "completed", "wr-1"); !ok || err != nil {
		t.Fatalf("claim a workflow_run event: %v, %v", ok, err)
	}
	if ok, err := src.Claim(ctx, "reconcile", time.Hour); !ok || err != nil {
		t.Fatalf("periodic claim: %v, %v", ok, err)
	}
	if err := q.SetWorkflowState(ctx, "o/r", "ci.yml", "disabled_manually", now); err != nil {
		t.Fatal(err)
	}
	public := true
	if err := q.NoteRepoActivity(ctx, "o/r", &public, now, true); err != nil {
		t.Fatal(err)
	}
	if err := src.AddRefusals(ctx, []Refusal{
		{At: now, Event: "push", Delivery: "bad-1", Outcome: "rejected", Status: 401, Reason: "bad signature"},
		{At: now.Add(time.Second), Event: "push", Delivery: "dup-1", Outcome: "duplicate", Status: 200, Reason: "seen", Of: "z-first"},
	}, 10, 100); err != nil {
		t.Fatal(err)
	}

	if err := q.SetReportsSent(ctx, run.ID, map[string]string{"status run": "pending|Running", "check job-1": "7|completed|success|1"}); err != nil {
		t.Fatal(err)
	}

	stats, err := Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"deliveries": 3, "runs": 1, "jobs": 3, "steps": 1, "log_chunks": 3, "run_counters": 1,
		"schedules": 1, "schedule_repos": 1, "workflow_run_events": 1, "periodic_claims": 1, "workflow_states": 1,
		"repo_activity": 1, "refused_webhooks": 2, "refused_counts": 2, "report_sent": 2}
	if !reflect.DeepEqual(stats.Rows, want) || stats.Requeued != 2 {
		t.Errorf("copied %v, requeued %d; want %v, 2 (the queued delivery and job)", stats.Rows, stats.Requeued, want)
	}
	dq := dst.Queries()
	for _, pair := range [][2]any{
		{mustGet(q.Run(ctx, run.ID)), mustGet(dq.Run(ctx, run.ID))},
		{mustGet(q.RunJobs(ctx, run.ID)), mustGet(dq.RunJobs(ctx, run.ID))},
		{mustGet(q.Steps(ctx, done.ID)), mustGet(dq.Steps(ctx, done.ID))},
		{mustGet(q.LogAfter(ctx, done.ID, 0)), mustGet(dq.LogAfter(ctx, done.ID, 0))},
		{mustGet(q.Delivery(ctx, "m-third")), mustGet(dq.Delivery(ctx, "m-third"))},
		{mustGet(q.DeliveriesBefore(ctx, "", 10)), mustGet(dq.DeliveriesBefore(ctx, "", 10))},
		{mustGet(q.Schedules(ctx, "o/r")), mustGet(dq.Schedules(ctx, "o/r"))},
		{mustGet(q.ScheduleRepos(ctx)), mustGet(dq.ScheduleRepos(ctx))},
		{mustGet(q.WorkflowStates(ctx, "o/r")), mustGet(dq.WorkflowStates(ctx, "o/r"))},
		{mustGet(q.RefusedCounts(ctx, time.UnixMilli(0))), mustGet(dq.RefusedCounts(ctx, time.UnixMilli(0)))},
		{mustGet(q.ReportsSent(ctx, run.ID)), mustGet(dq.ReportsSent(ctx, run.ID))},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("after the copy:\n got %+v\nwant %+v", pair[1], pair[0])
		}
	}
	for _, pair := range [][2]any{
		{mustGet(q.Refusals(ctx, 10)), mustGet(dq.Refusals(ctx, 10))},
	} {
		a, b := fmt.Sprintf("%+v", pair[0]), fmt.Sprintf("%+v", pair[1])
		if a != b {
			t.Errorf("refusals after the copy:\n got %s\nwant %s", b, a)
		}
	}
	if last, pub, known, err := dq.RepoActivity(ctx, "o/r"); err != nil || !known || !pub || !last.Equal(now) {
		t.Errorf("repo activity after the copy: %v %v %v %v; want %v, public", last, pub, known, err, now)
	}
	// The schedule keeps the slot it fired (compared above); the event and
	// the periodic claim stay claimed.
	if ok, err := dq.ClaimWorkflowRunEvent(ctx, run.ID, 1, "completed", "wr-2"); ok || err != nil {
		t.Errorf("claiming the copied workflow_run event again: %v, %v; want false", ok, err)
	}
	if ok, err := dst.Claim(ctx, "reconcile", time.Hour); ok || err != nil {
		t.Errorf("periodic claim within the period after the copy: %v, %v; want false", ok, err)
	}
	if depth, _ := dst.QueueDepth(ctx); depth != 2 {
		t.Errorf("destination queue depth %d, want 2", depth)
	}
	next := &Run{DeliveryID: "x", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "def", Status: StatusQueued}
	if err := dq.CreateRun(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.ID <= run.ID || next.RunNumber != 2 {
		t.Errorf("next run: id %d, number %d; want an id above %d and number 2", next.ID, next.RunNumber, run.ID)
	}
	if _, err := Copy(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Errorf("copy into a database with history: got %v, want a refusal", err)
	}
}

func mustGet[T any](v T, err error) any {
	if err != nil {
		return err
	}
	return v
}
