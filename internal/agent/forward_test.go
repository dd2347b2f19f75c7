package agent

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestForward: a relay carries a connection both ways, with the client's
// half-close passed on (the target sees EOF and still answers); a port
// already taken, a bad port and a port to itself are refused by name.
func TestForward(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			conn, err := target.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				b, _ := io.ReadAll(conn) // until the relayed half-close
				conn.Write([]byte("got " + string(b)))
			}()
		}
	}()
	tport := target.Addr().(*net.TCPAddr).Port
	port := freePort(t)
	if err := c.Forward(ctx, ForwardRequest{Port: port, TargetPort: tport}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		msg := "hello " + strconv.Itoa(i)
		conn.Write([]byte(msg))
		conn.(*net.TCPConn).CloseWrite()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || string(b) != "got "+msg {
			t.Errorf("through the relay: got %q, %v; want %q", b, err, "got "+msg)
		}
	}
	for _, tt := range []struct {
		req  ForwardRequest
		want string
	}{
		{ForwardRequest{Port: port, TargetPort: tport}, "port " + strconv.Itoa(port) + ": listen tcp"},
		{ForwardRequest{Port: 0, TargetPort: tport}, "port 0 is not between 1 and 65535"},
		{ForwardRequest{Port: freePort(t), TargetPort: 70000}, "port 70000 is not between 1 and 65535"},
		{ForwardRequest{Port: 8080, TargetPort: 8080}, "port 8080 to itself"},
	} {
		if err := c.Forward(ctx, tt.req); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Forward(%+v): got %v, want an error with %q", tt.req, err, tt.want)
		}
	}
}
