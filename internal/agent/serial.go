package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Handshake lines of a serial session (see the package documentation).
const (
	lineHello = "HOOKCI-HELLO "
	lineReady = "HOOKCI-READY "
	lineStart = "HOOKCI-START "
	lineGo    = "HOOKCI-GO "
)

// serialPollInterval is how often the guest retries reading a port that
// reads EOF because no host is attached (poll(2) reports POLLHUP then, so
// there is nothing to block on). It bounds how late the guest sees a host.
const serialPollInterval = 10 * time.Millisecond

// helloInterval is how often the host repeats HELLO until the guest answers.
const helloInterval = 250 * time.Millisecond

// helloPadding precedes every HELLO line. A guest still serving an abandoned
// session reads it as an HTTP/2 frame header announcing a 16 MiB frame, which
// no server accepts, so the session ends at once; if the abandoned session
// stopped mid-frame (at most 16 KiB), a few paddings complete that frame first.
var helloPadding = bytes.Repeat([]byte{0xff}, 1000)

// DialSerial connects to the host end of a serial port (for QEMU, the unix
// socket of the port's chardev), runs the session handshake and returns a
// Client. ctx bounds the handshake only.
func DialSerial(ctx context.Context, network, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &InfraError{Op: "dial", Err: err}
	}
	return NewSerialClient(ctx, conn)
}

// NewSerialClient runs the session handshake on conn, the host end of a
// serial stream, then speaks HTTP/2 over it. ctx bounds the handshake only.
// The Client owns conn.
func NewSerialClient(ctx context.Context, conn net.Conn) (*Client, error) {
	br, err := hostHandshake(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, &InfraError{Op: "serial handshake", Err: err}
	}
	return NewClient(&bufferedConn{Conn: conn, r: br})
}

func hostHandshake(ctx context.Context, conn net.Conn) (*bufio.Reader, error) {
	var b [16]byte
	rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	helloDone := make(chan struct{})
	helloStopped := make(chan struct{})
	go func() {
		defer close(helloStopped)
		t := time.NewTicker(helloInterval)
		defer t.Stop()
		for {
			hello := append(append([]byte{}, helloPadding...), "\n"+lineHello+nonce+"\n"...)
			if _, err := conn.Write(hello); err != nil {
				return
			}
			select {
			case <-helloDone:
				return
			case <-t.C:
			}
		}
	}()
	br := bufio.NewReader(conn)
	err := awaitLine(br, lineReady, nonce)
	close(helloDone)
	<-helloStopped
	if err == nil {
		_, err = io.WriteString(conn, "\n"+lineStart+nonce+"\n")
	}
	if err == nil {
		err = awaitLine(br, lineGo, nonce)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return br, nil
}

// awaitLine reads until a line ends with prefix+nonce, ignoring anything else.
func awaitLine(br *bufio.Reader, prefix, nonce string) error {
	want := []byte(prefix + nonce)
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if bytes.HasSuffix(line, want) {
			return nil
		}
	}
}

// readLine returns the next line without its newline; over-long lines of
// debris are returned in pieces (they never match a handshake line).
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return line, nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte("\n")), nil
}

// bufferedConn is a net.Conn whose reads drain a bufio.Reader first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Stream is a serial port as the guest sees it: *os.File of a character
// device satisfies it (its deadlines must work, which they do for devices the
// Go runtime can poll).
type Stream interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// ServeSerial serves sessions on a serial port one after another until ctx
// is done: it waits for a host's HELLO, answers the handshake, serves HTTP/2
// until the session breaks (EOF when the host detaches, or a new HELLO), then
// waits for the next host. It does not close port.
func (s *Server) ServeSerial(ctx context.Context, port Stream) error {
	stop := context.AfterFunc(ctx, func() { port.SetReadDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(port)
	for ctx.Err() == nil {
		err := s.guestHandshake(ctx, br, port)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, io.EOF) {
				// No host attached: a virtio port reads EOF until one is.
				time.Sleep(serialPollInterval)
			} else {
				s.logf("serial handshake: %v", err)
			}
			continue
		}
		s.logf("serial: host attached")
		sc := &sessionConn{r: br, port: port, done: make(chan struct{})}
		// The session is over when its conn closes: on EOF, on cancellation,
		// or when the server answers a broken stream with GOAWAY. The server
		// itself may linger a second more (its GOAWAY timeout), but it can no
		// longer touch the port.
		go s.ServeConn(ctx, sc)
		<-sc.done
		sc.finish()
		s.logf("serial: session ended")
	}
	return ctx.Err()
}

// guestHandshake waits for HELLO lines, answers each with READY, and returns
// once a START for an answered nonce arrived and GO was written.
func (s *Server) guestHandshake(ctx context.Context, br *bufio.Reader, w io.Writer) error {
	answered := make(map[string]bool)
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if nonce, ok := handshakeNonce(line, lineHello); ok {
			answered[nonce] = true
			if _, err := io.WriteString(w, "\n"+lineReady+nonce+"\n"); err != nil {
				return err
			}
			continue
		}
		if nonce, ok := handshakeNonce(line, lineStart); ok && answered[nonce] {
			_, err := io.WriteString(w, "\n"+lineGo+nonce+"\n")
			return err
		}
	}
}

// handshakeNonce extracts the nonce of a line ending in prefix+<32 hex digits>.
func handshakeNonce(line []byte, prefix string) (string, bool) {
	i := bytes.LastIndex(line, []byte(prefix))
	if i < 0 {
		return "", false
	}
	nonce := line[i+len(prefix):]
	if len(nonce) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(string(nonce)); err != nil {
		return "", false
	}
	return string(nonce), true
}

// sessionConn is one HTTP/2 session over a serial port. Closing it interrupts
// pending reads and writes but leaves the port open for the next session.
type sessionConn struct {
	r    *bufio.Reader
	port Stream

	readMu sync.Mutex // held during a read of r

	writeMu sync.Mutex  // serializes writes, guards watch
	watch   goAwayWatch // ends the session as soon as the server gives up on it

	mu     sync.Mutex    // guards closed
	closed bool          //
	done   chan struct{} // closed with closed
}

func (c *sessionConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *sessionConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	n, err := c.port.Write(p)
	if c.watch.write(p[:n]) {
		c.Close()
	}
	return n, err
}

func (c *sessionConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close interrupts blocked reads and writes; later ones fail.
func (c *sessionConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
		c.port.SetReadDeadline(time.Now())
		c.port.SetWriteDeadline(time.Now())
	}
	return nil
}

// finish closes the session, waits until no read of it is in flight and
// clears the deadlines so the next handshake can read the port.
func (c *sessionConn) finish() {
	c.Close()
	c.waitReads()
	c.port.SetReadDeadline(time.Time{})
	c.port.SetWriteDeadline(time.Time{})
}

// waitReads returns once no Read is in flight: the Close above made any
// pending one return, and later ones fail at once.
func (c *sessionConn) waitReads() {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	_ = c.isClosed() // a read that starts from here on sees the session closed
}

func (c *sessionConn) LocalAddr() net.Addr                { return serialAddr{} }
func (c *sessionConn) RemoteAddr() net.Addr               { return serialAddr{} }
func (c *sessionConn) SetDeadline(t time.Time) error      { return nil }
func (c *sessionConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *sessionConn) SetWriteDeadline(t time.Time) error { return nil }

type serialAddr struct{}

func (serialAddr) Network() string { return "serial" }
func (serialAddr) String() string  { return "serial" }

// OpenSerial opens a serial port device for ServeSerial.
func OpenSerial(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open serial port: %w", err)
	}
	return f, nil
}
