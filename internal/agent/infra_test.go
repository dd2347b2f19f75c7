package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startAgentProcess runs this test binary as an agent in a child process.
func startAgentProcess(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"="+sock)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	for range 1000 {
		// The socket file appears at bind, before listen: dial to be sure.
		if c, err := Dial(context.Background(), "unix", sock); err == nil {
			c.Close()
			return cmd, sock
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("agent process never accepted a connection")
	return nil, ""
}

func TestAgentKilledMidExecIsInfraError(t *testing.T) {
	cmd, sock := startAgentProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := newLineWatcher()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", "echo $$; sleep 1000"}, Env: baseEnv()}, w)
		errc <- err
	}()
	pgid, err := strconv.Atoi(w.nextLine(t))
	if err != nil {
		t.Fatal(err)
	}
	// A killed agent cannot kill its process groups: the test does.
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	cmd.Process.Kill()
	err = <-errc
	var ie *InfraError
	if !errors.As(err, &ie) {
		t.Fatalf("Exec with the agent killed: got %v (%T), want *InfraError", err, err)
	}
	if _, err := c.Info(ctx); !errors.As(err, &ie) {
		t.Errorf("Info after the agent died: got %v, want *InfraError", err)
	}
}

func TestDialNoAgentIsInfraError(t *testing.T) {
	_, err := Dial(context.Background(), "unix", filepath.Join(t.TempDir(), "none.sock"))
	var ie *InfraError
	if !errors.As(err, &ie) {
		t.Fatalf("Dial to nothing: got %v, want *InfraError", err)
	}
}

// serialRelay plays QEMU's part for a virtio-serial port bound to a unix
// socket: the guest's port is one end of a socket pair, hosts attach through
// a unix listener one at a time, a host leaving does not reach the guest
// (no EOF), and guest output is dropped while no host is attached.
type serialRelay struct {
	hostSock string
	guest    net.Conn // the port as the guest sees it
	dev      net.Conn // the relay's end

	mu   sync.Mutex // guards host
	host net.Conn
}

func newSerialRelay(t *testing.T) *serialRelay {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "serial")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r := &serialRelay{hostSock: filepath.Join(t.TempDir(), "serial.sock"), guest: conn(fds[0]), dev: conn(fds[1])}
	l, err := net.Listen("unix", r.hostSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); r.dev.Close(); r.guest.Close() })
	go r.guestToHost()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			if r.host != nil {
				r.host.Close()
			}
			r.host = c
			r.mu.Unlock()
			go io.Copy(r.dev, c) // host → guest; the host's EOF is not passed on
		}
	}()
	return r
}

func (r *serialRelay) guestToHost() {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.dev.Read(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.host != nil {
			r.host.Write(buf[:n])
		}
		r.mu.Unlock()
	}
}

func TestSerialReconnect(t *testing.T) {
	relay := newSerialRelay(t)
	// Debris from an earlier session waits in the port before any host comes.
	relay.dev.Write([]byte("\x00\x00\x12\x04stale bytes\nHOOKCI-START 1234\n"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := NewServer(t.Logf)
	defer srv.Shutdown()
	go srv.ServeSerial(ctx, relay.guest)

	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	c1, err := DialSerial(dctx, "unix", relay.hostSock)
	if err != nil {
		t.Fatalf("first DialSerial: %v", err)
	}
	w := newLineWatcher()
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", "echo $$; sleep 1000"}, Env: baseEnv()}, w)
		errc <- err
	}()
	pid, err := strconv.Atoi(w.nextLine(t))
	if err != nil {
		t.Fatal(err)
	}
	c1.Close() // the guest does not notice: a serial port has no EOF

	t0 := time.Now()
	c2, err := DialSerial(dctx, "unix", relay.hostSock)
	t.Logf("reconnect over a stale session took %v", time.Since(t0))
	if err != nil {
		t.Fatalf("second DialSerial: %v", err)
	}
	defer c2.Close()
	var out strings.Builder
	res, err := c2.Exec(ctx, ExecRequest{Argv: []string{"echo", "again"}, Env: baseEnv()}, &out)
	if err != nil || res.ExitCode != 0 || out.String() != "again\n" {
		t.Fatalf("Exec on the second session: got %+v %q %v, want exit 0 and %q", res, out.String(), err, "again\n")
	}
	if err := <-errc; err == nil {
		t.Error("Exec of the first session: got nil error after its host left")
	}
	if alive := waitGone([]int{pid}, 5*time.Second); len(alive) > 0 {
		t.Errorf("process %d of the abandoned session still alive", pid)
	}
}

func TestSerialHandshakeTimeout(t *testing.T) {
	relay := newSerialRelay(t) // nobody serves the guest end
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := DialSerial(ctx, "unix", relay.hostSock)
	var ie *InfraError
	if !errors.As(err, &ie) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialSerial without a guest: got %v, want *InfraError wrapping DeadlineExceeded", err)
	}
}

func BenchmarkExecTrue(b *testing.B) {
	c := startServer(b)
	ctx := context.Background()
	req := ExecRequest{Argv: []string{"/bin/true"}, Env: baseEnv()}
	for b.Loop() {
		if _, err := c.Exec(ctx, req, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInfo(b *testing.B) {
	c := startServer(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Info(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
