package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
	"github.com/hookci/hookci/internal/workflow"
)

const workflowsDir = ".github/workflows"

// PlanDelivery turns a stored delivery into runs: it fetches the commit,
// reads the workflows there and starts a run for each one the event triggers.
// An invalid workflow becomes a failed run whose message points at
// file:line:col. Planning twice does nothing the second time.
func (d *Dispatcher) PlanDelivery(ctx context.Context, id string) error {
	q := d.cfg.Store.Queries()
	del, err := q.Delivery(ctx, id)
	if err != nil {
		return err
	}
	if del.Status != store.DeliveryQueued {
		return nil
	}
	if done, err := d.ownChecks(ctx, del); done {
		return err
	}
	log := d.log.With("delivery", id, "event", del.Event, "repo", del.Repo)
	t0 := time.Now()
	trace.Record(ctx, "queue pickup: planning (since received)", del.ReceivedAt, t0.Sub(del.ReceivedAt))
	defer trace.Begin(ctx, "planning")()
	defer func() { log.Debug("planned", "took", time.Since(t0)) }()
	evs, err := deliveryEvents(del)
	if err != nil {
		return err
	}
	if why, err := d.screen(ctx, evs[0], log); err != nil {
		return err
	} else if why != "" {
		return q.SetDeliveryStatus(ctx, id, store.DeliveryIgnored, why)
	}
	plans, nfiles, err := d.planEvents(ctx, id, evs, log)
	if err != nil {
		return err
	}
	return d.createRuns(ctx, id, plans, nfiles)
}

// deliveryEvents decodes a delivery into the events it plans: its own, and
// for a pull_request also pull_request_target.
func deliveryEvents(del store.Delivery) ([]*event, error) {
	ev, err := decodeEvent(del.Event, del.Payload)
	if err != nil {
		return nil, permanentDecode(err)
	}
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	evs := []*event{ev}
	if del.Event == "pull_request" {
		// GitHub sends pull_request_target as a pull_request delivery: the
		// same delivery also plans the base branch's pull_request_target
		// workflows, at the base branch's last commit.
		if tev, err := decodeEvent("pull_request_target", del.Payload); err == nil {
			evs = append(evs, tev)
		}
	}
	return evs, nil
}

// planEvents fetches and matches the workflows of each event (planEvent) and
// returns what they trigger, with the number of workflow files read.
func (d *Dispatcher) planEvents(ctx context.Context, id string, evs []*event, log *slog.Logger) ([]planned, int, error) {
	var plans []planned
	nfiles := 0
	for i, ev := range evs {
		ps, n, err := d.planEvent(ctx, id, ev, log)
		if err != nil {
			return nil, 0, err
		}
		for _, p := range ps {
			// An invalid workflow file is reported once, by the delivery's own event.
			if i == 0 || p.err == nil && p.skip == "" {
				plans = append(plans, p)
			}
		}
		nfiles += n
	}
	return plans, nfiles, nil
}

// createRuns creates a run for each plan and marks the delivery planned, in
// one transaction.
func (d *Dispatcher) createRuns(ctx context.Context, id string, plans []planned, nfiles int) error {
	defer trace.Begin(ctx, "create runs (transaction)")()
	return d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		var notes []string
		runs := 0
		for _, p := range plans {
			if p.skip != "" {
				notes = append(notes, p.file+": "+p.skip)
				continue
			}
			if err := d.createRun(ctx, q, id, p); err != nil {
				return err
			}
			runs++
		}
		msg := fmt.Sprintf("%d run(s) of %d workflow file(s)", runs, nfiles)
		if runs == 0 && len(notes) > 0 {
			msg += "; not triggered: " + strings.Join(notes, "; ")
		}
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return q.SetDeliveryStatus(ctx, id, store.DeliveryPlanned, msg)
	})
}

// createRun creates the run of one plan and queues its report: a failed run
// for a workflow that did not load, else a started one (startRun).
func (d *Dispatcher) createRun(ctx context.Context, q *store.Queries, id string, p planned) error {
	ev := p.ev
	run := &store.Run{DeliveryID: id, Repo: ev.Repo, WorkflowFile: p.file, WorkflowName: p.file, Event: ev.Name,
		SHA: ev.SHA, Ref: ev.Ref, PRNumber: ev.PR, Status: store.StatusQueued}
	if p.err != nil {
		run.Status, run.Conclusion = store.StatusCompleted, store.ConclusionFailure
		run.Message = invalidWorkflowMessage(p.err)
		run.StartedAt, run.FinishedAt = nowTime(), nowTime()
		if err := q.CreateRun(ctx, run); err != nil {
			return err
		}
		if d.cfg.Observe != nil {
			d.cfg.Observe.RunFinished(run.Conclusion)
		}
		return q.EnqueueReport(ctx, run.ID)
	}
	if p.wf.Name != "" {
		run.WorkflowName = p.wf.Name
	}
	if err := q.CreateRun(ctx, run); err != nil {
		return err
	}
	evRun := *ev
	evRun.Inputs = typedInputs(p.wf, ev.Inputs)
	if err := d.startRun(ctx, q, run, p.wf, &evRun); err != nil {
		return err
	}
	return q.EnqueueReport(ctx, run.ID)
}

