package firecracker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// dialVsock opens a host-initiated vsock connection through Firecracker's
// unix socket (the uds_path of PUT /vsock): connect, send "CONNECT <port>\n",
// expect "OK <host port>\n"; from then on the socket is the byte stream to
// the guest's listener on port.
func dialVsock(ctx context.Context, udsPath string, port uint32) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", udsPath)
	if err != nil {
		return nil, fmt.Errorf("vsock: %w", err)
	}
	if err := vsockHandshake(ctx, conn, port); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func vsockHandshake(ctx context.Context, conn net.Conn, port uint32) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "CONNECT %d\n", port); err != nil {
		return fmt.Errorf("vsock CONNECT %d: %w", port, err)
	}
	// Read byte by byte: whatever follows the OK line belongs to the stream.
	line, err := readLine(conn, 64)
	if err != nil {
		return fmt.Errorf("vsock CONNECT %d: %w", port, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "OK" {
		return fmt.Errorf("vsock CONNECT %d: refused: %q", port, line)
	}
	if _, err := strconv.ParseUint(f[1], 10, 32); err != nil {
		return fmt.Errorf("vsock CONNECT %d: bad reply %q", port, line)
	}
	return nil
}

// readLine reads up to '\n' one byte at a time (so nothing after it is
// consumed), at most max bytes.
func readLine(conn net.Conn, max int) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < max {
		if _, err := conn.Read(buf); err != nil {
			if b.Len() == 0 {
				return "", fmt.Errorf("no reply (is the guest listening?): %w", err)
			}
			return "", fmt.Errorf("after %q: %w", b.String(), err)
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
		b.WriteByte(buf[0])
	}
	return "", fmt.Errorf("reply longer than %d bytes: %q", max, b.String())
}
