package web

import (
	"cmp"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/hookci/hookci/internal/workflow"
)

// ghWorkflow is a workflow in GitHub's shape ("List repository workflows"),
// with hookci's dispatch_inputs: the on.workflow_dispatch inputs a "Run
// workflow" form is built from (null when the workflow cannot be
// dispatched). There is no numeric id (docs/architecture.md).
type ghWorkflow struct {
	Name           string          `json:"name"`
	Path           string          `json:"path"`
	State          string          `json:"state"`
	URL            string          `json:"url"`
	HTMLURL        string          `json:"html_url"`
	DispatchInputs []dispatchInput `json:"dispatch_inputs"`
}

// dispatchInput is one declared workflow_dispatch input.
type dispatchInput struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Default     *string  `json:"default"`
	Options     []string `json:"options,omitempty"`
}

func (s *Server) ghWorkflowOf(r *http.Request, repo, p string, wf *workflow.Workflow, states map[string]string) ghWorkflow {
	g := ghWorkflow{Name: p, Path: p, State: cmp.Or(states[p], "active"),
		URL:     fmt.Sprintf("%s/api/repos/%s/actions/workflows/%s", s.baseURL(r), repo, path.Base(p)),
		HTMLURL: s.baseURL(r) + "/"}
	if wf == nil && states[p] == "" {
		g.State = "invalid" // GitHub lists such a file; its runs fail with the reason
		return g
	}
	if wf == nil {
		return g
	}
	if wf.Name != "" {
		g.Name = wf.Name
	}
	if t := wf.Trigger("workflow_dispatch"); t != nil {
		g.DispatchInputs = []dispatchInput{}
		for _, in := range t.Inputs {
			di := dispatchInput{Name: in.Name, Description: in.Description, Type: in.Type, Required: in.Required,
				Options: in.Options}
			if di.Type == "" {
				di.Type = "string"
			}
			if in.HasDefault {
				d := in.Default
				di.Default = &d
			}
			g.DispatchInputs = append(g.DispatchInputs, di)
		}
	}
	return g
}

// workflowsAt answers the workflows of the path's repository at ?ref=.
func (s *Server) workflowsAt(w http.ResponseWriter, r *http.Request) (string, map[string]*workflow.Workflow, bool) {
	repo, ok := s.pathRepo(w, r)
	if !ok {
		return "", nil, false
	}
	if s.served != nil && !s.served(repo) {
		notFound(w)
		return "", nil, false
	}
	if s.controls == nil {
		ghError(w, http.StatusNotImplemented, "this server has no run controls")
		return "", nil, false
	}
	wfs, err := s.controls.Workflows(r.Context(), repo, strings.TrimSpace(r.URL.Query().Get("ref")))
	if err != nil {
		s.controlError(w, err)
		return "", nil, false
	}
	return repo, wfs, true
}

// workflowStates answers the repository's disabled workflows' states; it
// reports whether to go on.
func (s *Server) workflowStates(w http.ResponseWriter, r *http.Request, repo string) (map[string]string, bool) {
	st, err := s.controls.WorkflowStates(r.Context(), repo)
	if err != nil {
		s.controlError(w, err)
		return nil, false
	}
	return st, true
}

// actionsWorkflows is GET …/actions/workflows[?ref=]: the repository's
// workflow files at ref (default branch by default).
func (s *Server) actionsWorkflows(w http.ResponseWriter, r *http.Request) {
	repo, wfs, ok := s.workflowsAt(w, r)
	if !ok {
		return
	}
	paths := make([]string, 0, len(wfs))
	for p := range wfs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := struct {
		TotalCount int          `json:"total_count"`
		Workflows  []ghWorkflow `json:"workflows"`
	}{len(paths), []ghWorkflow{}}
	states, ok := s.workflowStates(w, r, repo)
	if !ok {
		return
	}
	for _, p := range paths {
		out.Workflows = append(out.Workflows, s.ghWorkflowOf(r, repo, p, wfs[p], states))
	}
	writeJSON(w, out)
}

// actionsWorkflow is GET …/actions/workflows/{workflow}[?ref=] (the file
// name, as GitHub accepts it).
func (s *Server) actionsWorkflow(w http.ResponseWriter, r *http.Request) {
	repo, wfs, ok := s.workflowsAt(w, r)
	if !ok {
		return
	}
	states, ok := s.workflowStates(w, r, repo)
	if !ok {
		return
	}
	name := r.PathValue("workflow")
	for p, wf := range wfs {
		if path.Base(p) == name || p == name {
			writeJSON(w, s.ghWorkflowOf(r, repo, p, wf, states))
			return
		}
	}
	notFound(w)
}

// actionsWorkflowEnable is PUT …/actions/workflows/{workflow}/enable and
// …/disable: 204, as GitHub ("Enable a workflow", "Disable a workflow").
func (s *Server) actionsWorkflowEnable(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		repo, ok := s.pathRepo(w, r)
		if !ok || !s.controlAllowed(w, r, repo) {
			return
		}
		if err := s.controls.SetWorkflowEnabled(r.Context(), repo, r.PathValue("workflow"), enabled, s.actorOf(r)); err != nil {
			s.controlError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
