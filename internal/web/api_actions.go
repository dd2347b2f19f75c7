package web

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// The JSON API shaped like GitHub's Actions REST API, under
// /api/repos/{owner}/{repo}/actions/…, so that scripts and tools written for
// api.github.com work with a base-URL change: the same paths, query
// filters, field names and status codes. Departures (docs/architecture.md):
// every attempt of a run is its own run id here (GitHub keeps one id and
// serves older attempts under /attempts/{n}); lists show the latest attempt
// of each run, and GET of an older attempt's id shows that attempt; there
// are no numeric workflow ids; a job's labels are not stored.

// mountActions registers the Actions-shaped routes on mux, under
// /api/repos/{owner}/{repo}/actions/ as on GitHub and (hookci's own) under
// /api/actions/ for every repository the viewer may read: the CLI names a
// run by its id alone.
func (s *Server) mountActions(mux *http.ServeMux) {
	for _, p := range []string{"/api/repos/{owner}/{repo}/actions/", "/api/actions/"} {
		s.mountActionsAt(mux, p)
	}
}

func (s *Server) mountActionsAt(mux *http.ServeMux, p string) {
	get := func(path string, h http.HandlerFunc) { mux.Handle("GET "+p+path, s.auth(h)) }
	post := func(path string, h http.HandlerFunc) { mux.Handle("POST "+p+path, s.auth(h)) }
	get("runs", s.actionsRuns)
	get("runs/{id}", s.actionsRun)
	get("runs/{id}/jobs", s.actionsRunJobs)
	get("runs/{id}/logs", s.actionsRunLogs)
	get("runs/{id}/attempts/{attempt}", s.actionsRunAttempt)
	get("runs/{id}/attempts/{attempt}/jobs", s.actionsRunAttemptJobs)
	get("jobs/{id}", s.actionsJob)
	get("jobs/{id}/logs", s.actionsJobLogs)
	post("runs/{id}/cancel", s.actionsCancelRun)
	post("runs/{id}/rerun", s.actionsRerun(false))
	post("runs/{id}/rerun-failed-jobs", s.actionsRerun(true))
	post("jobs/{id}/rerun", s.actionsRerunJob)
	post("jobs/{id}/cancel", s.actionsCancelJob)
	if p != "/api/actions/" {
		post("workflows/{workflow}/dispatches", s.actionsDispatch)
	}
}

// ghUser and ghRepo are the parts of GitHub's user and repository objects
// hookci can fill.
type ghUser struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type ghRepo struct {
	FullName string `json:"full_name"`
	Name     string `json:"name"`
	Owner    ghUser `json:"owner"`
	HTMLURL  string `json:"html_url"`
}

type ghPull struct {
	Number int `json:"number"`
}

