package web

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// The "Run workflow" page: a form built from a workflow's typed
// workflow_dispatch inputs (string and number → text, boolean → checkbox,
// choice → select, environment → text), with defaults and required marks,
// and a branch to run on. It posts to itself; the dispatcher's validation
// (the API's) decides, and a refusal re-shows the form with the message
// naming the input (422) and what was entered.

// routeDispatchPage mounts the Run workflow page.
func (s *Server) routeDispatchPage(mux *http.ServeMux) {
	p := "/repos/{owner}/{repo}/actions/workflows/{workflow}/run"
	mux.Handle("GET "+p, s.auth(http.HandlerFunc(s.dispatchPage)))
	mux.Handle("POST "+p, s.auth(http.HandlerFunc(s.dispatchPost)))
}

// formInput is one input as the form shows it.
type formInput struct {
	dispatchInput
	Value   string // what the field holds (the default, or what was entered)
	Checked bool   // boolean
}

// dispatchForm is the page's data.
type dispatchForm struct {
	Repo, File, Name string
	Ref              string
	Branches         []string
	Inputs           []formInput
	Error            string
}

// dispatchTarget loads the repository's workflow named by the path at ref;
// it answers a refusal itself.
func (s *Server) dispatchTarget(w http.ResponseWriter, r *http.Request, ref string) (string, string, *workflow.Workflow, bool) {
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	if !s.canRead(r, repo) || s.served != nil && !s.served(repo) {
		s.errorPage(w, r, http.StatusNotFound, "no such repository")
		return "", "", nil, false
	}
	if !s.canWrite(r, repo) {
		s.errorPage(w, r, http.StatusForbidden, "you may not start workflows of "+repo)
		return "", "", nil, false
	}
	if s.controls == nil {
		s.errorPage(w, r, http.StatusNotImplemented, "this server has no run controls")
		return "", "", nil, false
	}
	wfs, err := s.controls.Workflows(r.Context(), repo, ref)
	if err != nil {
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) {
			s.errorPage(w, r, sc.StatusCode(), err.Error())
		} else {
			s.log.Error("dispatch page", "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		}
		return "", "", nil, false
	}
	name := r.PathValue("workflow")
	for p, wf := range wfs {
		if path.Base(p) == name {
			if wf == nil || wf.Trigger("workflow_dispatch") == nil {
				s.errorPage(w, r, http.StatusUnprocessableEntity, "Workflow does not have 'workflow_dispatch' trigger")
				return "", "", nil, false
			}
			return repo, p, wf, true
		}
	}
	s.errorPage(w, r, http.StatusNotFound, "no workflow "+name+" in "+repo)
	return "", "", nil, false
}

// dispatchPage is GET …/run[?ref=]: the form.
func (s *Server) dispatchPage(w http.ResponseWriter, r *http.Request) {
	ref := strings.TrimSpace(r.URL.Query().Get("ref"))
	repo, file, wf, ok := s.dispatchTarget(w, r, ref)
	if !ok {
		return
	}
	f := s.newDispatchForm(r, repo, file, ref, wf)
	s.page(w, r, "dispatch.html", "Run workflow", f)
}

// dispatchPost is POST …/run: dispatches, then shows the runs of the workflow.
func (s *Server) dispatchPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "bad form: "+err.Error())
		return
	}
	ref := strings.TrimSpace(r.PostForm.Get("ref"))
	if ref == "" {
		ref = strings.TrimSpace(r.PostForm.Get("ref_other"))
	}
	repo, file, wf, ok := s.dispatchTarget(w, r, ref)
	if !ok {
		return
	}
	f := s.newDispatchForm(r, repo, file, ref, wf)
	inputs := map[string]any{}
	for i := range f.Inputs {
		in := &f.Inputs[i]
		if in.Type == "boolean" {
			in.Checked = r.PostForm.Get("in."+in.Name) == "true"
			inputs[in.Name] = map[bool]string{true: "true", false: "false"}[in.Checked]
			continue
		}
		if v, given := r.PostForm["in."+in.Name]; given {
			in.Value = v[0]
			inputs[in.Name] = v[0]
		}
	}
	if ref == "" {
		f.Error = "choose a branch or tag"
		s.pageStatus(w, r, http.StatusUnprocessableEntity, "dispatch.html", "Run workflow", f)
		return
	}
	if _, err := s.controls.DispatchWorkflow(r.Context(), repo, path.Base(file), ref, inputs, s.actorOf(r)); err != nil {
		var sc interface{ StatusCode() int }
		if !errors.As(err, &sc) {
			s.log.Error("dispatch from the form", "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "internal error")
			return
		}
		f.Error = err.Error()
		s.pageStatus(w, r, sc.StatusCode(), "dispatch.html", "Run workflow", f)
		return
	}
	http.Redirect(w, r, "/runs?"+url.Values{"repo": {repo}, "workflow": {file}}.Encode(), http.StatusSeeOther)
}

// newDispatchForm is the form with the workflow's inputs at their defaults
// and the branches runs of the repository were seen on.
func (s *Server) newDispatchForm(r *http.Request, repo, file, ref string, wf *workflow.Workflow) dispatchForm {
	f := dispatchForm{Repo: repo, File: path.Base(file), Name: wf.Name, Ref: ref}
	if f.Name == "" {
		f.Name = file
	}
	for _, in := range wf.Trigger("workflow_dispatch").Inputs {
		di := dispatchInput{Name: in.Name, Description: in.Description, Type: in.Type, Required: in.Required, Options: in.Options}
		if di.Type == "" {
			di.Type = "string"
		}
		fi := formInput{dispatchInput: di}
		if in.HasDefault {
			fi.Value, fi.Checked = in.Default, in.Default == "true"
		}
		f.Inputs = append(f.Inputs, fi)
	}
	seen := map[string]bool{}
	items, err := s.st.Queries().RunItems(r.Context(), store.RunFilter{Repo: repo}, 0, 200)
	if err != nil {
		s.log.Warn("dispatch page: branches", "err", err)
	}
	for _, it := range items {
		if b := it.Branch; b != "" && !seen[b] && !strings.HasPrefix(it.Ref, "refs/pull/") {
			seen[b] = true
			f.Branches = append(f.Branches, b)
		}
	}
	if f.Ref == "" {
		f.Ref = "main" // preselected; the form lists the branches runs were seen on
		if len(f.Branches) > 0 && !seen["main"] {
			f.Ref = f.Branches[0]
		}
	}
	if f.Ref != "" && !seen[f.Ref] {
		f.Branches = append([]string{f.Ref}, f.Branches...)
	}
	return f
}
