package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
	"github.com/hookci/hookci/internal/workflow"
)

// jobInput is everything loaded to run one leg.
type jobInput struct {
	job    store.Job
	run    store.Run
	ev     *event
	pay    []byte
	mirror *gitrepo.Mirror
	wf     *workflow.Workflow
	wj     *workflow.Job
	leg    workflow.Combination
	needs  map[string]runner.NeedResult
	// received is when the run's delivery arrived (queue-wait metric).
	received time.Time
	// images are the job's container images pulled before its sandbox
	// starts, for a backend that attaches them at start (containers.go).
	images []sandbox.ContainerImage
}

// loadDepth says how much of a job leg loadLeg reads.
type loadDepth int

const (
	// loadRows reads the job and run rows only (no git).
	loadRows loadDepth = iota
	// loadToRun also reads what running the leg needs: the run's event and
	// workflow at its commit (loadRunWorkflow), the job's model, its matrix
	// leg and the results of the jobs it needs.
	loadToRun
)

// loadLeg loads job leg jobID and its run, as deep as depth says.
func (d *Dispatcher) loadLeg(ctx context.Context, jobID int64, depth loadDepth) (*jobInput, error) {
	q := d.cfg.Store.Queries()
	job, err := q.Job(ctx, jobID)
	if err != nil {
		return nil, err
	}
	run, err := q.Run(ctx, job.RunID)
	if err != nil {
		return nil, err
	}
	if depth == loadRows {
		return &jobInput{job: job, run: run}, nil
	}
	in, err := d.loadRunWorkflow(ctx, q, &run)
	if err != nil {
		return nil, err
	}
	in.job = job
	if isCallKey(job.Key) {
		return d.loadCalledLeg(ctx, q, in)
	}
	if in.wj = in.wf.Job(in.job.Key); in.wj == nil {
		return nil, fmt.Errorf("workflow %s has no job %q", in.run.WorkflowFile, in.job.Key)
	}
	if in.leg, err = workflow.ParseCombination(in.job.Matrix); err != nil {
		return nil, err
	}
	jobs, err := q.RunJobs(ctx, in.run.ID)
	if err != nil {
		return nil, err
	}
	keys := groupJobs(jobs)
	in.needs = map[string]runner.NeedResult{}
	for _, n := range in.wj.Needs {
		if ks := keys[strings.ToLower(n)]; ks != nil {
			in.needs[n] = runner.NeedResult{Result: ks.result(), Outputs: ks.outputs()}
		}
	}
	return in, nil
}

