package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/workflow"
)

// Controls change runs: cancel, re-run, dispatch. The server wires it to the
// dispatcher (the web package runs nothing itself). A refusal the caller
// should see carries its HTTP status through a StatusCode() int method (404,
// 409, 422); any other error is a 500.
type Controls interface {
	CancelRun(ctx context.Context, runID int64, actor string) error
	CancelJob(ctx context.Context, jobID int64, actor string) error
	// Rerun starts a new attempt of a run (only failed jobs and their
	// dependents with failedOnly) and returns the new attempt's row id (its
	// store.Run.PublicID is the run's id, the same for every attempt).
	Rerun(ctx context.Context, runID int64, failedOnly bool, actor string) (int64, error)
	// RerunJob starts a new attempt re-running one job and its dependents.
	RerunJob(ctx context.Context, jobID int64, actor string) (int64, error)
	// DispatchWorkflow starts a workflow_dispatch run of a workflow file at
	// ref with inputs and returns the delivery id it was stored under.
	DispatchWorkflow(ctx context.Context, repo, file, ref string, inputs map[string]any, actor string) (string, error)
	// Workflows returns a repository's workflow files at ref ("" for the
	// default branch) by path, parsed (nil for one that does not load).
	Workflows(ctx context.Context, repo, ref string) (map[string]*workflow.Workflow, error)
	// WorkflowStates returns the repository's disabled workflows' states
	// (disabled_manually, disabled_inactivity) by path; others are active.
	WorkflowStates(ctx context.Context, repo string) (map[string]string, error)
	// SetWorkflowEnabled enables or disables a workflow file of the
	// repository's default branch (404 when there is no such file).
	SetWorkflowEnabled(ctx context.Context, repo, file string, enabled bool, actor string) error
}

// actorOf names who made a change, for logs and messages: the GitHub login
// of a signed-in user, else "hookci-api" (the API token, a token session or
// an open loopback server name no person).
func (s *Server) actorOf(r *http.Request) string {
	if v := viewerOf(r); v != nil && v.login != "" {
		return v.login
	}
	return "hookci-api"
}

// controlAllowed answers for a change the viewer may not make or that cannot
// be made here; it reports whether to go on.
func (s *Server) controlAllowed(w http.ResponseWriter, r *http.Request, repo string) bool {
	if s.served != nil && !s.served(repo) {
		notFound(w) // not a repository this server runs: nothing may start there
		return false
	}
	if !s.canWrite(r, repo) {
		ghError(w, http.StatusForbidden, "Must have write access to this repository.")
		return false
	}
	if s.controls == nil {
		ghError(w, http.StatusNotImplemented, "this server has no run controls")
		return false
	}
	return true
}

// controlError answers with the refusal's status and message, or 500.
func (s *Server) controlError(w http.ResponseWriter, err error) {
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		ghError(w, sc.StatusCode(), err.Error())
		return
	}
	s.log.Error("run control", "err", err)
	ghError(w, http.StatusInternalServerError, "internal error")
}

// created answers a started re-run: 201 with an empty object, as GitHub,
// and (hookci's addition) the new attempt's API URL in Location:
// …/runs/{the run's id}/attempts/{n}.
func (s *Server) created(w http.ResponseWriter, r *http.Request, repo string, rowID int64) {
	if run, err := s.st.Queries().Run(r.Context(), rowID); err == nil {
		w.Header().Set("Location", s.baseURL(r)+"/api/repos/"+repo+"/actions/runs/"+strconv.FormatInt(run.PublicID(), 10)+
			"/attempts/"+strconv.Itoa(run.Attempt))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte("{}\n"))
}

func (s *Server) actionsCancelRun(w http.ResponseWriter, r *http.Request) {
	run, _, ok := s.pathRun(w, r)
	if !ok || !s.controlAllowed(w, r, run.Repo) {
		return
	}
	if err := s.controls.CancelRun(r.Context(), run.ID, s.actorOf(r)); err != nil {
		s.controlError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte("{}\n"))
}

func (s *Server) actionsCancelJob(w http.ResponseWriter, r *http.Request) {
	job, run, ok := s.pathJob(w, r)
	if !ok || !s.controlAllowed(w, r, run.Repo) {
		return
	}
	if err := s.controls.CancelJob(r.Context(), job.ID, s.actorOf(r)); err != nil {
		s.controlError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte("{}\n"))
}

func (s *Server) actionsRerun(failedOnly bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		run, _, ok := s.pathRun(w, r)
		if !ok || !s.controlAllowed(w, r, run.Repo) {
			return
		}
		id, err := s.controls.Rerun(r.Context(), run.ID, failedOnly, s.actorOf(r))
		if err != nil {
			s.controlError(w, err)
			return
		}
		s.created(w, r, run.Repo, id) // the same run: a new attempt
	}
}

func (s *Server) actionsRerunJob(w http.ResponseWriter, r *http.Request) {
	job, run, ok := s.pathJob(w, r)
	if !ok || !s.controlAllowed(w, r, run.Repo) {
		return
	}
	id, err := s.controls.RerunJob(r.Context(), job.ID, s.actorOf(r))
	if err != nil {
		s.controlError(w, err)
		return
	}
	s.created(w, r, run.Repo, id) // the same run: a new attempt
}

// maxDispatchBody bounds a dispatch request's body.
const maxDispatchBody = 1 << 20

// actionsDispatch is POST …/actions/workflows/{file}/dispatches with
// {"ref": …, "inputs": {…}}: 204 once the dispatch is stored; 422 naming
// the input that is missing, undeclared or of the wrong type.
func (s *Server) actionsDispatch(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.pathRepo(w, r)
	if !ok || !s.controlAllowed(w, r, repo) {
		return
	}
	var body struct {
		Ref    string         `json:"ref"`
		Inputs map[string]any `json:"inputs"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxDispatchBody))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	inputs := map[string]any{}
	for k, v := range body.Inputs {
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if err != nil {
				ghError(w, http.StatusUnprocessableEntity, "Provided value '"+n.String()+"' for input '"+k+"' is not a valid number")
				return
			}
			v = f
		}
		inputs[k] = v
	}
	id, err := s.controls.DispatchWorkflow(r.Context(), repo, r.PathValue("workflow"), strings.TrimSpace(body.Ref), inputs, s.actorOf(r))
	if err != nil {
		s.controlError(w, err)
		return
	}
	w.Header().Set("X-Hookci-Delivery", id)
	w.WriteHeader(http.StatusNoContent)
}
