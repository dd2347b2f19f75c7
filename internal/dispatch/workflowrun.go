package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
)

// MaxWorkflowRunDepth is GitHub's limit on workflow_run chains: a run
// started by workflow_run may itself trigger workflow_run, at most three
// levels beyond the first run (A → B → C → D; E does not run).
const MaxWorkflowRunDepth = 3

// withWorkflowRunEvents wraps the report handler: every report of a run
// (queued at each change of its state, durably) first sends the run's
// workflow_run events — requested (first attempt only, as GitHub),
// in_progress, completed — each once per attempt, as synthesized deliveries
// planned through the normal path.
func (d *Dispatcher) withWorkflowRunEvents(report func(ctx context.Context, runID int64) error) func(ctx context.Context, runID int64) error {
	return func(ctx context.Context, runID int64) error {
		defer trace.Begin(ctx, "report")()
		if err := d.workflowRunEvents(ctx, runID); err != nil {
			return fmt.Errorf("workflow_run events of run %d: %w", runID, err)
		}
		if report == nil {
			return nil
		}
		return report(ctx, runID)
	}
}

// workflowRunEvents sends the workflow_run events run runID is due (when
// Config.WorkflowRunEvents).
func (d *Dispatcher) workflowRunEvents(ctx context.Context, runID int64) error {
	q := d.cfg.Store.Queries()
	run, err := q.Run(ctx, runID)
	if err != nil {
		return err
	}
	if !d.cfg.WorkflowRunEvents {
		return nil
	}
	names, known, err := q.WorkflowRunListeners(ctx, run.Repo)
	if err != nil {
		return err
	}
	if !known || !slices.Contains(names, run.WorkflowName) {
		return nil // no workflow of the default branch listens to this one (or none was read)
	}
	depth, err := d.workflowRunDepth(ctx, q, run)
	if err != nil {
		return err
	}
	if depth >= MaxWorkflowRunDepth {
		return nil
	}
	var actions []string
	if run.Attempt <= 1 {
		actions = append(actions, "requested")
	}
	started, err := runStarted(ctx, q, run)
	if err != nil {
		return err
	}
	if started {
		actions = append(actions, "in_progress")
	}
	if run.Status == store.StatusCompleted {
		actions = append(actions, "completed")
	}
	if len(actions) == 0 {
		return nil
	}
	del, err := q.Delivery(ctx, run.DeliveryID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	branch := ""
	if repos, err := q.ScheduleRepos(ctx); err == nil {
		for _, r := range repos {
			if r.Repo == run.Repo {
				branch = r.DefaultBranch
			}
		}
	}
	for _, action := range actions {
		if err := d.sendWorkflowRun(ctx, run, del, branch, action); err != nil {
			return err
		}
	}
	return nil
}

// runStarted reports whether any job of the run started (a run whose jobs
// were all skipped, or that failed before any job, never was in progress).
func runStarted(ctx context.Context, q *store.Queries, run store.Run) (bool, error) {
	if run.Status == store.StatusInProgress {
		return true, nil
	}
	if run.Status != store.StatusCompleted {
		return false, nil
	}
	jobs, err := q.RunJobs(ctx, run.ID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(jobs, func(j store.Job) bool { return !j.StartedAt.IsZero() }), nil
}

// workflowRunDepth is how many workflow_run hops led to run (0 for a run
// started by any other event).
func (d *Dispatcher) workflowRunDepth(ctx context.Context, q *store.Queries, run store.Run) (int, error) {
	depth := 0
	for run.Event == "workflow_run" && depth <= MaxWorkflowRunDepth {
		del, err := q.Delivery(ctx, run.DeliveryID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return 0, err
		}
		var p struct {
			WorkflowRun struct {
				ID int64 `json:"id"`
			} `json:"workflow_run"`
		}
		if json.Unmarshal(del.Payload, &p) != nil || p.WorkflowRun.ID == 0 {
			break
		}
		depth++
		if run, err = q.Run(ctx, p.WorkflowRun.ID); err != nil {
			break // the triggering run is gone: count what is known
		}
	}
	return depth, nil
}

// sendWorkflowRun stores the workflow_run delivery of one action of a run,
// once (the claim and the delivery commit together).
func (d *Dispatcher) sendWorkflowRun(ctx context.Context, run store.Run, del store.Delivery, branch, action string) error {
	id := fmt.Sprintf("workflow_run-%d-%d-%s", run.ID, run.Attempt, action)
	body, err := json.Marshal(d.workflowRunPayload(run, del, branch, action))
	if err != nil {
		return err
	}
	return d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		won, err := q.ClaimWorkflowRunEvent(ctx, run.ID, run.Attempt, action, id)
		if err != nil || !won {
			return err
		}
		_, err = q.AddDeliveryTx(ctx, store.Delivery{ID: id, Event: "workflow_run", Action: action, Repo: run.Repo,
			ReceivedAt: d.clock(), Payload: body, Message: fmt.Sprintf("run %d %s", run.ID, action)})
		return err
	})
}

