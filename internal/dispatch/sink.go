package dispatch

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/store"
)

// storeSink writes a job's steps and logs to the store. Log lines are
// batched (flushed every 200 ms, at 64 KiB, and at every step boundary) so a
// chatty step costs a few writes a second, not one per line.
type storeSink struct {
	st    *store.Store
	jobID int64
	log   *slog.Logger

	mu      sync.Mutex // guards the fields below
	pending []*chunk
	size    int
	steps   map[int]store.Step

	stop chan struct{}
	done chan struct{}
}

type chunk struct {
	step int
	data strings.Builder
}

func newStoreSink(st *store.Store, jobID int64, log *slog.Logger) *storeSink {
	s := &storeSink{st: st, jobID: jobID, log: log, steps: map[int]store.Step{}, stop: make(chan struct{}),
		done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *storeSink) loop() {
	defer close(s.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-s.stop:
			s.flush()
			return
		}
	}
}

// Close flushes what is left.
func (s *storeSink) Close() {
	close(s.stop)
	<-s.done
}

func (s *storeSink) flush() {
	s.mu.Lock()
	p := s.pending
	s.pending, s.size = nil, 0
	s.mu.Unlock()
	ctx := context.Background()
	for i := range p {
		if err := s.st.Q().AppendLog(ctx, s.jobID, p[i].step, []byte(p[i].data.String())); err != nil {
			s.log.Error("storing log", "err", err)
		}
	}
}

func (s *storeSink) StepStarted(idx int, name string) {
	s.flush()
	st := store.Step{JobID: s.jobID, Index: idx, Name: name, Status: store.StatusInProgress, StartedAt: time.Now()}
	s.mu.Lock()
	s.steps[idx] = st
	s.mu.Unlock()
	if err := s.st.Q().PutStep(context.Background(), st); err != nil {
		s.log.Error("storing step", "err", err)
	}
}

func (s *storeSink) StepLog(idx int, line string) {
	s.mu.Lock()
	if n := len(s.pending); n == 0 || s.pending[n-1].step != idx {
		s.pending = append(s.pending, &chunk{step: idx})
	}
	c := s.pending[len(s.pending)-1]
	c.data.WriteString(line)
	c.data.WriteByte('\n')
	s.size += len(line) + 1
	big := s.size >= 64<<10
	s.mu.Unlock()
	if big {
		s.flush()
	}
}

func (s *storeSink) StepFinished(idx int, r runner.StepResult) {
	s.flush()
	st := store.Step{JobID: s.jobID, Index: idx, Name: r.Name, Status: store.StatusCompleted, Outcome: r.Outcome,
		Conclusion: r.Conclusion, StartedAt: r.Started, FinishedAt: r.Finished}
	if err := s.st.Q().PutStep(context.Background(), st); err != nil {
		s.log.Error("storing step", "err", err)
	}
}
