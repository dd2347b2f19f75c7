package namespace

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

func TestReap(t *testing.T) {
	b := newBackend(t, Config{})
	live := start(t, b, sandbox.Spec{ID: "live"})
	crashed := start(t, b, sandbox.Spec{ID: "crashed"})
	run(t, crashed, "sleep 1000 >/dev/null 2>&1 &")
	// With a container running in it (its cgroup is inside the job's).
	ctr, err := crashed.Containers(context.Background(), sandbox.ContainerSpec{Name: "svc", RootFS: containerRootFS(t)})
	if err != nil {
		t.Fatal(err)
	}
	go ctr.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"attacker", "listen", "15499"}, Env: append(env(), attackerEnv+"=1")}, io.Discard)
	// Pretend a dead hookci process owned it.
	if err := os.WriteFile(filepath.Join(b.cfg.WorkDir, "crashed", ownerFile), []byte("1 -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A cgroup whose directory is gone.
	if _, err := b.cgroups.create("orphan", limits{memoryBytes: 64 << 20, pids: 10}); err != nil {
		t.Fatal(err)
	}
	crashedCgroup := b.cgroups.open("crashed").dirs
	orphanCgroup := b.cgroups.open("orphan").dirs
	if err := b.Reap(context.Background()); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	assertGone(t, b, "crashed", crashedCgroup)
	assertGone(t, b, "orphan", orphanCgroup)
	if code, out := run(t, live, "echo alive"); code != 0 || out != "alive\n" {
		t.Errorf("live sandbox after Reap: got %d %q", code, out)
	}
}

// BenchmarkStart measures Start until the agent answers and reports the median.
func BenchmarkStart(b *testing.B) {
	be := newBackend(b, Config{})
	var times []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		inst, err := be.Start(context.Background(), sandbox.Spec{ID: "b" + string(rune('a'+i%26)) + "-" + itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
		b.StopTimer()
		inst.Close()
		b.StartTimer()
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}
