package agent

import (
	"net"
	"sync"
)

// connListener is a net.Listener that yields one existing connection and
// then blocks until it is closed, so that an http.Server serves exactly that
// connection (an HTTP/2 session over a socket or a serial port).
type connListener struct {
	conn net.Conn
	done chan struct{}

	mu     sync.Mutex // guards the fields below
	given  bool
	closed bool
}

func newConnListener(c net.Conn) *connListener {
	return &connListener{conn: c, done: make(chan struct{})}
}

// Accept returns the connection the first time, then waits for Close.
func (l *connListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.given && !l.closed {
		l.given = true
		l.mu.Unlock()
		return l.conn, nil
	}
	l.mu.Unlock()
	<-l.done
	return nil, net.ErrClosed
}

// Close ends Accept; it does not close the connection (the server does).
func (l *connListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	return nil
}

// Addr is the connection's local address.
func (l *connListener) Addr() net.Addr { return l.conn.LocalAddr() }
