// Package namespace is the sandbox backend for hosts without usable KVM:
// bubblewrap (Debian's bwrap) runs the agent in new user, pid, mount, uts,
// ipc and network namespaces (a job granted egress gets one prepared by
// package netjail: outbound only, the host unreachable), on a read-only
// root with only the job's directories writable, inside a cgroup that
// limits memory, processes and CPU.
//
// The root is Config.RootFS (a Debian tree made by the image builder) or,
// when that is empty, the host's /usr, /etc and the /bin, /sbin, /lib*
// entries, read-only, and nothing else of the host (no /root, /home, /tmp,
// /work); secret files of the host's /etc are masked.
//
// Privileges: when the server runs as root, each sandbox gets a host uid of
// its own from [Config.UIDBase, UIDBase+UIDCount) (default 1000000 and
// up, never shared by two sandboxes, see uidPool), and bubblewrap itself is
// started as that uid (never as root), so the job's user namespace maps
// its uid 1001 ("runner", as on GitHub's runners) to a host uid that owns
// nothing but the job's own directories (mode 0700). The job holds no
// capability (effective, permitted, bounding, ambient: all empty), runs with
// no_new_privs, cannot create user namespaces, sees /proc/sys read-only and
// runs under a seccomp filter (seccomp_linux_amd64.go) that refuses mounts,
// file handles, keyrings, bpf, ptrace, module and clock calls and more. It
// still shares the host kernel: namespaces are a weaker boundary than a VM.
//
// The agent's socket is bound by the server on the host (agentsock.go) and
// handed to bubblewrap as a descriptor: no path to it exists inside, and
// the agent runs non-dumpable, so the job cannot reach its agent. A
// container that starts as root gets a subordinate uid range and a few
// capabilities in its own user namespace (container_userns.go).
//
// Inside the sandbox the job sees (Layout):
//
//	/home/runner              Home       (WorkDir/<id>/home)
//	/home/runner/work/w       Workspace  (WorkDir/<id>/workspace)
//	/home/runner/work/_temp   Temp       (WorkDir/<id>/temp)
//	/opt/hostedtoolcache      ToolCache  (Spec.ToolCache, read-only, if set)
//	/tmp, /run                private tmpfs
//
// These are the microvm backend's paths too, so a job sees the same layout
// whichever backend runs it.
package namespace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/netjail"
	"github.com/hookci/hookci/internal/sandbox/uidpool"
)

// Config configures the namespace backend.
type Config struct {
	AgentPath string // static hookci-agent binary, bind-mounted read-only
	WorkDir   string // owned by the backend: one directory per sandbox
	RootFS    string // root filesystem tree; "" = the host's /usr, /etc, /bin, /lib* read-only
	BwrapPath string // default: bwrap found in PATH

	// Defaults for a Spec that leaves them zero.
	MemoryMiB int // default 2048
	CPUs      int // default 0: no CPU limit
	// Pids limits the processes of one sandbox (default 1024).
	Pids int
	// StartTimeout bounds how long Start waits for the agent (default 10 s).
	StartTimeout time.Duration

	// Host uids of sandboxes, when the server runs as root: one per
	// sandbox from [UIDBase, UIDBase+UIDCount) (defaults DefaultUIDBase,
	// DefaultUIDCount), held by a lock file in UIDLockDir (default
	// DefaultUIDLockDir), which every hookci process of the host must share.
	// The range must be free of the host's own users.
	UIDBase, UIDCount int
	UIDLockDir        string
	// SubUIDBase starts the subordinate ranges (default
	// DefaultSubUIDBase): sandbox uid UIDBase+i owns the 65536 host ids from
	// SubUIDBase+i*65536, which the users other than root of its
	// containers that start as root run as. They must be free of the host's
	// users; slots whose range would pass 2^32-2 cannot start such
	// containers.
	SubUIDBase int
	// Egress configures the network namespace of a job granted egress
	// (Spec.Network): see package netjail.
	Egress netjail.Config
	// NodeBundleDir caches the self-contained node bound into job
	// containers (package nodebundle; default WorkDir/.node-bundle).
	NodeBundleDir string
	// VolumeCopyBytes and VolumeCopyEntries bound the copies of an image's
	// directories into a container's new volumes, all its volumes together
	// (default 1 GiB and 100000 entries; package copyup).
	VolumeCopyBytes   int64
	VolumeCopyEntries int
}

// Paths inside the sandbox.
const (
	guestHome      = "/home/runner"
	guestWork      = "/home/runner/work/w"
	guestTemp      = "/home/runner/work/_temp"
	guestToolCache = "/opt/hostedtoolcache"
	guestAgent     = "/run/hookci-agent"
)

// Backend starts namespace sandboxes.
type Backend struct {
	cfg     Config
	cgroups *cgroupDriver
	uids    *uidpool.Pool // nil: the server is not root, sandboxes run as its uid
}

