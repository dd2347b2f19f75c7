package namespace

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Defaults of the host uid range sandboxes run as.
const (
	DefaultUIDBase    = 1_000_000
	DefaultUIDCount   = 65_536
	DefaultUIDLockDir = "/run/hookci-sandbox-uids"
	// DefaultSubUIDBase is where the sandboxes' subordinate ranges start
	// (Config.SubUIDBase): far above every host user and the sandbox uids.
	DefaultSubUIDBase = 1 << 31
)

// subUIDSize is the size of a sandbox's subordinate range: the ids 0-65535
// a container's image may use (65534 is nobody).
const subUIDSize = 65_536

// maxUID is the highest usable id (2^32-1 is the invalid id -1).
const maxUID = 1<<32 - 2

// guestUID is the uid (and gid) the job has inside its user namespace: the
// image's "runner" user (image.RunnerUID), as on GitHub's hosted runners.
const guestUID = 1001

// uidPool hands out host uids from [base, base+count), one per sandbox, so
// that no two sandboxes (of this or any other hookci process on the host)
// ever run as the same uid. A uid is held by an exclusive flock on
// <lockDir>/<uid>, which the kernel releases should the process die; a uid
// some process still runs as (a leftover of a crashed server not reaped
// yet) is skipped.
//
// Sandbox uid base+i also owns the subordinate range [subBase+i*65536,
// +65536): the host ids of the users other than root of a container that
// starts as root (container_userns.go). A slot is skipped while any process
// runs as one of those ids too.
type uidPool struct {
	base, count int
	subBase     int
	lockDir     string
}

// subRange returns the first host id of uid's subordinate range, or an
// error when the range would pass the last usable id.
func (p *uidPool) subRange(uid int) (int, error) {
	s := p.subBase + (uid-p.base)*subUIDSize
	if uid < p.base || uid >= p.base+p.count || s+subUIDSize-1 > maxUID {
		return 0, fmt.Errorf("sandbox uid %d has no subordinate uid range below %d (SubUIDBase %d)", uid, maxUID, p.subBase)
	}
	return s, nil
}

// heldUID is a uid taken from the pool; release gives it back.
type heldUID struct {
	uid  int
	lock *os.File
}

func (h *heldUID) release() {
	if h != nil && h.lock != nil {
		h.lock.Close() // drops the flock
		h.lock = nil
	}
}

func newUIDPool(base, count, subBase int, lockDir string) (*uidPool, error) {
	if base <= 0 || count <= 0 || base+count > 1<<31-2 {
		return nil, fmt.Errorf("uid range %d+%d: want a positive base and count below 2^31", base, count)
	}
	if subBase < base+count && subBase+count*subUIDSize > base || subBase < 65_536 || subBase+subUIDSize-1 > maxUID {
		return nil, fmt.Errorf("subordinate uid base %d: want at least 65536, room for one range of %d below %d, and no overlap with the sandbox uids %d+%d", subBase, subUIDSize, maxUID, base, count)
	}
	if base < 65_536 {
		return nil, fmt.Errorf("uid range base %d: want at least 65536, above every uid a host's users and services use", base)
	}
	if !filepath.IsAbs(lockDir) {
		return nil, fmt.Errorf("uid lock directory %q is not absolute", lockDir)
	}
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("uid lock directory: %w", err)
	}
	return &uidPool{base: base, count: count, subBase: subBase, lockDir: lockDir}, nil
}

// acquire takes the lowest free uid of the range.
func (p *uidPool) acquire() (*heldUID, error) {
	busy := uidsInUse()
	for uid := p.base; uid < p.base+p.count; uid++ {
		if busy[uid] || p.subRangeBusy(uid, busy) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(p.lockDir, strconv.Itoa(uid)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("uid lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &heldUID{uid: uid, lock: f}, nil
		}
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("uid lock %d: %w", uid, err)
		}
	}
	return nil, fmt.Errorf("all %d sandbox uids from %d are in use", p.count, p.base)
}

// subRangeBusy reports whether a process runs as an id of uid's
// subordinate range (a leftover container of a crashed server).
func (p *uidPool) subRangeBusy(uid int, busy map[int]bool) bool {
	s, err := p.subRange(uid)
	if err != nil {
		return false // no range: root containers of this sandbox fail to start
	}
	for id := range busy {
		if id >= s && id < s+subUIDSize {
			return true
		}
	}
	return false
}

// uidsInUse returns every uid (real, effective, saved or filesystem) of a
// process on the host.
func uidsInUse() map[int]bool {
	busy := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				for _, u := range strings.Fields(rest) {
					if n, err := strconv.Atoi(u); err == nil {
						busy[n] = true
					}
				}
				break
			}
		}
		f.Close()
	}
	return busy
}
