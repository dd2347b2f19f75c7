package store

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// memQueue is the queue of a scratch store (Options.Scratch: `hookci run`
// without --data-dir, whose store is deleted after Close): the same three
// queues as River's (plan, jobs, report) with the same worker limits, the
// same workers (workDelivery, workJob, workReport), retries (planning's
// RetryPolicy; River's default backoff and attempt caps for the others)
// and snoozes (a job placement gives back), held in memory. A local run's
// store outlives nothing — a crash ends the run with it — so a durable queue
// protects nothing there, and River cost it its client's start and stop,
// its fetch and completion statements (prepared anew in each process), and
// a fetch round trip on the one SQLite connection at each hand-over
// (bench/phases). Work queued in a transaction is handed over when it
// commits (InTx), as River's inserts become visible then; a rolled-back
// transaction queues nothing.
type memQueue struct {
	s *Store

	mu      sync.Mutex // guards the fields below
	lanes   map[string]*memLane
	waiting map[*memItem]*time.Timer // retries and snoozes not yet due
	plans   map[string]int           // delivery id → its planning items not finished
	ctx     context.Context          // ended by stop: running work is cancelled
	cancel  context.CancelFunc
	started bool
	stopped bool
	wg      sync.WaitGroup // running work and due timers
}

// memLane is one queue: at most max items run at once, the rest wait in
// order.
type memLane struct {
	max     int
	running int
	ready   []*memItem
}

// memItem is one piece of queued work.
type memItem struct {
	queue   string
	args    any // deliveryArgs, jobArgs or reportArgs
	attempt int // attempts started
	max     int // attempts allowed
	created time.Time
}

func newMemQueue(s *Store, maxJobs int) *memQueue {
	ctx, cancel := context.WithCancel(context.Background()) // until start
	return &memQueue{s: s, ctx: ctx, cancel: cancel, waiting: map[*memItem]*time.Timer{}, plans: map[string]int{},
		lanes: map[string]*memLane{queuePlan: {max: 2}, queueJobs: {max: maxJobs}, queueReport: {max: 2}}}
}

// memItemOf makes the queue item of args, as River's inserts in queue.go
// and deliveries.go make them (attempt caps included).
func memItemOf(queue string, args any, maxAttempts int) *memItem {
	return &memItem{queue: queue, args: args, max: maxAttempts, created: time.Now()}
}

// push hands over items committed in a transaction.
func (m *memQueue) push(items []*memItem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	for _, it := range items {
		if d, ok := it.args.(deliveryArgs); ok {
			m.plans[d.DeliveryID]++
		}
		m.lanes[it.queue].ready = append(m.lanes[it.queue].ready, it)
	}
	m.dispatchLocked()
}

// start begins working the queues; work gets ctx's values (as River's
// workers get those of the context it was started with), and ends at stop.
func (m *memQueue) start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cancel()
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.started = true
	m.dispatchLocked()
}

// dispatchLocked starts what the lanes have room for; m.mu is held.
func (m *memQueue) dispatchLocked() {
	if !m.started || m.stopped {
		return
	}
	for _, l := range m.lanes {
		for l.running < l.max && len(l.ready) > 0 {
			it := l.ready[0]
			l.ready = l.ready[1:]
			l.running++
			m.wg.Add(1)
			go m.run(l, it)
		}
	}
}

// run works one attempt of it, then completes, retries or snoozes it.
func (m *memQueue) run(l *memLane, it *memItem) {
	defer m.wg.Done()
	it.attempt++
	err := m.work(it)
	m.mu.Lock()
	defer m.mu.Unlock()
	l.running--
	var snooze *rivertype.JobSnoozeError
	switch {
	case err == nil || m.stopped:
		m.finishLocked(it)
	case errors.As(err, &snooze):
		it.attempt-- // a snooze is not an attempt (River's rule)
		m.laterLocked(it, snooze.Duration)
	case it.attempt >= it.max:
		m.s.logger.Error("queue work failed for the last time", "queue", it.queue, "attempts", it.attempt, "err", err)
		m.finishLocked(it)
	default:
		m.laterLocked(it, m.retryDelay(it))
	}
	m.dispatchLocked()
}

// work is one attempt, with the timeout River's worker gives it.
func (m *memQueue) work(it *memItem) error {
	switch a := it.args.(type) {
	case deliveryArgs:
		ctx, cancel := context.WithTimeout(m.ctx, planTimeout)
		defer cancel()
		return m.s.workDelivery(ctx, a.DeliveryID, it.attempt, it.created)
	case jobArgs:
		// Jobs time themselves out; no River job id: the lease it serves
		// (leasehold.go) is never lost on SQLite.
		return m.s.workJob(m.ctx, 0, a.JobID)
	case reportArgs:
		ctx, cancel := context.WithTimeout(m.ctx, reportTimeout)
		defer cancel()
		return m.s.workReport(ctx, a.RunID)
	}
	return nil
}

// retryDelay is when a failed attempt is tried again: planning's policy
// (deliveryWorker.NextRetry), else River's default (attempt⁴ seconds).
func (m *memQueue) retryDelay(it *memItem) time.Duration {
	if _, ok := it.args.(deliveryArgs); ok {
		return m.s.planRetry.jittered(it.attempt)
	}
	return time.Duration(math.Pow(float64(it.attempt), 4)) * time.Second
}

// laterLocked puts it back on its lane after d; m.mu is held.
func (m *memQueue) laterLocked(it *memItem, d time.Duration) {
	m.wg.Add(1)
	m.waiting[it] = time.AfterFunc(d, func() {
		defer m.wg.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.waiting[it]; !ok {
			return // stopped meanwhile
		}
		delete(m.waiting, it)
		m.lanes[it.queue].ready = append(m.lanes[it.queue].ready, it)
		m.dispatchLocked()
	})
}

// finishLocked forgets it; m.mu is held.
func (m *memQueue) finishLocked(it *memItem) {
	if d, ok := it.args.(deliveryArgs); ok {
		if m.plans[d.DeliveryID]--; m.plans[d.DeliveryID] <= 0 {
			delete(m.plans, d.DeliveryID)
		}
	}
}

// planQueued reports whether delivery id's planning is queued, waiting for
// a retry or running.
func (m *memQueue) planQueued(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plans[id] > 0
}

// depth counts the work waiting to run (ready or due later).
func (m *memQueue) depth() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.waiting)
	for _, l := range m.lanes {
		n += len(l.ready)
	}
	return n
}

// stop cancels running work and waits for it (as River's StopAndCancel,
// within timeout); nothing starts afterwards.
func (m *memQueue) stop(timeout time.Duration) error {
	m.mu.Lock()
	m.stopped = true
	for it, t := range m.waiting {
		if t.Stop() {
			m.wg.Done() // its function will not run
		}
		delete(m.waiting, it)
	}
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return errors.New("queue work still running after the stop's timeout")
	}
}
