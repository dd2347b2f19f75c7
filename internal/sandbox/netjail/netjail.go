// Package netjail gives a sandbox outbound-only network access through a
// network namespace of its own: hookci (root, in the initial user
// namespace) creates the namespace, loads an nftables ruleset into it that
// refuses the host's loopback, link-local (with the cloud metadata address
// 169.254.169.254) and the host's own addresses, and attaches slirp4netns,
// which NATs the namespace's traffic through ordinary sockets of the host.
// Only then does the job start inside it.
//
// The namespace is owned by the initial user namespace, so a job without
// capabilities there (CAP_NET_ADMIN, CAP_NET_RAW) can neither change the
// ruleset, addresses and routes nor bypass them with packet sockets.
//
// The namespace is held by a file descriptor of the hookci process, never
// by a mount: slirp4netns's --enable-sandbox detaches shared bind mounts
// such as `ip netns add`'s /run/netns/NAME (seen with slirp4netns 1.2.0),
// and a descriptor leaves nothing to clean up when hookci dies. slirp4netns
// exits when hookci does (its --exit-fd is a pipe only hookci holds); Reap
// kills one left behind anyway.
package netjail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config says where the tools are.
type Config struct {
	SlirpPath string // default: slirp4netns in PATH (Debian package slirp4netns)
	NftPath   string // default: nft in PATH (Debian package nftables)
	// ReadyTimeout bounds how long Open waits for slirp4netns (default 10 s).
	ReadyTimeout time.Duration
	Log          *slog.Logger // default: slog.Default()
}

// Tap is the interface slirp4netns creates in the namespace; its address
// is slirp4netns's default 10.0.2.100/24 (gateway 10.0.2.2, DNS 10.0.2.3).
const Tap = "tap0"

// Jail is one network namespace with its firewall and its slirp4netns.
type Jail struct {
	ns     *os.File // the namespace (nsfs)
	slirp  *exec.Cmd
	exitW  *os.File // closing it tells slirp4netns to exit
	exited chan struct{}
	dir    string
	log    *slog.Logger
}

// pidFileName records slirp4netns's pid and start time in the jail's dir.
const pidFileName = "slirp.pid"

// resolve fills in the tools' paths, naming the Debian package of a
// missing one.
func (c Config) resolve() (Config, error) {
	var err error
	if c.SlirpPath == "" {
		if c.SlirpPath, err = exec.LookPath("slirp4netns"); err != nil {
			return c, fmt.Errorf("egress needs slirp4netns (Debian package slirp4netns): %w", err)
		}
	}
	if c.NftPath == "" {
		if c.NftPath, err = exec.LookPath("nft"); err != nil {
			return c, fmt.Errorf("egress needs nft to firewall the job's network (Debian package nftables): %w", err)
		}
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c, nil
}

// Check reports whether the tools egress needs are installed.
func Check(cfg Config) error {
	_, err := cfg.resolve()
	return err
}

// Open creates the namespace, firewalls it and attaches slirp4netns, whose
// log and pid file go into dir (which must exist). On failure nothing is
// left.
func Open(ctx context.Context, cfg Config, dir string) (*Jail, error) {
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	j := &Jail{dir: dir, log: cfg.Log}
	if j.ns, err = newNetns(); err != nil {
		return nil, fmt.Errorf("netjail: %w", err)
	}
	rules, err := ruleset()
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("netjail: %w", err)
	}
	if err := j.loadRules(ctx, cfg.NftPath, rules); err != nil {
		j.Close()
		return nil, fmt.Errorf("netjail: %w", err)
	}
	if err := j.startSlirp(ctx, cfg); err != nil {
		j.Close()
		return nil, fmt.Errorf("netjail: %w", err)
	}
	return j, nil
}

// Path names the namespace for tools that take a path (nsenter --net=,
// slirp4netns --netns-type=path); valid while the Jail is open.
func (j *Jail) Path() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), j.ns.Fd()) }

// Start starts cmd inside the namespace (cmd.Start from an OS thread that
// joined it; the thread is discarded afterwards).
func (j *Jail) Start(cmd *exec.Cmd) error {
	return inNetns(j.ns, cmd.Start)
}

// Close stops slirp4netns and releases the namespace (the kernel frees it
// once the last process in it is gone). Idempotent.
func (j *Jail) Close() error {
	var errs []error
	if j.exitW != nil {
		j.exitW.Close()
		j.exitW = nil
		select {
		case <-j.exited:
		case <-time.After(2 * time.Second):
			j.slirp.Process.Kill()
			<-j.exited
		}
		os.Remove(filepath.Join(j.dir, pidFileName))
	}
	if j.ns != nil {
		errs = append(errs, j.ns.Close())
		j.ns = nil
	}
	return errors.Join(errs...)
}

