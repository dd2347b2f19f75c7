package firecracker

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeVsock plays Firecracker's host side of vsock: it reads the CONNECT
// line and answers with reply; after an OK it echoes the stream back.
func fakeVsock(t *testing.T, reply func(port string) string) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "v.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				port, _ := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "CONNECT ")
				r := reply(port)
				io.WriteString(c, r)
				if strings.HasPrefix(r, "OK ") {
					io.Copy(c, br)
				}
			}()
		}
	}()
	return sock
}

func TestVsockHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reply   func(port string) string
		wantErr string
	}{
		{"ok", func(p string) string { return "OK 1073741824\n" }, ""},
		{"wrong port", func(p string) string {
			if p != "1024" {
				return "OK 1\n"
			}
			return ""
		}, "no reply"},
		{"refused", func(string) string { return "NOPE\n" }, "refused"},
		{"bad number", func(string) string { return "OK x\n" }, "bad reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := fakeVsock(t, tc.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := dialVsock(ctx, sock, 1024)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("dialVsock: %v", err)
			}
			defer conn.Close()
			io.WriteString(conn, "PRI * HTTP/2.0\r\n")
			got := make([]byte, 16)
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != "PRI * HTTP/2.0\r\n" {
				t.Errorf("stream after handshake: got %q, want the bytes echoed", got)
			}
		})
	}
}