// RunJob runs one job leg in a fresh sandbox and records its result. An
// infrastructure failure is retried once on a fresh sandbox, then reported as
// such. It returns an error only when the store fails (the queue retries).
func (d *Dispatcher) RunJob(ctx context.Context, jobID int64) error {
	in, err := d.loadLeg(ctx, jobID, loadToRun)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return d.failJob(ctx, jobID, "could not load the job: "+err.Error())
	}
	if in.job.Status == store.StatusCompleted {
		return nil
	}
	log := d.log.With("run", in.run.ID, "job", jobID, "key", in.job.Key, "repo", in.run.Repo)
	log.Debug("job picked up", "queued_for", time.Since(in.job.CreatedAt))
	trace.Record(ctx, "queue pickup: job (since created)", in.job.CreatedAt, time.Since(in.job.CreatedAt))
	defer trace.Begin(ctx, "job (pickup to recorded)")()
	env := d.jobExprEnv(in.ev, &in.run, in.wj, in.needs, in.leg)
	if in.wj.Uses != "" {
		return d.expandCall(ctx, in) // call.go
	}
	labels, err := in.wj.RunsOn.Eval(env)
	if err != nil {
		return d.failJob(ctx, jobID, "runs-on: "+err.Error())
	}
	if !slices.Equal(labels, in.job.Labels) { // the job JSON's labels
		if err := d.cfg.Store.Queries().SetJobLabels(ctx, jobID, labels); err != nil {
			return err
		}
	}
	if d.cfg.Store.LeaseLost() { // nothing started: the queue hands it on to other hosts (store/leasehold.go)
		return store.ErrLeaseLostUnstarted
	}
	if in.job.Status == store.StatusQueued {
		if err := d.place(ctx, in, labels); err != nil { // placement.go: this host, or back to the queue
			return err
		}
	}
	start, choice, err := d.cfg.Choose(labels, sandbox.Origin{Repo: in.run.Repo, Fork: in.ev.Fork})
	if err != nil { // the error names the label
		log.Warn("no sandbox for the job", "labels", labels, "fork", in.ev.Fork, "err", err)
		return d.failJob(ctx, jobID, err.Error())
	}
	if msg := d.refuseContainers(in, env, choice.Name); msg != "" { // containers.go
		return d.failJob(ctx, jobID, msg)
	}
	d.attachImages(ctx, in, env, choice.Name, log) // containers.go
	if choice.Network && in.ev.Fork {
		// Egress is granted per repository; a fork's pull request runs
		// someone else's code and never gets it.
		log.Warn("egress refused: the job belongs to a pull request from a fork", "backend", choice.Name)
		choice.Network = false
	}
	restarted := in.job.Status == store.StatusInProgress
	if restarted {
		log.Warn("job was in progress when a previous process stopped; running it again")
	}
	release := func() {}
	if !restarted {
		if release, err = d.holdPlacement(ctx, in); err != nil { // placement.go: back to the queue
			return err
		}
	}
	in.job.Status, in.job.StartedAt, in.job.Backend, in.job.Message = store.StatusInProgress, nowTime(), choice.Name, ""
	in.job.Attempt++
	err = d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		if cur, err := q.Job(ctx, jobID); err == nil && cur.Status == store.StatusCompleted {
			return errJobDone // cancelled since it was loaded
		}
		if err := q.UpdateJob(ctx, &in.job); err != nil {
			return err
		}
		if restarted {
			// After the attempt moved on (the row is locked until commit):
			// a flush of the old attempt still in flight has committed and
			// is deleted here, and any later one is refused (fencing.go).
			if err := q.ResetJobRecords(ctx, jobID); err != nil {
				return err
			}
		}
		run, err := q.Run(ctx, in.run.ID)
		if err != nil {
			return err
		}
		if run.Status == store.StatusQueued {
			run.Status, run.StartedAt = store.StatusInProgress, nowTime()
			if err := q.UpdateRun(ctx, &run); err != nil {
				return err
			}
		}
		return q.EnqueueReport(ctx, run.ID)
	})
	release()
	if errors.Is(err, errJobDone) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.cfg.Observe != nil && !restarted && in.job.Attempt == 1 && in.run.Attempt <= 1 && len(in.wj.Needs) == 0 &&
		!in.received.IsZero() {
		d.cfg.Observe.JobQueued(choice.Name, in.job.StartedAt.Sub(in.received))
	}
	jctx, cancel := context.WithCancelCause(ctx)
	d.mu.Lock()
	d.running[jobID] = cancel
	d.mu.Unlock()
	defer d.watchLease(jobID, in.job.Attempt, cancel)() // lease.go
	if cur, err := d.cfg.Store.Queries().Job(ctx, jobID); err == nil && cur.Conclusion == store.ConclusionCancelled {
		cancel(errCancelled) // cancelled before cancelRunning could reach it
	}
	defer func() {
		d.mu.Lock()
		delete(d.running, jobID)
		d.mu.Unlock()
		cancel(nil)
	}()
	spec, notes, err := d.runnerSpec(jctx, in)
	if err != nil {
		return d.failJob(ctx, jobID, err.Error())
	}
	revoked := false
	defer func() { // a panic below must not leave the token alive either
		if !revoked {
			d.revokeToken(ctx, spec.Event.Token, log)
		}
	}()
	sink := newStoreSink(d.cfg.Store, jobID, in.job.Attempt, func() { cancel(errSuperseded) }, log)
	for _, n := range notes {
		sink.StepLog(0, "##[warning]"+n)
	}
	res, closeSandbox, infraErr := d.runWithRetry(jctx, in, start, choice, spec, sink, log)
	if closeSandbox != nil {
		// Its processes are dead already; its files go once the job's
		// end is recorded (deferred calls run after the return below).
		defer closeSandbox()
	}
	sink.Stop() // what it holds is written with the job's end (completeJob)
	// Revoked before the job is recorded as over, whatever its end.
	d.revokeToken(ctx, spec.Event.Token, log)
	revoked = true
	if err := fenceErr(jctx); err != nil {
		log.Warn("job stopped by fencing: its result is not recorded", "err", err)
		return err
	}
	return d.completeJob(ctx, in, res, infraErr, jctx, sink)
}