// newNetns creates a network namespace on a locked OS thread that is
// thrown away afterwards, and returns a descriptor holding it.
func newNetns() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare network namespace: %w", err)}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// inNetns runs fn on an OS thread that joined the namespace ns; processes
// started by fn start in it. The thread is discarded afterwards.
func inNetns(ns *os.File, fn func() error) error {
	if ns == nil {
		return errors.New("netjail: closed")
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("netjail: setns: %w", err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// loadRules runs nft inside the namespace.
func (j *Jail) loadRules(ctx context.Context, nft, rules string) error {
	cmd := exec.CommandContext(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := inNetns(j.ns, cmd.Start); err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// startSlirp starts slirp4netns in hookci's own network namespace,
// attached to the jail's, and waits until it configured the interface.
func (j *Jail) startSlirp(ctx context.Context, cfg Config) error {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return err
	}
	logf, err := os.Create(filepath.Join(j.dir, "slirp.log"))
	if err != nil {
		readyW.Close()
		exitR.Close()
		exitW.Close()
		return err
	}
	defer logf.Close()
	cmd := exec.Command(cfg.SlirpPath,
		"--configure", "--mtu=65520",
		"--disable-host-loopback", // 10.0.2.2 does not lead to the host's 127.0.0.1
		"--enable-sandbox", "--enable-seccomp",
		"--ready-fd=3", "--exit-fd=4",
		"--netns-type=path", j.Path(), Tap)
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// Its own process group: a ^C meant for hookci does not cut a running
	// job's network; Close and the exit pipe end it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	j.slirp, j.exitW, j.exited = cmd, exitW, make(chan struct{})
	go func() {
		cmd.Wait()
		close(j.exited)
	}()
	if start, ok := startTime(cmd.Process.Pid); ok {
		os.WriteFile(filepath.Join(j.dir, pidFileName), fmt.Appendf(nil, "%d %d\n", cmd.Process.Pid, start), 0o644)
	}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := io.ReadFull(readyR, b)
		ready <- err
	}()
	timer := time.NewTimer(cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			<-j.exited
			return fmt.Errorf("slirp4netns exited before it was ready: %s", tail(filepath.Join(j.dir, "slirp.log")))
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("slirp4netns not ready after %v: %s", cfg.ReadyTimeout, tail(filepath.Join(j.dir, "slirp.log")))
	case <-ctx.Done():
		return fmt.Errorf("waiting for slirp4netns: %w", ctx.Err())
	}
}

// slirp4netns's network and its DNS forwarder. slirp sends a connection to
// any port of 10.0.2.3 to the host's resolver, which may listen on the
// host's loopback (127.0.0.53): only port 53 is let through.
const (
	slirpNet = "10.0.2.0/24"
	slirpDNS = "10.0.2.3"
)

// ruleset is the namespace's firewall: everything leaving it is accepted
// except to the host's loopback, link-local (metadata) and own addresses,
// multicast/broadcast, and slirp's network (its gateway 10.0.2.2 is the
// host) but for DNS. Rejected, not dropped, so that a refused connection
// fails at once.
func ruleset() (string, error) {
	v4 := []string{"0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255", slirpNet}
	v6 := []string{"::/127", "::ffff:0:0/96", "fe80::/10", "ff00::/8", "fd00::2"}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("host addresses: %w", err)
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if ip.Is4() {
			v4 = append(v4, ip.String())
		} else {
			v6 = append(v6, ip.WithZone("").String())
		}
	}
	return fmt.Sprintf(`table inet hookci {
	chain output {
		type filter hook output priority 0; policy accept;
		oif "lo" accept
		ip daddr %s th dport 53 accept
		ip daddr { %s } counter reject with icmpx type admin-prohibited
		ip6 daddr { %s } counter reject with icmpx type admin-prohibited
	}
}
`, slirpDNS, strings.Join(v4, ", "), strings.Join(v6, ", ")), nil
}

// Reap kills a slirp4netns that an earlier hookci process left running for
// the jail whose files are in dir (its pid file names it).
func Reap(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, pidFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netjail reap: %w", err)
	}
	var pid, start int
	if n, err := fmt.Sscanf(string(data), "%d %d", &pid, &start); err != nil || n != 2 {
		return nil
	}
	if got, ok := startTime(pid); ok && got == start {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("netjail reap: kill slirp4netns %d: %w", pid, err)
		}
	}
	return nil
}

// startTime reads field 22 of /proc/<pid>/stat (start time in clock
// ticks), which identifies a process across pid reuse.
func startTime(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	j := strings.LastIndexByte(s, ')')
	if j < 0 {
		return 0, false
	}
	f := strings.Fields(s[j+1:])
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.Atoi(f[19])
	return v, err == nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 1000 {
		b = b[len(b)-1000:]
	}
	return strings.TrimSpace(string(b))
}
