package namespace

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/sandbox"
)

// hostRootEntries are the host's top-level entries that make up the
// sandbox's root when Config.RootFS is empty; symlinks (merged /usr) are
// recreated as symlinks, directories bound read-only.
var hostRootEntries = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// maskedHostFiles are hidden (bound to /dev/null or an empty tmpfs) when the
// host's /etc is the sandbox's. The job's uid could not read most of them
// anyway; hiding them does not depend on the host's modes.
var (
	maskedHostFiles = []string{"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers"}
	maskedHostDirs  = []string{"/etc/ssh", "/etc/ssl/private", "/etc/hookci", "/etc/sudoers.d"}
)

// stageDir is where, in the private mount namespace bubblewrap starts in,
// the host directories the sandbox binds and the sandbox's uid could not
// reach (a parent not searchable by others: the data directory is 0700)
// are bound first, by root. It hides the host's /run from bubblewrap only.
const stageDir = "/run"

// The gate shell (dash: one-digit descriptors) opens the staged sources as
// descriptors firstStageFD.. before stageDir is covered; what bubblewrap
// reads is handed down from firstPassFD on.
const (
	firstStageFD = 3
	maxStages    = 7
	firstPassFD  = firstStageFD + maxStages
)

// launch is what starting one sandbox's bubblewrap needs besides its
// arguments: descriptors handed down and the staging binds to make.
type launch struct {
	files  []*os.File // ExtraFiles: descriptor 3+i
	stages []stage
}

// stage binds host path at stageDir/name. A path under stageDir itself
// (hidden once stageDir is covered) is opened before and bound from its
// descriptor; any other is bound by path, so that a file replaced by a
// rename meanwhile (a rebuilt agent) is bound as it is now.
type stage struct {
	name, path string
	dir        bool
}

func (s stage) early() bool {
	return s.path == stageDir || strings.HasPrefix(s.path, stageDir+"/")
}

func (s stage) fd(i int) int { return firstStageFD + i }

func (s stage) env() string { return "HOOKCI_STAGE_" + s.name }

// pass hands f down and returns its descriptor number in the child.
func (l *launch) pass(f *os.File) int {
	if len(l.files) < firstPassFD-3 {
		l.files = make([]*os.File, firstPassFD-3) // closed in the child
	}
	l.files = append(l.files, f)
	return 2 + len(l.files)
}

// source returns the path bubblewrap binds host path p from: p itself
// when others may reach it (or nothing is staged: an unprivileged server),
// else stageDir/name, bound there by the gate.
func (l *launch) source(p, name string, staged bool) (string, error) {
	if !staged {
		return p, nil
	}
	p, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if searchable(filepath.Dir(p)) {
		return p, nil
	}
	if len(l.stages) == maxStages {
		return "", fmt.Errorf("more than %d host paths to bind", maxStages)
	}
	l.stages = append(l.stages, stage{name: name, path: p, dir: fi.IsDir()})
	return stageDir + "/" + name, nil
}

