package namespace

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/netjail/netjailtest"
)

// connect is a script that connects to addr:port and prints what the
// server sent ("ok" from the test's listeners).
func connect(addr string, port int) string {
	return fmt.Sprintf("timeout 20 bash -c 'exec 3<>/dev/tcp/%s/%d && head -c 2 <&3' 2>&1", addr, port)
}

// interfaces lists the network interfaces the sandbox sees.
const interfaces = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '"

// TestNoEgressOnlyLoopback: a job without egress has no interface but lo.
func TestNoEgressOnlyLoopback(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "noegress"})
	if _, out := run(t, inst, interfaces); out != "lo " {
		t.Errorf("interfaces without egress: got %q, want only lo", out)
	}
}

// TestEgressAttacks: a job granted egress reaches an outside listener
// through its own namespace, but not the host's loopback (directly or as
// slirp's 10.0.2.2), the host's own addresses, nor the metadata address
// (which the host itself reaches); and it cannot change its firewall,
// routes or addresses.
func TestEgressAttacks(t *testing.T) {
	netjailtest.Need(t)
	b := newBackend(t, Config{})
	out := netjailtest.NewOutside(t)
	inet := out.Listen(t, out.Addr+":0").Addr().(*net.TCPAddr).Port
	out.Listen(t, netjailtest.MetadataAddr+":80")
	// The host's services: one on loopback, one on every address.
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	netjailtest.Serve(t, lo)
	loPort := lo.Addr().(*net.TCPAddr).Port
	all, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	netjailtest.Serve(t, all)
	allPort := all.Addr().(*net.TCPAddr).Port
	// The attacks below would work without the jail: the host reaches each.
	for _, a := range []string{netjailtest.MetadataAddr + ":80", fmt.Sprintf("%s:%d", out.HostAddr, allPort)} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("the host itself cannot reach %s (test setup): %v", a, err)
		}
		c.Close()
	}

	// An abstract unix socket of the host (scoped by network namespace, as
	// dbus and others use them).
	abstract := fmt.Sprintf("@hookci-egress-test-%d", os.Getpid())
	ul, err := net.Listen("unix", abstract)
	if err != nil {
		t.Fatal(err)
	}
	netjailtest.Serve(t, ul)

	inst := start(t, b, sandbox.Spec{ID: "egress", Network: true})
	script := fmt.Sprintf(`python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect("\0%s"); print(s.recv(2).decode())'`, abstract[1:])
	if code, got := run(t, inst, script+" 2>&1"); code == 0 || strings.Contains(got, "ok") {
		t.Errorf("host's abstract unix socket %s: got exit %d %q, want it unreachable", abstract, code, got)
	}
	if _, got := run(t, inst, interfaces); got != "lo tap0 " {
		t.Errorf("interfaces with egress: got %q, want lo and tap0", got)
	}
	blocked := []struct {
		what string
		addr string
		port int
	}{
		{"host loopback", "127.0.0.1", loPort},
		{"host loopback through slirp's gateway", "10.0.2.2", loPort},
		{"host through 0.0.0.0", "0.0.0.0", allPort},
		{"metadata", netjailtest.MetadataAddr, 80},
		{"host's veth address", out.HostAddr, allPort},
		{"slirp's DNS forwarder on another port than 53", "10.0.2.3", allPort},
	}
	for _, a := range netjailtest.HostAddrs(t) {
		blocked = append(blocked, struct {
			what string
			addr string
			port int
		}{"host address " + a, a, allPort})
	}
	probe := func(stage string) {
		t.Helper()
		for _, bl := range blocked {
			if code, got := run(t, inst, connect(bl.addr, bl.port)); code == 0 || strings.Contains(got, "ok") {
				t.Errorf("%s: %s %s:%d: got exit %d %q, want the connection refused", stage, bl.what, bl.addr, bl.port, code, got)
			}
		}
		if code, got := run(t, inst, connect(out.Addr, inet)); code != 0 || got != "ok" {
			t.Errorf("%s: outside %s:%d: got exit %d %q, want ok", stage, out.Addr, inet, code, got)
		}
	}
	probe("before tampering")

	for _, attack := range []string{
		"nft flush ruleset",
		"nft delete table inet hookci",
		"ip addr add 10.0.2.50/24 dev tap0",
		"ip route add 127.0.0.0/8 dev tap0",
		"ip route replace default via 10.0.2.3 dev tap0",
		"ip link set tap0 down",
		"ip link add hk0 type dummy",
		"python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'",
	} {
		if code, got := run(t, inst, attack+" 2>&1"); code == 0 {
			t.Errorf("%q inside the sandbox: got exit 0 %q, want it refused", attack, got)
		}
	}
	probe("after tampering")
}

// TestEgressCleanup: closing an egress sandbox stops its slirp4netns, and
// Reap stops one left by a dead hookci process.
func TestEgressCleanup(t *testing.T) {
	netjailtest.Need(t)
	b := newBackend(t, Config{})
	slirpPid := func(id string) int {
		t.Helper()
		var pid, st int
		data, err := os.ReadFile(filepath.Join(b.cfg.WorkDir, id, "slirp.pid"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Sscanf(string(data), "%d %d", &pid, &st)
		return pid
	}
	alive := func(pid int) bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && !strings.Contains(string(st), ") Z ") && syscall.Kill(pid, 0) == nil
	}
	closed := start(t, b, sandbox.Spec{ID: "egress-closed", Network: true})
	pid := slirpPid("egress-closed")
	if !alive(pid) {
		t.Fatalf("slirp4netns %d not running", pid)
	}
	closed.Close()
	if alive(pid) {
		t.Errorf("slirp4netns %d still running after Close", pid)
	}

	crashed := start(t, b, sandbox.Spec{ID: "egress-crashed", Network: true})
	_ = crashed
	pid = slirpPid("egress-crashed")
	if err := os.WriteFile(filepath.Join(b.cfg.WorkDir, "egress-crashed", ownerFile), []byte("1 -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Reap(context.Background()); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	for range 100 { // SIGKILL is asynchronous; the process is reaped by its parent (this test)
		if !alive(pid) {
			break
		}
		syscall.Select(0, nil, nil, nil, &syscall.Timeval{Usec: 20000})
	}
	if alive(pid) {
		t.Errorf("slirp4netns %d of a dead owner still running after Reap", pid)
	}
}
