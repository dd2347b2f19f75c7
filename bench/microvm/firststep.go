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
	b, _, err := newBackend(true)
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
		inst, err := b.StartWith(tctx, sandbox.Spec{ID: fmt.Sprintf("f%d", i)}, microvm.StartOptions{})
		if err != nil {
			return err
		}
		add("start (restore → agent ready)", time.Since(t0))
		got, _ := trace.Read(&spans)
		for _, s := range got {
			add("  "+s.Name, s.Dur)
		}
		err = firstStepOps(ctx, inst, ws, files, add)
		inst.Close()
		if err != nil {
			return err
		}
	}
	fmt.Printf("first step on a template clone (n=%d, %s, load average %s): median\n", cfg.n, cfg.accel, loadAvg())
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
func firstStepOps(ctx context.Context, inst *sandbox.Instance, ws []byte, files int, add func(string, time.Duration)) error {
	l := inst.Layout
	t0 := time.Now()
	if err := inst.Client.PutFiles(ctx, l.Workspace, bytes.NewReader(ws)); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	add(fmt.Sprintf("workspace tar (checkout, %d entries)", files), time.Since(t0))
	t0 = time.Now()
	if err := inst.Client.PutFiles(ctx, "/tmp/ws2", bytes.NewReader(ws)); err != nil {
		return fmt.Errorf("workspace into /tmp: %w", err)
	}
	add("same tar again, into /tmp (tmpfs)", time.Since(t0))
	t0 = time.Now()
	if err := inst.Client.PutFiles(ctx, l.Temp, tarOf(map[string]string{
		"_github_workflow/event.json": "{}", "_runner_file_commands/.keep": ""})); err != nil {
		return fmt.Errorf("event files: %w", err)
	}
	add("event files", time.Since(t0))
	for _, name := range []string{"step 1 (bash -e script)", "step 2 (same, warm guest)"} {
		cmds := l.Temp + "/_runner_file_commands/"
		req := agent.ExecRequest{Argv: []string{"bash", "-e", l.Temp + "/s.sh"}, Env: append(guestEnv, "GITHUB_ENV="+cmds+"env"),
			Dir: l.Workspace, Files: []agent.FileSpec{{Path: l.Temp + "/s.sh", Data: []byte("echo first step\n"), Mode: 0o755},
				{Path: cmds + "env", Mode: 0o644}, {Path: cmds + "output", Mode: 0o644}},
			Collect: []string{cmds + "env", cmds + "output"}}
		t0 = time.Now()
		var out bytes.Buffer
		res, err := inst.Client.Exec(ctx, req, &out)
		if err != nil || res.ExitCode != 0 {
			return fmt.Errorf("%s: exit %d, %v: %s", name, res.ExitCode, err, out.String())
		}
		add(name, time.Since(t0))
	}
	for _, argv := range [][]string{{"/bin/true"}, {"bash", "-c", "true"}} {
		t0 = time.Now()
		if _, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: argv, Env: guestEnv, Dir: "/"}, io.Discard); err != nil {
			return err
		}
		add(fmt.Sprintf("exec %q (no files)", argv), time.Since(t0))
	}
	t0 = time.Now()
	if err := inst.Client.PutFiles(ctx, l.Temp+"/one", tarOf(map[string]string{"big": strings.Repeat("x", len(ws))})); err != nil {
		return err
	}
	add(fmt.Sprintf("one file of %d KiB as a tar", len(ws)>>10), time.Since(t0))
	t0 = time.Now()
	if _, err := inst.Client.Info(ctx); err != nil {
		return err
	}
	add("info round trip", time.Since(t0))
	for k := range 3 {
		t0 = time.Now()
		if _, err := inst.Client.Info(ctx); err != nil {
			return err
		}
		add(fmt.Sprintf("info round trip, again #%d", k+1), time.Since(t0))
	}
	return nil
}

// checkoutTar is what the dispatcher sends for a small repository: a tar
// of a shallow checkout (`git init`, fetch --depth=1, checkout), .git included.
func checkoutTar(ctx context.Context, dir string) ([]byte, int, error) {
	src, co := filepath.Join(dir, "ws-src"), filepath.Join(dir, "ws-co")
	script := `set -e
git init -q "$1"; cd "$1"; mkdir -p .github/workflows
printf 'on: push\njobs: {}\n' > .github/workflows/ci.yml; echo hello > README.md
git add -A; git -c user.name=b -c user.email=b@example.com commit -qm first
git init -q "$2"; cd "$2"; git fetch -q --depth=1 "file://$1" HEAD; git checkout -q FETCH_HEAD`
	if out, err := exec.CommandContext(ctx, "bash", "-c", script, "checkout", src, co).CombinedOutput(); err != nil {
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
