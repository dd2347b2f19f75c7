package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
)

// fakeStarts counts starts and closes of instances without an agent.
type fakeStarts struct {
	mu              sync.Mutex
	started, closed int
	fail            bool
}

func (f *fakeStarts) start(ctx context.Context, spec Spec) (*Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("no")
	}
	f.started++
	return NewInstance(nil, agent.Layout{}, "fake:"+spec.ID, func() error {
		f.mu.Lock()
		f.closed++
		f.mu.Unlock()
		return nil
	}), nil
}

func (f *fakeStarts) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started, f.closed
}

func TestPool(t *testing.T) {
	f := &fakeStarts{}
	p := NewPool("fake", f.start, 2, slog.New(slog.NewTextHandler(t.Output(), nil)))
	p.Warm()
	waitUntil(t, func() bool { s, _ := f.counts(); return s == 2 })
	inst, err := p.Start(context.Background(), Spec{ID: "job-1"})
	if err != nil || inst.Backend[:10] != "fake:warm-" {
		t.Fatalf("Start = %v, %v; want a warm instance", inst, err)
	}
	waitUntil(t, func() bool { s, _ := f.counts(); return s == 3 }) // refilled
	// Another shape is started on demand.
	other, err := p.Start(context.Background(), Spec{ID: "job-2", Network: true})
	if err != nil || other.Backend != "fake:job-2" {
		t.Fatalf("Start(network) = %v, %v; want a fresh instance", other, err)
	}
	inst.Close()
	other.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	s, c := f.counts()
	if s != c {
		t.Errorf("started %d, closed %d: the pool leaked sandboxes", s, c)
	}
	// A closed pool starts on demand and keeps nothing.
	if inst, err := p.Start(context.Background(), Spec{ID: "late"}); err != nil {
		t.Fatal(err)
	} else {
		inst.Close()
	}
	time.Sleep(50 * time.Millisecond)
	if s, c := f.counts(); s != c {
		t.Errorf("after close: started %d, closed %d", s, c)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never held")
}
