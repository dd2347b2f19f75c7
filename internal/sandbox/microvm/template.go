package microvm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/trace"
)

// template is a booted VM saved to disk: its RAM as a file (ramName) and its
// device state as a migration stream (stateName).
type template struct {
	shape vmShape
	dir   string
}

const (
	ramName   = "ram"
	stateName = "state"
	stateFD   = "hookci-state" // name of the state file's descriptor in QEMU (QMP getfd)
)

// templateRetry is how long a failed template build is remembered before
// the next job tries again (meanwhile jobs cold-boot).
const templateRetry = 5 * time.Minute

// template returns the template for o's shape, building it on first use.
func (b *Backend) template(ctx context.Context, o vmOptions) (*template, error) {
	key := o.shape.key()
	b.tmplMu.Lock()
	defer b.tmplMu.Unlock()
	b.mu.Lock()
	t, failed := b.templates[key], b.templateErr[key]
	b.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if failed != nil && time.Since(failed.at) < templateRetry {
		return nil, failed.err
	}
	start := time.Now()
	t, err := b.makeTemplate(ctx, o)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.templateErr[key] = &templateFailure{err: err, at: time.Now()}
		return nil, err
	}
	b.cfg.Logger.Info("microvm: template ready", "template", key, "took", time.Since(start).Round(time.Millisecond))
	b.templates[key] = t
	delete(b.templateErr, key)
	return t, nil
}

type templateFailure struct {
	err error
	at  time.Time
}

// makeTemplate boots a VM whose RAM is a shared file, waits for its agent,
// detaches, and saves the device state next to the RAM file.
func (b *Backend) makeTemplate(ctx context.Context, o vmOptions) (*template, error) {
	t := &template{shape: o.shape, dir: filepath.Join(b.cfg.WorkDir, "templates", o.shape.key())}
	if !b.claim(t.dir) {
		return nil, fmt.Errorf("template %s: directory in use", t.dir)
	}
	os.RemoveAll(t.dir)
	to := o
	to.memFile, to.memShared = filepath.Join(t.dir, ramName), true
	if o.shape.workDisk {
		to.workDisk, to.deferWork = filepath.Join(t.dir, "work.placeholder"), true
		if err := os.MkdirAll(t.dir, 0o755); err != nil {
			b.release(t.dir)
			return nil, err
		}
		if err := makeSparse(to.workDisk, WorkspaceDiskBytes); err != nil {
			b.release(t.dir)
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	v, c, err := b.boot(ctx, t.dir, to)
	if err != nil {
		b.release(t.dir)
		return nil, fmt.Errorf("template: %w", err)
	}
	// Snapshot later: the saved guest has already done what a job's set-up
	// and first step do, so its page cache, dentries and the agent's heap
	// come warm in every clone.
	if err := warmGuest(ctx, c); err != nil {
		c.Close()
		diag := v.diag()
		v.destroy()
		b.release(t.dir)
		return nil, fmt.Errorf("template: warming the guest: %w%s", err, diag)
	}
	ended := v.consoleCount(sessionEnded)
	c.Close() // detach: the guest agent goes back to waiting for a host
	// Save only once the guest has noticed, or every clone would first
	// have to break the template's stale session (which costs a timeout).
	v.waitConsole(ctx, sessionEnded, ended+1, 3*time.Second)
	if err := b.saveState(ctx, v, filepath.Join(t.dir, stateName)); err != nil {
		diag := v.diag()
		v.destroy()
		return nil, fmt.Errorf("template: save: %w%s", err, diag)
	}
	v.kill()
	for _, n := range []string{agentSock, qmpSock, pidName} {
		os.Remove(filepath.Join(t.dir, n))
	}
	meta, _ := json.Marshal(map[string]any{"cpus": o.shape.cpus, "memory_mib": o.shape.memMiB, "network": o.shape.network,
		"workspace_disk": o.shape.workDisk, "accel": o.accel})
	os.WriteFile(filepath.Join(t.dir, "template.json"), meta, 0o644)
	return t, nil
}

// saveState migrates the VM's device state (not its RAM, which lives in the
// shared file) into path. The VM is left paused.
func (b *Backend) saveState(ctx context.Context, v *vm, path string) error {
	q, err := dialQMP(ctx, filepath.Join(v.dir, qmpSock), v.alive)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.setIgnoreShared(ctx); err != nil {
		return err
	}
	// The file is opened here and passed to QEMU, which may neither spawn
	// (exec: URIs) nor, running as RunAs, create files in the template's
	// directory.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := q.sendFD(ctx, stateFD, f); err != nil {
		return err
	}
	if _, err := q.execute(ctx, "migrate", map[string]any{"uri": "fd:" + stateFD}); err != nil {
		return err
	}
	return q.waitMigration(ctx)
}

// clone starts a VM from t: same devices, its own sockets, the RAM file
// mapped private (copy-on-write), the device state from t's stream.
func (b *Backend) clone(ctx context.Context, dir string, t *template, o vmOptions) (*vm, *agent.Client, error) {
	co := o
	co.memFile, co.memShared, co.incoming = filepath.Join(t.dir, ramName), false, true
	t0 := time.Now()
	end := trace.Begin(ctx, "microvm: launch qemu")
	v, err := b.launch(dir, co)
	end()
	if err != nil {
		return nil, nil, err
	}
	end = trace.Begin(ctx, "microvm: restore state")
	err = b.restoreState(ctx, v, filepath.Join(t.dir, stateName))
	end()
	if err != nil {
		diag := v.diag()
		v.destroy()
		return nil, nil, fmt.Errorf("restore: %w%s", err, diag)
	}
	restored := time.Since(t0)
	c, err := b.ready(ctx, v, o.shape.workDisk)
	if err != nil {
		return nil, nil, err
	}
	b.cfg.Logger.Info("microvm restored from template", "sandbox", filepath.Base(dir), "qemu", restored.Round(time.Millisecond),
		"agent_ready", time.Since(t0).Round(time.Millisecond))
	return v, c, nil
}

// restoreState feeds the saved state to a VM started with -incoming defer;
// QEMU resumes the guest when the migration completes.
func (b *Backend) restoreState(ctx context.Context, v *vm, path string) error {
	q, err := dialQMP(ctx, filepath.Join(v.dir, qmpSock), v.alive)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.setIgnoreShared(ctx); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := q.sendFD(ctx, stateFD, f); err != nil {
		return err
	}
	if _, err := q.execute(ctx, "migrate-incoming", map[string]any{"uri": "fd:" + stateFD}); err != nil {
		return err
	}
	return q.waitMigration(ctx)
}

// sessionEnded is what the agent logs (to the guest console) when a host
// detaches from its serial port.
const sessionEnded = "serial: session ended"

// remove deletes the template's files.
func (t *template) remove() error { return os.RemoveAll(t.dir) }
