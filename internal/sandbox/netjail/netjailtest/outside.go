// Package netjailtest builds, for tests, a stand-in for the internet on a
// machine that has none: a network namespace ("outside") joined to the host
// by a veth pair, with TCP listeners in it, and a route through it to the
// cloud metadata address 169.254.169.254 as a cloud host would have.
package netjailtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Need skips the test when root, ip, slirp4netns or nft is missing, and
// fails it instead when CI=true.
func Need(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for tool, pkg := range map[string]string{"ip": "iproute2", "slirp4netns": "slirp4netns", "nft": "nftables"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (Debian package "+pkg+")")
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("egress tests need %s (CI=true: not skipping)", strings.Join(missing, ", "))
	}
	t.Skipf("egress tests need %s", strings.Join(missing, ", "))
}

// Outside is the stand-in internet.
type Outside struct {
	HostAddr string // the host's end of the veth (one of the host's own addresses)
	Addr     string // the outside end: an "internet" address
	holder   *exec.Cmd
	ns       *os.File
	hostIf   string
}

// MetadataAddr is the cloud metadata address, routed into Outside.
const MetadataAddr = "169.254.169.254"

// NewOutside creates the outside namespace, the veth pair and the route to
// MetadataAddr; all is removed at the test's end.
func NewOutside(t testing.TB) *Outside {
	t.Helper()
	n := os.Getpid()%250 + 1
	o := &Outside{
		HostAddr: fmt.Sprintf("198.18.%d.1", n),
		Addr:     fmt.Sprintf("198.18.%d.2", n),
		hostIf:   fmt.Sprintf("hkci%dh", os.Getpid()%100000),
	}
	o.holder = exec.Command("sleep", "3600")
	o.holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := o.holder.Start(); err != nil {
		t.Fatalf("outside namespace: %v", err)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", o.hostIf).Run()
		o.holder.Process.Kill()
		o.holder.Wait()
	})
	pid := fmt.Sprint(o.holder.Process.Pid)
	var err error
	if o.ns, err = os.Open("/proc/" + pid + "/ns/net"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.ns.Close() })
	ns := "/proc/" + pid + "/ns/net"
	for _, c := range [][]string{
		{"ip", "link", "add", o.hostIf, "type", "veth", "peer", "name", "out0", "netns", pid},
		{"ip", "addr", "add", o.HostAddr + "/30", "dev", o.hostIf},
		{"ip", "link", "set", o.hostIf, "up"},
		{"nsenter", "--net=" + ns, "ip", "addr", "add", o.Addr + "/30", "dev", "out0"},
		{"nsenter", "--net=" + ns, "ip", "addr", "add", MetadataAddr + "/32", "dev", "out0"},
		{"nsenter", "--net=" + ns, "ip", "link", "set", "out0", "up"},
		{"nsenter", "--net=" + ns, "ip", "link", "set", "lo", "up"},
		{"nsenter", "--net=" + ns, "ip", "route", "add", "default", "via", o.HostAddr},
		{"ip", "route", "replace", MetadataAddr + "/32", "via", o.Addr, "dev", o.hostIf},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return o
}

// Listen opens a TCP listener on addr inside the outside namespace that
// answers every connection with "ok\n".
func (o *Outside) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ch := make(chan struct {
		l   net.Listener
		err error
	}, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Setns(int(o.ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- struct {
				l   net.Listener
				err error
			}{nil, err}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- struct {
			l   net.Listener
			err error
		}{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen in the outside namespace: %v", r.err)
	}
	Serve(t, r.l)
	return r.l
}

// Serve answers every connection to l with "ok\n" until the test ends.
func Serve(t testing.TB, l net.Listener) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
}

// HostAddrs returns the host's own global IPv4 addresses.
func HostAddrs(t testing.TB) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			out = append(out, n.IP.String())
		}
	}
	return out
}
