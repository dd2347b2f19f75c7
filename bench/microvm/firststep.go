package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/microvm"
	"github.com/hookci/hookci/internal/trace"
)

// benchFirstStep times, on VMs restored from a template, what stands
// between a warm VM and a job's first step as the runner does it: the
// start (restore, agent handshake, resync; the backend's own spans), the
// workspace (a small commit as a tar through the agent, as for a checkout
// under workspace_disk_mib), the event files, then a `run:` step (script
// and GITHUB_* files in one exec) twice: the first step and a second one
// in the same VM, whose difference is what a cold guest costs.
func benchFirstStep(ctx context.Context, cfg config, dir string, newBackend backendFunc) error {
	b, wd, err := newBackend(true)
	if err != nil {
		return err
	}
	defer b.Close()
	inst, _, err := startReady(ctx, b, "build", microvm.StartOptions{})
	if err != nil {
		return err
	}
	inst.Close()
	ws, files, err := checkoutTar(ctx, dir)
	if err != nil {
		return err
	}
	packed, packedFiles, err := checkoutTar(ctx, dir, "-c", "fetch.unpackLimit=1")
	if err != nil {
		return err
	}
	phases := map[string][]time.Duration{}
	var order []string
	add := func(name string, d time.Duration) {
		if _, ok := phases[name]; !ok {
			order = append(order, name)
		}
		phases[name] = append(phases[name], d)
	}
	for i := range cfg.n {
		var spans bytes.Buffer
		tctx := trace.NewContext(ctx, trace.New(&spans))
		t0 := time.Now()
		id := fmt.Sprintf("f%d", i)
		inst, err := b.StartWith(tctx, sandbox.Spec{ID: id}, microvm.StartOptions{})
		if err != nil {
			return err
		}
		add("start (restore → agent ready)", time.Since(t0))
		got, _ := trace.Read(&spans)
		for _, s := range got {
			add("  "+s.Name, s.Dur)
		}
		err = firstStepOps(ctx, inst, ws, files, packed, packedFiles, i%2 == 1, add, func() time.Duration { return qemuCPU(filepath.Join(wd, "vms", id, "qemu.pid")) })
		inst.Close()
		if err != nil {
			return err
		}
	}
	fmt.Printf("first step on a template clone (n=%d each, %s, load average %s): median\n", cfg.n, strings.ToUpper(cfg.accel), loadAvg())
	for _, name := range order {
		ds := phases[name]
		slices.Sort(ds)
		fmt.Printf("  %-44s %8v  (min %v, max %v)\n", name, percentile(ds, 50).Round(time.Millisecond),
			ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	return nil
}

// firstStepOps does what the runner's "Set up job" and a first `run:` step
// do with the agent, timing each.
func firstStepOps(ctx context.Context, inst *sandbox.Instance, ws []byte, files int, packed []byte, packedFiles int, shipped bool, add func(string, time.Duration), cpu func() time.Duration) error {
	var c0 time.Duration
	lap := func(name string, t0 time.Time) {
		add(name, time.Since(t0))
		add(name+" [QEMU CPU]", cpu()-c0)
	}
	l := inst.Layout
	// The job's tar is the clone's first: alternate clones get the old
	// checkout shape (loose objects, sample hooks) and the shipped one.
	first, firstName := ws, fmt.Sprintf("workspace tar, first (old shape: %d entries, %d KiB)", files, len(ws)>>10)
	if shipped {
		sw, n := withoutHookSamples(packed)
		first, firstName = sw, fmt.Sprintf("workspace tar, first (as shipped: %d entries, %d KiB)", n, len(sw)>>10)
	}
	t0 := time.Now()
	c0 = cpu()
	if err := inst.Client.PutFiles(ctx, l.Workspace, bytes.NewReader(first)); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	lap(firstName, t0)
	t0, c0 = time.Now(), cpu()
	if err := inst.Client.PutFiles(ctx, "/tmp/ws2", bytes.NewReader(ws)); err != nil {
		return fmt.Errorf("workspace into /tmp: %w", err)
	}
	lap("same tar again, into /tmp (tmpfs)", t0)
	t0 = time.Now()
	c0 = cpu()
	if err := inst.Client.PutFiles(ctx, "/tmp/ws4", bytes.NewReader(packed)); err != nil {
		return fmt.Errorf("packed workspace into /tmp: %w", err)
	}
	lap(fmt.Sprintf("same commit, objects one pack (%d entries, %d KiB), /tmp", packedFiles, len(packed)>>10), t0)
	both, bothFiles := withoutHookSamples(packed)
	t0 = time.Now()
	c0 = cpu()
	if err := inst.Client.PutFiles(ctx, "/tmp/ws5", bytes.NewReader(both)); err != nil {
		return fmt.Errorf("packed slim workspace into /tmp: %w", err)
	}
	lap(fmt.Sprintf("one pack and no sample hooks, as now (%d entries, %d KiB), /tmp", bothFiles, len(both)>>10), t0)
	slim, slimFiles := withoutHookSamples(ws)
	t0 = time.Now()
	c0 = cpu()
	if err := inst.Client.PutFiles(ctx, "/tmp/ws3", bytes.NewReader(slim)); err != nil {
		return fmt.Errorf("slim workspace into /tmp: %w", err)
	}
	lap(fmt.Sprintf("same without .git/hooks/*.sample (%d entries, %d KiB), /tmp", slimFiles, len(slim)>>10), t0)
	t0, c0 = time.Now(), cpu()
	if err := inst.Client.PutFiles(ctx, l.Temp, tarOf(map[string]string{
		"_github_workflow/event.json": "{}", "_runner_file_commands/.keep": ""})); err != nil {
		return fmt.Errorf("event files: %w", err)
	}
	lap("event files", t0)
	for _, name := range []string{"step 1 (bash -e script)", "step 2 (same, warm guest)"} {
		cmds := l.Temp + "/_runner_file_commands/"
		req := agent.ExecRequest{Argv: []string{"bash", "-e", l.Temp + "/s.sh"}, Env: append(guestEnv, "GITHUB_ENV="+cmds+"env"),
			Dir: l.Workspace, Files: []agent.FileSpec{{Path: l.Temp + "/s.sh", Data: []byte("echo first step\n"), Mode: 0o755},
				{Path: cmds + "env", Mode: 0o644}, {Path: cmds + "output", Mode: 0o644}},
			Collect: []string{cmds + "env", cmds + "output"}}
		t0, c0 = time.Now(), cpu()
		var out bytes.Buffer
		res, err := inst.Client.Exec(ctx, req, &out)
		if err != nil || res.ExitCode != 0 {
			return fmt.Errorf("%s: exit %d, %v: %s", name, res.ExitCode, err, out.String())
		}
		lap(name, t0)
	}
	for _, argv := range [][]string{{"/bin/true"}, {"bash", "-c", "true"}} {
		t0, c0 = time.Now(), cpu()
		if _, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: argv, Env: guestEnv, Dir: "/"}, io.Discard); err != nil {
			return err
		}
		lap(fmt.Sprintf("exec %q (no files)", argv), t0)
	}
	t0, c0 = time.Now(), cpu()
	if err := inst.Client.PutFiles(ctx, l.Temp+"/one", tarOf(map[string]string{"big": strings.Repeat("x", len(ws))})); err != nil {
		return err
	}
	lap(fmt.Sprintf("one file of %d KiB as a tar", len(ws)>>10), t0)
	t0, c0 = time.Now(), cpu()
	if _, err := inst.Client.Info(ctx); err != nil {
		return err
	}
	lap("info round trip", t0)
	for k := range 3 {
		t0, c0 = time.Now(), cpu()
		if _, err := inst.Client.Info(ctx); err != nil {
			return err
		}
		lap(fmt.Sprintf("info round trip, again #%d", k+1), t0)
	}
	return nil
}

