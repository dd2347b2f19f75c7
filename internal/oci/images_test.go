package oci_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

// TestTestImages pushes the Debian-built test images, pulls them by their
// official short names through a docker.io mirror, and runs each one's
// entrypoint in a bubblewrap sandbox over the read-only rootfs (host
// network, so the host can reach the servers): PostgreSQL initialises with
// POSTGRES_PASSWORD/POSTGRES_USER/POSTGRES_DB and answers the password (and
// refuses a wrong one), Redis answers PING, the Docker action's entrypoint
// writes its outputs, Debian runs a shell.
func TestTestImages(t *testing.T) {
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("bwrap is missing (scripts/deps.sh test installs bubblewrap)")
		}
		t.Skip("bwrap is missing")
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("psql is missing (scripts/deps.sh test installs postgresql)")
		}
		t.Skip("psql is missing")
	}
	reg := ocitest.Registry(t)
	ocitest.PushImages(t, reg)
	s := open(t, reg.Mirror())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pull := func(ref string) *oci.Image {
		img, err := s.Pull(ctx, ref, nil)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		return img
	}

	t.Run("postgres", func(t *testing.T) {
		img := pull("postgres:16")
		if got := strings.Join(img.Config.ExposedPorts, ","); got != "5432/tcp" {
			t.Errorf("exposed ports: got %s, want 5432/tcp", got)
		}
		port := freePort(t)
		env := map[string]string{"POSTGRES_PASSWORD": "pw", "POSTGRES_USER": "app", "POSTGRES_DB": "appdb"}
		cmd := inImage(ctx, t, bwrap, img, env, nil, append(img.Config.Entrypoint, append(img.Config.Cmd, "-p", port)...)...)
		out := start(t, cmd)
		query := func(pw string) (string, error) {
			q := exec.CommandContext(ctx, psql, "-h", "127.0.0.1", "-p", port, "-U", "app", "-d", "appdb", "-tAc", "select current_user || ' ' || current_database()")
			q.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGCONNECT_TIMEOUT=2")
			q.Dir = "/"
			b, err := q.CombinedOutput()
			return strings.TrimSpace(string(b)), err
		}
		var got string
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(300 * time.Millisecond) {
			if got, err = query("pw"); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || got != "app appdb" {
			t.Fatalf("psql: got %q, %v; want \"app appdb\"\nserver:\n%s", got, err, out)
		}
		if got, err := query("wrong"); err == nil || !strings.Contains(got, "password authentication failed") {
			t.Errorf("wrong password: got %q, %v; want refused", got, err)
		}
	})

	t.Run("redis", func(t *testing.T) {
		img := pull("redis")
		port := freePort(t)
		out := start(t, inImage(ctx, t, bwrap, img, nil, nil, append(img.Config.Cmd, "--port", port)...))
		var reply string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
			if err != nil {
				continue
			}
			fmt.Fprintf(c, "PING\r\n")
			reply, _ = bufio.NewReader(c).ReadString('\n')
			c.Close()
			break
		}
		if strings.TrimSpace(reply) != "+PONG" {
			t.Fatalf("redis PING: got %q, want +PONG\nserver:\n%s", reply, out)
		}
	})

	t.Run("action", func(t *testing.T) {
		img := pull("hookci-test/hello-action:v1")
		dir := t.TempDir()
		outFile := filepath.Join(dir, "output")
		os.WriteFile(outFile, nil, 0o666)
		cmd := inImage(ctx, t, bwrap, img, map[string]string{"INPUT_WHO_TO_GREET": "Mona", "GITHUB_OUTPUT": "/tmp/github_output"},
			[]string{"--bind", outFile, "/tmp/github_output"}, append(img.Config.Entrypoint, "a1", "a2")...)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "Hello Mona") || !strings.Contains(string(b), "args: a1 a2") {
			t.Fatalf("action: got %q, %v; want the greeting and args", b, err)
		}
		outs, _ := os.ReadFile(outFile)
		if !strings.Contains(string(outs), "greeting=Hello Mona\n") || !strings.Contains(string(outs), "time=") {
			t.Errorf("GITHUB_OUTPUT: got %q, want greeting and time", outs)
		}
	})

	t.Run("debian", func(t *testing.T) {
		img := pull("debian:bookworm")
		b, err := inImage(ctx, t, bwrap, img, nil, nil, "sh", "-c", "cat /etc/debian_version; id -u").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(b), "12.") {
			t.Fatalf("debian: got %q, %v; want bookworm's version", b, err)
		}
	})
}

// inImage runs argv in img's rootfs (read-only, fresh /dev, /proc, tmpfs
// /tmp /run and volumes) with the image's env plus env.
func inImage(ctx context.Context, t *testing.T, bwrap string, img *oci.Image, env map[string]string, extra []string, argv ...string) *exec.Cmd {
	args := []string{"--ro-bind", img.RootFS, "/", "--dev", "/dev", "--proc", "/proc",
		"--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run", "--unshare-pid", "--die-with-parent", "--clearenv"}
	for _, v := range img.Config.Volumes {
		args = append(args, "--tmpfs", v)
	}
	if img.Config.WorkingDir != "" {
		args = append(args, "--tmpfs", img.Config.WorkingDir, "--chdir", img.Config.WorkingDir)
	}
	for _, kv := range img.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, "--setenv", k, v)
	}
	for k, v := range env {
		args = append(args, "--setenv", k, v)
	}
	args = append(args, extra...)
	return exec.CommandContext(ctx, bwrap, append(append(args, "--"), argv...)...)
}

// start starts cmd, stopped when the test ends; the returned buffer gets its output.
func start(t *testing.T, cmd *exec.Cmd) *strings.Builder {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &out
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}
