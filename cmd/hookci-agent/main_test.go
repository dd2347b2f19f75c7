package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/agent/agenttest"
)

func TestBadFlags(t *testing.T) {
	bin := agenttest.Binary(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "exactly one of --listen, --serial, --vsock is required"},
		{[]string{"--listen", "unix:/x", "--vsock", "5"}, "exactly one of"},
		{[]string{"--listen", "tcp:1.2.3.4:5"}, "--listen: want unix:/path"},
		{[]string{"--vsock", "port"}, "--vsock: bad port"},
		{[]string{"--serial", "/nonexistent/port"}, "open serial port"},
		{[]string{"--listen", "fd:x"}, "--listen: bad descriptor"},
		{[]string{"--listen", "fd:2"}, "--listen: bad descriptor"},
		{[]string{"--listen", "fd:77"}, "--listen fd:77: "}, // not open
	}
	for _, tt := range tests {
		out, err := exec.Command(bin, tt.args...).CombinedOutput()
		if err == nil {
			t.Errorf("hookci-agent %q: got exit 0, want failure", tt.args)
		}
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("hookci-agent %q: got output %q, want it to contain %q", tt.args, out, tt.want)
		}
	}
}

// TestServeAndStop runs the real binary on a unix socket, and checks that
// SIGTERM makes it kill what it started and exit cleanly.
func TestServeAndStop(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(agenttest.Binary(t), "--listen", "unix:"+sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var c *agent.Client
	for {
		var err error
		if c, err = agent.Dial(ctx, "unix", sock); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("agent never listened: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer c.Close()
	if _, err := c.Info(ctx); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	env := []string{"PATH=/usr/bin:/bin"}
	if _, err := c.Exec(ctx, agent.ExecRequest{Argv: []string{"sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"}, Env: env}, &out); err != nil {
		t.Fatal(err)
	}
	bg, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("pid of the background process: %q", out.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("agent after SIGTERM: got %v, want exit 0", err)
	}
	for range 200 {
		if syscall.Kill(bg, 0) != nil || zombie(bg) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("background process %d still alive after the agent stopped", bg)
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}
