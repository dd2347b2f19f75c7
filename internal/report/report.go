// Package report owns what hookci tells GitHub about a run: a commit status
// per workflow run (pending, then success or failure, with the duration and a
// link to the run page) and, for pull requests, one comment per pull request
// updated in place, with every workflow and job of the head commit, their
// results and durations, and the last lines of each failed step's log.
// Everything it sends was masked by the runner when it was logged.
package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/store"
)

// CommentMarker identifies hookci's pull-request comment.
const CommentMarker = "hookci:summary"

// tailLines is how much of a failed step's log the comment shows.
const tailLines = 20

// Reporter reports runs.
type Reporter struct {
	gh        *github.Client
	st        *store.Store
	publicURL string
	log       *slog.Logger

	mu    sync.Mutex // guards the fields below
	locks map[int64]*keyLock
}

// keyLock is a mutex shared by the reports of one run (or one pull
// request); it is removed from Reporter.locks when nobody holds or waits for it.
type keyLock struct {
	sync.Mutex
	refs int // guarded by Reporter.mu
}

// sent is what was last sent to GitHub for one run (store.ReportsSent),
// read once its reports' lock is held, and what this report sends on top.
type sent struct {
	before, now map[string]string
}

// same reports whether val is what GitHub was last sent under key.
func (s *sent) same(key, val string) bool {
	if v, ok := s.now[key]; ok {
		return v == val
	}
	return s.before[key] == val
}

func (s *sent) note(key, val string) { s.now[key] = val }

// New returns a Reporter that links to run pages under publicURL.
func New(gh *github.Client, st *store.Store, publicURL string, log *slog.Logger) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reporter{gh: gh, st: st, publicURL: strings.TrimRight(publicURL, "/"), log: log,
		locks: map[int64]*keyLock{}}
}

func (r *Reporter) lock(key int64) func() {
	r.mu.Lock()
	l, ok := r.locks[key]
	if !ok {
		l = &keyLock{}
		r.locks[key] = l
	}
	l.refs++
	r.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		r.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.locks, key)
		}
		r.mu.Unlock()
	}
}

// RunURL is the run's page.
func (r *Reporter) RunURL(id int64) string { return fmt.Sprintf("%s/runs/%d", r.publicURL, id) }