// checkoutTar is what the dispatcher sends for a small repository: a tar
// of a shallow checkout (`git init`, fetch --depth=1, checkout), .git
// included, made with the fetch options given (gitrepo.Checkout's are
// -c fetch.unpackLimit=1: the objects stay one pack).
func checkoutTar(ctx context.Context, dir string, fetchOpts ...string) ([]byte, int, error) {
	src, co := filepath.Join(dir, "ws-src"), filepath.Join(dir, "ws-co")
	os.RemoveAll(src)
	os.RemoveAll(co)
	script := `set -e
src=$1 co=$2; shift 2
git init -q "$src"; cd "$src"; mkdir -p .github/workflows
printf 'on: push\njobs: {}\n' > .github/workflows/ci.yml; echo hello > README.md
git add -A; git -c user.name=b -c user.email=b@example.com commit -qm first
git init -q "$co"; cd "$co"; git "$@" fetch -q --depth=1 "file://$src" HEAD; git checkout -q FETCH_HEAD`
	args := append([]string{"-c", script, "checkout", src, co}, fetchOpts...)
	if len(fetchOpts) == 0 {
		args = append(args, "-c", "core.bare=false") // a no-op option: git needs something before fetch
	}
	if out, err := exec.CommandContext(ctx, "bash", args...).CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("making the checkout: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, "tar", "-C", co, "-cf", "-", ".").Output()
	if err != nil {
		return nil, 0, fmt.Errorf("tar: %w", err)
	}
	n := 0
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		if _, err := tr.Next(); err != nil {
			break
		}
		n++
	}
	return out, n, nil
}

func tarOf(files map[string]string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	return &buf
}

// loadAvg returns the 1-minute load average ("?" when unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := bytes.Fields(b); len(f) > 0 {
		return string(f[0])
	}
	return "?"
}

// qemuCPU is the CPU time all threads of the QEMU whose pid file is given
// have used (0 when unknown): under TCG the guest's work, less sensitive to
// the host's load than wall time.
func qemuCPU(pidFile string) time.Duration {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	tasks, _ := filepath.Glob(filepath.Join("/proc", strings.TrimSpace(string(b)), "task", "*", "schedstat"))
	var sum time.Duration
	for _, t := range tasks {
		st, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		var ns int64
		fmt.Sscan(string(st), &ns)
		sum += time.Duration(ns)
	}
	return sum
}

// withoutHookSamples is the tar ws less git's sample hooks (what a `git
// init` with a template directory without them would give), and its entry
// count: what leaving them out of a checkout would save.
func withoutHookSamples(ws []byte) ([]byte, int) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(ws))
	n := 0
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if m, _ := filepath.Match("./.git/hooks/*.sample", h.Name); m {
			continue
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
		n++
	}
	tw.Close()
	return buf.Bytes(), n
}
