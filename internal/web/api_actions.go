package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// The JSON API shaped like GitHub's Actions REST API, under
// /api/repos/{owner}/{repo}/actions/…, so that scripts and tools written for
// api.github.com work with a base-URL change: the same paths, query
// filters, field names and status codes. This file holds the routes and the
// shapes; api_runs.go the read handlers, api_controls.go the changes.
// A run keeps one id across its re-run attempts, as on GitHub: the id of
// its first attempt (store.Run.PublicID); …/runs/{id} is the latest attempt,
// …/runs/{id}/attempts/{n} attempt n; job ids are new per attempt.
// Departures (docs/architecture.md): there are no numeric workflow ids; a job's labels are its runs-on labels
// as evaluated when it was picked up (empty before).

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
	get("runs/{id}/attempts/{attempt}/logs", s.actionsRunAttemptLogs)
	get("jobs/{id}", s.actionsJob)
	get("jobs/{id}/logs", s.actionsJobLogs)
	post("runs/{id}/cancel", s.actionsCancelRun)
	post("runs/{id}/rerun", s.actionsRerun(false))
	post("runs/{id}/rerun-failed-jobs", s.actionsRerun(true))
	post("jobs/{id}/rerun", s.actionsRerunJob)
	post("jobs/{id}/cancel", s.actionsCancelJob)
	if p != "/api/actions/" {
		get("workflows", s.actionsWorkflows)
		get("workflows/{workflow}", s.actionsWorkflow)
		post("workflows/{workflow}/dispatches", s.actionsDispatch)
		mux.Handle("PUT "+p+"workflows/{workflow}/enable", s.auth(s.actionsWorkflowEnable(true)))
		mux.Handle("PUT "+p+"workflows/{workflow}/disable", s.auth(s.actionsWorkflowEnable(false)))
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
	title             string // the head commit's first line, or the pull request's title
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
					Title string `json:"title"`
					Head  struct {
						Ref string `json:"ref"`
					} `json:"head"`
				} `json:"pull_request"`
				HeadCommit *struct {
					Message string `json:"message"`
				} `json:"head_commit"`
			}
			json.Unmarshal(d.Payload, &p)
			f.actor = p.Sender.Login
			if p.PullRequest != nil {
				f.headBranch, f.title = p.PullRequest.Head.Ref, p.PullRequest.Title
			} else if p.HeadCommit != nil {
				f.title, _, _ = strings.Cut(p.HeadCommit.Message, "\n")
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
	api := fmt.Sprintf("%s/api/repos/%s/actions/runs/%d", base, run.Repo, run.PublicID())
	owner, name, _ := strings.Cut(run.Repo, "/")
	repo := ghRepo{FullName: run.Repo, Name: name, Owner: ghUser{Login: owner, Type: "User"}}
	actor := ghUser{Login: f.actor, Type: "User"}
	updated := run.CreatedAt
	for _, t := range []time.Time{run.StartedAt, run.FinishedAt} {
		if t.After(updated) {
			updated = t
		}
	}
	// GitHub's display_title: run-name when the workflow sets one, else the
	// head commit's first line or the pull request's title.
	title := run.RunName
	if title == "" || (title == run.WorkflowName && f.title != "") {
		title = f.title
	}
	if title == "" {
		title = run.WorkflowName
	}
	g := ghRun{ID: run.PublicID(), Name: run.WorkflowName, DisplayTitle: title, Path: run.WorkflowFile, HeadBranch: f.headBranch,
		HeadSHA: run.SHA, RunNumber: run.RunNumber, RunAttempt: run.Attempt, Event: run.Event, Status: run.Status,
		Conclusion: conclusionPtr(run.Status, run.Conclusion), URL: api, HTMLURL: fmt.Sprintf("%s/runs/%d", base, run.PublicID()),
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
	g := ghJob{ID: j.ID, RunID: run.PublicID(), RunURL: fmt.Sprintf("%s/api/repos/%s/actions/runs/%d", base, run.Repo, run.PublicID()),
		RunAttempt: run.Attempt, HeadSHA: run.SHA, HeadBranch: f.headBranch, WorkflowName: run.WorkflowName, Name: j.Name,
		URL:     fmt.Sprintf("%s/api/repos/%s/actions/jobs/%d", base, run.Repo, j.ID),
		HTMLURL: fmt.Sprintf("%s/runs/%d/attempts/%d#job-%d", base, run.PublicID(), run.Attempt, j.ID), Status: jobStatus(j.Status),
		Conclusion: conclusionPtr(j.Status, j.Conclusion), CreatedAt: j.CreatedAt, StartedAt: timePtr(j.StartedAt),
		CompletedAt: timePtr(j.FinishedAt), Steps: []ghStep{}, Labels: labelsOf(j), Message: j.Message}
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

// labelsOf is a job's runs-on labels for the job JSON: never null.
func labelsOf(j store.Job) []string {
	if j.Labels == nil {
		return []string{}
	}
	return j.Labels
}
