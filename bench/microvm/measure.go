package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/microvm"
)

type backendFunc func(template bool) (b *microvm.Backend, workDir string, err error)

var guestEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/runner"}

// startReady starts a sandbox and waits for Info: the moment a first step
// could run.
func startReady(ctx context.Context, b *microvm.Backend, id string, opts microvm.StartOptions) (*sandbox.Instance, time.Duration, error) {
	t0 := time.Now()
	inst, err := b.StartWith(ctx, sandbox.Spec{ID: id}, opts)
	if err != nil {
		return nil, 0, err
	}
	if _, err := inst.Client.Info(ctx); err != nil {
		inst.Close()
		return nil, 0, err
	}
	return inst, time.Since(t0), nil
}

func benchStarts(ctx context.Context, cfg config, newBackend backendFunc, template bool) error {
	b, _, err := newBackend(template)
	if err != nil {
		return err
	}
	defer b.Close()
	name := "cold boot"
	if template {
		name = "template start"
		inst, d, err := startReady(ctx, b, "build", microvm.StartOptions{})
		if err != nil {
			return err
		}
		inst.Close()
		fmt.Printf("template build (cold boot + save) + first restore: %v\n", d.Round(time.Millisecond))
	}
	var ds []time.Duration
	for i := range cfg.n {
		inst, d, err := startReady(ctx, b, fmt.Sprintf("s%d", i), microvm.StartOptions{})
		if err != nil {
			return err
		}
		inst.Close()
		ds = append(ds, d)
	}
	slices.Sort(ds)
	fmt.Printf("%s until agent Info answers (n=%d, %s): p50 %v  p95 %v  min %v  max %v\n", name, len(ds), cfg.accel,
		percentile(ds, 50).Round(time.Millisecond), percentile(ds, 95).Round(time.Millisecond),
		ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	return nil
}

// benchMemory reports RSS and PSS of idle QEMU processes: three template
// clones side by side, and one cold-booted VM.
func benchMemory(ctx context.Context, newBackend backendFunc) error {
	for _, template := range []bool{true, false} {
		b, wd, err := newBackend(template)
		if err != nil {
			return err
		}
		count, what := 3, "template clone"
		if !template {
			count, what = 1, "cold-booted VM"
		}
		var insts []*sandbox.Instance
		for i := range count {
			inst, _, err := startReady(ctx, b, fmt.Sprintf("m%d", i), microvm.StartOptions{})
			if err != nil {
				return err
			}
			insts = append(insts, inst)
		}
		time.Sleep(3 * time.Second) // idle
		vms, _ := filepath.Glob(filepath.Join(wd, "vms", "*", "qemu.pid"))
		for _, p := range vms {
			raw, _ := os.ReadFile(p)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
			m, err := smapsRollup(pid)
			if err != nil {
				return err
			}
			fmt.Printf("idle %s (%d running): RSS %.1f MiB  PSS %.1f MiB  USS %.1f MiB  anonymous %.1f MiB\n",
				what, count, m["Rss"], m["Pss"], m["Private_Clean"]+m["Private_Dirty"], m["Anonymous"])
		}
		for _, inst := range insts {
			inst.Close()
		}
		b.Close()
	}
	return nil
}

// smapsRollup returns a process's /proc/PID/smaps_rollup fields in MiB.
func smapsRollup(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[2] != "kB" {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		m[strings.TrimSuffix(fields[0], ":")] = kb / 1024
	}
	return m, sc.Err()
}

// benchCPU compares a CPU-bound shell loop inside the guest and on the host.
func benchCPU(ctx context.Context, newBackend backendFunc) error {
	const loop = `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`
	host := time.Duration(1 << 62)
	for range 2 {
		t0 := time.Now()
		if err := exec.Command("bash", "-c", loop).Run(); err != nil {
			return err
		}
		host = min(host, time.Since(t0))
	}
	b, _, err := newBackend(true)
	if err != nil {
		return err
	}
	defer b.Close()
	inst, _, err := startReady(ctx, b, "cpu", microvm.StartOptions{})
	if err != nil {
		return err
	}
	defer inst.Close()
	guest := time.Duration(1 << 62)
	for range 2 {
		t0 := time.Now()
		var out bytes.Buffer
		res, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", loop}, Env: guestEnv}, &out)
		if err != nil || res.ExitCode != 0 {
			return fmt.Errorf("guest loop: %v %+v %s", err, res, out.String())
		}
		guest = min(guest, time.Since(t0))
	}
	fmt.Printf("CPU-bound bash loop (200k iterations): host %v, guest %v: %.1fx\n",
		host.Round(time.Millisecond), guest.Round(time.Millisecond), float64(guest)/float64(host))
	return nil
}

// benchGoBuild times a cold `go build` of hello-world on the host and in a
// VM whose tool cache (9p, read-only) is the directory holding the host's
// Go installation, with a fresh GOCACHE each time.
func benchGoBuild(ctx context.Context, newBackend backendFunc) error {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("no host Go: %w", err)
	}
	root := strings.TrimSpace(string(goroot)) // e.g. /usr/local/go
	src := `mkdir -p /tmp/hello && cd /tmp/hello && printf 'package main\nimport "fmt"\nfunc main() { fmt.Println("hi") }\n' > main.go &&
printf 'module hello\ngo 1.22\n' > go.mod && rm -rf /tmp/gocache && GOCACHE=/tmp/gocache GOFLAGS=-buildvcs=false "$GO" build -o /tmp/hello/hello . && /tmp/hello/hello`
	t0 := time.Now()
	host := exec.Command("bash", "-c", src)
	host.Env = append(os.Environ(), "GO="+root+"/bin/go")
	if out, err := host.CombinedOutput(); err != nil {
		return fmt.Errorf("host go build: %v: %s", err, out)
	}
	hostTime := time.Since(t0)
	b, _, err := newBackend(false)
	if err != nil {
		return err
	}
	defer b.Close()
	spec := sandbox.Spec{ID: "gobuild", ToolCache: filepath.Dir(root)}
	inst, err := b.Start(ctx, spec)
	if err != nil {
		return err
	}
	defer inst.Close()
	guestGo := inst.Layout.ToolCache + "/" + filepath.Base(root) + "/bin/go"
	t0 = time.Now()
	var out bytes.Buffer
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", src},
		Env: append(guestEnv, "GO="+guestGo, "HOME=/home/runner")}, &out)
	if err != nil || res.ExitCode != 0 {
		return fmt.Errorf("guest go build: %v %+v %s", err, res, out.String())
	}
	guestTime := time.Since(t0)
	fmt.Printf("cold go build of hello-world (fresh GOCACHE): host %v, guest %v: %.1fx\n",
		hostTime.Round(time.Millisecond), guestTime.Round(time.Millisecond), float64(guestTime)/float64(hostTime))
	return nil
}
