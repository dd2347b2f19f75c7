package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// The queue's wake-up after commit on SQLite.
//
// River finds new work on SQLite only by polling: the database has no
// LISTEN/NOTIFY, and River's in-process trigger fires for its non-
// transactional Insert only, never for InsertTx (a job inserted in a
// transaction is invisible until the commit). A short poll keeps pickups
// fast but costs an idle server a sixth of a core; a long one delays every
// job. So the store tells River itself, after each commit that queued work:
// River is given an in-process listener (sqliteDriver), and the store
// raises River's own "insert" notification on it (Store.wake) once the
// transaction is durable. A SQLite store belongs to one process (the data
// directory's lock), so no other process inserts work this listener would
// miss; the poll stays as a fallback for River's own scheduled work (retries
// whose backoff ended).

// queueSet is a set of the store's queues, one bit each.
type queueSet uint8

const (
	inPlan queueSet = 1 << iota
	inJobs
	inReport
)

var queueBits = []struct {
	bit  queueSet
	name string
}{{inPlan, queuePlan}, {inJobs, queueJobs}, {inReport, queueReport}}

// sqliteDriver is River's SQLite driver with an in-process listener, so
// that River subscribes to insert notifications the store raises after its
// commits.
type sqliteDriver struct {
	*riversqlite.Driver
	listener *localListener
}

func newSQLiteDriver(db *sql.DB) *sqliteDriver {
	return &sqliteDriver{Driver: riversqlite.New(db), listener: newLocalListener()}
}

// SupportsListener reports true: notifications come from this process.
func (d *sqliteDriver) SupportsListener() bool { return true }

// GetListener returns the in-process listener.
func (d *sqliteDriver) GetListener(*riverdriver.GetListenenerParams) riverdriver.Listener {
	return d.listener
}

// localListener is a riverdriver.Listener fed by this process: notify
// queues a notification for the topics River listens on.
type localListener struct {
	ch chan *riverdriver.Notification

	mu     sync.Mutex // guards the field below
	topics map[string]bool
}

func newLocalListener() *localListener {
	return &localListener{ch: make(chan *riverdriver.Notification, 64), topics: map[string]bool{}}
}

func (l *localListener) Close(context.Context) error   { return nil }
func (l *localListener) Connect(context.Context) error { return nil }
func (l *localListener) Ping(context.Context) error    { return nil }
func (l *localListener) Schema() string                { return "" }
func (l *localListener) SetAfterConnectExec(string)    {}

func (l *localListener) Listen(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.topics[topic] = true
	return nil
}

func (l *localListener) Unlisten(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.topics, topic)
	return nil
}

// WaitForNotification returns the next notification, or ctx's error.
func (l *localListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	select {
	case n := <-l.ch:
		return n, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// notify raises payload on topic, if River listens to it. It never blocks:
// when the buffer is full, notifications already waiting will make River
// fetch, which is all an insert notification asks for.
func (l *localListener) notify(topic, payload string) {
	l.mu.Lock()
	listening := l.topics[topic]
	l.mu.Unlock()
	if !listening {
		return
	}
	select {
	case l.ch <- &riverdriver.Notification{Topic: topic, Payload: payload}:
	default:
	}
}

// wake tells the queue that work was committed on the queues in set. Call
// it only after the commit: a fetch before it would not see the work.
// On PostgreSQL River's own NOTIFY (sent with the commit) does this.
func (s *Store) wake(set queueSet) {
	if s.listener == nil || set == 0 {
		return
	}
	for _, q := range queueBits {
		if set&q.bit != 0 {
			s.listener.notify("river_insert", `{"queue":"`+q.name+`"}`)
		}
	}
}

// notifyQueued, on PostgreSQL, NOTIFYs River's insert topic for each queue
// q's transaction put work on, delivered with the commit to every host.
// River NOTIFYs inserts itself, but at most once per queue per fetch
// cooldown and whether or not that transaction commits: an insert whose
// notification was skipped waited for the fallback poll.
func (q *Queries) notifyQueued(ctx context.Context) error {
	if q.s.dialect != postgresDialect || q.queued == 0 {
		return nil
	}
	for _, b := range queueBits {
		if q.queued&b.bit == 0 {
			continue
		}
		if _, err := q.db.ExecContext(ctx, `SELECT pg_notify(concat(current_schema(), '.river_insert'), ?)`,
			`{"queue":"`+b.name+`"}`); err != nil {
			return fmt.Errorf("store: notify queue %s: %w", b.name, err)
		}
	}
	return nil
}
