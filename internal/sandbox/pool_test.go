package sandbox

import (
	"context"
	"errors"
	"fmt"
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
	waitUntil(t, func() bool { s, _ := f.counts(); return s == 1 }) // no demand yet: one
	inst, err := p.Start(context.Background(), Spec{ID: "job-1"})
	if err != nil || inst.Backend[:10] != "fake:warm-" {
		t.Fatalf("Start = %v, %v; want a warm instance", inst, err)
	}
	waitUntil(t, func() bool { s, _ := f.counts(); return s == 2 }) // refilled
	// Another shape is started on demand.
	other, err := p.Start(context.Background(), Spec{ID: "job-2", Network: true})
	if err != nil || other.Backend != "fake:job-2" {
		t.Fatalf("Start(network) = %v, %v; want a fresh instance", other, err)
	}
	// A job with container images never gets a warm one (a microVM
	// attaches them at start).
	boxed, err := p.Start(context.Background(), Spec{ID: "job-3", ContainerImages: []ContainerImage{{RootFS: "/img"}}})
	if err != nil || boxed.Backend != "fake:job-3" {
		t.Fatalf("Start(container images) = %v, %v; want a fresh instance", boxed, err)
	}
	boxed.Close()
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

func TestWarmTarget(t *testing.T) {
	cases := []struct {
		name             string
		arrivals         int
		span, start      time.Duration
		limit, fit, want int
	}{
		{"no arrivals keeps one", 0, 0, 300 * time.Millisecond, 4, -1, 1},
		{"no start measured yet", 50, time.Minute, 0, 4, -1, 1},
		{"one a minute", 1, 0, 300 * time.Millisecond, 4, -1, 1},
		{"one a second", 60, time.Minute, 300 * time.Millisecond, 4, -1, 2},
		{"five a second", 300, time.Minute, 300 * time.Millisecond, 8, -1, 8},
		{"capped by the limit", 300, time.Minute, 300 * time.Millisecond, 3, -1, 3},
		{"capped by memory", 300, time.Minute, 300 * time.Millisecond, 8, 2, 2},
		{"no memory at all", 60, time.Minute, 300 * time.Millisecond, 4, 0, 0},
		{"pool off", 60, time.Minute, 300 * time.Millisecond, 0, -1, 0},
		{"two at once are no flood", 2, 0, 300 * time.Millisecond, 4, -1, 1},
		{"ten in five seconds", 10, 5 * time.Second, 300 * time.Millisecond, 4, -1, 2},
	}
	for _, c := range cases {
		if got := warmTarget(c.arrivals, c.span, c.start, c.limit, c.fit); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

// TestPoolFollowsDemand takes sandboxes quickly: the pool grows past one
// but not past its limit, then not past what memory holds, and every
// sandbox it started is closed in the end.
func TestPoolFollowsDemand(t *testing.T) {
	f := &fakeStarts{}
	p := NewPool("fake", f.start, 3, slog.New(slog.NewTextHandler(t.Output(), nil)))
	p.delay = 0
	p.Warm()
	waitUntil(t, func() bool { return len(p.Ready()) == 1 })
	if got := p.Target(); got != 1 {
		t.Fatalf("idle pool: target %d, want 1", got)
	}
	var taken []*Instance
	for i := range 240 { // 4 a second over the demand window
		inst, err := p.Start(context.Background(), Spec{ID: fmt.Sprintf("job-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, inst)
	}
	if got := p.Target(); got != 3 {
		t.Errorf("busy pool: target %d, want the limit 3", got)
	}
	waitUntil(t, func() bool { return len(p.Ready()) == 3 })
	// Memory for one more full-size sandbox only: the pool shrinks to one.
	p.mu.Lock()
	p.memMiB, p.memAvail = 2048, func() int64 { return 3000 }
	p.mu.Unlock()
	p.Warm()
	waitUntil(t, func() bool { return len(p.Ready()) == 1 })
	for _, inst := range taken {
		inst.Close()
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { s, c := f.counts(); return s == c })
}
