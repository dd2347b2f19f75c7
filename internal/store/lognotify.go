package store

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Live logs across hosts. A flush of a job's log chunks sends NOTIFY
// hookci_log '<job id>' in its transaction (PostgreSQL delivers it at
// commit, to every host); each host keeps one LISTEN connection, started
// by the first follower, and wakes the followers of that job. In one
// process (SQLite, or the writing host itself) LogWritten wakes them too.
// Followers still re-read on their own tick, so a lost notification
// (listener reconnecting) delays a chunk, never loses it: chunks are read
// by sequence number.

// logChannel is the PostgreSQL notification channel of log flushes.
const logChannel = "hookci_log"

// logNotifier wakes the followers of jobs' logs.
type logNotifier struct {
	mu        sync.Mutex // guards the fields below
	waiters   map[int64]map[chan struct{}]bool
	listening bool
	stop      context.CancelFunc
}

// NotifyLog announces, inside a log flush's transaction, that job jobID's
// log grew (PostgreSQL: to every host at commit; SQLite: nothing, see
// LogWritten).
func (q *Queries) NotifyLog(ctx context.Context, jobID int64) error {
	if q.s.dialect != postgresDialect {
		return nil
	}
	_, err := q.db.ExecContext(ctx, `SELECT pg_notify(?, ?)`, logChannel, strconv.FormatInt(jobID, 10))
	return err
}

// LogWritten wakes this process's followers of job jobID's log (call after
// the flush committed).
func (s *Store) LogWritten(jobID int64) { s.logs.wake(jobID) }

// WaitLog returns when job jobID's log may have grown (a flush here or, on
// PostgreSQL, on any host) or after d, whichever is first, or when ctx ends.
func (s *Store) WaitLog(ctx context.Context, jobID int64, d time.Duration) {
	ch := make(chan struct{}, 1)
	n := &s.logs
	n.mu.Lock()
	if n.waiters == nil {
		n.waiters = map[int64]map[chan struct{}]bool{}
	}
	if n.waiters[jobID] == nil {
		n.waiters[jobID] = map[chan struct{}]bool{}
	}
	n.waiters[jobID][ch] = true
	start := s.dialect == postgresDialect && !n.listening
	if start {
		lctx, cancel := context.WithCancel(context.Background())
		n.listening, n.stop = true, cancel
		go s.listenLogs(lctx)
	}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.waiters[jobID], ch)
		if len(n.waiters[jobID]) == 0 {
			delete(n.waiters, jobID)
		}
		n.mu.Unlock()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (n *logNotifier) wake(jobID int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.waiters[jobID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// close stops the listener.
func (n *logNotifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stop != nil {
		n.stop()
	}
}

// listenLogs holds a LISTEN connection until ctx ends, reconnecting after
// an error.
func (s *Store) listenLogs(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.listenOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("listening for log notifications (followers fall back to polling)", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+logChannel); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "UNLISTEN "+logChannel)
	for {
		nt, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := strconv.ParseInt(nt.Payload, 10, 64); err == nil {
			s.logs.wake(id)
		}
	}
}
