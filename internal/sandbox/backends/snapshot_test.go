package backends

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// A job's sandbox (real host backend, warm pool of one) shows in the
// snapshot as running with its job id, the pool's as warm; Stop destroys the
// job's sandbox (its agent stops answering), it leaves the snapshot, and a
// retry of the same job attempt is refused.
func TestSnapshotAndStop(t *testing.T) {
	cfg := testConfig(t, "host")
	cfg.WarmSandboxes = 1
	cfg.MaxJobs = 3
	s, _ := openSet(t, cfg)
	start, _, err := s.Choose([]string{"ubuntu-latest"}, sandbox.Origin{Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	inst, err := start(ctx, sandbox.Spec{ID: "job-42-1-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	// The pool refills in the background: wait for its warm sandbox.
	var snap Snapshot
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		snap = s.Snapshot()
		if len(snap.Backends) == 1 && snap.Backends[0].Warm == 1 {
			break
		}
	}
	if len(snap.Backends) != 1 {
		t.Fatalf("got backends %+v, want host only", snap.Backends)
	}
	b := snap.Backends[0]
	if b.Name != "host" || b.Running != 1 || b.Warm != 1 || b.Max != 3 || b.MemoryMiB != 0 {
		t.Errorf("got %+v, want host running 1, warm 1, max 3, memory 0", b)
	}
	var job *Live
	for i := range snap.Live {
		if snap.Live[i].JobID == 42 {
			job = &snap.Live[i]
		}
	}
	if job == nil || len(snap.Live) != 2 {
		t.Fatalf("got live %+v, want job 42's sandbox and a warm one", snap.Live)
	}
	if err := s.Stop(7); !errors.Is(err, ErrNoSandbox) {
		t.Errorf("Stop(7): got %v, want ErrNoSandbox", err)
	}
	if err := s.Stop(42); err != nil {
		t.Fatalf("Stop(42): %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := inst.Client.Exec(cctx, agent.ExecRequest{Argv: []string{"true"}}, io.Discard); err == nil {
		t.Error("the stopped sandbox's agent still runs commands")
	}
	for _, l := range s.Snapshot().Live {
		if l.JobID == 42 {
			t.Errorf("stopped sandbox still listed: %+v", l)
		}
	}
	if _, err := start(ctx, sandbox.Spec{ID: "job-42-1-2"}); err == nil {
		t.Error("a retry of the stopped job attempt started a sandbox")
	}
	retry, err := start(ctx, sandbox.Spec{ID: "job-42-2-1"})
	if err != nil {
		t.Fatalf("the job's next attempt: %v", err)
	}
	retry.Close()
}
