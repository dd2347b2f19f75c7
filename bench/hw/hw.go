// Package hw describes the machine a benchmark ran on, for its report.
package hw

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/hookci/hookci/internal/mountinfo"
)

// Describe returns "N cores, <cpu model>, <memory>, <kernel>".
func Describe() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					model = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores, %s%s%s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version())
}

// FileSystem describes the file system holding dir: "/tmp: ext4 on
// /dev/vda (mounted at /)", and for ext4 whether it has a journal. Without
// one, ext4 does not reuse an inode freed in the last ~35 s and walks past
// every such inode on each allocation, so a loop that makes and deletes
// many files slows down the faster it runs (bench/README.md, "thirteenth
// session"): a figure taken there depends on what ran just before.
func FileSystem(dir string) string {
	mounts, err := mountinfo.Read()
	if err != nil {
		return dir + ": unknown file system"
	}
	var m *mountinfo.Mount
	for i, c := range mounts {
		mp := c.MountPoint
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && (m == nil || len(mp) >= len(m.MountPoint)) {
			m = &mounts[i]
		}
	}
	if m == nil {
		return dir + ": unknown file system"
	}
	s := fmt.Sprintf("%s: %s on %s (mounted at %s)", dir, m.FSType, m.Source, m.MountPoint)
	if m.FSType == "ext4" {
		name := m.Source[strings.LastIndex(m.Source, "/")+1:]
		if j, err := os.ReadFile("/sys/fs/ext4/" + name + "/journal_task"); err == nil {
			if strings.TrimSpace(string(j)) == "<none>" {
				s += ", NO JOURNAL: inode allocation slows with recent deletions, figures drift with what ran before"
			} else {
				s += ", journaled"
			}
		}
	}
	return s
}