// Report sends run runID's current state. Reports of one run are
// serialised, on this host and across every host sharing the store, and
// read the state afresh, so the last one sent is the latest; what GitHub
// was last sent is kept in the store, so a state is sent once even when
// another host (or this one before a restart) sent it.
func (r *Reporter) Report(ctx context.Context, runID int64) (err error) {
	unlock := r.lock(runID)
	defer unlock()
	unlockHosts, err := r.st.LockAcrossHosts(ctx, fmt.Sprintf("report run %d", runID))
	if err != nil {
		return err
	}
	defer unlockHosts()
	q := r.st.Queries()
	run, err := q.Run(ctx, runID)
	if err != nil {
		return err
	}
	del, err := q.Delivery(ctx, run.DeliveryID)
	if err != nil {
		return err
	}
	repo, err := repoOf(run.Repo, del.Payload)
	if err != nil {
		return err
	}
	before, err := q.ReportsSent(ctx, runID)
	if err != nil {
		return err
	}
	s := &sent{before: before, now: map[string]string{}}
	defer func() {
		// What reached GitHub is recorded even when a later update failed.
		if rerr := q.SetReportsSent(context.WithoutCancel(ctx), runID, s.now); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if r.gh.IsApp() {
		if err := r.checkRuns(ctx, repo, run, s); err != nil {
			return fmt.Errorf("report run %d: %w", runID, err)
		}
	} else if err := r.statuses(ctx, repo, run, s); err != nil {
		return fmt.Errorf("report run %d: %w", runID, err)
	}
	if run.PRNumber > 0 {
		unlockPR := r.lock(-int64(run.PRNumber))
		defer unlockPR()
		unlockPRHosts, err := r.st.LockAcrossHosts(ctx, fmt.Sprintf("report comment %s#%d", run.Repo, run.PRNumber))
		if err != nil {
			return err
		}
		defer unlockPRHosts()
		body, err := r.commentBody(ctx, run)
		if err != nil {
			return err
		}
		if _, err := r.gh.UpsertPRComment(ctx, repo, run.PRNumber, CommentMarker, body); err != nil {
			return fmt.Errorf("report run %d: comment: %w", runID, err)
		}
	}
	return nil
}

// statuses sets the commit statuses of a run (token mode): one for the
// workflow run and one per job.
func (r *Reporter) statuses(ctx context.Context, repo github.Repo, run store.Run, s *sent) error {
	st := statusOf(run)
	st.TargetURL = r.RunURL(run.ID)
	if err := r.setStatus(ctx, repo, run, s, "status run", st); err != nil {
		return err
	}
	jobs, err := r.st.Queries().RunJobs(ctx, run.ID)
	if err != nil {
		return err
	}
	jobs = Reported(jobs)
	for _, j := range jobs {
		js := jobStatus(j)
		js.Context = StatusContext(run.WorkflowName) + " / " + j.Name
		js.TargetURL = fmt.Sprintf("%s#job-%d", r.RunURL(run.ID), j.ID)
		if err := r.setStatus(ctx, repo, run, s, fmt.Sprintf("status job-%d", j.ID), js); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reporter) setStatus(ctx context.Context, repo github.Repo, run store.Run, s *sent, key string, st github.Status) error {
	val := st.State + "|" + st.Description
	if s.same(key, val) {
		return nil
	}
	if err := r.gh.SetStatus(ctx, repo, run.SHA, st); err != nil {
		return err
	}
	s.note(key, val)
	return nil
}

func jobStatus(j store.Job) github.Status {
	var s github.Status
	switch j.Status {
	case store.StatusCompleted:
		d := duration(j.StartedAt, j.FinishedAt)
		switch j.Conclusion {
		case store.ConclusionSuccess:
			s.State, s.Description = github.StateSuccess, "Successful in "+d
		case store.ConclusionSkipped:
			s.State, s.Description = github.StateSuccess, "Skipped"
		case store.ConclusionCancelled:
			s.State, s.Description = github.StateError, "Cancelled after "+d
		default:
			s.State, s.Description = github.StateFailure, "Failed after "+d
			if j.Message != "" { // why it did not run (e.g. no runner for labels [...])
				s.Description, _, _ = strings.Cut(j.Message, "\n")
			}
		}
	case store.StatusInProgress:
		s.State, s.Description = github.StatePending, "Running"
	default:
		s.State, s.Description = github.StatePending, "Queued"
	}
	return s
}

func repoOf(full string, payload []byte) (github.Repo, error) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok {
		return github.Repo{}, fmt.Errorf("bad repository name %q", full)
	}
	var p struct {
		Installation struct {
			ID int64 `json:"id"`
		} `json:"installation"`
	}
	json.Unmarshal(payload, &p)
	return github.Repo{Owner: owner, Name: name, InstallationID: p.Installation.ID}, nil
}

// StatusContext is the commit status context of a workflow.
func StatusContext(workflowName string) string { return "hookci/" + workflowName }

func statusOf(run store.Run) github.Status {
	s := github.Status{Context: StatusContext(run.WorkflowName)}
	switch run.Status {
	case store.StatusQueued:
		s.State, s.Description = github.StatePending, "Queued"
	case store.StatusInProgress:
		s.State, s.Description = github.StatePending, "Running"
	default:
		d := duration(run.StartedAt, run.FinishedAt)
		switch run.Conclusion {
		case store.ConclusionSuccess:
			s.State, s.Description = github.StateSuccess, "Successful in "+d
		case store.ConclusionCancelled:
			s.State, s.Description = github.StateError, "Cancelled after "+d
		default:
			s.State, s.Description = github.StateFailure, "Failed after "+d
			if run.Message != "" {
				first, _, _ := strings.Cut(run.Message, "\n")
				if strings.HasPrefix(run.Message, "invalid workflow") {
					lines := strings.Split(run.Message, "\n")
					if len(lines) > 1 {
						first = "Invalid workflow: " + lines[1]
					}
				}
				s.Description = first
			}
		}
	}
	return s
}

func duration(a, b time.Time) string {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return "0s"
	}
	d := b.Sub(a).Round(time.Second)
	if d < time.Second {
		return fmt.Sprintf("%dms", b.Sub(a).Milliseconds())
	}
	return d.String()
}

// Reported is the jobs GitHub would show: a job calling a reusable workflow
// is left out (its called jobs, "caller / called", are shown instead) unless
// it failed before calling anything, when its message says why.
func Reported(jobs []store.Job) []store.Job {
	out := jobs[:0:0]
	for _, j := range jobs {
		if j.Backend == store.BackendCall && j.Message == "" {
			continue
		}
		out = append(out, j)
	}
	return out
}
