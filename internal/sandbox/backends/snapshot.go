package backends

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/sandbox"
)

// What the dashboard and the metrics see of the sandboxes: every sandbox a
// Set started and has not destroyed yet (a job's, or a warm one waiting in
// a pool), and a way to stop one.

// vmDefaultMemoryMiB is the guest memory of a microVM or Firecracker VM
// whose Spec leaves MemoryMiB 0 (the backends' default).
const vmDefaultMemoryMiB = 2048

// Live is one sandbox that is running now.
type Live struct {
	ID        string    `json:"id"`     // the sandbox's Spec.ID
	JobID     int64     `json:"job_id"` // the job it runs, 0 for a warm one not yet taken
	Backend   string    `json:"backend"`
	Started   time.Time `json:"started"`
	MemoryMiB int       `json:"memory_mib"` // guest memory of a VM, 0 for host and namespace
}

// BackendState is one backend's capacity and use.
type BackendState struct {
	Name      string `json:"name"`
	Running   int    `json:"running"`    // sandboxes running jobs
	Warm      int    `json:"warm"`       // sandboxes ready in the warm pool
	Max       int    `json:"max"`        // jobs that may run at once (max_jobs, shared by the backends)
	MemoryMiB int    `json:"memory_mib"` // VM memory held by its sandboxes (running and warm)
	Error     string `json:"error,omitempty"`
}

// Snapshot is the sandboxes at one moment.
type Snapshot struct {
	Default  string         `json:"default"`
	Backends []BackendState `json:"backends"`
	Live     []Live         `json:"live"`
}

// tracker records the sandboxes of a Set.
type tracker struct {
	mu      sync.Mutex
	live    map[*sandbox.Instance]*liveEntry
	stopped map[string]time.Time // "job-<id>-<attempt>-" prefixes an operator stopped, when
}

type liveEntry struct {
	Live
	inst   *sandbox.Instance
	prefix string // jobPrefix of the job's sandbox id that took it
}

// track wraps a backend's start so its sandboxes are recorded until closed.
func (t *tracker) track(name string, start sandbox.StartFunc) sandbox.StartFunc {
	return func(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
		inst, err := start(ctx, spec)
		if err != nil {
			return nil, err
		}
		mem := 0
		if name == "microvm" || name == "firecracker" {
			mem = spec.MemoryMiB
			if mem == 0 {
				mem = vmDefaultMemoryMiB
			}
		}
		e := &liveEntry{Live: Live{ID: spec.ID, JobID: jobOf(spec.ID), Backend: name, Started: time.Now(), MemoryMiB: mem},
			inst: inst, prefix: jobPrefix(spec.ID)}
		t.mu.Lock()
		if t.live == nil {
			t.live = map[*sandbox.Instance]*liveEntry{}
		}
		t.live[inst] = e
		t.mu.Unlock()
		inst.AfterStop(func() { // a stopped sandbox runs nothing: no longer listed
			t.mu.Lock()
			delete(t.live, inst)
			t.mu.Unlock()
		})
		return inst, nil
	}
}

// assign wraps a backend's start (its pool's, when it has one) so that a
// warm sandbox handed to a job is recorded as that job's, and refuses a
// sandbox to a job attempt an operator stopped.
func (t *tracker) assign(start sandbox.StartFunc) sandbox.StartFunc {
	return func(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
		if prefix := jobPrefix(spec.ID); prefix != "" && t.wasStopped(prefix) {
			return nil, errors.New("stopped by an operator")
		}
		inst, err := start(ctx, spec)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		if e := t.live[inst]; e != nil && e.JobID == 0 {
			e.JobID, e.prefix = jobOf(spec.ID), jobPrefix(spec.ID)
		}
		t.mu.Unlock()
		return inst, nil
	}
}

// jobPrefix is "job-<id>-<attempt>-" of a job's sandbox id
// ("job-<id>-<attempt>-<try>", dispatch's runWithRetry), else "".
func jobPrefix(id string) string {
	parts := strings.Split(id, "-")
	if len(parts) != 4 || parts[0] != "job" {
		return ""
	}
	return strings.Join(parts[:3], "-") + "-"
}

// jobOf is the job id of a sandbox id, 0 when it is not a job's.
func jobOf(id string) int64 {
	p := jobPrefix(id)
	if p == "" {
		return 0
	}
	n, _ := strconv.ParseInt(strings.Split(p, "-")[1], 10, 64)
	return n
}

func (t *tracker) wasStopped(prefix string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.stopped[prefix]
	return ok
}

// Snapshot reports each backend made so far (with its error if it could
// not be made) and every live sandbox, oldest first. A sandbox handed to a
// job from the warm pool keeps its warm id until the job's next attempt,
// so it counts as warm while the pool holds it and as running after.
func (s *Set) Snapshot() Snapshot {
	s.mu.Lock()
	snap := Snapshot{Default: s.def}
	states := map[string]*BackendState{}
	for name := range s.starters {
		states[name] = &BackendState{Name: name, Max: s.cfg.MaxJobs}
	}
	for name, err := range s.errs {
		states[name] = &BackendState{Name: name, Error: err.Error()}
	}
	warm := map[*sandbox.Instance]bool{}
	for _, p := range s.pools {
		for _, inst := range p.Ready() {
			warm[inst] = true
		}
	}
	s.mu.Unlock()
	s.track.mu.Lock()
	for inst, e := range s.track.live {
		l := e.Live
		st := states[l.Backend]
		if st == nil {
			st = &BackendState{Name: l.Backend, Max: s.cfg.MaxJobs}
			states[l.Backend] = st
		}
		st.MemoryMiB += l.MemoryMiB
		if warm[inst] {
			st.Warm++
		} else {
			st.Running++
		}
		snap.Live = append(snap.Live, l)
	}
	s.track.mu.Unlock()
	for _, st := range states {
		snap.Backends = append(snap.Backends, *st)
	}
	sort.Slice(snap.Backends, func(i, j int) bool { return snap.Backends[i].Name < snap.Backends[j].Name })
	sort.Slice(snap.Live, func(i, j int) bool { return snap.Live[i].Started.Before(snap.Live[j].Started) })
	return snap
}

// ErrNoSandbox is Stop's answer for a job with no live sandbox.
var ErrNoSandbox = errors.New("no live sandbox for this job")

// Stop destroys the sandboxes of job jobID now. The job's runner loses its
// agent and the job ends through dispatch's infrastructure path; the
// sandbox a retry would start for the same attempt is refused ("stopped by
// an operator"), so the job ends failed with that message instead of
// running again. (Cancelling the job, dispatch's CancelJob, ends it as
// cancelled instead; the dashboard's stop button does both.)
func (s *Set) Stop(jobID int64) error {
	t := &s.track
	t.mu.Lock()
	var victims []*sandbox.Instance
	for inst, e := range t.live {
		if e.JobID == jobID && jobID != 0 {
			victims = append(victims, inst)
			if t.stopped == nil {
				t.stopped = map[string]time.Time{}
			}
			t.stopped[e.prefix] = time.Now()
		}
	}
	for k, at := range t.stopped { // forget old marks: a stopped attempt retries within seconds
		if time.Since(at) > time.Hour {
			delete(t.stopped, k)
		}
	}
	t.mu.Unlock()
	if len(victims) == 0 {
		return fmt.Errorf("job %d: %w", jobID, ErrNoSandbox)
	}
	var errs []error
	for _, inst := range victims {
		if err := inst.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
