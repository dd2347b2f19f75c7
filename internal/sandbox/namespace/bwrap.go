package namespace

import (
	"os"
	"path/filepath"

	"github.com/hookci/hookci/internal/sandbox"
)

// hostRootEntries are the host's top-level entries that make up the
// sandbox's root when Config.RootFS is empty; symlinks (merged /usr) are
// recreated as symlinks, directories bound read-only.
var hostRootEntries = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// maskedHostFiles are hidden (bound to /dev/null or an empty tmpfs) when the
// host's /etc is the sandbox's: the job runs as uid 0 and could read them.
var (
	maskedHostFiles = []string{"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers"}
	maskedHostDirs  = []string{"/etc/ssh", "/etc/ssl/private", "/etc/hookci", "/etc/sudoers.d"}
)

// bwrapArgs builds bubblewrap's command line for the sandbox.
func (s *sbox) bwrapArgs(spec sandbox.Spec) []string {
	a := []string{
		"--die-with-parent", "--new-session",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "hookci",
	}
	if !spec.Network {
		a = append(a, "--unshare-net")
	}
	if os.Geteuid() != 0 {
		// Unprivileged bubblewrap needs a user namespace for the others.
		a = append(a, "--unshare-user")
	}
	a = append(a, s.rootArgs()...)
	a = append(a,
		"--proc", "/proc",
		"--dev", "/dev",
		"--tmpfs", "/tmp",
		"--tmpfs", "/run",
		"--tmpfs", "/home",
		"--bind", filepath.Join(s.dir, "home"), guestHome,
		"--bind", filepath.Join(s.dir, "workspace"), guestWork,
		"--bind", filepath.Join(s.dir, "temp"), guestTemp,
		"--bind", filepath.Join(s.dir, "sock"), guestSockDir,
		"--ro-bind", s.b.cfg.AgentPath, guestAgent,
	)
	if spec.ToolCache != "" {
		if s.b.cfg.RootFS != "" && !isDir(filepath.Join(s.b.cfg.RootFS, guestToolCache)) {
			a = append(a, "--tmpfs", "/opt") // a mount point is needed in the read-only root
		}
		a = append(a, "--ro-bind", spec.ToolCache, guestToolCache)
	}
	if s.b.cfg.RootFS == "" {
		a = append(a, "--remount-ro", "/")
	}
	return append(a, "--chdir", "/", guestAgent, "--listen", "unix:"+guestSockDir+"/agent.sock")
}

// rootArgs mounts the root filesystem read-only.
func (s *sbox) rootArgs() []string {
	if s.b.cfg.RootFS != "" {
		return []string{"--ro-bind", s.b.cfg.RootFS, "/"}
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
	return a
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
