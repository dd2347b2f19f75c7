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

	stats, err := Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"deliveries": 3, "runs": 1, "jobs": 3, "steps": 1, "log_chunks": 3, "run_counters": 1}
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
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("after the copy:\n got %+v\nwant %+v", pair[1], pair[0])
		}
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
