package netjail

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/sandbox/netjail/netjailtest"
)

// runIn runs argv inside the jail and returns its output.
func runIn(t *testing.T, j *Jail, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := j.Start(cmd); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v: %s", argv, err, out.String())
	}
	return out.String()
}

func TestOpenStartClose(t *testing.T) {
	netjailtest.Need(t)
	t0 := time.Now()
	j, err := Open(context.Background(), Config{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Open took %v", time.Since(t0))
	if got := runIn(t, j, "ip", "-o", "-4", "addr", "show", Tap); !strings.Contains(got, "10.0.2.100/24") {
		t.Errorf("%s in the jail: got %q, want 10.0.2.100/24", Tap, got)
	}
	rules := runIn(t, j, "nft", "list", "ruleset")
	for _, want := range []string{"127.0.0.0/8", "169.254.0.0/16", "fe80::/10", "10.0.2.0/24", "ip daddr 10.0.2.3 th dport 53 accept"} {
		if !strings.Contains(rules, want) {
			t.Errorf("ruleset lacks %s:\n%s", want, rules)
		}
	}
	pid := j.slirp.Process.Pid
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("slirp4netns %d still exists after Close", pid)
	}
	if err := j.Start(exec.Command("true")); err == nil {
		t.Error("Start after Close: got nil error")
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenMissingTool(t *testing.T) {
	_, err := Open(context.Background(), Config{SlirpPath: "", NftPath: "/nonexistent/nft"}, t.TempDir())
	if err == nil {
		t.Fatal("Open with a missing nft: got nil error")
	}
	_, err = Open(context.Background(), Config{SlirpPath: "/nonexistent/slirp4netns"}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "slirp4netns") {
		t.Errorf("Open with a missing slirp4netns: got %v, want an error naming it", err)
	}
}
