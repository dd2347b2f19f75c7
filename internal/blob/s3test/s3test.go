// Package s3test starts a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, posix backend) on loopback over a
// temporary directory. scripts/deps.sh test builds it from the Go module
// proxy into /var/cache/hookci/bin. Outside CI a missing binary skips the
// test saying why; under CI=true it fails it.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is its base URL (http://127.0.0.1:port).
	Endpoint string
	// AccessKey and SecretKey are the root credentials it accepts.
	AccessKey, SecretKey string

	t    testing.TB
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary finds versitygw: $HOOKCI_VERSITYGW, then $HOOKCI_TOOL_BIN (where
// scripts/deps.sh builds it; default /var/cache/hookci/bin), then PATH.
func Binary() (string, error) {
	if p := os.Getenv("HOOKCI_VERSITYGW"); p != "" {
		return p, nil
	}
	dir := os.Getenv("HOOKCI_TOOL_BIN")
	if dir == "" {
		dir = "/var/cache/hookci/bin"
	}
	if p := filepath.Join(dir, "versitygw"); fileExists(p) {
		return p, nil
	}
	return exec.LookPath("versitygw")
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// Start starts a server for the test and stops it at the test's end.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := "versitygw not found (scripts/deps.sh test builds it into /var/cache/hookci/bin): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), addr: addr, Endpoint: "http://" + addr,
		AccessKey: "hookci-test", SecretKey: "hookci-test-secret-key"}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again (after Stop) on the same address and
// directory, so the objects are still there.
func (s *Server) Restart() {
	s.t.Helper()
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", s.addr, "--quiet", "posix", data)
	logf, err := os.Create(filepath.Join(s.dir, "versitygw.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(filepath.Join(s.dir, "versitygw.log"))
			s.t.Fatalf("versitygw exited at start: %s", b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not answer on %s within 30s", s.addr)
		}
	}
}

// Stop stops the server (idempotent).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// URL is the HOOKCI_BLOB_URL of bucket on this server.
func (s *Server) URL(bucket string) string {
	return fmt.Sprintf("s3://%s?endpoint=%s", bucket, s.Endpoint)
}

// Env is the environment a hookci process needs to use bucket here.
func (s *Server) Env(bucket string) []string {
	return []string{"HOOKCI_BLOB_URL=" + s.URL(bucket), "HOOKCI_S3_ACCESS_KEY_ID=" + s.AccessKey,
		"HOOKCI_S3_SECRET_ACCESS_KEY=" + s.SecretKey}
}

// Open opens bucket (created if missing) as a blob store.
func (s *Server) Open(t testing.TB, bucket string) *blob.S3 {
	t.Helper()
	st, err := blob.OpenS3(context.Background(), blob.S3Config{Endpoint: s.Endpoint, Bucket: bucket,
		Region: "us-east-1", AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