// ghRun is a workflow run in GitHub's shape.
type ghRun struct {
	ID                 int64      `json:"id"`
	Name               string     `json:"name"`
	DisplayTitle       string     `json:"display_title"`
	Path               string     `json:"path"`
	HeadBranch         string     `json:"head_branch"`
	HeadSHA            string     `json:"head_sha"`
	RunNumber          int        `json:"run_number"`
	RunAttempt         int        `json:"run_attempt"`
	Event              string     `json:"event"`
	Status             string     `json:"status"`
	Conclusion         *string    `json:"conclusion"`
	URL                string     `json:"url"`
	HTMLURL            string     `json:"html_url"`
	JobsURL            string     `json:"jobs_url"`
	LogsURL            string     `json:"logs_url"`
	CancelURL          string     `json:"cancel_url"`
	RerunURL           string     `json:"rerun_url"`
	PreviousAttemptURL *string    `json:"previous_attempt_url"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	RunStartedAt       *time.Time `json:"run_started_at"`
	Actor              ghUser     `json:"actor"`
	TriggeringActor    ghUser     `json:"triggering_actor"`
	Repository         ghRepo     `json:"repository"`
	HeadRepository     ghRepo     `json:"head_repository"`
	PullRequests       []ghPull   `json:"pull_requests"`
	// Message is hookci's: why a run failed before its jobs ran (an invalid
	// workflow, a concurrency error), or who cancelled it.
	Message string `json:"message,omitempty"`
}

// ghStep and ghJob are a job and its steps in GitHub's shape.
type ghStep struct {
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Conclusion  *string    `json:"conclusion"`
	Number      int        `json:"number"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

type ghJob struct {
	ID              int64      `json:"id"`
	RunID           int64      `json:"run_id"`
	RunURL          string     `json:"run_url"`
	RunAttempt      int        `json:"run_attempt"`
	HeadSHA         string     `json:"head_sha"`
	HeadBranch      string     `json:"head_branch"`
	WorkflowName    string     `json:"workflow_name"`
	Name            string     `json:"name"`
	URL             string     `json:"url"`
	HTMLURL         string     `json:"html_url"`
	Status          string     `json:"status"`
	Conclusion      *string    `json:"conclusion"`
	CreatedAt       time.Time  `json:"created_at"`
	StartedAt       *time.Time `json:"started_at"`
	CompletedAt     *time.Time `json:"completed_at"`
	Steps           []ghStep   `json:"steps"`
	Labels          []string   `json:"labels"`
	RunnerName      *string    `json:"runner_name"`
	RunnerGroupName *string    `json:"runner_group_name"`
	// Message is hookci's: why a job failed before it ran, or who cancelled it.
	Message string `json:"message,omitempty"`
}

// runFacts is what a run's delivery adds to the run row: the actor and the
// head branch of a pull request.
type runFacts struct {
	actor, headBranch string
}

// factsCache reads each delivery's payload once per request.
type factsCache struct {
	s    *Server
	seen map[string]runFacts
}

func (s *Server) newFacts() *factsCache { return &factsCache{s: s, seen: map[string]runFacts{}} }

func (c *factsCache) of(ctx context.Context, run store.Run) runFacts {
	f, ok := c.seen[run.DeliveryID]
	if !ok {
		if d, err := c.s.st.Queries().Delivery(ctx, run.DeliveryID); err == nil {
			var p struct {
				Sender struct {
					Login string `json:"login"`
				} `json:"sender"`
				PullRequest *struct {
					Head struct {
						Ref string `json:"ref"`
					} `json:"head"`
				} `json:"pull_request"`
			}
			json.Unmarshal(d.Payload, &p)
			f.actor = p.Sender.Login
			if p.PullRequest != nil {
				f.headBranch = p.PullRequest.Head.Ref
			}
		}
		c.seen[run.DeliveryID] = f
	}
	if !strings.HasPrefix(run.Ref, "refs/pull/") || f.headBranch == "" {
		f.headBranch = shortRef(run.Ref)
	}
	return f
}

// shortRef is a branch or tag's name (GitHub's head_branch).
func shortRef(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if s, ok := strings.CutPrefix(ref, p); ok {
			return s
		}
	}
	return ref
}

