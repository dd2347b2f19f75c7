package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/store"
)

// checkConclusions maps job conclusions to GitHub's check run conclusions.
var checkConclusions = map[string]string{
	store.ConclusionSuccess:   github.ConclusionSuccess,
	store.ConclusionFailure:   github.ConclusionFailure,
	store.ConclusionCancelled: github.ConclusionCancelled,
	store.ConclusionSkipped:   github.ConclusionSkipped,
	store.ConclusionTimedOut:  github.ConclusionTimedOut,
}

// CheckName is a job's check run name: "<workflow> / <job>" (the job name
// carries its matrix values).
func CheckName(workflowName, jobName string) string { return workflowName + " / " + jobName }

// checkRuns creates or updates one check run per job (App mode).
func (r *Reporter) checkRuns(ctx context.Context, repo github.Repo, run store.Run, s *sent) error {
	q := r.st.Queries()
	jobs, err := q.RunJobs(ctx, run.ID)
	if err != nil {
		return err
	}
	jobs = Reported(jobs)
	for _, j := range jobs {
		status := github.CheckQueued
		switch j.Status {
		case store.StatusInProgress:
			status = github.CheckInProgress
		case store.StatusCompleted:
			status = github.CheckCompleted
		}
		key := fmt.Sprintf("check job-%d", j.ID)
		if j.CheckRunID != 0 && s.same(key, fmt.Sprintf("%d|%s|%s|%d", j.CheckRunID, status, j.Conclusion, j.Attempt)) {
			continue
		}
		details := fmt.Sprintf("%s#job-%d", r.RunURL(run.ID), j.ID)
		id := j.CheckRunID
		if id == 0 {
			cr := github.CheckRun{Name: CheckName(run.WorkflowName, j.Name), HeadSHA: run.SHA, Status: github.CheckQueued,
				ExternalID: fmt.Sprintf("hookci-job-%d-%d", j.ID, max(j.Attempt, 1)), DetailsURL: details}
			if status == github.CheckInProgress {
				cr.Status, cr.StartedAt = github.CheckInProgress, j.StartedAt
			}
			if id, err = r.gh.CreateCheckRun(ctx, repo, cr); err != nil {
				return fmt.Errorf("check run for job %d: %w", j.ID, err)
			}
			if err := q.SetCheckRunID(ctx, j.ID, id); err != nil {
				return err
			}
		}
		if status != github.CheckQueued {
			u := github.CheckRunUpdate{Status: status, DetailsURL: details}
			if status == github.CheckCompleted {
				u.Conclusion = checkConclusions[j.Conclusion]
				if u.Conclusion == "" {
					u.Conclusion = github.ConclusionNeutral
				}
				u.CompletedAt = j.FinishedAt
				out, err := r.checkOutput(ctx, run, j)
				if err != nil {
					return err
				}
				u.Output = out
			}
			if err := r.gh.UpdateCheckRun(ctx, repo, id, u); err != nil {
				return fmt.Errorf("check run for job %d: %w", j.ID, err)
			}
		}
		s.note(key, fmt.Sprintf("%d|%s|%s|%d", id, status, j.Conclusion, j.Attempt))
	}
	return nil
}

// checkOutput is a finished job's check run page: title, a step table with
// durations, the job's step summaries, the failed step's log tail and the
// annotations its steps printed.
func (r *Reporter) checkOutput(ctx context.Context, run store.Run, j store.Job) (*github.CheckOutput, error) {
	steps, err := r.st.Queries().Steps(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	out := &github.CheckOutput{Title: fmt.Sprintf("%s in %s", j.Conclusion, duration(j.StartedAt, j.FinishedAt))}
	var b strings.Builder
	if j.Message != "" {
		fmt.Fprintf(&b, "> %s\n\n", strings.ReplaceAll(j.Message, "\n", "\n> "))
	}
	if len(steps) > 0 {
		b.WriteString("| Step | Result | Duration |\n|---|---|---|\n")
		for _, s := range steps {
			fmt.Fprintf(&b, "| %s | %s %s | %s |\n", mdEscape(s.Name), icon(s.Status, s.Conclusion), result(s.Status, s.Conclusion),
				duration(s.StartedAt, s.FinishedAt))
		}
	}
	if j.Summary != "" {
		b.WriteString("\n")
		b.WriteString(j.Summary)
	}
	out.Summary = b.String()
	if out.Summary == "" { // GitHub refuses a blank summary (a job skipped or cancelled before it ran)
		out.Summary = fmt.Sprintf("The job did not run (%s).", j.Conclusion)
	}
	if tail, step := r.failedTail(ctx, j); tail != "" {
		out.Text = fmt.Sprintf("Step %q failed:\n\n```\n%s\n```\n", step, fence(tail))
	}
	var anns []store.Annotation
	json.Unmarshal([]byte(j.Annotations), &anns)
	for _, a := range anns {
		ga := github.Annotation{Path: a.File, StartLine: a.Line, EndLine: a.EndLine, StartColumn: a.Column,
			EndColumn: a.EndColumn, Title: a.Title, Message: a.Message}
		switch a.Level {
		case "error":
			ga.Level = github.LevelFailure
		case "warning":
			ga.Level = github.LevelWarning
		default:
			ga.Level = github.LevelNotice
		}
		if ga.Path == "" { // GitHub needs a path: point at the workflow file, as its runner does
			ga.Path, ga.StartLine = run.WorkflowFile, 1
		}
		if ga.StartLine < 1 {
			ga.StartLine = 1
		}
		if ga.EndLine < ga.StartLine {
			ga.EndLine = ga.StartLine
		}
		if ga.StartLine != ga.EndLine {
			ga.StartColumn, ga.EndColumn = 0, 0
		}
		if ga.Message == "" {
			ga.Message = ga.Title
		}
		out.Annotations = append(out.Annotations, ga)
	}
	return out, nil
}
