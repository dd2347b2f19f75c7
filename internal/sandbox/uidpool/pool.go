// Package uidpool hands out host uids to sandboxes, one per sandbox, from a
// range shared by every backend and every hookci process of a host: a
// namespace sandbox's job and a microVM's QEMU never run as the same uid as
// any other sandbox, so neither can signal, trace or read another's
// processes should it get out of its confinement.
package uidpool

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
	DefaultBase    = 1_000_000
	DefaultCount   = 65_536
	DefaultLockDir = "/run/hookci-sandbox-uids"
	// DefaultSubBase is where the sandboxes' subordinate ranges start:
	// far above every host user and the sandbox uids.
	DefaultSubBase = 1 << 31
)

// SubSize is the size of a sandbox's subordinate range: the ids 0-65535
// a container's image may use (65534 is nobody).
const SubSize = 65_536

// maxUID is the highest usable id (2^32-1 is the invalid id -1).
const maxUID = 1<<32 - 2

// Pool hands out host uids from [base, base+count), one per sandbox, so
// that no two sandboxes (of this or any other hookci process on the host)
// ever run as the same uid. A uid is held by an exclusive flock on
// <lockDir>/<uid>, which the kernel releases should the process die; a uid
// some process still runs as (a leftover of a crashed server not reaped
// yet) is skipped.
//
// Sandbox uid base+i also owns the subordinate range [subBase+i*65536,
// +65536): the host ids of the users other than root of a container that
// starts as root (the namespace backend's container_userns.go). A slot is skipped while any process
// runs as one of those ids too.
type Pool struct {
	base, count int
	subBase     int
	lockDir     string
}

// SubRange returns the first host id of uid's subordinate range, or an
// error when the range would pass the last usable id.
func (p *Pool) SubRange(uid int) (int, error) {
	s := p.subBase + (uid-p.base)*SubSize
	if uid < p.base || uid >= p.base+p.count || s+SubSize-1 > maxUID {
		return 0, fmt.Errorf("sandbox uid %d has no subordinate uid range below %d (SubUIDBase %d)", uid, maxUID, p.subBase)
	}
	return s, nil
}

// Held is a uid taken from the pool; Release gives it back.
type Held struct {
	UID  int
	lock *os.File
}

// Release gives the uid back. Call it once no process runs as the uid any
// more. Safe on nil and more than once.
func (h *Held) Release() {
	if h != nil && h.lock != nil {
		h.lock.Close() // drops the flock
		h.lock = nil
	}
}

// New returns a pool of [base, base+count) whose sandbox uid base+i owns
// the subordinate range [subBase+i*SubSize, +SubSize), held by lock files
// in lockDir, which every hookci process of the host must share.
func New(base, count, subBase int, lockDir string) (*Pool, error) {
	if base <= 0 || count <= 0 || base+count > 1<<31-2 {
		return nil, fmt.Errorf("uid range %d+%d: want a positive base and count below 2^31", base, count)
	}
	if subBase < base+count && subBase+count*SubSize > base || subBase < 65_536 || subBase+SubSize-1 > maxUID {
		return nil, fmt.Errorf("subordinate uid base %d: want at least 65536, room for one range of %d below %d, and no overlap with the sandbox uids %d+%d", subBase, SubSize, maxUID, base, count)
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
	return &Pool{base: base, count: count, subBase: subBase, lockDir: lockDir}, nil
}

// Acquire takes the lowest free uid of the range.
func (p *Pool) Acquire() (*Held, error) {
	busy := InUse()
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
			return &Held{UID: uid, lock: f}, nil
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
func (p *Pool) subRangeBusy(uid int, busy map[int]bool) bool {
	s, err := p.SubRange(uid)
	if err != nil {
		return false // no range: root containers of this sandbox fail to start
	}
	for id := range busy {
		if id >= s && id < s+SubSize {
			return true
		}
	}
	return false
}

// InUse returns every uid (real, effective, saved or filesystem) of a
// process on the host.
func InUse() map[int]bool {
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
