package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestChangedClosesOnCommittedWrites: the channel Changed hands out is
// closed by every write the store commits (a transaction, a statement
// outside one), only after the commit (not while the transaction is open,
// not when it rolls back), and never by a read. hookci run's follower
// waits on it instead of polling: a write that did not close it would
// leave the follower asleep.
func TestChangedClosesOnCommittedWrites(t *testing.T) { eachDB(t, testChangedClosesOnCommittedWrites) }

func testChangedClosesOnCommittedWrites(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), with(db, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddDelivery(ctx, Delivery{ID: "d1", Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: DeliveryQueued}, false); err != nil {
		t.Fatal(err)
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	errRollback := errors.New("roll back")
	for _, tc := range []struct {
		name  string
		write func(ch <-chan struct{}) error // ch: the channel taken before
		want  bool
	}{
		{"statement outside a transaction", func(<-chan struct{}) error {
			return s.Queries().SetDeliveryStatus(ctx, "d1", DeliveryQueued, "outside")
		}, true},
		{"InTx, closed only after the commit", func(ch <-chan struct{}) error {
			return s.InTx(ctx, func(q *Queries) error {
				if err := q.SetDeliveryStatus(ctx, "d1", DeliveryQueued, "in a transaction"); err != nil {
					return err
				}
				if closed(ch) {
					return errors.New("closed before the commit")
				}
				return nil
			})
		}, true},
		{"InJobTx", func(<-chan struct{}) error {
			return s.InJobTx(ctx, func(q *Queries) error {
				return q.SetDeliveryStatus(ctx, "d1", DeliveryQueued, "in a job transaction")
			})
		}, true},
		{"rolled back", func(<-chan struct{}) error {
			err := s.InTx(ctx, func(q *Queries) error {
				if err := q.SetDeliveryStatus(ctx, "d1", DeliveryQueued, "never"); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				return err
			}
			return nil
		}, false},
		{"read", func(<-chan struct{}) error {
			_, err := s.Queries().Delivery(ctx, "d1")
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := s.Changed()
			if err := tc.write(ch); err != nil {
				t.Fatal(err)
			}
			if got := closed(ch); got != tc.want {
				t.Errorf("channel closed: got %v, want %v", got, tc.want)
			}
		})
	}
}