// New checks cfg, bubblewrap and the cgroup hierarchy, and creates WorkDir.
func New(cfg Config) (*Backend, error) {
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 2048
	}
	if cfg.Pids == 0 {
		cfg.Pids = 1024
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.MemoryMiB < 0 || cfg.Pids < 0 || cfg.CPUs < 0 {
		return nil, errors.New("namespace sandbox: negative limit in config")
	}
	if !filepath.IsAbs(cfg.WorkDir) {
		return nil, fmt.Errorf("namespace sandbox: WorkDir %q is not absolute", cfg.WorkDir)
	}
	if fi, err := os.Stat(cfg.AgentPath); err != nil || fi.IsDir() || !filepath.IsAbs(cfg.AgentPath) {
		return nil, fmt.Errorf("namespace sandbox: agent binary %q: not an absolute path to a file (%v)", cfg.AgentPath, err)
	}
	if cfg.RootFS != "" {
		if fi, err := os.Stat(filepath.Join(cfg.RootFS, "usr")); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("namespace sandbox: RootFS %q has no usr directory", cfg.RootFS)
		}
	}
	if cfg.NodeBundleDir == "" {
		cfg.NodeBundleDir = filepath.Join(cfg.WorkDir, ".node-bundle")
	}
	if !filepath.IsAbs(cfg.NodeBundleDir) {
		return nil, fmt.Errorf("namespace sandbox: NodeBundleDir %q is not absolute", cfg.NodeBundleDir)
	}
	if cfg.BwrapPath == "" {
		p, err := exec.LookPath("bwrap")
		if err != nil {
			return nil, fmt.Errorf("namespace sandbox: bubblewrap not installed (Debian package bubblewrap): %w", err)
		}
		cfg.BwrapPath = p
	}
	var uids *uidpool.Pool
	if os.Geteuid() == 0 {
		if cfg.UIDBase == 0 {
			cfg.UIDBase = DefaultUIDBase
		}
		if cfg.UIDCount == 0 {
			cfg.UIDCount = DefaultUIDCount
		}
		if cfg.UIDLockDir == "" {
			cfg.UIDLockDir = DefaultUIDLockDir
		}
		if cfg.SubUIDBase == 0 {
			cfg.SubUIDBase = DefaultSubUIDBase
		}
		if fi, _ := os.Stat(cfg.AgentPath); fi.Mode().Perm()&0o005 != 0o005 {
			return nil, fmt.Errorf("namespace sandbox: agent binary %q (mode %v) must be readable and executable by others: sandboxes run it as an unprivileged uid", cfg.AgentPath, fi.Mode().Perm())
		}
		if _, err := exec.LookPath("setpriv"); err != nil {
			return nil, fmt.Errorf("namespace sandbox: setpriv not installed (Debian package util-linux): %w", err)
		}
		var err error
		if uids, err = uidpool.New(cfg.UIDBase, cfg.UIDCount, cfg.SubUIDBase, cfg.UIDLockDir); err != nil {
			return nil, fmt.Errorf("namespace sandbox: %w", err)
		}
	}
	// One parent cgroup per WorkDir, so that backends with different
	// WorkDirs never reap each other's cgroups.
	sum := sha256.Sum256([]byte(filepath.Clean(cfg.WorkDir)))
	cgroups, err := newCgroupDriver("hookci-" + hex.EncodeToString(sum[:4]))
	if err != nil {
		return nil, fmt.Errorf("namespace sandbox: %w", err)
	}
	// Searchable, not listable: sandbox uids reach their own directories.
	if err := os.MkdirAll(cfg.WorkDir, 0o711); err != nil {
		return nil, fmt.Errorf("namespace sandbox: %w", err)
	}
	b := &Backend{cfg: cfg, cgroups: cgroups, uids: uids}
	return b, nil
}

// Start creates the sandbox's directories and cgroup, starts the agent
// under bubblewrap and returns once it answers. On failure nothing is left.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.ToolCache != "" && !filepath.IsAbs(spec.ToolCache) {
		return nil, fmt.Errorf("namespace sandbox %s: ToolCache %q is not absolute", spec.ID, spec.ToolCache)
	}
	s := &sbox{b: b, id: spec.ID, dir: filepath.Join(b.cfg.WorkDir, spec.ID)}
	if err := s.start(ctx, spec); err != nil {
		s.destroy()
		return nil, fmt.Errorf("namespace sandbox %s: %w", spec.ID, err)
	}
	layout := agent.Layout{Workspace: guestWork, Temp: guestTemp, Home: guestHome}
	if spec.ToolCache != "" {
		layout.ToolCache = guestToolCache
	}
	inst := sandbox.NewInstance(s.client, layout, "namespace", s.destroy)
	inst.SetStop(s.stop)
	inst.Containers = s.startContainer // container.go
	return inst, nil
}

// sbox is one sandbox being started or running.
type sbox struct {
	b      *Backend
	id     string
	dir    string // WorkDir/<id>
	uid    int    // host uid of the job; 0: the server's own (not root)
	held   *uidpool.Held
	cg     *cgroup
	cmd    *exec.Cmd
	exited chan struct{}
	client *agent.Client
	net    *netjail.Jail // the job's network namespace when granted egress
	spec   sandbox.Spec  // what the sandbox was started with
	lim    limits

	// after runs once the sandbox's processes are gone (a writable
	// container's root is given back its image's owners: buildroot.go).
	after   func() error
	nodeDir string // a container's: the node bundle bound into it ("" none)

	mu         sync.Mutex // guards the fields below
	containers []*sbox    // started by startContainer; destroyed with the sandbox
}