// The sandbox of an attempt that ran is stopped (its processes killed)
// before runWithRetry returns; when its backend can stop without closing,
// closing it (removing its files) is left to the function returned, for
// the caller to call once the job's end is recorded.
func (d *Dispatcher) runWithRetry(ctx context.Context, in *jobInput, start sandbox.StartFunc, choice sandbox.Choice,
	spec *runner.Spec, sink *storeSink, log *slog.Logger) (*runner.Result, func(), error) {
	var lastErr error
	workspaceDir := d.workspaceDisk(ctx, in, choice, log)
	for attempt := 1; attempt <= 2; attempt++ {
		sbSpec := sandbox.Spec{ID: fmt.Sprintf("job-%d-%d-%d", in.job.ID, in.job.Attempt, attempt), Label: choice.Name,
			CPUs: choice.CPUs, MemoryMiB: choice.MemoryMiB, Network: choice.Network, ToolCache: d.cfg.ToolCache,
			WorkspaceDir: workspaceDir, ContainerImages: in.images, Log: log}
		t0 := time.Now()
		endStart := trace.Begin(ctx, "sandbox start ("+choice.Name+")")
		inst, err := start(ctx, sbSpec)
		endStart()
		log.Debug("sandbox started", "backend", choice.Name, "took", time.Since(t0))
		if d.cfg.Observe != nil && ctx.Err() == nil {
			d.cfg.Observe.SandboxStarted(choice.Name, time.Since(t0), err)
		}
		if err != nil {
			lastErr = fmt.Errorf("starting the %s sandbox: %w", choice.Name, err)
		} else {
			var res *runner.Result
			t1 := time.Now()
			endRun := trace.Begin(ctx, "runner (set up, steps, post)")
			res, err = runner.Run(ctx, &runner.Guest{Client: inst.Client, Layout: inst.Layout, Backend: inst.Backend,
				WorkspaceReady: inst.WorkspaceReady, Network: choice.Network || inst.Backend == "host",
				Containers: containerStarter(inst)}, spec, sink) // containers.go
			endRun()
			log.Debug("job ran", "took", time.Since(t1))
			closeInst := func() {
				endClose := trace.Begin(ctx, "sandbox close")
				if cerr := inst.Close(); cerr != nil {
					log.Warn("closing sandbox", "err", cerr)
				}
				endClose()
			}
			if err == nil {
				endStop := trace.Begin(ctx, "sandbox stop")
				stopped, serr := inst.Stop()
				endStop()
				if stopped && serr == nil {
					return res, closeInst, nil
				}
				if serr != nil {
					log.Warn("stopping sandbox", "err", serr)
				}
			}
			closeInst()
			if err == nil {
				return res, nil, nil
			}
			lastErr = fmt.Errorf("infrastructure failure: %w", err)
		}
		if ctx.Err() != nil {
			return nil, nil, lastErr
		}
		log.Warn("job attempt failed on infrastructure", "attempt", attempt, "err", lastErr)
		if d.cfg.Observe != nil {
			d.cfg.Observe.InfrastructureFailure(choice.Name, attempt == 1)
		}
		sink.StepLog(0, fmt.Sprintf("##[warning]attempt %d: %v", attempt, lastErr))
		if attempt == 1 {
			sink.StepLog(0, "##[warning]retrying once on a fresh sandbox")
		}
	}
	return nil, nil, lastErr
}

// runnerSpec assembles the runner's view of the job, with its freshly
// minted GITHUB_TOKEN (the caller revokes it) and notes for the job's log.
func (d *Dispatcher) runnerSpec(ctx context.Context, in *jobInput) (*runner.Spec, []string, error) {
	ev := d.eventInfo(in.ev, &in.run, in.pay)
	secrets := map[string]string{}
	if in.ev.call != nil { // a called workflow's job sees only what its caller passed
		for k, v := range in.ev.call.secrets {
			secrets[k] = v
		}
	} else if !in.ev.Fork && d.cfg.Secrets != nil { // pull requests from forks never see secrets
		for k, v := range d.cfg.Secrets(in.run.Repo) {
			secrets[k] = v
		}
	}
	total, index := 1, 0
	if in.wj.Strategy != nil {
		jobs, err := d.cfg.Store.Queries().RunJobs(ctx, in.run.ID)
		if err != nil {
			return nil, nil, err
		}
		total = 0
		for _, j := range jobs {
			if strings.EqualFold(j.Key, in.job.Key) {
				if j.ID < in.job.ID {
					index++
				}
				total++
			}
		}
	}
	// Minted last: nothing after this can fail and leave it unrevoked.
	tok, notes, err := d.jobToken(ctx, in)
	if err != nil {
		return nil, nil, fmt.Errorf("GITHUB_TOKEN: %w", err)
	}
	ev.Token = tok
	mirror, sha, clone := in.mirror, in.run.SHA, d.cfg.Git.CloneURL(in.run.Repo)
	return &runner.Spec{
		Workflow: in.wf, Job: in.wj, Matrix: in.leg, Event: ev, Needs: in.needs,
		Strategy: runner.Strategy{FailFast: failFast(in.wj), JobIndex: index, JobTotal: max(total, 1)},
		Vars:     d.cfg.Vars, Secrets: secrets, ExtraEnv: d.cfg.ExtraEnv, Inputs: in.ev.Inputs, Actions: d.cfg.Actions,
		Limits: d.cfg.Limits, Images: d.cfg.Images, Builds: d.cfg.Builds,
		Source: func(ctx context.Context, w io.Writer) error {
			p, err := mirror.ExportCached(ctx, sha, clone)
			if err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if fi, err := f.Stat(); err == nil {
				d.wsSizes.set(in.run.Repo, fi.Size()) // wsdisk.go
			}
			_, err = io.Copy(w, f)
			return err
		},
	}, notes, nil
}