// baseURL is where this server is reached: the configured public URL, else
// the request's host.
func (s *Server) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return strings.TrimRight(s.publicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// conclusionPtr is GitHub's conclusion: null until completed.
func conclusionPtr(status, conclusion string) *string {
	if status != store.StatusCompleted || conclusion == "" {
		return nil
	}
	return &conclusion
}

// jobStatus maps hookci's internal job states to GitHub's words.
func jobStatus(s string) string {
	if s == "held" { // a matrix leg held back by max-parallel
		return store.StatusQueued
	}
	return s
}

func (s *Server) ghRunOf(r *http.Request, run store.Run, f runFacts) ghRun {
	base := s.baseURL(r)
	api := fmt.Sprintf("%s/api/repos/%s/actions/runs/%d", base, run.Repo, run.ID)
	owner, name, _ := strings.Cut(run.Repo, "/")
	repo := ghRepo{FullName: run.Repo, Name: name, Owner: ghUser{Login: owner, Type: "User"}}
	actor := ghUser{Login: f.actor, Type: "User"}
	updated := run.CreatedAt
	for _, t := range []time.Time{run.StartedAt, run.FinishedAt} {
		if t.After(updated) {
			updated = t
		}
	}
	title := run.RunName
	if title == "" {
		title = run.WorkflowName
	}
	g := ghRun{ID: run.ID, Name: run.WorkflowName, DisplayTitle: title, Path: run.WorkflowFile, HeadBranch: f.headBranch,
		HeadSHA: run.SHA, RunNumber: run.RunNumber, RunAttempt: run.Attempt, Event: run.Event, Status: run.Status,
		Conclusion: conclusionPtr(run.Status, run.Conclusion), URL: api, HTMLURL: fmt.Sprintf("%s/runs/%d", base, run.ID),
		JobsURL: api + "/jobs", LogsURL: api + "/logs", CancelURL: api + "/cancel", RerunURL: api + "/rerun",
		CreatedAt: run.CreatedAt, UpdatedAt: updated, RunStartedAt: timePtr(run.StartedAt), Actor: actor,
		TriggeringActor: actor, Repository: repo, HeadRepository: repo, PullRequests: []ghPull{}, Message: run.Message}
	if run.PRNumber > 0 {
		g.PullRequests = append(g.PullRequests, ghPull{Number: run.PRNumber})
	}
	return g
}

func (s *Server) ghJobOf(r *http.Request, run store.Run, f runFacts, j store.Job, steps []store.Step) ghJob {
	base := s.baseURL(r)
	g := ghJob{ID: j.ID, RunID: run.ID, RunURL: fmt.Sprintf("%s/api/repos/%s/actions/runs/%d", base, run.Repo, run.ID),
		RunAttempt: run.Attempt, HeadSHA: run.SHA, HeadBranch: f.headBranch, WorkflowName: run.WorkflowName, Name: j.Name,
		URL:     fmt.Sprintf("%s/api/repos/%s/actions/jobs/%d", base, run.Repo, j.ID),
		HTMLURL: fmt.Sprintf("%s/runs/%d#job-%d", base, run.ID, j.ID), Status: jobStatus(j.Status),
		Conclusion: conclusionPtr(j.Status, j.Conclusion), CreatedAt: j.CreatedAt, StartedAt: timePtr(j.StartedAt),
		CompletedAt: timePtr(j.FinishedAt), Steps: []ghStep{}, Labels: []string{}, Message: j.Message}
	if j.Status != store.StatusCompleted {
		g.CompletedAt = nil
	}
	if j.Backend != "" {
		runner, group := "hookci-"+j.Backend, "hookci"
		g.RunnerName, g.RunnerGroupName = &runner, &group
	}
	for i, st := range steps {
		g.Steps = append(g.Steps, ghStep{Name: st.Name, Status: st.Status, Conclusion: conclusionPtr(st.Status, st.Conclusion),
			Number: i + 1, StartedAt: timePtr(st.StartedAt), CompletedAt: timePtr(st.FinishedAt)})
	}
	return g
}

// ghError answers with GitHub's error shape.
func ghError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg,
		"documentation_url": "https://docs.github.com/rest/actions"})
}

func notFound(w http.ResponseWriter) { ghError(w, http.StatusNotFound, "Not Found") }

// pathRepo is the owner/name of the request's path, if the viewer may read
// it; "" under /api/actions/ (every repository).
func (s *Server) pathRepo(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.PathValue("owner") == "" {
		return "", true
	}
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	if !s.canRead(r, repo) {
		notFound(w)
		return "", false
	}
	return repo, true
}

// inRepo reports whether a run of runRepo may be shown for a request about
// pathRepo ("" for every repository the viewer may read).
func (s *Server) inRepo(r *http.Request, runRepo, pathRepo string) bool {
	if pathRepo != "" {
		return strings.EqualFold(runRepo, pathRepo)
	}
	return s.canRead(r, runRepo)
}

