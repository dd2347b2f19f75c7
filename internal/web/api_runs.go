package web

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

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

// pathRun loads the run named by the path, in the path's repository: the
// attempt the id names and every attempt of its run (first first). A run's
// id (its first attempt's, store.Run.PublicID) names its latest attempt, as
// on GitHub; the row id of a later attempt — the id hookci gave that attempt
// before runs kept one id, still in check runs' links and GITHUB_RUN_ID —
// keeps naming that attempt.
func (s *Server) pathRun(w http.ResponseWriter, r *http.Request) (store.Run, []store.Run, bool) {
	repo, ok := s.pathRepo(w, r)
	if !ok {
		return store.Run{}, nil, false
	}
	id, ok := pathID(r)
	if !ok {
		notFound(w)
		return store.Run{}, nil, false
	}
	run, all, err := s.runAttempts(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.inRepo(r, run.Repo, repo)) {
		notFound(w)
		return run, nil, false
	}
	if err != nil {
		s.log.Error("loading run", "run", id, "err", err)
		ghError(w, http.StatusInternalServerError, "internal error")
		return run, nil, false
	}
	return run, all, true
}

// runAttempts is the attempt id names (see pathRun) and all its run's attempts.
func (s *Server) runAttempts(ctx context.Context, id int64) (store.Run, []store.Run, error) {
	all, err := s.st.Queries().RunAttempts(ctx, id)
	if err != nil {
		return store.Run{}, nil, err
	}
	run := all[len(all)-1]
	if id != run.PublicID() {
		for _, a := range all {
			if a.ID == id {
				run = a
			}
		}
	}
	return run, all, nil
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
	run, all, ok := s.pathRun(w, r)
	if !ok {
		return
	}
	writeJSON(w, s.ghRunWithAttempts(r, run, len(all), s.newFacts()))
}

// ghRunWithAttempts is ghRunOf with previous_attempt_url filled in (GitHub's
// …/runs/{id}/attempts/{n-1}); latest is the run's latest attempt number.
func (s *Server) ghRunWithAttempts(r *http.Request, run store.Run, latest int, facts *factsCache) ghRun {
	g := s.ghRunOf(r, run, facts.of(r.Context(), run))
	if run.Attempt > 1 {
		u := fmt.Sprintf("%s/attempts/%d", g.URL, run.Attempt-1)
		g.PreviousAttemptURL = &u
	}
	if run.Attempt < latest { // an earlier attempt: its own page
		g.HTMLURL = fmt.Sprintf("%s/runs/%d/attempts/%d", s.baseURL(r), run.PublicID(), run.Attempt)
	}
	return g
}

// pathAttempt is the attempt named by …/runs/{id}/attempts/{attempt}, and
// how many attempts its run has.
func (s *Server) pathAttempt(w http.ResponseWriter, r *http.Request) (store.Run, int, bool) {
	run, all, ok := s.pathRun(w, r)
	if !ok {
		return run, 0, false
	}
	n, err := strconv.Atoi(r.PathValue("attempt"))
	if err != nil || n < 1 {
		notFound(w)
		return run, 0, false
	}
	for _, a := range all {
		if a.Attempt == n {
			return a, len(all), true
		}
	}
	notFound(w)
	return run, 0, false
}

// actionsRunAttempt is GET …/runs/{id}/attempts/{n}: attempt n of the run.
func (s *Server) actionsRunAttempt(w http.ResponseWriter, r *http.Request) {
	if run, latest, ok := s.pathAttempt(w, r); ok {
		writeJSON(w, s.ghRunWithAttempts(r, run, latest, s.newFacts()))
	}
}

func (s *Server) actionsRunAttemptJobs(w http.ResponseWriter, r *http.Request) {
	if run, _, ok := s.pathAttempt(w, r); ok {
		s.writeJobs(w, r, []store.Run{run})
	}
}

func (s *Server) actionsRunAttemptLogs(w http.ResponseWriter, r *http.Request) {
	if run, _, ok := s.pathAttempt(w, r); ok {
		s.writeRunLogs(w, r, run)
	}
}

// actionsRunJobs is GET …/runs/{id}/jobs: the jobs of the latest attempt
// (?filter=latest, the default), or of every attempt (?filter=all), as GitHub.
func (s *Server) actionsRunJobs(w http.ResponseWriter, r *http.Request) {
	run, all, ok := s.pathRun(w, r)
	if !ok {
		return
	}
	switch r.URL.Query().Get("filter") {
	case "", "latest":
		s.writeJobs(w, r, []store.Run{run})
	case "all":
		s.writeJobs(w, r, all)
	default:
		ghError(w, http.StatusUnprocessableEntity, "filter: want latest or all, got "+strconv.Quote(r.URL.Query().Get("filter")))
	}
}

