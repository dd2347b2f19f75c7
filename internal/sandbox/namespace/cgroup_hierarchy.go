package namespace

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/mountinfo"
)

// cgroupDriver creates per-sandbox cgroups under this process's own cgroup,
// in whichever hierarchy the host mounts: cgroup v2 when a cgroup2 mount
// offers the memory and pids controllers, else the v1 controller
// hierarchies (memory, pids, cpu, freezer).
type cgroupDriver struct {
	v2    bool
	bases []string // parent dirs of sandbox cgroups: one per v1 controller, or one (v2)
}

// limits are the resource limits of one sandbox.
type limits struct {
	memoryBytes int64
	pids        int
	cpus        int // 0: no CPU limit
}

// v1Controllers are the v1 hierarchies a sandbox joins; freezer is optional.
var v1Controllers = []string{"memory", "pids", "cpu", "freezer"}

// newCgroupDriver finds the hierarchy and creates <own cgroup>/<group>.
func newCgroupDriver(group string) (*cgroupDriver, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	if m, ok := mounts["cgroup2"]; ok && hasControllers(m, "memory", "pids") {
		return newV2Driver(filepath.Join(m, own[""]), group)
	}
	d := &cgroupDriver{}
	for _, c := range v1Controllers {
		m, ok := mounts[c]
		if !ok {
			if c == "freezer" || c == "cpu" {
				continue
			}
			return nil, fmt.Errorf("cgroup: neither cgroup v2 with memory and pids nor the v1 %s controller is mounted", c)
		}
		base := filepath.Join(m, own[c], group)
		if err := os.MkdirAll(base, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		d.bases = append(d.bases, base)
	}
	return d, nil
}

// newV2Driver prepares <own>/<group> with the controllers enabled. The v2
// "no internal processes" rule forbids enabling controllers for children of
// a cgroup holding processes, so this process's cgroup-mates move into a
// leaf <own>/hookci-self first if needed.
func newV2Driver(own, group string) (*cgroupDriver, error) {
	const ctl = "+memory +pids +cpu"
	if err := writeFile(filepath.Join(own, "cgroup.subtree_control"), ctl); err != nil {
		self := filepath.Join(own, "hookci-self")
		if err := os.MkdirAll(self, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		pids, _ := readPids(filepath.Join(own, "cgroup.procs"))
		for _, pid := range pids {
			writeFile(filepath.Join(self, "cgroup.procs"), strconv.Itoa(pid))
		}
		if err := writeFile(filepath.Join(own, "cgroup.subtree_control"), ctl); err != nil {
			return nil, fmt.Errorf("cgroup v2: enabling controllers in %s: %w", own, err)
		}
	}
	base := filepath.Join(own, group)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if err := writeFile(filepath.Join(base, "cgroup.subtree_control"), ctl); err != nil {
		return nil, fmt.Errorf("cgroup v2: enabling controllers in %s: %w", base, err)
	}
	return &cgroupDriver{v2: true, bases: []string{base}}, nil
}

// cgroupMounts maps each v1 controller, and "cgroup2", to its mount point.
func cgroupMounts() (map[string]string, error) {
	ms, err := mountinfo.Read()
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return cgroupMountsOf(ms), nil
}

// cgroupMountsOf picks the cgroup mounts whose mount root is the
// hierarchy's root.
func cgroupMountsOf(ms []mountinfo.Mount) map[string]string {
	m := make(map[string]string)
	for _, mt := range ms {
		if mt.Root != "/" {
			continue
		}
		switch mt.FSType {
		case "cgroup2":
			if _, seen := m["cgroup2"]; !seen {
				m["cgroup2"] = mt.MountPoint
			}
		case "cgroup":
			for _, opt := range mt.SuperOptions {
				if opt != "rw" && opt != "ro" && !strings.Contains(opt, "=") {
					m[opt] = mt.MountPoint
				}
			}
		}
	}
	return m
}

// ownCgroups maps each v1 controller ("" for v2) to this process's cgroup path.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return parseProcCgroup(string(data)), nil
}

// parseProcCgroup parses /proc/<pid>/cgroup.
func parseProcCgroup(data string) map[string]string {
	own := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own
}

func hasControllers(mount string, want ...string) bool {
	data, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		return false
	}
	have := strings.Fields(string(data))
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