// searchable reports whether dir and every directory above it may be
// searched by others (mode o+x), so that a sandbox's uid reaches what is in it.
func searchable(dir string) bool {
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// env is the gate shell's environment.
func (l *launch) env() []string {
	var env []string
	for _, s := range l.stages {
		env = append(env, s.env()+"="+s.path)
	}
	return env
}

func (l *launch) close() {
	for _, f := range l.files {
		if f != nil {
			f.Close()
		}
	}
}

// gateScript is the shell that starts bubblewrap: it joins the cgroup (so
// every process of the sandbox is limited from its first instruction),
// makes the staging binds in its private mount namespace, closes their
// descriptors (the sandbox must not inherit a handle on a host directory)
// and, when uid > 0, drops to uid with no groups and no capabilities before
// executing bubblewrap.
func (l *launch) gateScript(uid int) string {
	var b strings.Builder
	b.WriteString(`IFS=:; for f in $HOOKCI_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; unset HOOKCI_CGROUP_PROCS IFS` + "\n")
	for i, s := range l.stages {
		if s.early() {
			fmt.Fprintf(&b, `exec %d<"$%s" || exit 125`+"\n", s.fd(i), s.env())
		}
	}
	if len(l.stages) > 0 {
		fmt.Fprintf(&b, "mount -n -t tmpfs -o mode=0755,size=64k hookci-stage %s || exit 125\n", stageDir)
	}
	for i, s := range l.stages {
		target := stageDir + "/" + s.name
		mk := "mkdir " + target
		if !s.dir {
			mk = ": > " + target
		}
		if s.early() {
			fmt.Fprintf(&b, "%s && mount -n -c --bind /proc/self/fd/%d %s && exec %d<&- || exit 125\n", mk, s.fd(i), target, s.fd(i))
		} else {
			fmt.Fprintf(&b, `%s && mount -n --bind "$%s" %s || exit 125`+"\n", mk, s.env(), target)
		}
		fmt.Fprintf(&b, "unset %s\n", s.env())
	}
	if uid > 0 {
		fmt.Fprintf(&b, `exec setpriv --reuid=%d --regid=%d --clear-groups --bounding-set=-all --inh-caps=-all -- "$@"`, uid, uid)
	} else {
		b.WriteString(`exec "$@"`)
	}
	return b.String()
}

// bwrapArgs builds bubblewrap's command line for the sandbox, adding what it
// hands down to l. Host paths are staged when the sandbox runs as a uid of
// its own (s.uid > 0).
func (s *sbox) bwrapArgs(spec sandbox.Spec, l *launch) ([]string, error) {
	staged := s.uid > 0
	a := []string{
		"--die-with-parent", "--new-session",
		// The job's uid in its own user namespace: s.uid on the host, which
		// owns nothing of the host's; no capabilities (bounding set too),
		// no further user namespaces.
		"--unshare-user", "--uid", strconv.Itoa(guestUID), "--gid", strconv.Itoa(guestUID),
		"--disable-userns", "--cap-drop", "ALL",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "hookci",
	}
	// With egress bwrap is started inside the job's own network namespace
	// (netjail, entered by startBwrap). It belongs to the initial user
	// namespace, where the job has no capability: it can neither rewrite
	// its firewall, addresses and routes nor send raw packets past it.
	if !spec.Network {
		a = append(a, "--unshare-net")
	}
	root, err := s.rootArgs(l, staged)
	if err != nil {
		return nil, err
	}
	a = append(a, root...)
	a = append(a,
		"--proc", "/proc",
		// Kernel settings: read-only whatever the job's uid could write.
		"--ro-bind", "/proc/sys", "/proc/sys",
		"--dev", "/dev",
		"--tmpfs", "/tmp",
		"--tmpfs", "/run",
		"--tmpfs", "/home",
	)
	// The sandbox's directory (0711) holds the job's; staged once if its
	// parents keep the sandbox's uid out.
	sdir, err := l.source(s.dir, "sandbox", staged)
	if err != nil {
		return nil, err
	}
	a = append(a,
		"--bind", filepath.Join(sdir, "home"), guestHome,
		"--bind", filepath.Join(sdir, "workspace"), guestWork,
		"--bind", filepath.Join(sdir, "temp"), guestTemp,
	)
	agent, err := l.source(s.b.cfg.AgentPath, "agent", staged)
	if err != nil {
		return nil, err
	}
	a = append(a, "--ro-bind", agent, guestAgent)
	if spec.ToolCache != "" {
		if s.b.cfg.RootFS != "" && !isDir(filepath.Join(s.b.cfg.RootFS, guestToolCache)) {
			a = append(a, "--tmpfs", "/opt") // a mount point is needed in the read-only root
		}
		tc, err := l.source(spec.ToolCache, "toolcache", staged)
		if err != nil {
			return nil, err
		}
		a = append(a, "--ro-bind", tc, guestToolCache)
	}
	if s.b.cfg.RootFS == "" {
		a = append(a, "--remount-ro", "/")
	}
	prog, err := seccompProgram()
	if err != nil {
		return nil, err
	}
	f, err := s.writeFile("seccomp.bpf", prog)
	if err != nil {
		return nil, err
	}
	a = append(a, "--seccomp", strconv.Itoa(l.pass(f)))
	listen, err := listenAgent(s.dir, l)
	if err != nil {
		return nil, err
	}
	return append(a, agentCommand(listen)...), nil
}

// rootArgs mounts the root filesystem read-only.
func (s *sbox) rootArgs(l *launch, staged bool) ([]string, error) {
	if s.b.cfg.RootFS != "" {
		src, err := l.source(s.b.cfg.RootFS, "rootfs", staged)
		if err != nil {
			return nil, err
		}
		return []string{"--ro-bind", src, "/"}, nil
	}
	var a []string
	for _, p := range hostRootEntries {
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(p); err == nil {
				a = append(a, "--symlink", target, p)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", p, p)
		}
	}
	for _, f := range maskedHostFiles {
		if _, err := os.Lstat(f); err == nil {
			a = append(a, "--ro-bind", "/dev/null", f)
		}
	}
	for _, d := range maskedHostDirs {
		if isDir(d) {
			a = append(a, "--tmpfs", d)
		}
	}
	// The host's users and groups, plus the job's "runner" where the host
	// has no user of its uid, so that whoami, ssh or git know the job's user.
	for _, db := range []struct{ file, line string }{
		{"/etc/passwd", fmt.Sprintf("runner:x:%d:%d:runner:%s:/bin/bash", guestUID, guestUID, guestHome)},
		{"/etc/group", fmt.Sprintf("runner:x:%d:", guestUID)},
	} {
		data, err := os.ReadFile(db.file)
		if err != nil || hasID(data, guestUID) {
			continue
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		f, err := s.writeFile(filepath.Base(db.file), append(data, db.line+"\n"...))
		if err != nil {
			return nil, err
		}
		a = append(a, "--ro-bind-data", strconv.Itoa(l.pass(f)), db.file)
	}
	return a, nil
}

// hasID reports whether a passwd or group file has an entry with id in
// its third field.
func hasID(data []byte, id int) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Split(sc.Text(), ":"); len(f) > 2 && f[2] == strconv.Itoa(id) {
			return true
		}
	}
	return false
}

// writeFile writes data to name in the sandbox's (root-only) directory and
// returns it open for reading, to hand to bubblewrap.
func (s *sbox) writeFile(name string, data []byte) (*os.File, error) {
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return nil, err
	}
	return os.Open(p)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