// pathRun loads the run named by the path, in the path's repository.
func (s *Server) pathRun(w http.ResponseWriter, r *http.Request) (store.Run, bool) {
	repo, ok := s.pathRepo(w, r)
	if !ok {
		return store.Run{}, false
	}
	id, ok := pathID(r)
	if !ok {
		notFound(w)
		return store.Run{}, false
	}
	run, err := s.st.Queries().Run(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.inRepo(r, run.Repo, repo)) {
		notFound(w)
		return run, false
	}
	if err != nil {
		s.log.Error("loading run", "run", id, "err", err)
		ghError(w, http.StatusInternalServerError, "internal error")
		return run, false
	}
	return run, true
}

// pathJob loads the job named by the path and its run, in the path's repository.
func (s *Server) pathJob(w http.ResponseWriter, r *http.Request) (store.Job, store.Run, bool) {
	repo, ok := s.pathRepo(w, r)
	if !ok {
		return store.Job{}, store.Run{}, false
	}
	id, ok := pathID(r)
	if !ok {
		notFound(w)
		return store.Job{}, store.Run{}, false
	}
	q := s.st.Queries()
	job, err := q.Job(r.Context(), id)
	var run store.Run
	if err == nil {
		run, err = q.Run(r.Context(), job.RunID)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.inRepo(r, run.Repo, repo)) {
		notFound(w)
		return job, run, false
	}
	if err != nil {
		s.log.Error("loading job", "job", id, "err", err)
		ghError(w, http.StatusInternalServerError, "internal error")
		return job, run, false
	}
	return job, run, true
}

func (s *Server) actionsRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.pathRun(w, r)
	if !ok {
		return
	}
	writeJSON(w, s.ghRunWithAttempts(r, run, s.newFacts()))
}

// ghRunWithAttempts is ghRunOf with previous_attempt_url filled in.
func (s *Server) ghRunWithAttempts(r *http.Request, run store.Run, facts *factsCache) ghRun {
	g := s.ghRunOf(r, run, facts.of(r.Context(), run))
	if run.Attempt > 1 {
		if prev, ok := s.attempt(r.Context(), run, run.Attempt-1); ok {
			u := fmt.Sprintf("%s/api/repos/%s/actions/runs/%d", s.baseURL(r), run.Repo, prev.ID)
			g.PreviousAttemptURL = &u
		}
	}
	return g
}

// attempt finds attempt n of run's run (same repository, commit, workflow
// file and run number).
func (s *Server) attempt(ctx context.Context, run store.Run, n int) (store.Run, bool) {
	all, err := s.st.Queries().RunsForCommit(ctx, run.Repo, run.SHA)
	if err != nil {
		return run, false
	}
	for _, o := range all {
		if o.WorkflowFile == run.WorkflowFile && o.RunNumber == run.RunNumber && o.Attempt == n {
			return o, true
		}
	}
	return run, false
}

// pathAttempt is the attempt named by …/runs/{id}/attempts/{attempt}.
func (s *Server) pathAttempt(w http.ResponseWriter, r *http.Request) (store.Run, bool) {
	run, ok := s.pathRun(w, r)
	if !ok {
		return run, false
	}
	n, err := strconv.Atoi(r.PathValue("attempt"))
	if err != nil || n < 1 {
		notFound(w)
		return run, false
	}
	if run, ok = s.attempt(r.Context(), run, n); !ok {
		notFound(w)
	}
	return run, ok
}

// actionsRunAttempt is GET …/runs/{id}/attempts/{n}: attempt n of the run
// (each attempt also has its own id here).
func (s *Server) actionsRunAttempt(w http.ResponseWriter, r *http.Request) {
	if run, ok := s.pathAttempt(w, r); ok {
		writeJSON(w, s.ghRunWithAttempts(r, run, s.newFacts()))
	}
}

