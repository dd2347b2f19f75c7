package microvm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox/netjail"
	"github.com/hookci/hookci/internal/sandbox/uidpool"
)

// vm is one QEMU process and its directory.
type vm struct {
	dir string
	cmd *exec.Cmd

	exited  chan struct{} // closed when cmd.Wait returned
	waitErr error         // valid after exited is closed

	net *netjail.Jail // the network namespace QEMU runs in when granted egress

	closeOnce sync.Once
	closeErr  error
	onCrash   func(*vm) // called by destroy if QEMU had failed on its own
	onClose   func()
}

// launch creates dir and starts QEMU in it.
func (b *Backend) launch(dir string, o vmOptions) (*vm, error) {
	if len(filepath.Join(dir, agentSock)) > 107 {
		return nil, fmt.Errorf("microvm: socket path under %q is longer than the 107 bytes a unix socket allows", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("microvm: %w", err)
	}
	runAs, uid, err := b.runAs()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(b.cfg.QEMUPath, b.qemuArgs(dir, o, runAs)...)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		uid.Release()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("microvm: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a ^C meant for hookci does not kill VMs
	// behind its back; Close and Reap do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var jail *netjail.Jail
	start := cmd.Start
	if o.shape.network {
		// QEMU's user networking connects from QEMU's own network
		// namespace: run it in one that only lets out what egress may.
		if jail, err = netjail.Open(context.Background(), b.cfg.Egress, dir); err != nil {
			uid.Release()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("microvm: %w", err)
		}
		start = func() error { return jail.Start(cmd) }
	}
	if err := start(); err != nil {
		if jail != nil {
			jail.Close()
		}
		uid.Release()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("microvm: start qemu: %w", err)
	}
	v := &vm{dir: dir, cmd: cmd, exited: make(chan struct{}), net: jail}
	go func() {
		v.waitErr = cmd.Wait()
		uid.Release() // QEMU (which spawns nothing) is gone: no process runs as the uid
		close(v.exited)
	}()
	return v, nil
}

// runAs returns the ids the next QEMU drops to ("" when hookci is not root
// or RunAs is "root") and, with RunAsPool, the uid held for it.
func (b *Backend) runAs() (string, *uidpool.Held, error) {
	switch {
	case os.Geteuid() != 0 || b.cfg.RunAs == "root":
		return "", nil, nil
	case b.cfg.RunAs != RunAsPool:
		return b.cfg.RunAs, nil, nil
	}
	h, err := b.cfg.UIDs.Acquire()
	if err != nil {
		return "", nil, fmt.Errorf("microvm: a uid for QEMU: %w", err)
	}
	return fmt.Sprintf("%d:%d", h.UID, h.UID), h, nil
}

// alive returns an error once QEMU has exited.
func (v *vm) alive() error {
	select {
	case <-v.exited:
		return fmt.Errorf("qemu exited: %v", v.waitErr)
	default:
		return nil
	}
}

// kill stops QEMU (SIGKILL) and waits for it.
func (v *vm) kill() {
	if v.alive() == nil {
		v.cmd.Process.Kill()
	}
	<-v.exited
	if v.net != nil {
		v.net.Close()
	}
}

// destroy kills QEMU and removes the VM's directory. Idempotent.
func (v *vm) destroy() error {
	v.closeOnce.Do(func() {
		died := v.alive() != nil || !processExists(v.cmd.Process.Pid) // exited, or a zombie not yet waited for
		if !died {
			// A QEMU killed a moment ago may still be tearing down (state R):
			// give it a short grace before deciding it was healthy.
			select {
			case <-v.exited:
				died = true
			case <-time.After(50 * time.Millisecond):
			}
		}
		v.kill()
		if died && v.waitErr != nil && v.onCrash != nil { // exit 0 is a guest power-off
			v.onCrash(v)
		}
		v.closeErr = os.RemoveAll(v.dir)
		if v.onClose != nil {
			v.onClose()
		}
	})
	return v.closeErr
}

// diag returns QEMU's own output and the tail of the guest console, for
// error messages.
func (v *vm) diag() string {
	var b strings.Builder
	if q := tailFile(filepath.Join(v.dir, "qemu.log"), 1024); q != "" {
		fmt.Fprintf(&b, "\n--- qemu output ---\n%s", q)
	}
	if c := tailFile(filepath.Join(v.dir, consoleName), 2048); c != "" {
		fmt.Fprintf(&b, "\n--- guest console (tail) ---\n%s", c)
	}
	return b.String()
}

func tailFile(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}

// consoleCount counts the lines of the guest console containing s.
func (v *vm) consoleCount(s string) int {
	b, _ := os.ReadFile(filepath.Join(v.dir, consoleName))
	return bytes.Count(b, []byte(s))
}

// waitConsole waits until s appeared n times on the console, at most max.
func (v *vm) waitConsole(ctx context.Context, s string, n int, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for v.consoleCount(s) < n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// connect dials the agent's serial socket and completes the handshake,
// retrying while QEMU starts; it gives up when QEMU exits.
func (v *vm) connect(ctx context.Context) (*agent.Client, error) {
	path := filepath.Join(v.dir, agentSock)
	for {
		conn, err := dialUnixRetry(ctx, path, v.alive)
		if err != nil {
			return nil, err
		}
		c, err := agent.NewSerialClient(ctx, conn)
		if err == nil {
			return c, nil
		}
		if aerr := v.alive(); aerr != nil {
			return nil, fmt.Errorf("%w (%v)", aerr, err)
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
}

// resyncGuest sends the guest its clock and fresh entropy (see
// cmd/hookci-agent/init_resync_linux.go), with mountWork asks it to mount
// its workspace disk, and waits for the acknowledgement.
func resyncGuest(ctx context.Context, c *agent.Client, mountWork bool) error {
	var seed [32]byte
	rand.Read(seed[:])
	msg := fmt.Sprintf("%d %s", time.Now().UnixNano(), hex.EncodeToString(seed[:]))
	if mountWork {
		msg += " mount-work"
	}
	msg += "\n"
	if err := c.WriteFile(ctx, "/run/hookci/resync", []byte(msg), 0o600); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, err := c.ReadFile(ctx, "/run/hookci/resync.done")
		if err == nil && strings.HasPrefix(string(got), msg) {
			if rest := strings.TrimPrefix(string(got), msg); rest != "" {
				return fmt.Errorf("resync: guest: %s", strings.TrimSpace(strings.TrimPrefix(rest, "ERROR ")))
			}
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("resync: %w", err)
		}
		if time.Now().After(deadline) {
			return errors.New("resync: guest init did not acknowledge within 2s")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("resync: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