func failFast(wj *workflow.Job) bool {
	return wj.Strategy == nil || strings.TrimSpace(wj.Strategy.FailFast) != "false"
}

// failJob completes a job as failed before it could run.
func (d *Dispatcher) failJob(ctx context.Context, jobID int64, msg string) error {
	in, err := d.loadLeg(ctx, jobID, loadRows)
	if err != nil {
		return err
	}
	in.job.Message = msg
	return d.completeJob(ctx, in, &runner.Result{Conclusion: store.ConclusionFailure, FailedStep: -1}, nil, ctx, nil)
}

// completeJob records a leg's end, applies fail-fast and max-parallel, and
// advances the run, in one transaction.
func (d *Dispatcher) completeJob(ctx context.Context, in *jobInput, res *runner.Result, infraErr error, jctx context.Context, sink *storeSink) error {
	job := &in.job
	job.Status, job.FinishedAt = store.StatusCompleted, nowTime()
	switch {
	case res != nil:
		job.Conclusion = res.Conclusion
		out, _ := json.Marshal(res.Outputs)
		job.Outputs = string(out)
		if len(res.Annotations) > 0 {
			a, _ := json.Marshal(res.Annotations)
			job.Annotations = string(a)
		}
		job.Summary = res.Summary
	case errors.Is(context.Cause(jctx), errCancelled):
		job.Conclusion = store.ConclusionCancelled
	default:
		job.Conclusion = store.ConclusionFailure
		if infraErr != nil {
			job.Message = infraErr.Error()
		}
	}
	if errors.Is(context.Cause(jctx), errCancelled) && job.Conclusion != store.ConclusionSuccess &&
		(res == nil || res.Conclusion != store.ConclusionFailure) {
		// A leg that failed by itself keeps its failure when fail-fast
		// (started by a sibling) cancels it afterwards.
		job.Conclusion = store.ConclusionCancelled
	}
	if job.StartedAt.IsZero() {
		job.StartedAt = job.FinishedAt
	}
	if d.cfg.Observe != nil {
		d.cfg.Observe.JobFinished(job.Conclusion, job.FinishedAt.Sub(job.StartedAt).Seconds())
	}
	// The job's end is recorded when the database is back (retryStore),
	// unless another host took the attempt over meanwhile (ErrStale).
	return retryStore(ctx, d.log, "the job's end", func() error { return d.completeJobTx(ctx, in, job, sink) })
}

// completeJobTx records job's end and what follows from it in one
// transaction, the job's last steps and logs (sink, when not nil) first.
func (d *Dispatcher) completeJobTx(ctx context.Context, in *jobInput, job *store.Job, sink *storeSink) error {
	logged := 0
	err := d.cfg.Store.InTx(context.WithoutCancel(ctx), func(q *store.Queries) error {
		if sink != nil {
			var err error
			if logged, err = sink.writePending(ctx, q); err != nil {
				return err
			}
		}
		if err := d.capRunOutputs(ctx, q, job); err != nil { // GitHub's 50 MB per run (outputs.go)
			return err
		}
		if err := keepCancelMessage(ctx, q, job); err != nil { // control.go
			return err
		}
		if err := q.UpdateJob(ctx, job); err != nil {
			return err
		}
		jobs, err := q.RunJobs(ctx, job.RunID)
		if err != nil {
			return err
		}
		if err := d.siblings(ctx, q, in, jobs); err != nil {
			return err
		}
		if err := d.releaseJobGroup(ctx, q, in.run.Repo, job.Concurrency); err != nil {
			return err
		}
		run, err := q.Run(ctx, job.RunID)
		if err != nil {
			return err
		}
		if in.wf != nil && in.ev != nil && in.ev.call == nil {
			if err := d.advance(ctx, q, &run, in.wf, in.ev); err != nil {
				return err
			}
		} else if err := d.advanceFromStore(ctx, q, &run); err != nil {
			return err
		}
		return q.EnqueueReport(ctx, run.ID)
	})
	if err == nil && sink != nil {
		sink.written(logged)
	}
	return err
}