func (s *Server) actionsRunAttemptJobs(w http.ResponseWriter, r *http.Request) {
	if run, ok := s.pathAttempt(w, r); ok {
		s.writeJobs(w, r, run)
	}
}

func (s *Server) actionsRunJobs(w http.ResponseWriter, r *http.Request) {
	if run, ok := s.pathRun(w, r); ok {
		s.writeJobs(w, r, run)
	}
}

// writeJobs answers {"total_count", "jobs"} for a run.
func (s *Server) writeJobs(w http.ResponseWriter, r *http.Request, run store.Run) {
	q := s.st.Queries()
	jobs, err := q.RunJobs(r.Context(), run.ID)
	if err != nil {
		ghError(w, http.StatusInternalServerError, "internal error")
		return
	}
	f := s.newFacts().of(r.Context(), run)
	out := struct {
		TotalCount int     `json:"total_count"`
		Jobs       []ghJob `json:"jobs"`
	}{len(jobs), []ghJob{}}
	for _, j := range jobs {
		steps, err := q.Steps(r.Context(), j.ID)
		if err != nil {
			ghError(w, http.StatusInternalServerError, "internal error")
			return
		}
		out.Jobs = append(out.Jobs, s.ghJobOf(r, run, f, j, steps))
	}
	writeJSON(w, out)
}

func (s *Server) actionsJob(w http.ResponseWriter, r *http.Request) {
	job, run, ok := s.pathJob(w, r)
	if !ok {
		return
	}
	steps, err := s.st.Queries().Steps(r.Context(), job.ID)
	if err != nil {
		ghError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, s.ghJobOf(r, run, s.newFacts().of(r.Context(), run), job, steps))
}