// workflowRunPayload is GitHub's workflow_run webhook payload for a run:
// the run (id, name, head_branch, head_sha, event, status, conclusion,
// run_number, run_attempt, workflow_id, path, html_url, pull_requests, …),
// the workflow, and the repository and sender of the run's delivery
// (branch fills in the repository's default_branch when that lacks it).
func (d *Dispatcher) workflowRunPayload(run store.Run, del store.Delivery, branch, action string) map[string]any {
	var orig struct {
		Repository  json.RawMessage `json:"repository"`
		Sender      json.RawMessage `json:"sender"`
		PullRequest *struct {
			Number int `json:"number"`
			Head   struct {
				Ref string `json:"ref"`
				SHA string `json:"sha"`
			} `json:"head"`
			Base struct {
				Ref string `json:"ref"`
				SHA string `json:"sha"`
			} `json:"base"`
		} `json:"pull_request"`
	}
	_ = json.Unmarshal(del.Payload, &orig)
	repo := map[string]any{}
	_ = json.Unmarshal(orig.Repository, &repo)
	if repo["full_name"] == nil {
		repo["full_name"] = run.Repo
	}
	if b, _ := repo["default_branch"].(string); b == "" && branch != "" {
		repo["default_branch"] = branch
	}
	repoJSON, _ := json.Marshal(repo)
	headBranch := strings.TrimPrefix(strings.TrimPrefix(run.Ref, "refs/heads/"), "refs/tags/")
	pulls := []any{}
	if pr := orig.PullRequest; pr != nil {
		headBranch = pr.Head.Ref
		pulls = append(pulls, map[string]any{"number": pr.Number,
			"head": map[string]any{"ref": pr.Head.Ref, "sha": pr.Head.SHA},
			"base": map[string]any{"ref": pr.Base.Ref, "sha": pr.Base.SHA}})
	}
	// Each event tells the run as it was at that event, whenever the
	// report that sends it is worked: a requested event says queued even
	// when the run has started since.
	status := run.Status
	switch {
	case action == "requested", status == store.StatusPending, status == store.StatusWaiting:
		status = "queued"
	case action == "in_progress":
		status = store.StatusInProgress
	}
	var conclusion any
	if action == "completed" && run.Status == store.StatusCompleted {
		conclusion = run.Conclusion
	}
	wfID := workflowID(run.Repo, run.WorkflowFile)
	apiRuns := d.cfg.APIURL + "/repos/" + run.Repo + "/actions/runs/" + fmt.Sprint(run.ID)
	title := run.RunName
	if title == "" {
		title = run.WorkflowName
	}
	wr := map[string]any{
		"id": run.ID, "name": run.WorkflowName, "display_title": title, "path": run.WorkflowFile,
		"head_branch": headBranch, "head_sha": run.SHA, "event": run.Event, "status": status, "conclusion": conclusion,
		"run_number": run.RunNumber, "run_attempt": run.Attempt, "workflow_id": wfID,
		"html_url": d.runPage(run),
		"url":      apiRuns, "workflow_url": d.cfg.APIURL + "/repos/" + run.Repo + "/actions/workflows/" + fmt.Sprint(wfID),
		"jobs_url": apiRuns + "/jobs", "logs_url": apiRuns + "/logs", "artifacts_url": apiRuns + "/artifacts",
		"created_at": ghTime(run.CreatedAt), "updated_at": ghTime(d.clock()), "run_started_at": ghTime(run.StartedAt),
		"pull_requests": pulls, "repository": json.RawMessage(repoJSON), "head_repository": json.RawMessage(repoJSON),
	}
	out := map[string]any{
		"action": action, "workflow_run": wr, "repository": json.RawMessage(repoJSON),
		"workflow": map[string]any{"id": wfID, "name": run.WorkflowName, "path": run.WorkflowFile, "state": "active"},
	}
	if len(orig.Sender) > 0 {
		out["sender"] = orig.Sender
	} else {
		out["sender"] = map[string]any{"login": "hookci"}
	}
	return out
}

// workflowID is a stable numeric id for a workflow file of a repository
// (GitHub's workflow_id; hookci has no workflow records).
func workflowID(repo, file string) int64 {
	h := fnv.New64a()
	h.Write([]byte(repo + "\x00" + file))
	return int64(h.Sum64() >> 12) // positive, and exact as a JSON number
}

func ghTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// runPage is where a run can be seen: its page on hookci.
func (d *Dispatcher) runPage(run store.Run) string {
	if d.cfg.PublicURL != "" {
		return strings.TrimRight(d.cfg.PublicURL, "/") + "/runs/" + fmt.Sprint(run.ID)
	}
	return d.cfg.ServerURL + "/" + run.Repo + "/actions/runs/" + fmt.Sprint(run.ID)
}
