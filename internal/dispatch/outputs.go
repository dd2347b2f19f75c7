package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hookci/hookci/internal/store"
)

// DefaultRunOutputBytes is GitHub's limit on the total of all job outputs
// in one workflow run (50 MB; each job's own are capped at 1 MB by the
// runner).
const DefaultRunOutputBytes = 50 << 20

// capRunOutputs keeps job's outputs (already limited per job by the
// runner) within the run's total: the sizes (name and value) of every
// other finished job's outputs of the run count, caller rows of reusable
// workflows excepted (theirs are copies of their called jobs'). Outputs
// that would pass the limit are dropped in name order, each with a warning
// annotation on the job, as the per-job limit drops them. It runs in the
// transaction that completes job.
func (d *Dispatcher) capRunOutputs(ctx context.Context, q *store.Queries, job *store.Job) error {
	if job.Outputs == "" || job.Outputs == "null" || job.Outputs == "{}" || job.Backend == store.BackendCall {
		return nil
	}
	limit := d.cfg.RunOutputBytes
	if limit <= 0 {
		limit = DefaultRunOutputBytes
	}
	jobs, err := q.RunJobs(ctx, job.RunID)
	if err != nil {
		return err
	}
	var used int64
	for _, j := range jobs {
		if j.ID == job.ID || j.Backend == store.BackendCall {
			continue
		}
		used += outputsSize(j.Outputs)
	}
	var outs map[string]string
	if err := json.Unmarshal([]byte(job.Outputs), &outs); err != nil {
		return nil // not ours to judge: the runner wrote it
	}
	if used+outputsSize(job.Outputs) <= limit {
		return nil
	}
	var notes []store.Annotation
	if job.Annotations != "" {
		if err := json.Unmarshal([]byte(job.Annotations), &notes); err != nil {
			notes = nil
		}
	}
	kept := map[string]string{}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range outs {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range names {
		n := int64(len(k) + len(outs[k]))
		if used+n > limit {
			notes = append(notes, store.Annotation{Level: "warning", Message: fmt.Sprintf(
				"Skip output '%s': the total of all outputs of this workflow run exceeds the limit of %s.", k, sizeName(limit))})
			continue
		}
		used += n
		kept[k] = outs[k]
	}
	b, _ := json.Marshal(kept)
	job.Outputs = string(b)
	a, _ := json.Marshal(notes)
	job.Annotations = string(a)
	return nil
}

// outputsSize is the size of a stored outputs object: names and values.
func outputsSize(stored string) int64 {
	var outs map[string]string
	if stored == "" || json.Unmarshal([]byte(stored), &outs) != nil {
		return 0
	}
	var n int64
	for k, v := range outs {
		n += int64(len(k) + len(v))
	}
	return n
}

// sizeName says a byte limit as GitHub does (50 MB), or in bytes.
func sizeName(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
