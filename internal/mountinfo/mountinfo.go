// Package mountinfo reads /proc/self/mountinfo (proc(5)): the mounts of
// this process's mount namespace, one line each:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
//
// It is the one parser for the cgroup discovery of the namespace sandbox,
// the image cache's unmounting and hookci doctor.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of a mountinfo file. Paths are unescaped.
type Mount struct {
	ID, Parent   int
	Root         string   // the directory of the filesystem mounted here
	MountPoint   string   // where, relative to the process's root
	Options      []string // per-mount options (rw, nosuid, …)
	FSType       string   // e.g. ext4, cgroup2
	Source       string   // e.g. /dev/vda
	SuperOptions []string // per-superblock options (for cgroup v1: the controllers)
}

// Read parses /proc/self/mountinfo.
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads a mountinfo file. Lines that do not have the format are
// skipped; only a read error fails.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if m, ok := parseLine(sc.Text()); ok {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("mountinfo: %w", err)
	}
	return out, nil
}

func parseLine(line string) (Mount, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	fields, pfields := strings.Fields(pre), strings.Fields(post)
	if !ok || len(fields) < 6 || len(pfields) < 3 {
		return Mount{}, false
	}
	id, err1 := strconv.Atoi(fields[0])
	parent, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil {
		return Mount{}, false
	}
	return Mount{
		ID: id, Parent: parent,
		Root: Unescape(fields[3]), MountPoint: Unescape(fields[4]),
		Options: strings.Split(fields[5], ","),
		FSType:  pfields[0], Source: Unescape(pfields[1]),
		SuperOptions: strings.Split(pfields[2], ","),
	}, true
}

// Unescape undoes mountinfo's octal escapes (\040 for a space, \011 tab,
// \012 newline, \134 backslash).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