// failFastMessage is why fail-fast cancelled a leg, in GitHub's words.
func failFastMessage(failed string) string {
	return `The strategy configuration was canceled because "` + failed + `" failed`
}

// siblings applies fail-fast (cancel the other legs) and releases a leg held
// back by max-parallel.
func (d *Dispatcher) siblings(ctx context.Context, q *store.Queries, in *jobInput, jobs []store.Job) error {
	failed := in.job.Conclusion == store.ConclusionFailure || in.job.Conclusion == store.ConclusionTimedOut
	ff := in.wj != nil && in.wj.Strategy != nil && failFast(in.wj) && failed
	released := false
	for i := range jobs {
		s := &jobs[i]
		if s.ID == in.job.ID || !strings.EqualFold(s.Key, in.job.Key) {
			continue
		}
		switch {
		case ff && (s.Status == store.StatusQueued || s.Status == statusHeld):
			s.Status, s.Conclusion, s.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, nowTime()
			s.Message = failFastMessage(in.job.Name)
			if err := q.UpdateJob(ctx, s); err != nil {
				return err
			}
		case ff && s.Status == store.StatusInProgress && s.Conclusion == "":
			// Marked with the reason, as CancelJob does: the leg's end path
			// keeps it (keepCancelMessage) unless the leg failed or
			// succeeded by itself first.
			s.Conclusion, s.Message = store.ConclusionCancelled, failFastMessage(in.job.Name)
			if err := q.UpdateJob(ctx, s); err != nil {
				return err
			}
			d.cancelRunning(s.ID)
		case !ff && !released && s.Status == statusHeld:
			s.Status = store.StatusQueued
			if err := q.UpdateJob(ctx, s); err != nil {
				return err
			}
			if err := q.EnqueueJob(ctx, s.ID); err != nil {
				return err
			}
			released = true
		}
	}
	return nil
}

// advanceFromStore advances a run when the job's workflow could not be loaded.
func (d *Dispatcher) advanceFromStore(ctx context.Context, q *store.Queries, run *store.Run) error {
	in, err := d.loadRunWorkflow(ctx, q, run)
	if err != nil {
		// Without the workflow nothing else can run: conclude what is left.
		jobs, jerr := q.RunJobs(ctx, run.ID)
		if jerr != nil {
			return jerr
		}
		for i := range jobs {
			if jobs[i].Status != store.StatusCompleted {
				jobs[i].Status, jobs[i].Conclusion, jobs[i].FinishedAt = store.StatusCompleted, store.ConclusionSkipped, nowTime()
				if err := q.UpdateJob(ctx, &jobs[i]); err != nil {
					return err
				}
			}
		}
		run.Status, run.Conclusion, run.FinishedAt = store.StatusCompleted, store.ConclusionFailure, nowTime()
		run.Message = err.Error()
		return q.UpdateRun(ctx, run)
	}
	return d.advance(ctx, q, run, in.wf, in.ev)
}

// loadRunWorkflow loads a run's event (from its delivery) and its workflow at
// the run's commit: what advancing the run needs, and the run half of loadLeg.
func (d *Dispatcher) loadRunWorkflow(ctx context.Context, q *store.Queries, run *store.Run) (*jobInput, error) {
	del, err := q.Delivery(ctx, run.DeliveryID)
	if err != nil {
		return nil, err
	}
	in := &jobInput{run: *run, pay: del.Payload, received: del.ReceivedAt}
	if in.ev, err = decodeEvent(runEvent(*run, del), del.Payload); err != nil {
		return nil, err
	}
	in.ev.SHA = run.SHA
	if in.ev.DeployName != "" { // a tag, as planning found (deploymentTagRef)
		in.ev.Ref = run.Ref
	}
	if in.mirror, err = d.cfg.Git.Fetch(ctx, run.Repo, run.SHA); err != nil {
		return nil, err
	}
	if in.wf, err = d.loadWorkflow(ctx, in.mirror, run.SHA, run.WorkflowFile); err != nil {
		return nil, err
	}
	in.ev.Inputs = typedInputs(in.wf, in.ev.Inputs)
	return in, nil
}
