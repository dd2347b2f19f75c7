package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveEnv makes the test binary act as an agent serving a unix socket, so
// tests can kill a real agent process.
const serveEnv = "HOOKCI_AGENT_TEST_SERVE"

func TestMain(m *testing.M) {
	if sock := os.Getenv(serveEnv); sock != "" {
		l, err := net.Listen("unix", sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		NewServer(nil).Serve(context.Background(), l)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startServer serves an in-process Server on a unix socket and returns a
// client connected to it.
func startServer(t testing.TB) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(t.Logf)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, l)
	}()
	c, err := Dial(ctx, "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-done
		srv.Shutdown()
	})
	return c
}

// startPipeServer serves an in-process Server over net.Pipe.
func startPipeServer(t testing.TB) *Client {
	t.Helper()
	hostEnd, guestEnd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(t.Logf)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(ctx, guestEnd)
	}()
	c, err := NewClient(hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-done
		srv.Shutdown()
	})
	return c
}

// lineWatcher is an output writer that records everything and signals each
// complete line on a channel.
type lineWatcher struct {
	mu      sync.Mutex // guards the fields below
	buf     strings.Builder
	partial string
	lines   chan string
}

func newLineWatcher() *lineWatcher { return &lineWatcher{lines: make(chan string, 100)} }

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.partial += string(p)
	for {
		i := strings.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- w.partial[:i]:
		default:
		}
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// nextLine waits for the next complete output line.
func (w *lineWatcher) nextLine(t *testing.T) string {
	t.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("no output line within 10 s; output so far: %q", w.String())
		return ""
	}
}

// processGone reports whether pid no longer runs (gone or a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// waitGone waits up to limit for every pid to be gone and returns the
// survivors.
func waitGone(pids []int, limit time.Duration) []int {
	deadline := time.Now().Add(limit)
	for {
		var alive []int
		for _, p := range pids {
			if !processGone(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func baseEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
}
