package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openRawPty returns the master of a new pseudo-terminal and the path of its
// slave, in raw mode: a character device standing in for a virtio-serial port.
func openRawPty(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ctlErr error
	rc.Control(func(fd uintptr) {
		if ctlErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ctlErr != nil {
			return
		}
		n, ctlErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		if ctlErr != nil {
			return
		}
		var tio *unix.Termios
		if tio, ctlErr = unix.IoctlGetTermios(int(fd), unix.TCGETS); ctlErr != nil {
			return
		}
		// cfmakeraw
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		ctlErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
	})
	if ctlErr != nil {
		t.Fatalf("setting up the pty: %v", ctlErr)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// fileConn is one host connection over the pty master: closing it
// interrupts its reads but leaves the master open for the next connection.
type fileConn struct {
	f      *os.File
	once   sync.Once
	closed chan struct{}
}

func newFileConn(f *os.File) *fileConn {
	f.SetDeadline(time.Time{})
	return &fileConn{f: f, closed: make(chan struct{})}
}

func (c *fileConn) Read(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.f.Read(p)
}

func (c *fileConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.f.Write(p)
}

func (c *fileConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.f.SetDeadline(time.Now())
	})
	return nil
}

func (c *fileConn) LocalAddr() net.Addr                { return serialAddr{} }
func (c *fileConn) RemoteAddr() net.Addr               { return serialAddr{} }
func (c *fileConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *fileConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *fileConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// TestSerialOverCharDevice serves a real character device opened with
// OpenSerial, the way the agent opens a virtio-serial port, and reconnects.
func TestSerialOverCharDevice(t *testing.T) {
	master, slavePath := openRawPty(t)
	port, err := OpenSerial(slavePath)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := NewServer(t.Logf)
	defer srv.Shutdown()
	served := make(chan error, 1)
	go func() { served <- srv.ServeSerial(ctx, port) }()

	var pid int
	for i := range 2 {
		hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
		c, err := NewSerialClient(hctx, newFileConn(master))
		hcancel()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if i == 1 && pid != 0 {
			if alive := waitGone([]int{pid}, 5*time.Second); len(alive) > 0 {
				t.Errorf("process %d of the abandoned session still alive", pid)
			}
		}
		var out strings.Builder
		res, err := c.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", "echo session " + strconv.Itoa(i)}, Env: baseEnv()}, &out)
		if err != nil || res.ExitCode != 0 || out.String() != fmt.Sprintf("session %d\n", i) {
			t.Fatalf("session %d: got %+v %q %v", i, res, out.String(), err)
		}
		if i == 0 {
			w := newLineWatcher()
			go c.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", "echo $$; sleep 1000"}, Env: baseEnv()}, w)
			pid, _ = strconv.Atoi(w.nextLine(t))
		}
		c.Close() // the guest sees nothing: the pty stays open
	}
	cancel()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Error("ServeSerial did not return after cancellation")
	}
}
