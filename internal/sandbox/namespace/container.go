package namespace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/copyup"
	"github.com/hookci/hookci/internal/nodebundle"
	"github.com/hookci/hookci/internal/sandbox"
)

// containerSkip are an image's top-level entries a container never sees
// from the image: the kernel's and the sandbox's own take their place.
var containerSkip = map[string]bool{"proc": true, "dev": true, "sys": true, "tmp": true, "run": true}

// startContainer starts an agent rooted in an image's root filesystem as a
// sibling of the job's agent: the same host uid (a container that starts as
// root also has its other users in the sandbox's subordinate range, see
// container_userns.go), the same
// limits (a cgroup inside the job's: they cover the job and its containers
// together), the job's network namespace (so a service's port is the job's
// localhost), and bubblewrap's
// same confinement (no capabilities, no_new_privs, no user namespaces, the
// job's seccomp filter). Only its mount, pid, ipc and uts namespaces are its
// own. The image is bound read-only, entry by entry, on bubblewrap's tmpfs
// root; /tmp and /run are fresh tmpfs, spec.Tmpfs the copy-up of the image's
// directory (copyup.go) or a fresh tmpfs.
func (s *sbox) startContainer(ctx context.Context, cs sandbox.ContainerSpec) (*sandbox.Instance, error) {
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(cs.RootFS)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("container %s: root filesystem %q is not a directory", cs.Name, cs.RootFS)
	}
	for _, d := range cs.Tmpfs {
		if _, _, ok := imageDir(cs.RootFS, d); !ok && !containerSkip[strings.Split(d, "/")[1]] {
			return nil, fmt.Errorf("container %s: %s does not exist in the image", cs.Name, d)
		}
	}
	c := &sbox{b: s.b, id: s.id + "-" + cs.Name, dir: filepath.Join(s.dir, "ctr-"+cs.Name), uid: s.uid, spec: s.spec, lim: s.lim}
	if cs.Writable {
		// buildroot.go: the root is the container's own while it runs.
		if s.uid == 0 {
			return nil, fmt.Errorf("container %s: a writable root (an image build's RUN) needs sandboxes with host uids of their own (the server running as root)", cs.Name)
		}
		sub, err := s.b.uids.SubRange(s.uid)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", cs.Name, err)
		}
		m := idShift{uid: cs.UID, gid: cs.GID, host: s.uid, sub: sub}
		if err := m.shift(cs.RootFS, true); err != nil {
			m.shift(cs.RootFS, false)
			return nil, fmt.Errorf("container %s: preparing its writable root: %w", cs.Name, err)
		}
		c.after = func() error {
			if err := m.shift(cs.RootFS, false); err != nil {
				return fmt.Errorf("giving the build root back its image's owners: %w", err)
			}
			return nil
		}
	}
	var noNode string
	for _, m := range cs.Mounts {
		if m.Source != "node" {
			continue
		}
		// JavaScript actions in the container run with a self-contained
		// bundle of the host's node (package nodebundle), built once and
		// cached; without one the container starts and such a step fails
		// saying why.
		dir, err := s.b.nodeBundle(ctx)
		if err != nil {
			noNode = err.Error()
		}
		c.nodeDir = dir
	}
	s.mu.Lock()
	s.containers = append(s.containers, c)
	s.mu.Unlock()
	if err := c.startIn(ctx, s, cs); err != nil {
		c.destroy()
		return nil, fmt.Errorf("container %s: %w", cs.Name, err)
	}
	l := agent.Layout{}
	for _, m := range cs.Mounts {
		switch m.Source {
		case "workspace":
			l.Workspace = m.Target
		case "temp":
			l.Temp = m.Target
		case "home":
			l.Home = m.Target
		case "toolcache":
			l.ToolCache = m.Target
		case "node":
			if c.nodeDir != "" {
				l.Node = path.Join(m.Target, "bin", "node")
			} else {
				l.NoNode = noNode
			}
		}
	}
	return sandbox.NewInstance(c.client, l, "namespace", c.destroy), nil
}