func (s *sbox) start(ctx context.Context, spec sandbox.Spec) error {
	sock := filepath.Join(s.dir, agentSockName)
	if len(sock) > 107 {
		return fmt.Errorf("socket path %q longer than the 107 bytes a unix socket allows", sock)
	}
	if err := os.Mkdir(s.dir, 0o711); err != nil { // root's; the job's uid passes through to its own
		return err
	}
	if err := writeOwner(s.dir); err != nil {
		return err
	}
	if s.b.uids != nil {
		held, err := s.b.uids.Acquire()
		if err != nil {
			return err
		}
		s.held, s.uid = held, held.UID
	}
	// The job's directories: its uid's alone.
	for _, d := range []string{"workspace", "temp", "home"} {
		p := filepath.Join(s.dir, d)
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		if s.uid > 0 {
			if err := os.Chown(p, s.uid, s.uid); err != nil {
				return err
			}
		}
	}
	lim := limits{memoryBytes: int64(s.b.cfg.MemoryMiB) << 20, pids: s.b.cfg.Pids, cpus: s.b.cfg.CPUs}
	if spec.MemoryMiB > 0 {
		lim.memoryBytes = int64(spec.MemoryMiB) << 20
	}
	if spec.CPUs > 0 {
		lim.cpus = spec.CPUs
	}
	s.spec, s.lim = spec, lim
	cg, err := s.b.cgroups.create(s.id, lim)
	if err != nil {
		return err
	}
	s.cg = cg
	if spec.Network {
		if s.net, err = netjail.Open(ctx, s.b.cfg.Egress, s.dir); err != nil {
			return err
		}
	}
	if err := s.startBwrap(spec); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.b.cfg.StartTimeout)
	defer cancel()
	s.client, err = sandbox.WaitAgent(ctx, sock, "bwrap", s.exited)
	if err != nil {
		return fmt.Errorf("agent did not answer: %w (log: %q)", err, readLog(s.dir))
	}
	return nil
}

// startBwrap runs bubblewrap through a shell (launch.gateScript) that joins
// the cgroup first, so that every process of the sandbox is limited from its
// first instruction, and then, as root in a private mount namespace, stages
// the host directories and drops to the sandbox's uid.
func (s *sbox) startBwrap(spec sandbox.Spec) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "agent.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	procs := s.cg.procsFiles()
	for _, p := range procs {
		if strings.ContainsAny(p, ":\n") {
			return fmt.Errorf("cgroup path %q contains ':'", p)
		}
	}
	var l launch
	defer l.close()
	bargs, err := s.bwrapArgs(spec, &l)
	if err != nil {
		return err
	}
	args := append([]string{"-c", l.gateScript(s.uid), "sh", s.b.cfg.BwrapPath}, bargs...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOOKCI_CGROUP_PROCS=" + strings.Join(procs, ":"),
	}
	cmd.Env = append(cmd.Env, l.env()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = l.files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.uid > 0 {
		// The staging mounts stay in this mount namespace (Go makes it
		// private to the child).
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	start := cmd.Start
	if s.net != nil {
		start = func() error { return s.net.Start(cmd) } // in the job's network namespace
	}
	if err := start(); err != nil {
		return fmt.Errorf("starting bwrap: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	return nil
}

// destroy kills every process of the sandbox, removes its cgroup and its
// directory. It tolerates a half-started sandbox.
// stop kills every process of the sandbox and its containers (the cgroup
// holds them all) and waits for bubblewrap; destroy removes the rest.
func (s *sbox) stop() error {
	var err error
	if s.cg != nil {
		err = s.cg.kill()
	}
	if s.cmd != nil {
		s.cmd.Process.Kill() // bwrap itself, should it not have joined the cgroup
		<-s.exited
	}
	if err != nil {
		return fmt.Errorf("namespace sandbox %s: stop: %w", s.id, err)
	}
	return nil
}

func (s *sbox) destroy() error {
	var errs []error
	s.mu.Lock()
	ctrs := s.containers
	s.containers = nil
	s.mu.Unlock()
	for _, c := range ctrs {
		errs = append(errs, c.destroy())
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.cg != nil {
		errs = append(errs, s.cg.kill())
	}
	if s.cmd != nil {
		s.cmd.Process.Kill() // bwrap itself, should it not have joined the cgroup
		<-s.exited
	}
	if s.cg != nil {
		errs = append(errs, s.cg.remove())
	}
	if s.after != nil {
		errs = append(errs, s.after())
		s.after = nil
	}
	if s.net != nil {
		errs = append(errs, s.net.Close())
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	s.held.Release() // every process of the uid is gone with the cgroup
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namespace sandbox %s: close: %w", s.id, err)
	}
	return nil
}

func readLog(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
