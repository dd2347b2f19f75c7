package namespace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroup is one sandbox's cgroup (one directory per v1 hierarchy, or one v2 directory).
type cgroup struct {
	v2   bool
	dirs []string
}

// open returns the cgroup called name without creating it.
func (d *cgroupDriver) open(name string) *cgroup {
	cg := &cgroup{v2: d.v2}
	for _, b := range d.bases {
		cg.dirs = append(cg.dirs, filepath.Join(b, name))
	}
	return cg
}

// names lists the sandbox cgroups that exist.
func (d *cgroupDriver) names() []string {
	seen := map[string]bool{}
	var names []string
	for _, b := range d.bases {
		ents, _ := os.ReadDir(b)
		for _, e := range ents {
			if e.IsDir() && !seen[e.Name()] {
				seen[e.Name()] = true
				names = append(names, e.Name())
			}
		}
	}
	return names
}

// removeParents removes the parent cgroups if no sandbox cgroup is left in
// them (used when a WorkDir is discarded, as in tests).
func (d *cgroupDriver) removeParents() {
	for _, b := range d.bases {
		syscall.Rmdir(b)
	}
}

// create makes the cgroup called name with limits lim.
func (d *cgroupDriver) create(name string, lim limits) (*cgroup, error) {
	cg := d.open(name)
	for _, dir := range cg.dirs {
		if err := os.Mkdir(dir, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	if err := cg.setLimits(lim); err != nil {
		cg.remove()
		return nil, err
	}
	return cg, nil
}

func (cg *cgroup) setLimits(lim limits) error {
	var settings [][2]string // file, value; a file missing from every dir is an error
	if cg.v2 {
		settings = [][2]string{{"memory.max", fmt.Sprint(lim.memoryBytes)}, {"pids.max", fmt.Sprint(lim.pids)}}
		if lim.cpus > 0 {
			settings = append(settings, [2]string{"cpu.max", fmt.Sprintf("%d 100000", lim.cpus*100000)})
		}
	} else {
		settings = [][2]string{{"memory.limit_in_bytes", fmt.Sprint(lim.memoryBytes)}, {"pids.max", fmt.Sprint(lim.pids)}}
		if lim.cpus > 0 {
			settings = append(settings, [2]string{"cpu.cfs_period_us", "100000"}, [2]string{"cpu.cfs_quota_us", fmt.Sprint(lim.cpus * 100000)})
		}
	}
	for _, s := range settings {
		if err := cg.write(s[0], s[1]); err != nil {
			return err
		}
	}
	// No swap beyond the memory limit, where the kernel accounts for it.
	cg.writeOptional("memory.memsw.limit_in_bytes", fmt.Sprint(lim.memoryBytes))
	cg.writeOptional("memory.swap.max", "0")
	return nil
}

// write writes value to file in the one directory that has it.
func (cg *cgroup) write(file, value string) error {
	for _, dir := range cg.dirs {
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err == nil {
			return writeFile(p, value)
		}
	}
	return fmt.Errorf("cgroup: no %s in %v", file, cg.dirs)
}

func (cg *cgroup) writeOptional(file, value string) {
	for _, dir := range cg.dirs {
		writeFile(filepath.Join(dir, file), value)
	}
}

// procsFiles are the files a process writes its pid to in order to join.
func (cg *cgroup) procsFiles() []string {
	var files []string
	for _, dir := range cg.dirs {
		files = append(files, filepath.Join(dir, "cgroup.procs"))
	}
	return files
}

// procs lists the processes in the cgroup.
func (cg *cgroup) procs() []int {
	seen := map[int]bool{}
	var all []int
	for _, f := range cg.procsFiles() {
		pids, _ := readPids(f)
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				all = append(all, p)
			}
		}
	}
	return all
}

