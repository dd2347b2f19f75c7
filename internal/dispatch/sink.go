package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/store"
)

// storeSink writes a job's steps and logs to the store off the step path:
// records are batched and written in one transaction every 100 ms, so a
// step costs no database round trip and a chatty step a few writes a
// second, not one per line. What is left when the job ends (Stop) is
// written in the transaction that records the job's end (writePending):
// one commit, not two, between the last step and the job recorded over.
type storeSink struct {
	st      *store.Store
	jobID   int64
	attempt int    // every flush checks that the job is still at it (fencing)
	stale   func() // called once when it is not: the attempt was superseded
	log     *slog.Logger

	mu      sync.Mutex // guards pending and failing
	pending []record
	failing bool // the last write failed (logged once)

	stop chan struct{}
	done chan struct{}
}

// record is a step change or a piece of log, in order.
type record struct {
	step  *store.Step
	idx   int
	log   *strings.Builder
	times []time.Time // when each line of log was written
}

func newStoreSink(st *store.Store, jobID int64, attempt int, stale func(), log *slog.Logger) *storeSink {
	s := &storeSink{st: st, jobID: jobID, attempt: attempt, stale: stale, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *storeSink) loop() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-s.stop:
			return // Close writes what is left
		}
	}
}

// Stop ends the periodic writes (and waits for one under way). What is
// left is written by writePending.
func (s *storeSink) Stop() {
	close(s.stop)
	<-s.done
}

// writePending writes the records still pending in q's transaction (the
// one recording the job's end) and returns how many; once that commits,
// written(n) drops them. A failed transaction keeps them for its retry.
func (s *storeSink) writePending(ctx context.Context, q *store.Queries) (int, error) {
	s.mu.Lock()
	p := s.pending
	s.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	return len(p), s.write(ctx, q, p)
}

// written drops the first n pending records, committed by the caller.
func (s *storeSink) written(n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.pending = s.pending[n:]
	s.mu.Unlock()
	s.st.LogWritten(s.jobID)
}

// write writes records p in q's transaction, if the job is still at the
// sink's attempt (fencing).
func (s *storeSink) write(ctx context.Context, q *store.Queries, p []record) error {
	if err := q.CheckAttempt(ctx, s.jobID, s.attempt); err != nil {
		return err // a host presumed dead writes nothing more of the job
	}
	for _, r := range p {
		if r.step != nil {
			if err := q.PutStep(ctx, *r.step); err != nil {
				return err
			}
			continue
		}
		if err := q.AppendLogTimed(ctx, s.jobID, r.idx, []byte(r.log.String()), r.times); err != nil {
			return err
		}
	}
	return q.NotifyLog(ctx, s.jobID) // followers on every host (store/lognotify.go)
}

// flush writes the pending records in one transaction. When the write
// fails for any reason but fencing, the records are kept, ahead of newer
// ones, for the next flush: a database outage delays lines, it does not
// drop them.
func (s *storeSink) flush() error {
	s.mu.Lock()
	p := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(p) == 0 {
		return nil
	}
	ctx := context.Background()
	err := s.st.InJobTx(ctx, func(q *store.Queries) error { // one job's rows only
		return s.write(ctx, q, p)
	})
	if err == nil {
		s.st.LogWritten(s.jobID)
	}
	switch {
	case errors.Is(err, store.ErrStale):
		s.log.Warn("steps and logs refused: the job's attempt was superseded", "err", err)
		if s.stale != nil {
			s.stale()
		}
	case err != nil:
		s.mu.Lock()
		s.pending = append(p, s.pending...)
		first := !s.failing
		s.failing = true
		s.mu.Unlock()
		if first { // once per outage, not every 100 ms
			s.log.Error("storing steps and logs failed: kept for the next write", "err", err)
		}
		return err
	}
	s.mu.Lock()
	s.failing = false
	s.mu.Unlock()
	return nil
}

func (s *storeSink) add(r record) {
	s.mu.Lock()
	s.pending = append(s.pending, r)
	s.mu.Unlock()
}

func (s *storeSink) StepStarted(idx int, name string) {
	s.add(record{step: &store.Step{JobID: s.jobID, Index: idx, Name: name, Status: store.StatusInProgress, StartedAt: time.Now()}})
}

func (s *storeSink) StepLog(idx int, line string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.pending); n > 0 && s.pending[n-1].log != nil && s.pending[n-1].idx == idx && s.pending[n-1].log.Len() < 64<<10 {
		r := &s.pending[n-1]
		r.log.WriteString(line)
		r.log.WriteByte('\n')
		r.times = append(r.times, now)
		return
	}
	b := &strings.Builder{}
	b.WriteString(line)
	b.WriteByte('\n')
	s.pending = append(s.pending, record{idx: idx, log: b, times: []time.Time{now}})
}

func (s *storeSink) StepFinished(idx int, r runner.StepResult) {
	s.add(record{step: &store.Step{JobID: s.jobID, Index: idx, Name: r.Name, Status: store.StatusCompleted, Outcome: r.Outcome,
		Conclusion: r.Conclusion, StartedAt: r.Started, FinishedAt: r.Finished}})
}