// actionsJobLogs is the job's log as plain text (GitHub redirects to a
// download of the same), streamed from the store a page at a time.
func (s *Server) actionsJobLogs(w http.ResponseWriter, r *http.Request) {
	job, _, ok := s.pathJob(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	err := s.st.Queries().EachLog(r.Context(), job.ID, 0, func(c store.LogChunk) error {
		_, err := w.Write(c.Data)
		return err
	})
	if err != nil {
		s.log.Warn("streaming a job log", "job", job.ID, "err", err)
	}
}

// actionsRunLogs is the run's logs as a zip archive with one text file per
// job, "<n>_<job name>.txt", as GitHub's download (which also has a folder
// of per-step files per job), streamed job by job.
func (s *Server) actionsRunLogs(w http.ResponseWriter, r *http.Request) {
	run, ok := s.pathRun(w, r)
	if !ok {
		return
	}
	q := s.st.Queries()
	jobs, err := q.RunJobs(r.Context(), run.ID)
	if err != nil {
		ghError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="logs_%d.zip"`, run.ID))
	zw := zip.NewWriter(w)
	for i, j := range jobs {
		name := strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(j.Name)
		f, err := zw.Create(fmt.Sprintf("%d_%s.txt", i, name))
		if err != nil {
			return
		}
		if err := q.EachLog(r.Context(), j.ID, 0, func(c store.LogChunk) error {
			_, err := f.Write(c.Data)
			return err
		}); err != nil {
			s.log.Warn("streaming a run's logs", "run", run.ID, "err", err)
			return // cut short: the client sees a broken archive, not a wrong one
		}
	}
	zw.Close()
}

// runStatuses are the values GitHub's ?status= takes (a status or a conclusion).
var runStatuses = map[string]bool{"completed": true, "action_required": true, "cancelled": true, "failure": true,
	"neutral": true, "skipped": true, "stale": true, "success": true, "timed_out": true, "in_progress": true,
	"queued": true, "requested": true, "waiting": true, "pending": true}

// runFilter is a runs list's query.
type runFilter struct {
	repo, branch, event, status, actor, sha string
	perPage, page                           int
}

func parseRunFilter(repo string, v url.Values) (runFilter, error) {
	f := runFilter{repo: repo, branch: v.Get("branch"), event: v.Get("event"), status: v.Get("status"),
		actor: v.Get("actor"), sha: v.Get("head_sha"), perPage: defaultPerPage, page: 1}
	if f.status != "" && !runStatuses[f.status] {
		return f, fmt.Errorf("status: %q is not one of GitHub's run statuses or conclusions", f.status)
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"per_page", &f.perPage}, {"page", &f.page}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return f, fmt.Errorf("%s: want a whole number from 1", p.name)
			}
			*p.dst = n
		}
	}
	f.perPage = min(f.perPage, maxPerPage)
	return f, nil
}

// match reports whether run passes the filter; facts (the delivery's, which
// cost a read) are asked for only when the filter needs them.
func (f runFilter) match(run store.Run, facts func() runFacts) bool {
	switch {
	case f.event != "" && run.Event != f.event,
		f.sha != "" && !strings.EqualFold(run.SHA, f.sha),
		!f.matchStatus(run),
		f.branch != "" && !strings.HasPrefix(run.Ref, "refs/pull/") && shortRef(run.Ref) != f.branch,
		f.branch != "" && strings.HasPrefix(run.Ref, "refs/pull/") && facts().headBranch != f.branch,
		f.actor != "" && !strings.EqualFold(facts().actor, f.actor):
		return false
	}
	return true
}

func (f runFilter) matchStatus(run store.Run) bool {
	switch {
	case f.status == "":
		return true
	case f.status == store.StatusCompleted || f.status == store.StatusInProgress || f.status == store.StatusQueued ||
		f.status == store.StatusPending || f.status == store.StatusWaiting || f.status == "requested":
		return run.Status == f.status
	}
	return run.Status == store.StatusCompleted && run.Conclusion == f.status
}

// runScanBatch is how many runs one store read of a list takes.
const runScanBatch = 500

// actionsRuns is GET …/actions/runs: the repository's runs, newest first,
// the latest attempt of each, filtered as GitHub filters, paged by page and
// per_page, with total_count. It walks the runs newest first in keyset
// batches (the filters need the delivery's actor and branch).
func (s *Server) actionsRuns(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.pathRepo(w, r)
	if !ok {
		return
	}
	f, err := parseRunFilter(repo, r.URL.Query())
	if err != nil {
		ghError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	facts := s.newFacts()
	type attemptKey struct {
		repo   string
		file   string
		number int
	}
	seen := map[attemptKey]bool{}
	skip := (f.page - 1) * f.perPage
	out := struct {
		TotalCount int     `json:"total_count"`
		Runs       []ghRun `json:"workflow_runs"`
	}{Runs: []ghRun{}}
	var before int64
	for {
		runs, err := s.st.Queries().RunsBefore(ctx, before, runScanBatch)
		if err != nil {
			ghError(w, http.StatusInternalServerError, "internal error")
			return
		}
		for _, run := range runs {
			before = run.ID
			if !s.inRepo(r, run.Repo, f.repo) {
				continue
			}
			k := attemptKey{strings.ToLower(run.Repo), run.WorkflowFile, run.RunNumber}
			if seen[k] {
				continue // an earlier attempt of a run already listed
			}
			seen[k] = true
			if !f.match(run, func() runFacts { return facts.of(ctx, run) }) {
				continue
			}
			out.TotalCount++
			if out.TotalCount > skip && len(out.Runs) < f.perPage {
				out.Runs = append(out.Runs, s.ghRunWithAttempts(r, run, facts))
			}
		}
		if len(runs) < runScanBatch {
			break
		}
	}
	if skip+len(out.Runs) < out.TotalCount {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(f.page+1))
		q.Set("per_page", strconv.Itoa(f.perPage))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.baseURL(r), r.URL.Path, q.Encode()))
	}
	writeJSON(w, out)
}
