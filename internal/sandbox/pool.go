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

// Pool keeps a few sandboxes of the default shape (default size, no network,
// no tool cache) started ahead of time, so a job takes one that is ready
// instead of waiting for a start; each one taken is replaced in the
// background. Other shapes start on demand. A pooled sandbox is used by
// one job only and destroyed after it, like any other.
type Pool struct {
	start StartFunc
	size  int
	name  string
	log   *slog.Logger

	mu      sync.Mutex // guards the fields below
	ready   []*Instance
	filling int
	seq     int
	closed  bool
	wg      sync.WaitGroup
}

// NewPool keeps size sandboxes of start ready (size 0: none, Start passes
// through). Failures to start a warm sandbox go to log at Warn (nil: discarded).
func NewPool(name string, start StartFunc, size int, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{start: start, size: size, name: name, log: log}
}

// pooled reports whether spec has the shape the pool keeps.
func pooled(spec Spec) bool {
	return spec.CPUs == 0 && spec.MemoryMiB == 0 && !spec.Network && spec.ToolCache == "" && spec.WorkspaceDir == ""
}

// Start returns a warm sandbox when spec has the pooled shape and one is
// ready, else starts one.
func (p *Pool) Start(ctx context.Context, spec Spec) (*Instance, error) {
	if p.size > 0 && pooled(spec) {
		p.mu.Lock()
		var inst *Instance
		if n := len(p.ready); n > 0 {
			inst, p.ready = p.ready[0], p.ready[1:]
		}
		p.mu.Unlock()
		p.fill()
		if inst != nil {
			return inst, nil
		}
	}
	return p.start(ctx, spec)
}

// fill starts sandboxes in the background until size are ready or starting.
func (p *Pool) fill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed && len(p.ready)+p.filling < p.size {
		p.filling++
		p.seq++
		id := fmt.Sprintf("warm-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, p.seq)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			inst, err := p.start(ctx, Spec{ID: id})
			cancel()
			p.mu.Lock()
			p.filling--
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

// Ready returns the sandboxes waiting in the pool now.
func (p *Pool) Ready() []*Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Instance(nil), p.ready...)
}

// Warm starts filling the pool now.
func (p *Pool) Warm() { p.fill() }

// Close destroys the ready sandboxes and waits for those starting.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
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
