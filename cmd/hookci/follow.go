package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// planAttemptLimit bounds one planning attempt (the queue's own timeout
// for planning is ten minutes).
const planAttemptLimit = 10*time.Minute + 30*time.Second

// maxLabel is the longest "workflow/job" prefix printed as it is; longer
// names (a matrix leg with every value in its name) get a short label.
const maxLabel = 48

// follower prints the runs of one delivery as they go (hookci run).
// Parallel legs do not interleave line by line: one leg at a time streams
// its output live; the others' steps are printed whole when they finish.
type follower struct {
	out    io.Writer
	seen   map[int64]int64          // job → last log seq read
	label  map[int64]string         // job → printed prefix
	shown  map[int64]map[int]int    // job → step → 1 started, 2 finished
	names  map[int64]map[int]string // job → step → name
	pend   map[int64]map[int][]string
	live   int64 // job streaming live, 0 none
	liveAt int   // its step
}

func newFollower(out io.Writer) *follower {
	return &follower{out: out, seen: map[int64]int64{}, label: map[int64]string{}, shown: map[int64]map[int]int{},
		names: map[int64]map[int]string{}, pend: map[int64]map[int][]string{}}
}

// labels gives each job of a run its prefix: the workflow and job name
// when short, else workflow/key#n (the n-th leg of the job), announced once
// with the full name.
func (f *follower) labels(r store.Run, jobs []store.Job) {
	legs := map[string]int{}
	for _, j := range jobs {
		legs[strings.ToLower(j.Key)]++
		if _, ok := f.label[j.ID]; ok {
			continue
		}
		full := r.WorkflowName + "/" + j.Name
		if len(full) <= maxLabel {
			f.label[j.ID] = "[" + full + "]"
			continue
		}
		wf := r.WorkflowName
		if len(wf) > 16 {
			wf = wf[:16] + "…"
		}
		key := j.Key
		if len(key) > 24 {
			key = key[:24] + "…"
		}
		f.label[j.ID] = fmt.Sprintf("[%s/%s#%d]", wf, key, legs[strings.ToLower(j.Key)])
		name := j.Name
		if len(name) > 300 {
			name = name[:300] + "…"
		}
		fmt.Fprintf(f.out, "%s is %s / %s\n", f.label[j.ID], r.WorkflowName, name)
	}
}

// job prints what is new for job j: its log chunks and finished steps.
func (f *follower) job(j store.Job, steps []store.Step, chunks []store.LogChunk) {
	id, prefix := j.ID, f.label[j.ID]
	if f.shown[id] == nil {
		f.shown[id], f.names[id], f.pend[id] = map[int]int{}, map[int]string{}, map[int][]string{}
	}
	for _, st := range steps {
		f.names[id][st.Index] = st.Name
	}
	start := func(idx int) {
		if f.shown[id][idx] == 0 {
			fmt.Fprintf(f.out, "%s ⭐ %s\n", prefix, f.names[id][idx])
			f.shown[id][idx] = 1
		}
	}
	flush := func(idx int) {
		if lines := f.pend[id][idx]; len(lines) > 0 || f.shown[id][idx] == 0 {
			start(idx)
			for _, l := range lines {
				fmt.Fprintf(f.out, "%s |   %s\n", prefix, l)
			}
			delete(f.pend[id], idx)
		}
	}
	// finish prints the end of every completed step before step upTo.
	finish := func(upTo int) {
		if f.live != 0 && f.live != id {
			return // another leg is streaming: this one's steps wait, whole
		}
		for _, st := range steps {
			if st.Index >= upTo || st.Status != store.StatusCompleted || f.shown[id][st.Index] == 2 {
				continue
			}
			flush(st.Index)
			mark := map[string]string{"success": "✅", "failure": "❌", "skipped": "⏭️ ", "cancelled": "⚪"}[st.Conclusion]
			fmt.Fprintf(f.out, "%s %s %s: %s [%s]\n", prefix, mark, st.Name, st.Conclusion,
				st.FinishedAt.Sub(st.StartedAt).Round(time.Millisecond))
			f.shown[id][st.Index] = 2
			if f.live == id && f.liveAt == st.Index {
				f.live = 0
			}
		}
	}
	for _, c := range chunks {
		finish(c.StepIdx)
		lines := strings.Split(strings.TrimRight(string(c.Data), "\n"), "\n")
		if f.live == 0 {
			f.live, f.liveAt = id, c.StepIdx
			flush(c.StepIdx)
		}
		if f.live == id && f.liveAt == c.StepIdx {
			start(c.StepIdx)
			for _, l := range lines {
				fmt.Fprintf(f.out, "%s |   %s\n", prefix, l)
			}
		} else {
			f.pend[id][c.StepIdx] = append(f.pend[id][c.StepIdx], lines...)
		}
		f.seen[id] = c.Seq
	}
	finish(1 << 30)
	if j.Status == store.StatusCompleted && (f.live == 0 || f.live == id) {
		for idx := range f.pend[id] {
			flush(idx)
		}
		f.live = 0
	}
}

