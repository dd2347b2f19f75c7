// Package services measures a PostgreSQL service container in a job's
// sandbox, on the namespace and microvm backends: the time from nothing to
// a healthy server with a cold image cache (pull: download, verify,
// unpack; for the microVM the ext4 image too) and with a warm one (the tag
// resolved again, nothing downloaded), split into its phases; the memory
// the service holds once healthy; and the image cache's size on disk.
//
// The image is ocitest's postgres:16 (Debian's PostgreSQL 15 with an
// official-shaped entrypoint) served by Debian's docker-registry on
// loopback through a docker.io mirror entry: nothing comes from the
// internet. The service is started as the runner starts one (image
// ENTRYPOINT+CMD, its env plus POSTGRES_PASSWORD/POSTGRES_DB, its VOLUME a
// tmpfs) and is healthy when `pg_isready -h localhost` succeeds inside it
// (polled every 250 ms, as a `--health-interval 250ms` would). On the
// namespace backend it runs as the image's postgres user (as a non-root
// server must run it: its root entrypoint cannot switch user there); in a microVM as root, like the
// official image under Docker (its entrypoint chowns and drops to
// postgres). As root, with the guest image in HOOKCI_DATA_DIR:
//
//	HOOKCI_DATA_DIR=/var/cache/hookci go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/services
//
// Each iteration measures one cold and one warm start per backend. A
// microVM always cold-boots here (a VM with image disks is never a
// template clone), and without KVM it runs under TCG: the output says
// which.
package services

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/backends"
)

// sample is one service start, phase by phase.
type sample struct {
	pull, ext4, sandbox, healthy, total time.Duration
	pssKiB, tmpfsKiB                    int64 // the service's processes (PSS) and its data volume (tmpfs)
	guestKiB                            int64 // microVM: guest "used" memory added by the service
}

func BenchmarkPostgresService(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (sandboxes, test images)")
	}
	reg := ocitest.Registry(b)
	ocitest.PushImages(b, reg)
	fmt.Println(hw.Describe())
	agentPath := agenttest.Binary(b)
	for _, backend := range []string{"namespace", "microvm"} {
		b.Run(backend, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			cfg.ImageDir = os.Getenv("HOOKCI_DATA_DIR")
			cfg.AgentPath = agentPath
			cfg.Sandbox = backend
			cfg.WarmSandboxes = 0
			cfg.VMTemplate = false
			if err := backends.Available(cfg, backend); err != nil {
				b.Skipf("sandbox %s cannot run here: %v", backend, err)
			}
			set, err := backends.Open(context.Background(), cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer set.Close()
			start, _, err := set.Choose([]string{"ubuntu-latest"}, sandbox.Origin{Repo: "octo/bench"})
			if err != nil {
				b.Fatal(err)
			}
			if backend == "microvm" {
				fmt.Println("microvm accelerator:", accelName())
			}
			var cold, warm []sample
			var cache [3]int64
			i := 0
			for b.Loop() {
				i++
				quiet := oci.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
				st, err := oci.Open(shortDir(b), reg.Mirror(), quiet)
				if err != nil {
					b.Fatal(err)
				}
				for _, phase := range []string{"cold", "warm"} {
					s, err := measure(b, start, st, backend, fmt.Sprintf("svc%d%s", i, phase))
					if err != nil {
						b.Fatalf("%s %s: %v", backend, phase, err)
					}
					fmt.Printf("%s %s: %s\n", backend, phase, s)
					if phase == "cold" {
						cold = append(cold, s)
					} else {
						warm = append(warm, s)
					}
				}
				cache = cacheSize(st.Root())
			}
			fmt.Printf("%s p50 of %d: cold %s | warm %s\n", backend, len(cold), median(cold), median(warm))
			fmt.Printf("%s image cache on disk: layers %.1f MiB, rootfs %.1f MiB, ext4 %.1f MiB (allocated; the ext4 only for the microVM)\n",
				backend, mib(cache[0]), mib(cache[1]), mib(cache[2]))
			m := median(cold)
			b.ReportMetric(float64(m.total.Milliseconds()), "ms-cold")
			b.ReportMetric(float64(median(warm).total.Milliseconds()), "ms-warm")
			b.ReportMetric(float64(m.pssKiB+m.tmpfsKiB)/1024, "MiB-per-service")
		})
	}
}