// planned is one workflow an event triggers (or that failed to load).
type planned struct {
	ev   *event
	file string
	wf   *workflow.Workflow
	err  error
	skip string // not triggered: why (no run is created)
}

// fetchWants is what planning fetches for ev: its commit, and the other
// commits it names (a push's previous head, a pull request's base and head)
// for the files a change touched.
func fetchWants(ev *event) []string {
	want := []string{ev.SHA}
	for _, extra := range []string{ev.Before, ev.BaseSHA, ev.HeadSHA} {
		if !isZeroSHA(extra) && gitrepo.ValidSHA(extra) && !slices.Contains(want, extra) {
			want = append(want, extra)
		}
	}
	return want
}

// maxPrefetches bounds the prefetches in flight: one is opportunistic, and
// a flood of webhooks must not become a flood of fetches (planning, which
// fetches anyway, runs at the plan queue's pace).
const maxPrefetches = 1

// Prefetch starts fetching, in the background, the commits planning will
// fetch for a delivery the intake is storing for planning (push and
// pull_request), so that planning — picked up from the queue once the
// delivery is durable, a few milliseconds later — finds them in the mirror
// or waits for the fetch under way (the mirror's lock) rather than starting
// it then. It fetches nothing planning would not: the delivery's signature
// was verified and its repository is allowed, its event is not skipped and
// names its commit, and the commits are planning's own (fetchWants). It
// only reads: a delivery that then fails to be stored leaves objects in the
// mirror and nothing else. With maxPrefetches in flight it does nothing; a
// failure is left to planning, which meets it and reports it.
func (d *Dispatcher) Prefetch(ctx context.Context, del store.Delivery) {
	if del.Status != store.DeliveryQueued || del.Event != "push" && del.Event != "pull_request" {
		return
	}
	select {
	case d.prefetching <- struct{}{}:
	default:
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		defer func() { <-d.prefetching }()
		evs, err := deliveryEvents(del)
		if err != nil {
			return
		}
		ev := evs[0]
		if ev.Skip != "" || ev.SHA == "" || isZeroSHA(ev.SHA) || !gitrepo.ValidSHA(ev.SHA) {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		defer trace.Begin(ctx, "prefetch at intake")()
		if _, err := d.cfg.Git.Fetch(ctx, ev.Repo, fetchWants(ev)...); err != nil {
			d.log.Debug("prefetch failed: planning will fetch", "repo", ev.Repo, "err", err)
		}
	}()
}

// planEvent fetches an event's commit and returns the workflows there that
// it triggers, with the number of workflow files read. A git failure leaves
// the delivery queued and returns the error (the queue retries).
func (d *Dispatcher) planEvent(ctx context.Context, id string, ev *event, log *slog.Logger) ([]planned, int, error) {
	q := d.cfg.Store.Queries()
	var err error
	if err := d.deploymentTagRef(ctx, ev); err != nil {
		return nil, 0, err
	}
	if ev.SHA == "" || isZeroSHA(ev.SHA) {
		if ev.SHA, err = d.cfg.Git.ResolveRef(ctx, ev.Repo, ev.Ref); err != nil {
			q.SetDeliveryStatus(ctx, id, store.DeliveryQueued, "resolving "+ev.Ref+": "+err.Error())
			return nil, 0, fmt.Errorf("resolving %s: %w", ev.Ref, err)
		}
	}
	want := fetchWants(ev)
	mirror, err := d.cfg.Git.Fetch(ctx, ev.Repo, want...)
	if err != nil && len(want) > 1 {
		// The old head of a force push may be gone: plan without it.
		mirror, err = d.cfg.Git.Fetch(ctx, ev.Repo, ev.SHA)
		ev.Before, ev.BaseSHA, ev.HeadSHA = "", "", ""
	}
	if err != nil {
		q.SetDeliveryStatus(ctx, id, store.DeliveryQueued, err.Error())
		return nil, 0, err
	}
	files, err := mirror.ListFiles(ctx, ev.SHA, workflowsDir)
	if err != nil {
		return nil, 0, err
	}
	if len(files) > 0 {
		// Make the commit's workspace while the workflows are read and the
		// jobs queued: the first job needs it right away.
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			mirror.ExportCached(context.WithoutCancel(ctx), ev.SHA, d.cfg.Git.CloneURL(ev.Repo))
		}()
	}
	sort.Strings(files)
	disabled, err := q.WorkflowStates(ctx, ev.Repo)
	if err != nil {
		return nil, 0, err
	}
	changed, diffErr := d.changedFiles(ctx, mirror, ev)
	var plans []planned
	candidates, excluded := 0, 0
	for _, f := range files {
		if !strings.HasSuffix(f, ".yml") && !strings.HasSuffix(f, ".yaml") {
			continue
		}
		if !d.workflowSelected(f) {
			excluded++
			continue
		}
		if ev.Workflow != "" && f != ev.Workflow {
			continue // a schedule or a dispatch names its one workflow
		}
		candidates++
		if st := disabled[f]; st.Disabled() {
			// A disabled workflow runs on no event (GitHub's "Disabling and
			// enabling a workflow"); hookci's own deliveries included.
			why := "the workflow is disabled (" + st.State + ")"
			log.Info("workflow not triggered", "workflow", f, "event", ev.Name, "why", why)
			plans = append(plans, planned{ev: ev, file: f, skip: why})
			continue
		}
		wf, err := d.loadWorkflow(ctx, mirror, ev.SHA, f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, 0, err
			}
			plans = append(plans, planned{ev: ev, file: f, err: err})
			continue
		}
		ok, why, err := wf.Match(matchEvent(ev, changed))
		if err != nil && *diffErr != nil {
			// Reading the history failed: an I/O failure that planning
			// retries, not a defect of the workflow file.
			return nil, 0, fmt.Errorf("listing the files changed for the path filters of %s: %w", f, *diffErr)
		}
		if err != nil {
			plans = append(plans, planned{ev: ev, file: f, err: err})
			continue
		}
		if !ok {
			if ev.Name == "pull_request_target" && why == "workflow does not run on pull_request_target" {
				continue // most workflows: not worth a line per pull request
			}
			log.Info("workflow not triggered", "workflow", f, "event", ev.Name, "why", why)
			plans = append(plans, planned{ev: ev, file: f, skip: why})
			continue
		}
		if err := d.checkCalls(ctx, &store.Run{Repo: ev.Repo, SHA: ev.SHA, WorkflowFile: f}, wf, ev); err != nil {
			if !errors.Is(err, errCallInvalid) {
				return nil, 0, err // a fetch failure: planning is retried
			}
			plans = append(plans, planned{ev: ev, file: f, err: err}) // call.go
			continue
		}
		plans = append(plans, planned{ev: ev, file: f, wf: wf})
	}
	if excluded > 0 && candidates == 0 {
		plans = append(plans, planned{ev: ev, file: workflowsDir,
			skip: fmt.Sprintf("%d workflow file(s) left out by the workflow selection (--workflow %s)", excluded, strings.Join(d.cfg.OnlyWorkflows, ", "))})
	}
	return plans, candidates, nil
}

