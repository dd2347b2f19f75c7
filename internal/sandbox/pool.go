package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// StartFunc starts one sandbox.
type StartFunc func(ctx context.Context, spec Spec) (*Instance, error)

// Pool keeps sandboxes of the default shape (default size, no network, no
// tool cache, no workspace tree) started ahead of time, so a job takes one
// that is ready instead of waiting for a start. How many it keeps follows
// demand (see demand.go): one, plus the arrivals expected while a
// replacement starts, at most the configured maximum and what memory
// allows. A sandbox taken is replaced in the background, a moment later
// when others are still ready (a replacement's start would otherwise take
// CPU from the job that just began: measured under TCG, the job's set-up
// 155 ms alone against 379 ms beside a template restore). Other shapes
// start on demand. A pooled sandbox is used by one job only and destroyed
// after it, like any other.
type Pool struct {
	start StartFunc
	limit int
	name  string
	log   *slog.Logger

	mu       sync.Mutex // guards the fields below
	ready    []*Instance
	filling  int
	seq      int
	closed   bool
	wg       sync.WaitGroup
	demand   demand
	memMiB   int           // memory a sandbox may use (SetSandboxMemory); 0: memory not checked
	memAvail func() int64  // MiB available on the host
	delay    time.Duration // refill delay after a take while others are ready
	trim     *time.Timer   // shrinks the pool once the arrivals it counted age out
}

// NewPool keeps up to limit sandboxes of start ready (0: none, Start
// passes through). Failures to start a warm sandbox go to log at Warn (nil:
// discarded).
func NewPool(name string, start StartFunc, limit int, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{start: start, limit: limit, name: name, log: log, memAvail: memAvailableMiB, delay: refillDelay,
		demand: demand{window: demandWindow}}
}

// SetSandboxMemory makes the pool keep only as many warm sandboxes as the
// host's available memory holds at miB each (a warm VM may grow to its
// guest memory once a job runs in it).
func (p *Pool) SetSandboxMemory(miB int) {
	p.mu.Lock()
	p.memMiB = miB
	p.mu.Unlock()
}

// refillDelay is how long a replacement waits after a take while another
// warm sandbox is still ready.
const refillDelay = time.Second

// pooled reports whether spec has the shape the pool keeps.
func pooled(spec Spec) bool {
	return spec.CPUs == 0 && spec.MemoryMiB == 0 && !spec.Network && spec.ToolCache == "" && spec.WorkspaceDir == "" &&
		len(spec.ContainerImages) == 0 // a microVM gets its container images at start
}

// Start returns a warm sandbox when spec has the pooled shape and one is
// ready, else starts one.
func (p *Pool) Start(ctx context.Context, spec Spec) (*Instance, error) {
	if p.limit <= 0 || !pooled(spec) {
		return p.start(ctx, spec)
	}
	now := time.Now()
	p.mu.Lock()
	p.demand.arrive(now)
	var inst *Instance
	if n := len(p.ready); n > 0 {
		inst, p.ready = p.ready[0], p.ready[1:]
	}
	target := p.targetLocked(now)
	// Refill at once only when nothing is ready and demand wants more than
	// the one just asked for; otherwise let the job that took one begin.
	urgent := len(p.ready) == 0 && target > 1
	p.scheduleTrimLocked()
	p.mu.Unlock()
	if urgent || p.delay <= 0 {
		p.fill()
	} else {
		time.AfterFunc(p.delay, p.fill)
	}
	if inst != nil {
		return inst, nil
	}
	t0 := time.Now()
	inst, err := p.start(ctx, spec)
	if err == nil {
		p.mu.Lock()
		p.demand.started(time.Since(t0))
		p.mu.Unlock()
	}
	return inst, err
}

// targetLocked is how many warm sandboxes the pool should hold now.
func (p *Pool) targetLocked(now time.Time) int {
	fit := -1
	if p.memMiB > 0 {
		// Each warm sandbox must be able to grow to its full memory once a
		// job runs in it: keep no more than the available memory holds.
		fit = int(p.memAvail() / int64(p.memMiB))
	}
	return p.demand.target(now, p.limit, fit)
}

// fill starts sandboxes in the background until as many as demand wants are
// ready or starting, and closes ready ones beyond that.
func (p *Pool) fill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	target := p.targetLocked(time.Now())
	for len(p.ready) > target {
		extra := p.ready[len(p.ready)-1]
		p.ready = p.ready[:len(p.ready)-1]
		go extra.Close()
	}
	for len(p.ready)+p.filling < target {
		p.filling++
		p.seq++
		id := fmt.Sprintf("warm-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, p.seq)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			t0 := time.Now()
			inst, err := p.start(ctx, Spec{ID: id})
			took := time.Since(t0)
			cancel()
			p.mu.Lock()
			p.filling--
			if err == nil {
				p.demand.started(took)
			}
			if err == nil && !p.closed {
				p.ready = append(p.ready, inst)
				inst = nil
			}
			p.mu.Unlock()
			if inst != nil {
				inst.Close()
			}
			if err != nil {
				p.log.Warn("starting a warm sandbox", "pool", p.name, "sandbox", id, "err", err)
			}
		}()
	}
}

// scheduleTrimLocked re-evaluates the pool's size once the newest arrival
// has aged out of the demand window: a pool grown for a burst shrinks back
// without a timer ticking while nothing happens.
func (p *Pool) scheduleTrimLocked() {
	if p.trim != nil {
		p.trim.Stop()
	}
	p.trim = time.AfterFunc(p.demand.window+time.Second, p.fill)
}

// Ready returns the sandboxes waiting in the pool now.
func (p *Pool) Ready() []*Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Instance(nil), p.ready...)
}

// Target returns how many warm sandboxes the pool aims to keep now.
func (p *Pool) Target() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targetLocked(time.Now())
}

// Warm starts filling the pool now.
func (p *Pool) Warm() { p.fill() }

// Close destroys the ready sandboxes and waits for those starting.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
	if p.trim != nil {
		p.trim.Stop()
	}
	p.mu.Unlock()
	p.wg.Wait()
	var first error
	for _, inst := range ready {
		if err := inst.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