// measure starts the job's sandbox and a postgres:16 service in it and
// waits until it is healthy.
func measure(b *testing.B, start sandbox.StartFunc, st *oci.Store, backend, id string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var s sample
	t0 := time.Now()
	img, err := st.Pull(ctx, "postgres:16", nil)
	if err != nil {
		return s, err
	}
	s.pull = time.Since(t0)
	spec := sandbox.Spec{ID: id}
	if backend == "microvm" {
		t := time.Now()
		disk, err := img.Ext4(ctx)
		if err != nil {
			return s, err
		}
		s.ext4 = time.Since(t)
		spec.ContainerImages = []sandbox.ContainerImage{{RootFS: img.RootFS,
			Disk: func(context.Context) (string, error) { return disk, nil }}}
	}
	t := time.Now()
	inst, err := start(ctx, spec)
	if err != nil {
		return s, fmt.Errorf("sandbox: %w", err)
	}
	defer inst.Close()
	s.sandbox = time.Since(t)
	before := guestUsed(ctx, inst.Client, backend)
	t = time.Now()
	uid, gid := 0, 0
	if backend != "microvm" {
		uid, gid = lookupUser(img.RootFS, "postgres")
	}
	var tmpfs []string
	tmpfs = append(tmpfs, img.Config.Volumes...)
	ctr, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: "postgres", RootFS: img.RootFS, UID: uid, GID: gid,
		Tmpfs: tmpfs, Hostname: "postgres"})
	if err != nil {
		return s, fmt.Errorf("container: %w", err)
	}
	defer ctr.Close()
	env := append(slices.Clone(img.Config.Env), "POSTGRES_PASSWORD=bench-pw", "POSTGRES_DB=app")
	logs := &lockedBuffer{}
	exited := make(chan error, 1)
	go func() {
		res, err := ctr.Client.Exec(ctx, agent.ExecRequest{Argv: append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...), Env: env, Dir: "/"}, logs)
		if err == nil {
			err = fmt.Errorf("exited with %d", res.ExitCode)
		}
		exited <- err
	}()
	for {
		res, err := ctr.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"pg_isready", "-q", "-h", "localhost", "-U", "postgres"}, Env: env, Dir: "/"}, io.Discard)
		if err != nil {
			return s, fmt.Errorf("health check: %w", err)
		}
		if res.ExitCode == 0 {
			break
		}
		select {
		case err := <-exited:
			return s, fmt.Errorf("postgres %w before it was healthy: %s", err, logs.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
	s.healthy = time.Since(t)
	s.total = time.Since(t0)
	s.pssKiB = atoi(run(ctx, ctr.Client, env, `for p in /proc/[0-9]*; do case "$(cat $p/comm 2>/dev/null)" in sh|cat|awk|mawk) continue;; esac; awk '/^Pss:/{print $2}' $p/smaps_rollup 2>/dev/null; done | awk '{s+=$1} END{print s+0}'`))
	for _, v := range tmpfs {
		s.tmpfsKiB += atoi(run(ctx, ctr.Client, env, "du -sk "+v+" | cut -f1"))
	}
	if before > 0 {
		s.guestKiB = guestUsed(ctx, inst.Client, backend) - before
	}
	return s, nil
}

// guestUsed is the microVM guest's used memory in KiB (0 elsewhere).
func guestUsed(ctx context.Context, c *agent.Client, backend string) int64 {
	if backend != "microvm" {
		return 0
	}
	return atoi(run(ctx, c, nil, "free -k | awk '/Mem:/{print $3}'"))
}

func run(ctx context.Context, c *agent.Client, env []string, cmd string) string {
	var out bytes.Buffer
	if env == nil {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	c.Exec(ctx, agent.ExecRequest{Argv: []string{"/bin/sh", "-c", cmd}, Env: env, Dir: "/"}, &out)
	return strings.TrimSpace(out.String())
}

func (s sample) String() string {
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	out := fmt.Sprintf("total %s (pull %s", r(s.total), r(s.pull))
	if s.ext4 > 0 {
		out += ", ext4 " + r(s.ext4)
	}
	out += fmt.Sprintf(", sandbox start %s, container start to healthy %s); memory %.1f MiB (processes' PSS %.1f + data tmpfs %.1f)",
		r(s.sandbox), r(s.healthy), float64(s.pssKiB+s.tmpfsKiB)/1024, float64(s.pssKiB)/1024, float64(s.tmpfsKiB)/1024)
	if s.guestKiB != 0 {
		out += fmt.Sprintf(", guest used +%.1f MiB", float64(s.guestKiB)/1024)
	}
	return out
}

// median is the sample with the median total (zero when none).
func median(ss []sample) sample {
	if len(ss) == 0 {
		return sample{}
	}
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b sample) int { return int(a.total - b.total) })
	return ss[len(ss)/2]
}

// cacheSize is the allocated size of the store's layers, unpacked root
// filesystems and ext4 images.
func cacheSize(root string) [3]int64 {
	out := [3]int64{usage(filepath.Join(root, "blobs"))}
	imgs, _ := filepath.Glob(filepath.Join(root, "images", "*"))
	for _, d := range imgs {
		out[1] += usage(filepath.Join(d, "rootfs"))
		out[2] += usage(filepath.Join(d, "disk.ext4"))
	}
	return out
}

// usage is the bytes allocated on disk under p (hard links counted per name).
func usage(p string) int64 {
	var n int64
	filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}

// lookupUser finds name's uid and gid in the image's /etc/passwd (999 if absent).
func lookupUser(rootfs, name string) (int, int) {
	data, _ := os.ReadFile(filepath.Join(rootfs, "etc", "passwd"))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) > 3 && f[0] == name {
			return int(atoi(f[2])), int(atoi(f[3]))
		}
	}
	return 999, 999
}

// accelName says whether QEMU can use KVM here (else TCG runs the guests).
func accelName() string {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		return "kvm available (the backend probes it; see its log)"
	}
	return "TCG (no usable /dev/kvm): guest CPU is emulated, figures are far slower than with KVM"
}

// shortDir is a temporary directory with a short path (the microVM's
// sockets live under it).
func shortDir(b *testing.B) string {
	d, err := os.MkdirTemp("", "svc")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64); return n }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// lockedBuffer collects the service's output from the exec goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
