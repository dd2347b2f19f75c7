// Package hw describes the machine a benchmark ran on, for its report.
package hw

import (
	"fmt"
	"os"
	"runtime"
	"strings"
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
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return dir + ": unknown file system"
	}
	var mnt, fstype, source string
	for _, l := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options [optional…] - fstype source super-options
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := f[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(mnt) {
			mnt, fstype, source = mp, g[0], g[1]
		}
	}
	if mnt == "" {
		return dir + ": unknown file system"
	}
	s := fmt.Sprintf("%s: %s on %s (mounted at %s)", dir, fstype, source, mnt)
	if fstype == "ext4" {
		name := source[strings.LastIndex(source, "/")+1:]
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