// follow prints the runs of a delivery as they go and reports whether all
// succeeded. It says what planning does while it retries, and gives up
// with the reason when planning has not ended after limit.
//
// It reads the store again after each write this process commits to it
// (store.Changed: a log flush, a step, a job or run ending, planning's
// progress), with no timer: st must be a store only this process writes
// (hookci run's SQLite store).
func follow(ctx context.Context, st *store.Store, deliveryID string, out io.Writer, limit time.Duration) (bool, error) {
	q := st.Queries()
	f := newFollower(out)
	giveUp := time.NewTimer(limit) // planning's limit, not a poll
	defer giveUp.Stop()
	lastMsg, expired := "", false
	var changed <-chan struct{} // nil before the first read
	for {
		if changed != nil {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-changed:
			case <-giveUp.C:
				expired = true
			}
		}
		changed = st.Changed() // before reading: a write during the read wakes the next wait
		del, err := q.Delivery(ctx, deliveryID)
		if err != nil {
			return false, err
		}
		if del.Status == store.DeliveryFailed {
			return false, fmt.Errorf("planning failed: %s", del.Message)
		}
		runs, err := q.RunsForDelivery(ctx, deliveryID)
		if err != nil {
			return false, err
		}
		if del.Status == store.DeliveryQueued && len(runs) == 0 {
			if del.Message != "" && del.Message != lastMsg {
				fmt.Fprintf(out, "hookci: planning: %s\n", del.Message)
				lastMsg = del.Message
			}
			if expired {
				return false, fmt.Errorf("planning did not end within %s; last: %s", limit.Round(time.Second),
					cmp.Or(del.Message, "no attempt finished"))
			}
			continue
		}
		done := del.Status != store.DeliveryQueued
		allOK := true
		type jobSteps struct {
			j     store.Job
			steps []store.Step
		}
		var read []jobSteps
		for _, r := range runs {
			jobs, err := q.RunJobs(ctx, r.ID)
			if err != nil {
				return false, err
			}
			f.labels(r, jobs)
			for _, j := range jobs {
				steps, err := q.Steps(ctx, j.ID)
				if err != nil {
					return false, err
				}
				chunks, err := q.LogAfter(ctx, j.ID, f.seen[j.ID])
				if err != nil {
					return false, err
				}
				f.job(j, steps, chunks)
				read = append(read, jobSteps{j, steps})
			}
			if r.Status != store.StatusCompleted {
				done = false
			} else if r.Conclusion != store.ConclusionSuccess {
				allOK = false
			}
		}
		if !done {
			continue
		}
		// A leg held back while another streamed prints now: the streaming
		// leg may have ended in this same read, after the held one's turn.
		for _, x := range read {
			f.job(x.j, x.steps, nil)
		}
		for _, r := range runs {
			if r.Message != "" {
				fmt.Fprintf(out, "[%s] %s\n", r.WorkflowName, r.Message)
			}
			jobs, _ := q.RunJobs(ctx, r.ID)
			for _, j := range jobs {
				msg := ""
				if j.Message != "" {
					msg = " — " + j.Message
				}
				fmt.Fprintf(out, "%s %s%s\n", f.label[j.ID], j.Conclusion, msg)
			}
			fmt.Fprintf(out, "[%s] run %s\n", r.WorkflowName, r.Conclusion)
		}
		if len(runs) == 0 {
			fmt.Fprintf(out, "no workflow is triggered by this event: %s\n", del.Message)
		}
		return allOK, nil
	}
}
