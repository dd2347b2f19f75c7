package namespace

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// agentSockName is the agent's socket in a sandbox's (or container's)
// directory on the host.
const agentSockName = "agent.sock"

// listenAgent binds the agent's socket at dir/agent.sock on the host, hands
// the listening descriptor down to bubblewrap through l and returns the
// agent's arguments that serve it. The socket file exists only on the host,
// in the root-owned sandbox directory that the sandbox does not see, and is
// the server's alone (0600): no process of the job has a path to it. The
// agent runs non-dumpable (--no-dump), so the job (its uid) cannot reach its
// listener, connection or memory through /proc either.
func listenAgent(dir string, l *launch) ([]string, error) {
	sock := filepath.Join(dir, agentSockName)
	if len(sock) > 107 {
		return nil, fmt.Errorf("socket path %q longer than the 107 bytes a unix socket allows", sock)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the host dials it; it goes with dir
	f, err := ln.File()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	return []string{"--listen", "fd:" + strconv.Itoa(l.pass(f)), "--no-dump"}, nil
}

// agentCommand is the end of bubblewrap's command line: the agent binary
// as the sandbox's PID 1 in its sandbox-init mode (--as-pid-1: no
// bubblewrap reaper), which makes itself non-dumpable, reaps orphans and
// runs the agent proper with the listen arguments. bubblewrap's own reaper
// turns dumpable again before it waits (it calls PR_SET_DUMPABLE 1 when it
// drops its privileges), so the job's uid could write its memory through
// /proc/1/mem and use the host's agent.log it holds open: no process of
// the sandbox but the job's own is dumpable now.
func agentCommand(listen []string) []string {
	return append([]string{"--as-pid-1", "--chdir", "/", guestAgent, "sandbox-init"}, listen...)
}
