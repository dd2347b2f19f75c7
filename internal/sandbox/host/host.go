// Package host is the sandbox backend without isolation: the agent runs as a
// plain child process of hookci, on a unix socket, with the job's
// directories under Config.WorkDir. Steps run as the same user as hookci and
// see the whole host (files, network, processes). It serves `hookci run` on a
// laptop and tests, and is never the default of `hookci serve`.
//
// Everything a sandbox starts stays in the agent's session (the agent is a
// session leader; Exec only changes process groups), so Close and Reap find
// every process of a sandbox by its session id even after the agent died.
package host

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/trace"
)

// Config configures the host backend.
type Config struct {
	AgentPath string // static hookci-agent binary
	WorkDir   string // owned by the backend: one directory per sandbox
	// StartTimeout bounds how long Start waits for the agent to answer
	// (default 10 s).
	StartTimeout time.Duration
}

// Backend starts host sandboxes.
type Backend struct {
	cfg Config
}

// Files and directories of one sandbox under WorkDir/<id>.
const (
	socketName = "agent.sock"
	pidName    = "agent.pid" // see pidLine
	logName    = "agent.log"
)

// New checks cfg and creates WorkDir.
func New(cfg Config) (*Backend, error) {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if !filepath.IsAbs(cfg.WorkDir) {
		return nil, fmt.Errorf("host sandbox: WorkDir %q is not absolute", cfg.WorkDir)
	}
	if fi, err := os.Stat(cfg.AgentPath); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("host sandbox: agent binary %q: not a file (%v)", cfg.AgentPath, err)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("host sandbox: %w", err)
	}
	return &Backend{cfg: cfg}, nil
}

// Start creates WorkDir/<id>/{workspace,temp,home}, starts the agent and
// returns once it answers. On failure nothing is left behind.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.cfg.WorkDir, spec.ID)
	sock := filepath.Join(dir, socketName)
	if len(sock) > 107 {
		return nil, fmt.Errorf("host sandbox %s: socket path %q longer than the 107 bytes a unix socket allows", spec.ID, sock)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("host sandbox %s: %w", spec.ID, err)
	}
	layout := agent.Layout{
		Workspace: filepath.Join(dir, "workspace"),
		Temp:      filepath.Join(dir, "temp"),
		Home:      filepath.Join(dir, "home"),
		ToolCache: spec.ToolCache,
		Path:      os.Getenv("PATH"), // steps run on this system: its tools, where it keeps them
	}
	for _, d := range []string{layout.Workspace, layout.Temp, layout.Home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("host sandbox %s: %w", spec.ID, err)
		}
	}
	endExec := trace.Begin(ctx, "agent exec")
	p, err := startAgent(b.cfg.AgentPath, dir, sock)
	endExec()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("host sandbox %s: %w", spec.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout)
	defer cancel()
	endWait := trace.Begin(ctx, "agent answers")
	client, err := sandbox.WaitAgent(ctx, sock, "agent", p.exited)
	endWait()
	if err != nil {
		p.destroy(dir)
		return nil, fmt.Errorf("host sandbox %s: agent did not answer: %w (log: %s)", spec.ID, err, readLog(dir))
	}
	inst := sandbox.NewInstance(client, layout, "host", func() error { return p.destroy(dir) })
	inst.SetStop(p.stop)
	return inst, nil
}

// agentProc is a running agent.
type agentProc struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the agent process has been waited for
	stopOnce sync.Once
	stopErr  error
}

func startAgent(agentPath, dir, sock string) (*agentProc, error) {
	logf, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The socket is bound here and handed down as descriptor 3: the first
	// dial is queued until the agent accepts it, so Start does not poll for
	// the socket file (WaitAgent's back-off cost up to 10 ms a start).
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the server dials it; it goes with dir
	lf, err := ln.File()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	defer lf.Close()
	if err := os.Chmod(sock, 0o600); err != nil {
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	cmd := exec.Command(agentPath, "--listen", "fd:3")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting agent: %w", err)
	}
	p := &agentProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	line := pidLine(cmd.Process.Pid, self())
	if err := os.WriteFile(filepath.Join(dir, pidName), []byte(line), 0o644); err != nil {
		p.destroy(dir)
		return nil, err
	}
	return p, nil
}

// destroy stops the agent (SIGTERM lets it kill its process groups), kills
// whatever is left in its session and removes dir.
// stop ends the agent and every process of its session; destroy removes
// the directory too.
func (p *agentProc) stop() error {
	p.stopOnce.Do(func() {
		pid := p.cmd.Process.Pid
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(time.Second):
		}
		p.stopErr = killSession(pid)
		<-p.exited
	})
	return p.stopErr
}

func (p *agentProc) destroy(dir string) error {
	killErr := p.stop()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("host sandbox: removing %s: %w", dir, err)
	}
	return killErr
}

func readLog(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, logName))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strconv.Quote(string(b))
}
