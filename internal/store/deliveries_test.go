package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIntakeRedeliveryAndReplay: a redelivery (same id) plans again only a
// delivery that never planned; a new id with a fingerprint seen within the
// window is a replay and is not stored; outside the window it is new.
func TestIntakeRedeliveryAndReplay(t *testing.T) { eachDB(t, testIntakeRedeliveryAndReplay) }

func testIntakeRedeliveryAndReplay(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	add := func(id, fp string, at time.Time) IntakeResult {
		t.Helper()
		res, err := s.Intake(ctx, Delivery{ID: id, Event: "push", Repo: "o/r", ReceivedAt: at, Payload: []byte(`{}`),
			Status: DeliveryQueued, Fingerprint: fp}, IntakeOptions{Plan: true, ReplayWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if got := add("a", "fp-a", now); got != (IntakeResult{}) {
		t.Fatalf("first delivery: got %+v, want a plain accept", got)
	}
	// Queued with its planning still in the queue: a duplicate.
	if got := add("a", "fp-a", now); !got.Duplicate {
		t.Errorf("redelivery while planning is queued: got %+v, want Duplicate", got)
	}
	// The same body under a new id: a replay of a.
	if got := add("b", "fp-a", now.Add(time.Minute)); got.ReplayOf != "a" {
		t.Errorf("new id, same fingerprint: got %+v, want ReplayOf a", got)
	}
	// Beyond the window it is a delivery of its own.
	if got := add("c", "fp-a", now.Add(2*time.Hour)); got != (IntakeResult{}) {
		t.Errorf("same fingerprint after the window: got %+v, want a plain accept", got)
	}
	// Failed: a redelivery plans it again.
	if err := s.Queries().FailDelivery(ctx, "a", ReasonRetriesExhausted, errors.New("git down")); err != nil {
		t.Fatal(err)
	}
	if got := add("a", "fp-a", now); !got.Replanned {
		t.Errorf("redelivery of a failed delivery: got %+v, want Replanned", got)
	}
	if d, _ := s.Queries().Delivery(ctx, "a"); d.Status != DeliveryQueued {
		t.Errorf("replanned delivery status %q, want queued", d.Status)
	}
	// Queued with no live queue work (lost): a redelivery plans it again.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM river_job WHERE `+s.dialect.jsonText("args", "delivery_id")+` = 'c'`); err != nil {
		t.Fatal(err)
	}
	if got := add("c", "fp-a", now.Add(2*time.Hour)); !got.Replanned {
		t.Errorf("redelivery of a queued delivery without queue work: got %+v, want Replanned", got)
	}
	// Planned: a duplicate for good.
	if err := s.Queries().SetDeliveryStatus(ctx, "a", DeliveryPlanned, "1 run(s)"); err != nil {
		t.Fatal(err)
	}
	if got := add("a", "fp-a", now); !got.Duplicate {
		t.Errorf("redelivery of a planned delivery: got %+v, want Duplicate", got)
	}
	if n, _ := s.Queries().CountDeliveries(ctx); n != 2 {
		t.Errorf("%d deliveries stored, want 2 (a and c)", n)
	}
}

// syncBuffer is a log sink safe for the queue's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// TestPlanningFailuresEndVisibly: a permanent failure ends the delivery
// failed on the first attempt; transient ones are retried with backoff until
// the budget, then end failed with the last error. Each failure is on the
// row, logged at ERROR with the delivery id and counted by reason.
func TestPlanningFailuresEndVisibly(t *testing.T) { eachDB(t, testPlanningFailuresEndVisibly) }

func testPlanningFailuresEndVisibly(t *testing.T, db Options) {
	ctx := context.Background()
	var logs syncBuffer
	s, err := Open(ctx, t.TempDir(), with(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), PollInterval: 10 * time.Millisecond,
		PlanRetry: RetryPolicy{Min: 20 * time.Millisecond, Max: 50 * time.Millisecond, Budget: 2 * time.Second}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	attempts := map[string]int{}
	var reasons []string
	err = s.StartQueue(ctx, Handlers{
		Delivery: func(ctx context.Context, id string) error {
			mu.Lock()
			attempts[id]++
			mu.Unlock()
			if id == "bad" {
				return Permanent(ReasonMalformedPayload, errors.New("payload: unexpected end of JSON input"))
			}
			return errors.New("git fetch: connection refused")
		},
		DeliveryFailed: func(reason string) { mu.Lock(); reasons = append(reasons, reason); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bad", "flaky"} {
		if _, err := s.AddDelivery(ctx, Delivery{ID: id, Event: "push", ReceivedAt: time.Now(), Payload: []byte(`{}`),
			Status: DeliveryQueued}, true); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, _ := s.Queries().Delivery(ctx, "bad")
		b, _ := s.Queries().Delivery(ctx, "flaky")
		mu.Lock()
		told := len(reasons) // the row commits before the failure is told
		mu.Unlock()
		if a.Status == DeliveryFailed && b.Status == DeliveryFailed && told == 2 {
			if !strings.HasPrefix(a.Message, ReasonMalformedPayload+": payload:") {
				t.Errorf("bad: message %q, want the reason and the error", a.Message)
			}
			if !strings.HasPrefix(b.Message, ReasonRetriesExhausted+": gave up after") || !strings.Contains(b.Message, "connection refused") {
				t.Errorf("flaky: message %q, want the reason and the last error", b.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries never failed: bad %s %q, flaky %s %q", a.Status, a.Message, b.Status, b.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts["bad"] != 1 {
		t.Errorf("permanent failure attempted %d times, want 1", attempts["bad"])
	}
	if attempts["flaky"] < 2 { // at least one retry; how many fit the 2 s budget depends on the machine's load
		t.Errorf("transient failure attempted %d times, want retries", attempts["flaky"])
	}
	if len(reasons) != 2 {
		t.Errorf("DeliveryFailed told %v, want malformed_payload and retries_exhausted", reasons)
	}
	for _, want := range []string{`level=ERROR msg="delivery failed" delivery=bad reason=malformed_payload`,
		`level=ERROR msg="delivery failed" delivery=flaky reason=retries_exhausted`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestRetryPolicyBackoff(t *testing.T) {
	p := RetryPolicy{Min: time.Second, Max: 10 * time.Second, Budget: time.Hour}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {60, 10 * time.Second}} {
		if got := p.delay(tc.attempt); got != tc.want {
			t.Errorf("delay(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
		if got := p.jittered(tc.attempt); got < tc.want*8/10 || got > tc.want*12/10 {
			t.Errorf("jittered(%d) = %v, want %v ±20%%", tc.attempt, got, tc.want)
		}
	}
}
