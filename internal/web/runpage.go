package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

// JobGraph tells the needs of a workflow's jobs (job id → the ids it needs,
// lower case), read from the workflow file at the run's commit. The server
// wires it; nil or an error: the run page lays the jobs out in one column.
type JobGraph interface {
	Needs(ctx context.Context, repo, sha, file string) (map[string][]string, error)
}

// graphColumn is one column of the job graph: the jobs of one depth in
// needs, matrix legs of one job grouped.
type graphColumn struct {
	Groups []graphGroup
}

// graphGroup is one workflow job: its legs (one for a job without a matrix).
type graphGroup struct {
	Key   string
	Name  string // the workflow job's name (a leg's name without its matrix values)
	Needs []string
	Legs  []store.Job
}

// jobPage is a job as the run page shows it.
type jobPage struct {
	JobView
	Annotations []store.Annotation
	Summary     template.HTML
	CanWrite    bool // the viewer may cancel and re-run (else no buttons)
}

// layoutGraph places each workflow job in the column of its depth in needs
// (0 for a job that needs nothing), legs grouped under their job.
func layoutGraph(jobs []JobView, needs map[string][]string) []graphColumn {
	var order []string
	groups := map[string]*graphGroup{}
	for _, j := range jobs {
		k := strings.ToLower(j.Key)
		g := groups[k]
		if g == nil {
			name := j.Name
			if j.Matrix != "" {
				if i := strings.LastIndex(name, " ("); i > 0 {
					name = name[:i]
				}
			}
			g = &graphGroup{Key: j.Key, Name: name, Needs: needs[k]}
			groups[k] = g
			order = append(order, k)
		}
		g.Legs = append(g.Legs, j.Job)
	}
	depth := map[string]int{}
	var depthOf func(k string, seen map[string]bool) int
	depthOf = func(k string, seen map[string]bool) int {
		if d, ok := depth[k]; ok {
			return d
		}
		if seen[k] { // a cycle (the workflow would not have loaded): stop
			return 0
		}
		seen[k] = true
		d := 0
		for _, n := range needs[k] {
			if _, ok := groups[n]; ok {
				d = max(d, depthOf(n, seen)+1)
			}
		}
		depth[k] = d
		return d
	}
	var cols []graphColumn
	for _, k := range order {
		d := depthOf(k, map[string]bool{})
		for len(cols) <= d {
			cols = append(cols, graphColumn{})
		}
		cols[d].Groups = append(cols[d].Groups, *groups[k])
	}
	return cols
}

// runPage is GET /runs/{id} and /runs/{id}/attempts/{attempt}: the run's
// page — its latest attempt, or the attempt named — each finished job's step
// logs rendered as they stream from the store, with links to every attempt.
// The row id of a later attempt (hookci's links before runs kept one id)
// shows that attempt, as the API does (pathRun).
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "bad run id "+strconv.Quote(r.PathValue("id"))+": want a number")
		return
	}
	run, all, err := s.runAttempts(r.Context(), id)
	if err == nil && r.PathValue("attempt") != "" {
		n, perr := strconv.Atoi(r.PathValue("attempt"))
		if perr != nil || n < 1 || n > len(all) || all[n-1].Attempt != n {
			err = store.ErrNotFound
		} else {
			run = all[n-1]
		}
	}
	var v *RunView
	if err == nil && s.canRead(r, run.Repo) {
		v, err = s.loadRun(r.Context(), run.ID)
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && v == nil {
		s.errorPage(w, r, http.StatusNotFound, "no such run")
		return
	}
	if err != nil {
		s.log.Error("loading run", "run", id, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	var needs map[string][]string
	if s.graph != nil {
		if needs, err = s.graph.Needs(r.Context(), v.Repo, v.SHA, v.WorkflowFile); err != nil {
			s.log.Debug("job graph", "run", v.ID, "err", err)
			needs = nil
		}
	}
	canWrite := s.canWrite(r, v.Repo)
	var jobs []jobPage
	for _, j := range v.Jobs {
		jp := jobPage{JobView: j, CanWrite: canWrite}
		if j.Annotations != "" {
			json.Unmarshal([]byte(j.Annotations), &jp.Annotations)
		}
		if j.Summary != "" {
			if jp.Summary, err = renderMarkdown(j.Summary); err != nil {
				jp.Summary = template.HTML(template.HTMLEscapeString(j.Summary))
			}
		}
		jobs = append(jobs, jp)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	exec := func(name string, data any) bool {
		if err := s.tmpl.ExecuteTemplate(bw, name, data); err != nil {
			s.log.Error("run page template", "template", name, "err", err)
			return false
		}
		return true
	}
	if !exec("run_top", struct {
		*RunView
		Graph    []graphColumn
		Title    string
		CanWrite bool        // the viewer may cancel and re-run (else no buttons)
		Attempts []store.Run // every attempt of the run, first first
	}{v, layoutGraph(v.Jobs, needs), v.RunName, canWrite, all}) {
		return
	}
	for _, j := range jobs {
		if !exec("job_top", j) {
			return
		}
		if j.Status == store.StatusCompleted {
			lr := newLogRenderer(bw, j.ID)
			for _, st := range j.Steps {
				if !exec("step_top", st) {
					return
				}
				err := s.st.Queries().EachStepLog(r.Context(), j.ID, st.Index, lr.WriteChunk)
				lr.EndStep()
				if err != nil {
					s.log.Warn("streaming a step log", "job", j.ID, "err", err)
					return
				}
				if !exec("step_bottom", st) {
					return
				}
			}
		}
		if !exec("job_bottom", j) {
			return
		}
	}
	exec("run_bottom", v)
}

// rawLog is GET /jobs/{id}/log.txt: the job's whole log as plain text, streamed.
func (s *Server) rawLog(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, "no such job")
		return
	}
	q := s.st.Queries()
	j, err := q.Job(r.Context(), id)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, "no such job")
		return
	}
	run, err := q.Run(r.Context(), j.RunID)
	if err != nil || !s.canRead(r, run.Repo) {
		s.errorPage(w, r, http.StatusNotFound, "no such job")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", `attachment; filename="job-`+itoa(id)+`.log"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	if err := q.EachLog(r.Context(), id, 0, func(c store.LogChunk) error { return writeTimedLines(bw, c) }); err != nil {
		s.log.Warn("raw log", "job", id, "err", err)
	}
}
