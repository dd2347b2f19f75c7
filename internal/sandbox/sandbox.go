// Package sandbox owns the vocabulary shared by the sandbox backends: what a
// job asks for (Spec) and a running sandbox (Instance: its agent and where
// the job's directories are as the agent sees them, an agent.Layout). Each backend lives in its own
// subpackage (host, namespace, microvm, firecracker) and starts the same
// hookci-agent binary, so the runner drives every backend through one
// *agent.Client.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/agent"
)

// Spec is what a job asks of its sandbox.
type Spec struct {
	ID        string // unique per job attempt; safe for file names ([a-z0-9-])
	Label     string // runs-on label that chose this backend
	CPUs      int    // 0 = backend default
	MemoryMiB int    // 0 = backend default
	Network   bool   // egress granted (default false: no network at all)
	ToolCache string // host dir exposed read-only at agent.Layout.ToolCache ("" = none)
	// WorkspaceDir is a host directory holding the job's workspace tree. A
	// backend that can deliver it faster than the agent protocol (microvm:
	// an ext4 disk mounted at the workspace) does so and sets
	// Instance.WorkspaceReady; the others ignore it.
	WorkspaceDir string
	// ContainerImages are the container images the job is known to need
	// before it starts (container:, services:, docker:// steps). A backend
	// that cannot add an image to a running sandbox (microvm: a disk per
	// image, attached at start) takes them now; the others ignore them.
	ContainerImages []ContainerImage
	// Log is the job's logger (with its run and job ids): backends log what
	// concerns this one sandbox through Spec.Logger. nil: the backend's own.
	Log *slog.Logger
}

// Logger returns the job's logger, or fallback when the spec has none.
func (s Spec) Logger(fallback *slog.Logger) *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return fallback
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate reports whether the spec can be used; backends call it first.
func (s Spec) Validate() error {
	if !idPattern.MatchString(s.ID) {
		return fmt.Errorf("sandbox: bad id %q: want 1-63 characters of [a-z0-9-], starting with a letter or digit", s.ID)
	}
	if s.CPUs < 0 || s.MemoryMiB < 0 {
		return fmt.Errorf("sandbox %s: negative CPUs (%d) or memory (%d MiB)", s.ID, s.CPUs, s.MemoryMiB)
	}
	return nil
}

// Instance is a running sandbox: an agent to talk to and where things are.
type Instance struct {
	Client  *agent.Client
	Layout  agent.Layout
	Backend string // "host", "namespace", "microvm", "firecracker"
	// WorkspaceReady is set when the backend already put Spec.WorkspaceDir's
	// tree at Layout.Workspace.
	WorkspaceReady bool
	// Containers starts containers inside this sandbox (container.go); nil
	// when the backend cannot.
	Containers ContainerStarter

	closeOnce sync.Once
	closeFn   func() error
	closeErr  error
	after     []func()
	stopOnce  sync.Once
	stopFn    func() error
	stopErr   error
	goneOnce  sync.Once
	gone      []func()
}

// AfterStop registers fn to run once nothing of the sandbox runs any more:
// after a Stop that succeeded, else at Close (for what lists running
// sandboxes). Register before Stop or Close.
func (i *Instance) AfterStop(fn func()) { i.gone = append(i.gone, fn) }

func (i *Instance) stopped() {
	i.goneOnce.Do(func() {
		for _, fn := range i.gone {
			fn()
		}
	})
}

// SetStop gives the instance a function that kills every process of the
// sandbox and leaves the rest (files, network, cgroup) for Close.
func (i *Instance) SetStop(fn func() error) { i.stopFn = fn }

// Stop kills every process the sandbox runs, as GitHub's runner cleans up a
// job's orphan processes before the job is complete, so that what is left
// to Close (removing its files) need not delay the job's end. It reports
// false when the backend has no such step (only Close stops its
// processes). Close must still be called.
func (i *Instance) Stop() (bool, error) {
	if i.stopFn == nil {
		return false, nil
	}
	i.stopOnce.Do(func() {
		i.stopErr = i.stopFn()
		if i.stopErr == nil {
			i.stopped()
		}
	})
	return true, i.stopErr
}

// AfterClose registers fn to run once the sandbox is destroyed (for files
// that outlive the start, such as a workspace disk).
func (i *Instance) AfterClose(fn func()) { i.after = append(i.after, fn) }

// NewInstance returns an Instance whose Close closes c and then calls
// closeFn (which destroys the sandbox). closeFn may be nil.
func NewInstance(c *agent.Client, l agent.Layout, backend string, closeFn func() error) *Instance {
	return &Instance{Client: c, Layout: l, Backend: backend, closeFn: closeFn}
}

// Close destroys everything the sandbox holds (processes, VM, files). It is
// idempotent, safe after failures, and returns the first call's error on
// every call.
func (i *Instance) Close() error {
	i.closeOnce.Do(func() {
		if i.Client != nil {
			i.Client.Close()
		}
		if i.closeFn != nil {
			i.closeErr = i.closeFn()
		}
		i.stopped()
		for _, fn := range i.after {
			fn()
		}
	})
	return i.closeErr
}

// WaitAgent dials the agent's unix socket until it answers Info, giving up
// when exited is closed (the process serving it died, named what) or ctx ends.
func WaitAgent(ctx context.Context, sock, what string, exited <-chan struct{}) (*agent.Client, error) {
	delay := time.Millisecond
	for {
		c, err := agent.Dial(ctx, "unix", sock)
		if err == nil {
			if _, err = c.Info(ctx); err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-exited:
			return nil, errors.New(what + " exited")
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Millisecond)
	}
}