func (c *sbox) startIn(ctx context.Context, job *sbox, cs sandbox.ContainerSpec) error {
	if sock := filepath.Join(c.dir, agentSockName); len(sock) > 107 {
		return fmt.Errorf("socket path %q longer than the 107 bytes a unix socket allows", sock)
	}
	if err := os.Mkdir(c.dir, 0o711); err != nil {
		return err
	}
	netns, err := job.netns()
	if err != nil {
		return err
	}
	defer netns.Close()
	// A cgroup inside the job's: the job's limits hold for the job and all
	// its containers together, and the container can be killed alone.
	cg := &cgroup{v2: job.cg.v2}
	for _, d := range job.cg.dirs {
		dir := filepath.Join(d, filepath.Base(c.dir))
		if err := os.Mkdir(dir, 0o755); err != nil {
			cg.remove()
			return fmt.Errorf("cgroup: %w", err)
		}
		cg.dirs = append(cg.dirs, dir)
	}
	c.cg = cg
	logf, err := os.OpenFile(filepath.Join(c.dir, "agent.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	var l launch
	defer l.close()
	var un *usernsSetup // a root container's mapped range (container_userns.go)
	if c.uid > 0 && (cs.UID == 0 || cs.Writable) {
		sub, err := c.b.uids.SubRange(c.uid)
		if err != nil {
			return err
		}
		if un, err = newUsernsSetup(c.uid, sub, cs.UID, cs.GID, &l); err != nil {
			return err
		}
		defer un.close()
	}
	bargs, err := c.containerArgs(job, cs, &l, un)
	if err != nil {
		return err
	}
	args := append([]string{"-c", l.gateScript(c.uid), "sh", c.b.cfg.BwrapPath}, bargs...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = "/"
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOOKCI_CGROUP_PROCS=" + strings.Join(cg.procsFiles(), ":"),
	}, l.env()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = l.files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if c.uid > 0 {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	if err := startInNetns(netns, cmd); err != nil {
		return fmt.Errorf("starting bwrap: %w", err)
	}
	c.cmd = cmd
	c.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	if un != nil {
		if err := un.finish(c.b.cfg.StartTimeout); err != nil {
			return fmt.Errorf("%w (log: %q)", err, readLog(c.dir))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.b.cfg.StartTimeout)
	defer cancel()
	c.client, err = sandbox.WaitAgent(ctx, filepath.Join(c.dir, agentSockName), "bwrap", c.exited)
	if err != nil {
		return fmt.Errorf("agent did not answer: %w (log: %q)", err, readLog(c.dir))
	}
	return nil
}

// imageMode is the permission bits (with setuid, setgid and sticky) of the
// image's directory name, in octal for bubblewrap's --perms, or def when
// the image has no such directory.
func imageMode(rootfs, name string, def uint32) string {
	_, mode, ok := imageDir(rootfs, name)
	if !ok {
		mode = def
	}
	return fmt.Sprintf("%04o", mode)
}

// imageDir reports whether name is a directory of the image, its path in
// the image once the image's symlinks are followed (bubblewrap would follow
// an absolute one on the host) and its permission bits. name is resolved
// inside the image (RESOLVE_IN_ROOT: no symlink leads out of it).
func imageDir(rootfs, name string) (string, uint32, bool) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", 0, false
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, strings.TrimPrefix(name, "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return "", 0, false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", 0, false
	}
	rootPath, err1 := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", root))
	path, err2 := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	if rootPath != "/" {
		rel, ok := strings.CutPrefix(path, rootPath)
		if !ok || (rel != "" && rel[0] != '/') {
			return "", 0, false
		}
		path = rel
	}
	return cmp.Or(path, "/"), st.Mode & 0o7777, true
}

// netns opens the network namespace the job's agent runs in: that of
// bubblewrap's first child (bubblewrap itself stays in the host's, or the
// netjail's, namespace).
func (s *sbox) netns() (*os.File, error) {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil, errors.New("the job's sandbox is not running")
	}
	pid := s.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil, fmt.Errorf("finding the job's sandbox process: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nil, errors.New("the job's sandbox process has no child")
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		return nil, err
	}
	return os.Open(fmt.Sprintf("/proc/%d/ns/net", child))
}

// startInNetns starts cmd from an OS thread that joined ns, then returns
// the thread to its own namespace. The thread must live on: bubblewrap's
// --die-with-parent (PR_SET_PDEATHSIG) fires when the thread that started
// it exits. Should the way back fail, the thread stays locked to this
// goroutine, which then never ends (it would be wrong for any other code).
func startInNetns(ns *os.File, cmd *exec.Cmd) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("setns: %w", err)
			return
		}
		ch <- cmd.Start()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			select {} // keep the thread (and bubblewrap) alive, out of everyone's way
		}
		runtime.UnlockOSThread()
	}()
	return <-ch
}