// startRun names a created run, applies its concurrency group, creates its
// job rows and activates the jobs that need nothing. The caller enqueues the report.
func (d *Dispatcher) startRun(ctx context.Context, q *store.Queries, run *store.Run, wf *workflow.Workflow, ev *event) error {
	run.RunName = d.runName(wf, ev, run)
	group, cip, gerr := d.concurrencyOf(wf, ev, run)
	run.Concurrency, run.CancelInProgress = group, cip
	if gerr != nil {
		run.Status, run.Conclusion, run.Message = store.StatusCompleted, store.ConclusionFailure, gerr.Error()
		run.StartedAt, run.FinishedAt = nowTime(), nowTime()
		return q.UpdateRun(ctx, run)
	}
	if n := d.planSize(wf, ev, run); n > d.maxJobsPerRun() {
		run.Status, run.Conclusion, run.Message = store.StatusCompleted, store.ConclusionFailure, d.tooManyJobs(n)
		run.StartedAt, run.FinishedAt = nowTime(), nowTime()
		if d.cfg.Observe != nil {
			d.cfg.Observe.RunFinished(run.Conclusion)
		}
		return q.UpdateRun(ctx, run)
	}
	if err := q.UpdateRun(ctx, run); err != nil {
		return err
	}
	for _, j := range d.selectJobs(wf) {
		row := &store.Job{RunID: run.ID, Key: j.ID, Name: jobDisplayName(j), Status: store.StatusWaiting}
		if j.Uses != "" {
			row.Backend = store.BackendCall // reports leave a caller out (call.go)
		}
		if err := q.CreateJob(ctx, row, false); err != nil {
			return err
		}
	}
	wait := false
	if group != "" {
		var err error
		if wait, err = d.enterGroup(ctx, q, run); err != nil {
			return err
		}
	}
	if wait {
		run.Status = store.StatusPending
		return q.UpdateRun(ctx, run)
	}
	return d.advance(ctx, q, run, wf, ev)
}

