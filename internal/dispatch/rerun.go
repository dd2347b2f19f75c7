package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// rerequested handles GitHub's Re-run buttons: check_run rerequested re-runs
// that job (its new result replaces the old one); check_suite rerequested
// re-runs every workflow run of the commit as a new attempt.
func (d *Dispatcher) rerequested(ctx context.Context, del store.Delivery) error {
	var p struct {
		Action   string `json:"action"`
		CheckRun *struct {
			ExternalID string `json:"external_id"`
		} `json:"check_run"`
		CheckSuite *struct {
			HeadSHA string `json:"head_sha"`
		} `json:"check_suite"`
	}
	if err := json.Unmarshal(del.Payload, &p); err != nil {
		return d.cfg.Store.Queries().SetDeliveryStatus(ctx, del.ID, store.DeliveryFailed, "payload: "+err.Error())
	}
	return d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		var msg string
		switch {
		case del.Event == "check_run" && p.CheckRun != nil:
			msg, err = d.rerunJob(ctx, q, del.Repo, p.CheckRun.ExternalID)
		case del.Event == "check_suite" && p.CheckSuite != nil:
			msg, err = d.rerunCommit(ctx, q, del.ID, del.Repo, p.CheckSuite.HeadSHA)
		default:
			msg = "nothing to re-run"
		}
		if err != nil {
			return err
		}
		return q.SetDeliveryStatus(ctx, del.ID, store.DeliveryPlanned, msg)
	})
}

var zeroTime time.Time

// jobFromExternalID reads "hookci-job-<id>-<attempt>".
func jobFromExternalID(ext string) (int64, bool) {
	rest, ok := strings.CutPrefix(ext, "hookci-job-")
	if !ok {
		return 0, false
	}
	idStr, _, _ := strings.Cut(rest, "-")
	id, err := strconv.ParseInt(idStr, 10, 64)
	return id, err == nil && id > 0
}

func (d *Dispatcher) rerunJob(ctx context.Context, q *store.Queries, repo, ext string) (string, error) {
	id, ok := jobFromExternalID(ext)
	if !ok {
		return "check run " + ext + " is not hookci's", nil
	}
	job, err := q.Job(ctx, id)
	if err != nil {
		return "job of check run " + ext + " not found", nil
	}
	run, err := q.Run(ctx, job.RunID)
	if err != nil || !strings.EqualFold(run.Repo, repo) {
		return "job of check run " + ext + " is not in " + repo, nil
	}
	if job.Status != store.StatusCompleted {
		return fmt.Sprintf("job %d is still %s", job.ID, job.Status), nil
	}
	if err := q.ResetJobRecords(ctx, job.ID); err != nil {
		return "", err
	}
	job.Status, job.Conclusion, job.Message, job.Outputs = store.StatusQueued, "", "", "{}"
	job.Attempt++ // a new check run (its external id carries the attempt) replaces the old
	job.Annotations, job.Summary = "[]", ""
	job.StartedAt, job.FinishedAt = zeroTime, zeroTime
	if err := q.UpdateJob(ctx, &job); err != nil {
		return "", err
	}
	if err := q.SetCheckRunID(ctx, job.ID, 0); err != nil {
		return "", err
	}
	if err := reopenCallers(ctx, q, job.Key); err != nil { // call_run.go
		return "", err
	}
	run.Status, run.Conclusion, run.Message, run.FinishedAt = store.StatusInProgress, "", "", zeroTime
	if err := q.UpdateRun(ctx, &run); err != nil {
		return "", err
	}
	if err := q.EnqueueJob(ctx, job.ID); err != nil {
		return "", err
	}
	return fmt.Sprintf("re-running job %d (%s) of run %d", job.ID, job.Name, run.ID), q.EnqueueReport(ctx, run.ID)
}

func (d *Dispatcher) rerunCommit(ctx context.Context, q *store.Queries, deliveryID, repo, sha string) (string, error) {
	runs, err := q.RunsForCommit(ctx, repo, sha)
	if err != nil {
		return "", err
	}
	// The newest attempt of each workflow file.
	latest := map[string]store.Run{}
	for _, r := range runs {
		if cur, ok := latest[r.WorkflowFile]; !ok || r.ID > cur.ID {
			latest[r.WorkflowFile] = r
		}
	}
	n := 0
	for _, old := range latest {
		if old.Status != store.StatusCompleted {
			continue
		}
		in, err := d.loadRunWorkflow(ctx, q, &old)
		if err != nil {
			continue // an invalid workflow stays failed
		}
		if _, err := d.newAttempt(ctx, q, &old, in, nil, nil, nil); err != nil {
			return "", err
		}
		n++
	}
	return fmt.Sprintf("re-running %d run(s) of %.12s", n, sha), nil
}
