package namespace

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// BenchmarkPostgresService measures a PostgreSQL service in a job's
// sandbox: from asking for the container to pg_isready answering (initdb
// into a fresh tmpfs volume included), and the service's memory once
// healthy (its cgroup's usage: server, page cache of its tmpfs data).
// The image is the host's PostgreSQL (/usr bound read-only into a root of
// its own), so no pull is counted: see bench/README.md for pulls.
//
//	go test -run XXX -bench PostgresService ./internal/sandbox/namespace/
func BenchmarkPostgresService(b *testing.B) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		b.Skip("needs Debian's postgresql")
	}
	pgbin := filepath.Dir(bins[len(bins)-1])
	be := newBackend(b, Config{})
	root := b.TempDir()
	for d := root; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	for _, d := range []string{"usr", "etc", "tmp", "var/lib/postgresql/data"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		os.Symlink("usr/"+l, filepath.Join(root, l))
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("postgres:x:999:999::/var/lib/postgresql:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
	usr := filepath.Join(root, "usr")
	if out, err := exec.Command("mount", "--bind", "-o", "ro", "/usr", usr).CombinedOutput(); err != nil {
		b.Fatalf("mount: %v %s", err, out)
	}
	b.Cleanup(func() { exec.Command("umount", "-l", usr).Run() })
	env := []string{"PATH=" + pgbin + ":/usr/bin:/bin", "PGDATA=/var/lib/postgresql/data"}
	var times []time.Duration
	var mem []int64
	i := 0
	for b.Loop() {
		i++
		job := start(b, be, sandbox.Spec{ID: "pgbench-" + strconv.Itoa(i)})
		t0 := time.Now()
		c, err := job.Containers(context.Background(), sandbox.ContainerSpec{Name: "pg", RootFS: root, UID: 999, GID: 999,
			Tmpfs: []string{"/var/lib/postgresql/data"}})
		if err != nil {
			b.Fatal(err)
		}
		go c.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"sh", "-c",
			`initdb -D "$PGDATA" -U postgres --auth=trust >/dev/null && exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -k /tmp`}, Env: env}, io.Discard)
		for {
			res, err := c.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"pg_isready", "-q", "-h", "127.0.0.1"}, Env: env}, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			if res.ExitCode == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		times = append(times, time.Since(t0))
		cg := be.cgroups.open("pgbench-" + strconv.Itoa(i) + "/ctr-pg")
		usage := cg.read("memory.usage_in_bytes")
		if usage == "" {
			usage = cg.read("memory.current")
		}
		n, _ := strconv.ParseInt(usage, 10, 64)
		mem = append(mem, n)
		b.StopTimer()
		c.Close()
		job.Close()
		b.StartTimer()
	}
	slices.Sort(times)
	slices.Sort(mem)
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms-to-healthy-p50")
	b.ReportMetric(float64(mem[len(mem)/2])/(1<<20), "MiB-per-service-p50")
}
