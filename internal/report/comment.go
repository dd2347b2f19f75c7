package report

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

var icons = map[string]string{
	store.ConclusionSuccess:   "✅",
	store.ConclusionFailure:   "❌",
	store.ConclusionCancelled: "⚪",
	store.ConclusionSkipped:   "⏭️",
	store.ConclusionTimedOut:  "⏱️",
}

func icon(status, conclusion string) string {
	if status != store.StatusCompleted {
		return "🟡"
	}
	if i, ok := icons[conclusion]; ok {
		return i
	}
	return "❔"
}

func result(status, conclusion string) string {
	if status != store.StatusCompleted {
		return strings.ReplaceAll(status, "_", " ")
	}
	return conclusion
}

// commentBody renders the pull request comment for the head commit of run's
// pull request: every run of that commit and pull request.
func (r *Reporter) commentBody(ctx context.Context, run store.Run) (string, error) {
	q := r.st.Queries()
	all, err := q.RunsForCommit(ctx, run.Repo, run.SHA)
	if err != nil {
		return "", err
	}
	var runs []store.Run
	for _, x := range all {
		if x.PRNumber == run.PRNumber {
			runs = append(runs, x)
		}
	}
	var table, failures strings.Builder
	failed, passed, pending := 0, 0, 0
	table.WriteString("| Workflow | Job | Result | Duration |\n|---|---|---|---|\n")
	for _, ru := range runs {
		jobs, err := q.RunJobs(ctx, ru.ID)
		if err != nil {
			return "", err
		}
		jobs = Reported(jobs)
		wf := fmt.Sprintf("[%s](%s)", mdEscape(ru.WorkflowName), r.RunURL(ru.ID))
		if len(jobs) == 0 {
			fmt.Fprintf(&table, "| %s | — | %s %s | %s |\n", wf, icon(ru.Status, ru.Conclusion),
				result(ru.Status, ru.Conclusion), duration(ru.StartedAt, ru.FinishedAt))
			if ru.Conclusion == store.ConclusionFailure {
				failed++
				fmt.Fprintf(&failures, "<details><summary>❌ %s</summary>\n\n```\n%s\n```\n</details>\n\n",
					mdEscape(ru.WorkflowName), fence(ru.Message))
			}
			continue
		}
		for _, j := range jobs {
			fmt.Fprintf(&table, "| %s | %s | %s %s | %s |\n", wf, mdEscape(j.Name), icon(j.Status, j.Conclusion),
				result(j.Status, j.Conclusion), duration(j.StartedAt, j.FinishedAt))
			switch {
			case j.Status != store.StatusCompleted:
				pending++
			case j.Conclusion == store.ConclusionFailure || j.Conclusion == store.ConclusionTimedOut:
				failed++
				tail, step := r.failedTail(ctx, j)
				title := fmt.Sprintf("%s / %s", ru.WorkflowName, j.Name)
				if step != "" {
					title += fmt.Sprintf(" — step %q failed", step)
				}
				if tail == "" && j.Message != "" {
					tail = j.Message
				}
				fmt.Fprintf(&failures, "<details><summary>❌ %s</summary>\n\n```\n%s\n```\n</details>\n\n", mdEscape(title), fence(tail))
			case j.Conclusion == store.ConclusionSuccess:
				passed++
			}
		}
	}
	short := run.SHA
	if len(short) > 7 {
		short = short[:7]
	}
	var b strings.Builder
	state := "✅ all passed"
	switch {
	case failed > 0:
		state = fmt.Sprintf("❌ %d failed", failed)
	case pending > 0:
		state = fmt.Sprintf("🟡 %d running", pending)
	}
	fmt.Fprintf(&b, "### hookci: %s (%d passed) — commit %s\n\n", state, passed, short)
	b.WriteString(table.String())
	if failures.Len() > 0 {
		b.WriteString("\n")
		b.WriteString(failures.String())
	}
	return b.String(), nil
}

// failedTail returns the last lines of a job's first failed step, and its name.
func (r *Reporter) failedTail(ctx context.Context, j store.Job) (string, string) {
	q := r.st.Queries()
	steps, err := q.Steps(ctx, j.ID)
	if err != nil {
		return "", ""
	}
	idx, name := -1, ""
	for _, s := range steps {
		if s.Conclusion == store.ConclusionFailure {
			idx, name = s.Index, s.Name
			break
		}
	}
	if idx < 0 {
		return "", ""
	}
	// Only the end of the step's log is read: a log may be many MiB.
	data, err := q.StepLogTail(ctx, j.ID, idx, 256<<10)
	if err != nil || len(data) == 0 {
		return "", name
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return strings.Join(lines, "\n"), name
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// fence keeps a log from closing the code block it is shown in.
func fence(s string) string { return strings.ReplaceAll(s, "```", "`\u200b``") }
