package namespace

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Containers that start as root (issue 12: an image whose entrypoint runs
// as root, chowns its data and switches to a service user with gosu or
// setpriv). When the server runs as root, such a container's user
// namespace maps
//
//	container uid 0              → the job's host uid (it owns the job's
//	                               directories, as the job does)
//	container uids 1-65535       → the sandbox's subordinate range
//	                               [S+1, S+65536) (uidPool.subRange), host
//	                               ids that own nothing on the host
//
// (gids alike), and its root holds rootCaps in that namespace: enough to
// chown, switch users and signal its own processes, and nothing over
// anything else — capabilities in a user namespace apply only to files
// whose owner and group it maps and to the namespaces it owns (the
// container's mount, pid, ipc and uts namespaces; its network namespace
// is the job's and not its own). Host files of root or of other users
// stay out of reach, capabilities or not. Mounts, new user namespaces and
// the rest stay refused by the job's seccomp filter; no_new_privs holds.
//
// bubblewrap cannot write a multi-line map itself; it waits on
// --userns-block-fd while this process, root on the host, writes the
// child's uid_map and gid_map (bubblewrap's --info-fd says the child's pid).
// A container that starts as another user, or any container of a server
// that is not root, keeps bubblewrap's one-line map: its user is the job's
// host uid, and it holds no capability.

// rootCaps are the capabilities a root container's root keeps.
var rootCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"}

// usernsSetup is the host's side of a root container's user namespace.
type usernsSetup struct {
	uid, sub     int      // job's host uid; first id of its subordinate range
	ctrUID       int      // container's uid (and gid) mapped to uid
	ctrGID       int      //
	info, block  *os.File // the host's ends: bubblewrap's info (read), the block (write)
	childInfo    *os.File // bubblewrap's ends, handed down
	childBlock   *os.File //
	infoFD, blFD int      // their numbers in bubblewrap
}

// newUsernsSetup makes the pipes and hands bubblewrap its ends through l.
func newUsernsSetup(uid, sub, ctrUID, ctrGID int, l *launch) (*usernsSetup, error) {
	ir, iw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	br, bw, err := os.Pipe()
	if err != nil {
		ir.Close()
		iw.Close()
		return nil, err
	}
	u := &usernsSetup{uid: uid, sub: sub, ctrUID: ctrUID, ctrGID: ctrGID, info: ir, block: bw, childInfo: iw, childBlock: br}
	u.infoFD, u.blFD = l.pass(iw), l.pass(br)
	return u, nil
}

// args are bubblewrap's user namespace arguments (instead of
// --disable-userns, which bubblewrap refuses with --userns-block-fd).
func (u *usernsSetup) args() []string {
	a := []string{"--userns-block-fd", strconv.Itoa(u.blFD), "--info-fd", strconv.Itoa(u.infoFD), "--cap-drop", "ALL"}
	if u.ctrUID != 0 {
		return a // a build's RUN as another user (USER): no capability, as in Docker
	}
	for _, c := range rootCaps {
		a = append(a, "--cap-add", c)
	}
	return a
}

// idMap is the map of a container whose user id is ctr: ctr → host, every
// other id i of [0, 65536) → sub+i.
func idMap(ctr, host, sub int) string {
	var b strings.Builder
	if ctr >= subUIDSize {
		fmt.Fprintf(&b, "0 %d %d\n%d %d 1\n", sub, subUIDSize, ctr, host)
		return b.String()
	}
	if ctr > 0 {
		fmt.Fprintf(&b, "0 %d %d\n", sub, ctr)
	}
	fmt.Fprintf(&b, "%d %d 1\n", ctr, host)
	if ctr+1 < subUIDSize {
		fmt.Fprintf(&b, "%d %d %d\n", ctr+1, sub+ctr+1, subUIDSize-ctr-1)
	}
	return b.String()
}

// close closes every pipe end (after a failed start; finish closes them too).
func (u *usernsSetup) close() {
	for _, f := range []*os.File{u.info, u.block, u.childInfo, u.childBlock} {
		f.Close()
	}
}

// finish runs once bubblewrap started: it closes the ends handed down,
// reads the child's pid, writes its maps and lets it go on. Any error
// leaves the child blocked; the caller kills the sandbox.
func (u *usernsSetup) finish(timeout time.Duration) error {
	defer u.close()
	u.childInfo.Close()
	u.childBlock.Close()
	u.info.SetReadDeadline(time.Now().Add(timeout))
	var info struct {
		ChildPID int `json:"child-pid"`
	}
	if err := json.NewDecoder(u.info).Decode(&info); err != nil {
		return fmt.Errorf("user namespace: bubblewrap's info: %w", err)
	}
	if info.ChildPID <= 0 {
		return fmt.Errorf("user namespace: bubblewrap's info has no child pid")
	}
	for _, m := range []struct{ file, data string }{
		{"uid_map", idMap(u.ctrUID, u.uid, u.sub)},
		{"gid_map", idMap(u.ctrGID, u.uid, u.sub)},
	} {
		// One write: the kernel takes a map in a single write(2).
		p := fmt.Sprintf("/proc/%d/%s", info.ChildPID, m.file)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("user namespace: %w", err)
		}
		_, err = f.Write([]byte(m.data))
		f.Close()
		if err != nil {
			return fmt.Errorf("user namespace: writing %s %q: %w", p, m.data, err)
		}
	}
	if _, err := u.block.Write([]byte{'1'}); err != nil {
		return fmt.Errorf("user namespace: releasing bubblewrap: %w", err)
	}
	return nil
}