// writeJobs answers {"total_count", "jobs"} for the jobs of runs (attempts).
func (s *Server) writeJobs(w http.ResponseWriter, r *http.Request, runs []store.Run) {
	q := s.st.Queries()
	out := struct {
		TotalCount int     `json:"total_count"`
		Jobs       []ghJob `json:"jobs"`
	}{0, []ghJob{}}
	facts := s.newFacts()
	for _, run := range runs {
		jobs, err := q.RunJobs(r.Context(), run.ID)
		if err != nil {
			ghError(w, http.StatusInternalServerError, "internal error")
			return
		}
		f := facts.of(r.Context(), run)
		for _, j := range jobs {
			steps, err := q.Steps(r.Context(), j.ID)
			if err != nil {
				ghError(w, http.StatusInternalServerError, "internal error")
				return
			}
			out.Jobs = append(out.Jobs, s.ghJobOf(r, run, f, j, steps))
		}
	}
	out.TotalCount = len(out.Jobs)
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
	err := s.st.Queries().EachLog(r.Context(), job.ID, 0, func(c store.LogChunk) error { return writeTimedLines(w, c) })
	if err != nil {
		s.log.Warn("streaming a job log", "job", job.ID, "err", err)
	}
}

// actionsRunLogs is the run's logs as a zip archive with one text file per
// job, "<n>_<job name>.txt", as GitHub's download (which also has a folder
// of per-step files per job), streamed job by job.
func (s *Server) actionsRunLogs(w http.ResponseWriter, r *http.Request) {
	if run, _, ok := s.pathRun(w, r); ok {
		s.writeRunLogs(w, r, run)
	}
}

// writeRunLogs writes one attempt's logs as actionsRunLogs says.
func (s *Server) writeRunLogs(w http.ResponseWriter, r *http.Request, run store.Run) {
	q := s.st.Queries()
	jobs, err := q.RunJobs(r.Context(), run.ID)
	if err != nil {
		ghError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="logs_%d_%d.zip"`, run.PublicID(), run.Attempt))
	zw := zip.NewWriter(w)
	for i, j := range jobs {
		name := strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(j.Name)
		f, err := zw.Create(fmt.Sprintf("%d_%s.txt", i, name))
		if err != nil {
			return
		}
		if err := q.EachLog(r.Context(), j.ID, 0, func(c store.LogChunk) error { return writeTimedLines(f, c) }); err != nil {
			s.log.Warn("streaming a run's logs", "run", run.ID, "err", err)
			return // cut short: the client sees a broken archive, not a wrong one
		}
	}
	zw.Close()
}

// runStatus reports whether s is a value GitHub's ?status= takes (a status
// or a conclusion).
func runStatus(s string) bool {
	return slices.Contains([]string{"completed", "action_required", "cancelled", "failure", "neutral", "skipped", "stale",
		"success", "timed_out", "in_progress", "queued", "requested", "waiting", "pending"}, s)
}

// runFilter is a runs list's query.
type runFilter struct {
	repo, branch, event, status, actor, sha string
	perPage, page                           int
}

func parseRunFilter(repo string, v url.Values) (runFilter, error) {
	f := runFilter{repo: repo, branch: v.Get("branch"), event: v.Get("event"), status: v.Get("status"),
		actor: v.Get("actor"), sha: v.Get("head_sha"), perPage: defaultPerPage, page: 1}
	if f.status != "" && !runStatus(f.status) {
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

// actionsRuns is GET …/actions/runs: the repository's runs, newest first,
// the latest attempt of each, filtered as GitHub filters, paged by page and
// per_page, with total_count — one indexed store query for the page and one
// for the count (store.ActionsRuns). Without a repository in the path
// (hookci's /api/actions/runs) it lists the repositories the viewer may read.
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
	q := s.st.Queries()
	sf := store.ActionsRunFilter{Branch: f.branch, Event: f.event, Status: f.status, Actor: f.actor, SHA: f.sha}
	if repo != "" {
		sf.Repos = []string{repo}
	} else if sf.Repos, err = s.readableRunRepos(r, ""); err != nil {
		ghError(w, http.StatusInternalServerError, "internal error")
		return
	}
	skip := (f.page - 1) * f.perPage
	runs, total, err := q.ActionsRuns(ctx, sf, skip, f.perPage)
	if err == nil && total == 0 && repo != "" {
		// The path may spell the repository in another case than GitHub
		// (and the store) does: look the stored name up, then list again.
		if sf.Repos, err = s.readableRunRepos(r, repo); err == nil && len(sf.Repos) > 0 && sf.Repos[0] != repo {
			runs, total, err = q.ActionsRuns(ctx, sf, skip, f.perPage)
		}
	}
	if err != nil {
		s.log.Warn("listing runs", "err", err)
		ghError(w, http.StatusInternalServerError, "internal error")
		return
	}
	facts := s.newFacts()
	out := struct {
		TotalCount int     `json:"total_count"`
		Runs       []ghRun `json:"workflow_runs"`
	}{TotalCount: total, Runs: []ghRun{}}
	for _, it := range runs {
		out.Runs = append(out.Runs, s.ghRunWithAttempts(r, it.Run, it.Attempt, facts))
	}
	if skip+len(out.Runs) < out.TotalCount {
		v := r.URL.Query()
		v.Set("page", strconv.Itoa(f.page+1))
		v.Set("per_page", strconv.Itoa(f.perPage))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.baseURL(r), r.URL.Path, v.Encode()))
	}
	writeJSON(w, out)
}

// readableRunRepos lists the repositories with runs the viewer may read;
// with name, only those spelled name in any case.
func (s *Server) readableRunRepos(r *http.Request, name string) ([]string, error) {
	all, err := s.st.Queries().RunRepos(r.Context())
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, repo := range all {
		if (name == "" || strings.EqualFold(repo, name)) && s.canRead(r, repo) {
			out = append(out, repo)
		}
	}
	return out, nil
}
