package store

import (
	"database/sql"
	"sync"
)

// Changes in this process: every write the store commits (a transaction
// of InTx or InJobTx, or a statement outside one) closes the channel that
// Changed handed out, so a reader that follows the store (hookci run's
// follower) reads again when, and only when, something was written,
// instead of polling on a timer. Writes of other processes are not seen:
// a SQLite store has one writer process (the data directory's lock); on
// PostgreSQL use LISTEN (lognotify.go) for other hosts' writes.

// changeNotifier hands out the channel of the next change.
type changeNotifier struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed at the next change; nil while nobody waits
}

// Changed returns a channel closed after the store's next committed write
// in this process. Take it before reading: a write committed during the
// read then closes it, and the reader reads again.
func (s *Store) Changed() <-chan struct{} {
	n := &s.changes
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// changed wakes whoever waits on Changed (a lock and a nil check when
// nobody does).
func (n *changeNotifier) changed() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// changedOutsideTx wakes the waiters after a statement run on e, unless e
// is a transaction (whose commit wakes them).
func (n *changeNotifier) changedOutsideTx(e execer) {
	if _, inTx := e.(*sql.Tx); !inTx {
		n.changed()
	}
}