// kill SIGKILLs every process in the cgroup, freezing it first where the
// kernel allows so that nothing forks meanwhile, and waits until it is empty.
func (cg *cgroup) kill() error {
	var errs []error
	for _, c := range cg.children() { // a job's containers (container.go)
		errs = append(errs, c.kill())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if cg.v2 && cg.writeIf("cgroup.kill", "1") {
		return cg.waitEmpty()
	}
	// Without cgroup.kill: a few rounds of SIGKILL to what the cgroup
	// lists usually empty it within a millisecond or two (and an empty
	// one at once); only a cgroup still populated after them — a job that
	// forks as fast as it is killed — is frozen first, which takes a few
	// milliseconds even when nothing runs.
	if cg.killRounds() {
		return nil
	}
	cg.freeze(true)
	for _, pid := range cg.procs() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Thawed whether or not the freeze was seen to complete: SIGKILL is
	// delivered on thaw, and a freeze still FREEZING when freeze gave up
	// waiting (a loaded machine) would otherwise hold the kill forever.
	cg.freeze(false)
	return cg.waitEmpty()
}

// killRounds sends SIGKILL to every process of the cgroup until it is empty,
// for about 5 ms, and reports whether it emptied.
func (cg *cgroup) killRounds() bool {
	pause := newBackoff(2 * time.Millisecond)
	for range 6 {
		pids := cg.procs()
		if len(pids) == 0 {
			return true
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		pause()
	}
	return len(cg.procs()) == 0
}

// freeze freezes (or thaws) the cgroup and reports whether it could.
func (cg *cgroup) freeze(on bool) bool {
	file, value, want := "freezer.state", "THAWED", "THAWED"
	if cg.v2 {
		file, value, want = "cgroup.freeze", "0", ""
	}
	if on {
		value, want = "FROZEN", "FROZEN"
		if cg.v2 {
			value = "1"
		}
	}
	if !cg.writeIf(file, value) {
		return false
	}
	if want == "" {
		return true
	}
	pause := newBackoff(5 * time.Millisecond)
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); pause() {
		if cg.read(file) == want {
			return true
		}
	}
	return false
}

// writeIf writes value to file where the file exists, reporting success.
func (cg *cgroup) writeIf(file, value string) bool {
	for _, dir := range cg.dirs {
		if writeFile(filepath.Join(dir, file), value) == nil {
			return true
		}
	}
	return false
}

func (cg *cgroup) read(file string) string {
	for _, dir := range cg.dirs {
		if b, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// waitEmpty waits up to 5 s for the cgroup to have no processes, killing
// stragglers (forked before the freeze took hold) meanwhile.
func (cg *cgroup) waitEmpty() error {
	deadline := time.Now().Add(5 * time.Second)
	pause := newBackoff(10 * time.Millisecond)
	for {
		pids := cg.procs()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %v: processes %v survive SIGKILL", cg.dirs, pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		pause()
	}
}

// newBackoff returns a pause that sleeps 0.25 ms, then twice as long each
// time up to max: what a job's end waits for (a freeze taking hold, killed
// processes gone) usually takes a millisecond or two, and a fixed 5–10 ms
// sleep made every job's end wait that long.
func newBackoff(max time.Duration) func() {
	d := 250 * time.Microsecond
	return func() {
		time.Sleep(d)
		d = min(2*d, max)
	}
}

// remove deletes the cgroup's directories (they must be empty of processes).
func (cg *cgroup) remove() error {
	var errs []error
	for _, c := range cg.children() {
		errs = append(errs, c.remove())
	}
	for _, dir := range cg.dirs {
		var err error
		for range 50 { // the kernel may still be tearing the last task down
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: rmdir %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// memoryPeak reports the highest memory use the kernel recorded, if it does.
func (cg *cgroup) memoryPeak() int64 {
	for _, f := range []string{"memory.max_usage_in_bytes", "memory.peak"} {
		if v, err := strconv.ParseInt(cg.read(f), 10, 64); err == nil {
			return v
		}
	}
	return 0
}

func readPids(file string) ([]int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

func writeFile(path, value string) error {
	return os.WriteFile(path, []byte(value), 0o644)
}

// children are the cgroups inside this one (a job's containers), by name
// across the hierarchies.
func (cg *cgroup) children() []*cgroup {
	byName := map[string]*cgroup{}
	var out []*cgroup
	for _, dir := range cg.dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			c := byName[e.Name()]
			if c == nil {
				c = &cgroup{v2: cg.v2}
				byName[e.Name()] = c
				out = append(out, c)
			}
			c.dirs = append(c.dirs, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
