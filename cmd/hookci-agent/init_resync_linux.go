//go:build linux

package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchResync starts watching for the host to write resyncPath and returns
// the loop that applies it each time (for the life of PID 1).
func watchResync(logf func(string, ...any)) (func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("init: inotify: %w", err)
	}
	dir := filepath.Dir(resyncPath)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("init: inotify %s: %w", dir, err)
	}
	return func() { resyncLoop(fd, logf) }, nil
}

func resyncLoop(fd int, logf func(string, ...any)) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			logf("init: inotify read: %v", err)
			return
		}
		if !inotifyNamed(buf[:n], filepath.Base(resyncPath)) {
			continue
		}
		if err := applyResync(logf); err != nil {
			logf("init: %v", err)
			// Answer anyway, so the host fails fast with the reason.
			msg, _ := os.ReadFile(resyncPath)
			os.WriteFile(resyncPath+".done", fmt.Appendf(msg, "ERROR %v\n", err), 0o644)
		}
	}
}

// inotifyNamed reports whether any event in buf names name.
func inotifyNamed(buf []byte, name string) bool {
	for len(buf) >= unix.SizeofInotifyEvent {
		l := int(binary.NativeEndian.Uint32(buf[12:16]))
		end := unix.SizeofInotifyEvent + l
		if end > len(buf) {
			return false
		}
		if strings.TrimRight(string(buf[unix.SizeofInotifyEvent:end]), "\x00") == name {
			return true
		}
		buf = buf[end:]
	}
	return false
}

// applyResync sets the clock and reseeds the RNG from resyncPath, mounts
// the workspace disk if asked ("mount-work" in the optional third field),
// then acknowledges by writing resyncPath+".done" with the same content.
func applyResync(logf func(string, ...any)) error {
	b, err := os.ReadFile(resyncPath)
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 && len(f) != 3 {
		return fmt.Errorf("resync: malformed %q", b)
	}
	nanos, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return fmt.Errorf("resync: time: %w", err)
	}
	seed, err := hex.DecodeString(f[1])
	if err != nil || len(seed) == 0 || len(seed) > 512 {
		return fmt.Errorf("resync: bad seed")
	}
	if d := time.Since(time.Unix(0, nanos)); d > time.Second || d < -time.Second {
		ts := unix.NsecToTimespec(nanos)
		if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
			return fmt.Errorf("resync: set clock: %w", err)
		}
	}
	if err := reseedRNG(seed); err != nil {
		return err
	}
	if len(f) == 3 && strings.Contains(","+f[2]+",", ",mount-work,") {
		if !mountWorkDisk(true, logf) {
			return fmt.Errorf("resync: no workspace disk could be mounted")
		}
	}
	return os.WriteFile(resyncPath+".done", b, 0o644)
}

// reseedRNG credits seed to the kernel's entropy pool and forces the CRNG to
// reseed now, so clones of one snapshot stop sharing their random stream.
func reseedRNG(seed []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	info := make([]byte, 8+len(seed)+3)
	binary.NativeEndian.PutUint32(info[0:], uint32(len(seed)*8))
	binary.NativeEndian.PutUint32(info[4:], uint32(len(seed)))
	copy(info[8:], seed)
	fd := f.Fd()
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&info[0]))); e != 0 {
		return fmt.Errorf("resync: RNDADDENTROPY: %w", e)
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, unix.RNDRESEEDCRNG, 0); e != 0 {
		return fmt.Errorf("resync: RNDRESEEDCRNG: %w", e)
	}
	return nil
}
