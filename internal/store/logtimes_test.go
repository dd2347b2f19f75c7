package store

import (
	"context"
	"testing"
	"time"
)

func TestLogLineTimes(t *testing.T) { eachDB(t, testLogLineTimes) }

// Line times written with a chunk come back with it, to the 100 ns GitHub
// prints, on both databases; a chunk written without times has none; and
// GitHub's raw-log form of a time has seven fractional digits.
func testLogLineTimes(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), with(db, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	r := &Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI", Event: "push",
		SHA: "abc", Status: StatusQueued}
	if err := q.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	j := &Job{RunID: r.ID, Key: "build", Name: "build", Status: StatusQueued}
	if err := s.InTx(ctx, func(q *Queries) error { return q.CreateJob(ctx, j, true) }); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 4, 15, 30, 1, 123456789, time.UTC)
	times := []time.Time{base, base.Add(1500 * time.Microsecond), base.Add(-time.Second), base.Add(72 * time.Hour)}
	if err := q.AppendLogTimed(ctx, j.ID, 0, []byte("a\nb\nc\nd\n"), times); err != nil {
		t.Fatal(err)
	}
	if err := q.AppendLog(ctx, j.ID, 1, []byte("untimed\n")); err != nil {
		t.Fatal(err)
	}
	chunks, err := q.LogAfter(ctx, j.ID, 0)
	if err != nil || len(chunks) != 2 {
		t.Fatalf("LogAfter: %d chunks, %v; want 2", len(chunks), err)
	}
	if got := chunks[0].Times; len(got) != len(times) {
		t.Fatalf("times: got %v, want %d", got, len(times))
	}
	for i, want := range times {
		if got := chunks[0].Times[i]; !got.Equal(want.Truncate(100 * time.Nanosecond)) {
			t.Errorf("time %d: got %v, want %v", i, got, want.Truncate(100*time.Nanosecond))
		}
	}
	if chunks[1].Times != nil {
		t.Errorf("untimed chunk: got times %v, want none", chunks[1].Times)
	}
	if got, want := FormatLineTime(base), "2026-12-04T15:30:01.1234567Z"; got != want {
		t.Errorf("FormatLineTime: got %q, want %q", got, want)
	}
	if got := DecodeLineTimes([]byte{0xff}); got != nil {
		t.Errorf("DecodeLineTimes of a cut varint: got %v, want nil", got)
	}
}
