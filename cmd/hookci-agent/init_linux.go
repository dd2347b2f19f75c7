//go:build linux

package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Guest init. When the agent is the first process of a microVM (PID 1, or
// --init), guestInit prepares the machine and then stays PID 1 for good:
//
//  1. mounts /proc, /sys and /dev; loads the kernel modules listed in
//     /etc/hookci/modules (only needed with a modular kernel and an initramfs);
//  2. builds the root: the read-only root disk as the lower layer of an
//     overlay whose upper layer is a tmpfs, and switches into it. With an
//     initramfs the root disk is found by root= (default /dev/vda);
//  3. mounts /dev/pts, /dev/shm, /tmp, /run, cgroup2, and the optional
//     disks whose virtio serial is "hookci-toolcache" (read-only, at
//     /opt/hostedtoolcache; else a virtio-9p share of that tag) or
//     "hookci-work" (the workspace tree, at /home/runner/work/w; with
//     hookci.workdisk=defer only when the host asks, see resyncPath);
//  4. sets the host name (hookci.hostname=, default "hookci"), brings up lo,
//     and with hookci.net=1 configures eth0 for QEMU user networking;
//  5. starts the agent proper as a child ("--serial /dev/vportNpM", the
//     virtio-serial port named hookci.agent, or "--vsock PORT" with
//     hookci.vsock=PORT), restarts it if it dies, and reaps every orphan
//     (PID 1 duty);
//  6. resynchronises the clock and reseeds the kernel RNG whenever the host
//     writes /run/hookci/resync (after a restore from a template snapshot the
//     guest clock is stale and every clone shares the template's RNG state);
//  7. powers off cleanly on SIGTERM, SIGINT (ctrl-alt-del) or SIGPWR: host
//     code can Exec `kill -TERM 1`.
//
// The agent runs as a child rather than inside PID 1 because PID 1 must reap
// every exited process, which would steal the exit statuses os/exec waits for.

// agentPortName is the name QEMU gives the agent's virtio-serial port
// (virtserialport,name=...).
const agentPortName = "hookci.agent"

// Guest paths of the job layout shared with internal/sandbox/microvm.
const (
	guestToolCache = "/opt/hostedtoolcache"
	guestWork      = "/home/runner/work"
	guestWorkspace = guestWork + "/w"
)

// resyncPath is the file the host writes after every (re)start of a guest:
// "<unix nanoseconds> <hex random seed>[ mount-work]\n". PID 1 sets the
// clock from it, feeds the seed to the kernel RNG and forces a reseed, mounts
// the workspace disk if asked, then writes resyncPath+".done" with the same
// content, followed by "ERROR <reason>\n" if something failed.
const resyncPath = "/run/hookci/resync"

// guestInit is the agent's init mode. It returns only on failure.
func guestInit() error {
	if os.Getpid() != 1 {
		return errors.New("init: --init must run as PID 1 of a guest")
	}
	logf := consoleLogger()
	start := time.Now()
	if err := mountEarly(); err != nil {
		return err
	}
	useConsole()
	cmdline := readCmdline()
	if err := loadModules(logf); err != nil {
		return err
	}
	if err := switchToOverlayRoot(cmdline, logf); err != nil {
		return err
	}
	if err := mountLate(cmdline, logf); err != nil {
		return err
	}
	setupEnvironment(cmdline, logf)
	args, err := agentArgs(cmdline)
	if err != nil {
		return err
	}
	logf("init: ready in %v, agent %v", time.Since(start).Round(time.Millisecond), args)
	go handleShutdownSignals(logf)
	// Watch before the agent starts: the host writes the resync file as
	// soon as it is connected.
	resync, err := watchResync(logf)
	if err != nil {
		logf("%v (clock resync disabled)", err)
	} else {
		go resync()
	}
	superviseAgent(args, logf)
	return nil // not reached
}

// agentArgs returns the agent's flags: --vsock PORT with hookci.vsock=PORT
// on the kernel command line (Firecracker), else --serial on the port named
// hookci.agent (QEMU).
func agentArgs(cmdline map[string]string) ([]string, error) {
	// The guest's agent alone serves the /containers routes: it is root in
	// the guest, and its only peer is the host.
	cg := []string{"--job-cgroup", "/sys/fs/cgroup/jobs", "--containers"}
	if p := cmdline["hookci.vsock"]; p != "" {
		return append([]string{"--vsock", p}, cg...), nil
	}
	port, err := findAgentPort(10 * time.Second)
	if err != nil {
		return nil, err
	}
	return append([]string{"--serial", port}, cg...), nil
}

// consoleLogger logs to the kernel console (the serial console the host keeps).
func consoleLogger() func(string, ...any) {
	l := log.New(os.Stderr, "hookci-init: ", log.Lmicroseconds)
	return func(format string, args ...any) { l.Printf(format, args...) }
}

// useConsole points stdout and stderr at /dev/console: an initramfs without
// /dev/console leaves init without them.
func useConsole() {
	f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	_ = unix.Dup2(int(f.Fd()), 1)
	_ = unix.Dup2(int(f.Fd()), 2)
	_ = f.Close()
}

// readCmdline parses /proc/cmdline into key → value ("" for bare words).
func readCmdline() map[string]string {
	b, _ := os.ReadFile("/proc/cmdline")
	m := map[string]string{}
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// setupEnvironment sets what every process inherits: PATH, host name,
// loopback and (optionally) the user-mode network.
func setupEnvironment(cmdline map[string]string, logf func(string, ...any)) {
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	os.Setenv("HOME", "/root")
	host := cmdline["hookci.hostname"]
	if host == "" {
		host = "hookci"
	}
	if err := unix.Sethostname([]byte(host)); err != nil {
		logf("init: sethostname: %v", err)
	}
	_ = os.WriteFile("/etc/hostname", []byte(host+"\n"), 0o644)
	if err := linkUp("lo"); err != nil {
		logf("init: lo: %v", err)
	}
	if cmdline["hookci.net"] == "1" {
		if err := setupUserNet(); err != nil {
			logf("init: eth0: %v", err)
		}
	}
	// Ctrl-Alt-Del becomes SIGINT to init instead of an immediate reboot.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
}

// findAgentPort waits for the virtio-serial port named hookci.agent and
// returns its device node.
func findAgentPort(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == agentPortName {
				return "/dev/" + filepath.Base(filepath.Dir(n)), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("init: no virtio-serial port named %s after %v (found %d ports)", agentPortName, timeout, len(names))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// superviseAgent starts the agent on port, restarts it when it exits, and
// reaps every other process that ends up as PID 1's child. It never returns.
func superviseAgent(args []string, logf func(string, ...any)) {
	child := startAgent(args, logf)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // ECHILD: the agent failed to start
			time.Sleep(200 * time.Millisecond)
			child = startAgent(args, logf)
			continue
		}
		if pid == child {
			logf("init: agent exited (%v); restarting", ws)
			time.Sleep(100 * time.Millisecond)
			child = startAgent(args, logf)
		}
	}
}

// startAgent runs this binary again as the agent proper; it returns the
// pid, or 0.
func startAgent(args []string, logf func(string, ...any)) int {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		logf("init: open /dev/null: %v", err)
		return 0
	}
	defer unix.Close(null)
	attr := &syscall.ProcAttr{
		Env:   []string{"PATH=" + os.Getenv("PATH"), "HOME=/root"},
		Files: []uintptr{uintptr(null), 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	pid, err := syscall.ForkExec("/proc/self/exe", append([]string{"hookci-agent"}, args...), attr)
	if err != nil {
		logf("init: start agent: %v", err)
		return 0
	}
	return pid
}

// handleShutdownSignals powers the machine off on SIGTERM, SIGINT or SIGPWR.
func handleShutdownSignals(logf func(string, ...any)) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGTERM, unix.SIGINT, unix.SIGPWR)
	s := <-c
	logf("init: %v: powering off", s)
	_ = unix.Kill(-1, unix.SIGKILL)
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		logf("init: power off: %v", err)
	}
}
