package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// errSuperseded is the cause given to a job whose attempt another host
// took over (this host was presumed dead): its sandbox is stopped and
// nothing more of it is recorded.
var errSuperseded = errors.New("job attempt superseded: another host runs this job now (this host was presumed dead)")

// errLeaseLost is the cause given to every job of a host whose heartbeats
// failed for most of a lease: it stops them before another host may take
// them, so a job never runs twice at once. The queue offers them again.
// It wraps store.ErrLeaseLost: the queue holds the job's row until the
// lease is back or another host took it over (store/leasehold.go).
var errLeaseLost = fmt.Errorf("%w (no heartbeat reached the database): job stopped so that another host may run it", store.ErrLeaseLost)

// leaseWatch stops jobs of this host that must not go on: those whose
// attempt moved on in the store, and all of them when the host's lease is
// lost (store.LeaseLost). One watcher per dispatcher, started with the
// first job.
type leaseWatch struct {
	once sync.Once

	mu   sync.Mutex // guards jobs
	jobs map[int64]watched
}

// watched is one running attempt.
type watched struct {
	attempt int
	cancel  context.CancelCauseFunc
}

// watchLease registers a running attempt; the returned func unregisters it.
func (d *Dispatcher) watchLease(jobID int64, attempt int, cancel context.CancelCauseFunc) func() {
	w := &d.lease
	w.mu.Lock()
	if w.jobs == nil {
		w.jobs = map[int64]watched{}
	}
	w.jobs[jobID] = watched{attempt: attempt, cancel: cancel}
	w.mu.Unlock()
	w.once.Do(func() { go d.leaseLoop() })
	return func() {
		w.mu.Lock()
		if cur, ok := w.jobs[jobID]; ok && cur.attempt == attempt {
			delete(w.jobs, jobID)
		}
		w.mu.Unlock()
	}
}

// leaseLoop runs for the life of the process (the dispatcher has no stop;
// an idle check costs nothing). It checks every lease/30 so that a host
// whose lease is lost stops its jobs well before others take them.
func (d *Dispatcher) leaseLoop() {
	every := d.cfg.Store.Lease() / 30
	if every < 50*time.Millisecond {
		every = 50 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		d.checkLeases()
	}
}

// checkLeases stops what must stop now.
func (d *Dispatcher) checkLeases() {
	w := &d.lease
	w.mu.Lock()
	jobs := make(map[int64]watched, len(w.jobs))
	ids := make([]int64, 0, len(w.jobs))
	for id, j := range w.jobs {
		jobs[id] = j
		ids = append(ids, id)
	}
	w.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if d.cfg.Store.LeaseLost() {
		d.log.Error("lease lost: stopping every job of this host so that another host may run them", "jobs", len(ids))
		for _, j := range jobs {
			j.cancel(errLeaseLost)
		}
		return
	}
	if !d.cfg.Store.Shared() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Store.Lease()/3)
	defer cancel()
	cur, err := d.cfg.Store.Queries().JobAttempts(ctx, ids)
	if err != nil {
		d.log.Warn("checking the attempts of running jobs", "err", err)
		return
	}
	for id, j := range jobs {
		if a, ok := cur[id]; ok && a != j.attempt {
			d.log.Warn("job attempt superseded by another host: stopping its sandbox", "job", id, "attempt", j.attempt, "now", a)
			j.cancel(errSuperseded)
		}
	}
	// A cancel made through another host reaches this host's jobs here:
	// that host marked the row, only this one can stop the sandbox.
	cancelled, err := d.cfg.Store.Queries().CancelledRunning(ctx, ids)
	if err != nil {
		d.log.Warn("checking running jobs for cancels made on other hosts", "err", err)
		return
	}
	for _, id := range cancelled {
		d.log.Info("job cancelled through another host: stopping its sandbox", "job", id)
		d.cancelRunning(id)
	}
}

// fenceErr is what RunJob returns for a job the lease watch stopped, nil
// when it did not stop it.
func fenceErr(jctx context.Context) error {
	switch cause := context.Cause(jctx); {
	case errors.Is(cause, errSuperseded):
		return errors.Join(cause, store.ErrStale) // the queue ends this attempt
	case errors.Is(cause, errLeaseLost):
		// Held by the queue until the lease is back (then offered again
		// without spending an attempt) or another host took it over.
		return cause
	}
	return nil
}