// containerArgs builds bubblewrap's command line for a container of job;
// un is the user namespace set up by the host for a root container, or nil.
func (c *sbox) containerArgs(job *sbox, cs sandbox.ContainerSpec, l *launch, un *usernsSetup) ([]string, error) {
	staged := c.uid > 0
	host := cs.Hostname
	if host == "" {
		host = cs.Name
	}
	a := []string{
		"--die-with-parent", "--new-session",
		"--unshare-user", "--uid", strconv.Itoa(cs.UID), "--gid", strconv.Itoa(cs.GID),
	}
	if un != nil {
		a = append(a, un.args()...)
	} else {
		a = append(a, "--disable-userns", "--cap-drop", "ALL")
	}
	a = append(a,
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", host,
	)
	root, err := l.source(cs.RootFS, "image", staged)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(cs.RootFS)
	if err != nil {
		return nil, err
	}
	if cs.Writable {
		// The image's whole tree, writable, as the root (buildroot.go).
		a = append(a, "--bind", root, "/")
		ents = nil
	}
	for _, e := range ents {
		name := e.Name()
		if containerSkip[name] {
			continue
		}
		switch {
		case e.Type()&os.ModeSymlink != 0:
			if target, err := os.Readlink(filepath.Join(cs.RootFS, name)); err == nil {
				a = append(a, "--symlink", target, "/"+name)
			}
		case e.IsDir(), e.Type().IsRegular(): // a file at the top too (/entrypoint.sh)
			a = append(a, "--ro-bind", root+"/"+name, "/"+name)
		}
	}
	a = append(a,
		"--proc", "/proc",
		"--ro-bind", "/proc/sys", "/proc/sys",
		"--dev", "/dev",
		// /tmp and /run are fresh tmpfs with the image's modes (bubblewrap's
		// default, 0755, would keep a root container's other users, e.g.
		// postgres after its entrypoint's switch, from writing in /tmp).
	)
	if !cs.Writable { // a build's /tmp is the image's, as Docker's RUN has it
		a = append(a, "--perms", imageMode(cs.RootFS, "tmp", 0o1777), "--tmpfs", "/tmp")
	}
	a = append(a, "--perms", imageMode(cs.RootFS, "run", 0o755), "--tmpfs", "/run")
	// The image's directories under /run (e.g. /run/postgresql for a
	// server's socket) exist again, empty, with their modes, on the tmpfs.
	if runEnts, err := os.ReadDir(filepath.Join(cs.RootFS, "run")); err == nil {
		for _, e := range runEnts {
			if e.IsDir() {
				a = append(a, "--perms", imageMode(cs.RootFS, "run/"+e.Name(), 0o755), "--dir", "/run/"+e.Name())
			}
		}
	}
	tmpfs, mounts := cs.Tmpfs, cs.Mounts
	if cs.Writable {
		tmpfs, mounts = nil, nil // a build's RUN: no volume, no job directory
	}
	// A volume of a directory of the image is Docker's copy-up: a copy of
	// that directory (owner, mode, contents; copyup.go) made on the host in
	// the container's directory and bound there; the copies of all the
	// container's volumes share one bound. A volume through an image's
	// symlink is the symlink's target in the image. A volume the image has
	// no directory for is an empty 0755 tmpfs (Docker's new directory).
	// Volumes are mounted outermost first, so that one inside another
	// stays visible.
	// The copies are made in the container's "vol" directory, root's and
	// 0700 while they are made, then its uid's (still 0700): bubblewrap,
	// as that uid, binds them by path, and no other host user reaches
	// them (a copy's mode is the image's, its owner a sandbox uid).
	uidMap, gidMap := volumeOwners(c.uid, un)
	budget := copyup.NewBudget(c.b.copyUpLimit())
	vols := slices.Clone(tmpfs)
	slices.SortStableFunc(vols, func(x, y string) int {
		return strings.Count(filepath.Clean(x), "/") - strings.Count(filepath.Clean(y), "/")
	})
	volDir, volSrc := filepath.Join(c.dir, "vol"), ""
	for i, d := range vols {
		p, _, ok := imageDir(cs.RootFS, d)
		if !ok {
			a = append(a, "--perms", "0755", "--tmpfs", d)
			continue
		}
		if volSrc == "" {
			if err := os.Mkdir(volDir, 0o700); err != nil {
				return nil, err
			}
			src, err := l.source(volDir, "vol", staged)
			if err != nil {
				return nil, err
			}
			volSrc = src
		}
		name := fmt.Sprintf("vol%d", i)
		if err := copyUp(cs.RootFS, d, filepath.Join(volDir, name), uidMap, gidMap, budget); err != nil { // d resolves as p did; errors name d
			return nil, err
		}
		a = append(a, "--bind", volSrc+"/"+name, p)
	}
	if volSrc != "" && c.uid > 0 {
		if err := os.Chown(volDir, c.uid, c.uid); err != nil {
			return nil, err
		}
	}
	_, hostsErr := os.Lstat(filepath.Join(cs.RootFS, "etc", "hosts"))
	if cs.Writable && hostsErr != nil {
		// Nothing to bind over, and no empty /etc/hosts left in the image.
	} else if isDir(filepath.Join(cs.RootFS, "etc")) {
		if hostsErr != nil {
			// No file to bind over: /etc becomes a tmpfs holding the
			// image's entries (bound read-only) and ours.
			a = append(a, "--tmpfs", "/etc")
			etc, err := os.ReadDir(filepath.Join(cs.RootFS, "etc"))
			if err != nil {
				return nil, err
			}
			for _, e := range etc {
				p := "/etc/" + e.Name()
				if e.Type()&os.ModeSymlink != 0 {
					if target, err := os.Readlink(filepath.Join(cs.RootFS, p)); err == nil {
						a = append(a, "--symlink", target, p)
					}
					continue
				}
				a = append(a, "--ro-bind", root+p, p)
			}
		}
		hosts := "127.0.0.1\tlocalhost " + host + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		if len(cs.Hosts) > 0 {
			hosts += "127.0.0.1\t" + strings.Join(cs.Hosts, " ") + "\n"
		}
		f, err := c.writeFile("hosts", []byte(hosts))
		if err != nil {
			return nil, err
		}
		a = append(a, "--ro-bind-data", strconv.Itoa(l.pass(f)), "/etc/hosts")
	}
	jdir, err := l.source(job.dir, "sandbox", staged)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		switch m.Source {
		case "toolcache":
			if job.spec.ToolCache == "" {
				continue
			}
			tc, err := l.source(job.spec.ToolCache, "toolcache", staged)
			if err != nil {
				return nil, err
			}
			a = append(a, "--ro-bind", tc, m.Target)
		case "node":
			if c.nodeDir == "" {
				continue // no node here: the container has none (Layout.Node "")
			}
			src, err := l.source(c.nodeDir, "node", staged)
			if err != nil {
				return nil, err
			}
			a = append(a, "--ro-bind", src, m.Target)
		default:
			op := "--bind"
			if m.ReadOnly {
				op = "--ro-bind"
			}
			a = append(a, op, filepath.Join(jdir, m.Source), m.Target)
		}
	}
	agentPath, err := l.source(c.b.cfg.AgentPath, "agent", staged)
	if err != nil {
		return nil, err
	}
	a = append(a, "--ro-bind", agentPath, guestAgent)
	if !cs.Writable {
		a = append(a, "--remount-ro", "/")
	}
	prog, err := seccompProgram()
	if err != nil {
		return nil, err
	}
	f, err := c.writeFile("seccomp.bpf", prog)
	if err != nil {
		return nil, err
	}
	a = append(a, "--seccomp", strconv.Itoa(l.pass(f)))
	listen, err := listenAgent(c.dir, l)
	if err != nil {
		return nil, err
	}
	return append(a, agentCommand(listen)...), nil
}

// nodeBundle is the bundle of the host's node (the node of a job on this
// backend, whose root is the host's) in the backend's cache, built on first
// use and again when that node or a library it loads changes.
func (b *Backend) nodeBundle(ctx context.Context) (string, error) {
	node, err := nodebundle.HostNode()
	if err != nil {
		return "", err
	}
	return nodebundle.Ensure(ctx, b.cfg.NodeBundleDir, node)
}
