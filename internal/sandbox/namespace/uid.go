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
)

// guestUID is the uid (and gid) the job has inside its user namespace: the
// image's "runner" user (image.RunnerUID), as on GitHub's hosted runners.
const guestUID = 1001

// uidPool hands out host uids from [base, base+count), one per sandbox, so
// that no two sandboxes (of this or any other hookci process on the host)
// ever run as the same uid. A uid is held by an exclusive flock on
// <lockDir>/<uid>, which the kernel releases should the process die; a uid
// some process still runs as (a leftover of a crashed server not reaped
// yet) is skipped.
type uidPool struct {
	base, count int
	lockDir     string
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

func newUIDPool(base, count int, lockDir string) (*uidPool, error) {
	if base <= 0 || count <= 0 || base+count > 1<<31-2 {
		return nil, fmt.Errorf("uid range %d+%d: want a positive base and count below 2^31", base, count)
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
	return &uidPool{base: base, count: count, lockDir: lockDir}, nil
}

// acquire takes the lowest free uid of the range.
func (p *uidPool) acquire() (*heldUID, error) {
	busy := uidsInUse()
	for uid := p.base; uid < p.base+p.count; uid++ {
		if busy[uid] {
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