// workflowSelected applies OnlyWorkflows.
func (d *Dispatcher) workflowSelected(file string) bool {
	if len(d.cfg.OnlyWorkflows) == 0 {
		return true
	}
	for _, w := range d.cfg.OnlyWorkflows {
		if file == w || strings.HasPrefix(file, strings.TrimSuffix(w, "/")+"/") {
			return true
		}
	}
	return false
}

// selectJobs is every job, or with OnlyJob that job and what it needs.
func (d *Dispatcher) selectJobs(wf *workflow.Workflow) []*workflow.Job {
	if d.cfg.OnlyJob == "" {
		return wf.Jobs
	}
	want := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		j := wf.Job(id)
		if j == nil || want[strings.ToLower(j.ID)] {
			return
		}
		want[strings.ToLower(j.ID)] = true
		for _, n := range j.Needs {
			visit(n)
		}
	}
	visit(d.cfg.OnlyJob)
	var out []*workflow.Job
	for _, j := range wf.Jobs {
		if want[strings.ToLower(j.ID)] {
			out = append(out, j)
		}
	}
	return out
}

// invalidWorkflowMessage renders a load error with file:line:col positions.
func invalidWorkflowMessage(err error) string {
	var le *workflow.LoadError
	if errors.As(err, &le) {
		return "invalid workflow:\n" + le.Error()
	}
	return "invalid workflow: " + err.Error()
}

// changedFiles returns the lazy diff for path filters: push before..after
// (a new branch: the pushed commits' files), pull request merge-base..head.
// A diff the mirror's history cannot give (a shallow clone) is unknown and
// lets the filters pass; any other failure is kept in *ioErr, so that the
// caller retries planning instead of calling the workflow invalid.
func (d *Dispatcher) changedFiles(ctx context.Context, m *gitrepo.Mirror, ev *event) (func() ([]string, error), *error) {
	ioErr := new(error)
	diff := d.diff(ctx, m, ev)
	return func() ([]string, error) {
		files, err := diff()
		switch {
		case errors.Is(err, gitrepo.ErrUnknownDiff):
			return nil, fmt.Errorf("%w: %w", workflow.ErrChangedFilesUnknown, err)
		case err != nil:
			*ioErr = err
		}
		return files, err
	}, ioErr
}

// diff is the diff of changedFiles, errors as they come.
func (d *Dispatcher) diff(ctx context.Context, m *gitrepo.Mirror, ev *event) func() ([]string, error) {
	return func() ([]string, error) {
		switch {
		case ev.Name == "push" && ev.Before != "" && !isZeroSHA(ev.Before):
			return m.ChangedFiles(ctx, ev.Before, ev.SHA)
		case ev.Name == "push" && len(ev.PushFiles) > 0:
			return ev.PushFiles, nil
		case ev.Name == "push":
			return m.CommitFiles(ctx, ev.SHA)
		case ev.Name == "pull_request" && ev.BaseSHA != "":
			base, err := m.MergeBase(ctx, ev.BaseSHA, ev.SHA)
			if err != nil {
				return nil, err
			}
			return m.ChangedFiles(ctx, base, ev.SHA)
		case ev.Name == "pull_request_target" && ev.HeadSHA != "":
			// The pull request's files, although the run is at the base.
			base, err := m.MergeBase(ctx, ev.SHA, ev.HeadSHA)
			if err != nil {
				return nil, err
			}
			return m.ChangedFiles(ctx, base, ev.HeadSHA)
		}
		return nil, nil // unknown diff: path filters pass, as on GitHub
	}
}

// runName evaluates run-name (github and inputs contexts); the default is
// the workflow name.
func (d *Dispatcher) runName(wf *workflow.Workflow, ev *event, run *store.Run) string {
	if wf.RunName == "" {
		return run.WorkflowName
	}
	env := &expr.Env{Contexts: map[string]expr.Value{
		"github": expr.ObjectValue(d.githubContext(ev, run, "")),
		"inputs": expr.FromGo(ev.Inputs),
		"vars":   stringMap(d.cfg.Vars),
	}}
	name, err := expr.Interpolate(wf.RunName, env)
	if err != nil {
		return run.WorkflowName
	}
	return name
}

func jobDisplayName(j *workflow.Job) string {
	if j.Name != "" && !expr.ContainsExpression(j.Name) {
		return j.Name
	}
	return j.ID
}

func stringMap(m map[string]string) expr.Value {
	a := make(map[string]any, len(m))
	for k, v := range m {
		a[k] = v
	}
	return expr.FromGo(a)
}
