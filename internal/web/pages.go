package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// The dashboard's pages: overview (overview.go), runs list, run page
// (runpage.go), deliveries, sandboxes. Server-rendered html/template, a
// little plain JavaScript, no build step.

// mountPages adds the dashboard's routes to mux.
func (s *Server) mountPages(mux *http.ServeMux) {
	mux.Handle("GET /{$}", s.auth(http.HandlerFunc(s.overviewPage)))
	mux.Handle("GET /api/overview", s.auth(http.HandlerFunc(s.apiOverview)))
	mux.Handle("GET /runs", s.auth(http.HandlerFunc(s.runsPage)))
	mux.Handle("GET /runs/{id}", s.auth(http.HandlerFunc(s.runPage)))
	mux.Handle("GET /runs/{id}/attempts/{attempt}", s.auth(http.HandlerFunc(s.runPage)))
	mux.Handle("GET /jobs/{id}/log.txt", s.auth(http.HandlerFunc(s.rawLog)))
	mux.Handle("GET /deliveries", s.auth(http.HandlerFunc(s.deliveriesPage)))
	mux.Handle("GET /sandboxes", s.auth(http.HandlerFunc(s.sandboxesPage)))
	mux.Handle("POST /sandboxes/{job_id}/stop", s.auth(http.HandlerFunc(s.stopSandbox)))
}

// page renders a whole page (layout around content template name).
func (s *Server) page(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	s.pageStatus(w, r, http.StatusOK, name, title, data)
}

func (s *Server) pageStatus(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	var buf bytes.Buffer
	err := s.tmpl.ExecuteTemplate(&buf, name, struct {
		Title string
		Path  string
		D     any
	}{title, r.URL.Path, data})
	if err != nil {
		s.log.Error("page template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// errorPage answers code with a page saying msg.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.pageStatus(w, r, code, "error.html", http.StatusText(code), struct {
		Code int
		Msg  string
	}{code, msg})
}

// runsFilterKeys are the runs list's filter parameters, in form order.
var runsFilterKeys = []string{"repo", "branch", "workflow", "event", "status", "actor"}

// parseRunsFilter reads the runs list's query; a bad value is named in the error.
func parseRunsFilter(v url.Values) (store.RunFilter, int64, int, error) {
	f := store.RunFilter{Repo: v.Get("repo"), Branch: v.Get("branch"), Workflow: v.Get("workflow"), Event: v.Get("event"),
		Status: v.Get("status"), Actor: v.Get("actor")}
	for k := range v {
		if !slices.Contains(runsFilterKeys, k) && k != "before" && k != "per_page" {
			return f, 0, 0, errors.New("unknown filter " + strconv.Quote(k) + " (want one of repo, branch, workflow, event, status, actor)")
		}
	}
	for _, k := range runsFilterKeys {
		if len(v[k]) > 1 {
			return f, 0, 0, errors.New("filter " + k + " given more than once")
		}
		if len(v.Get(k)) > 255 {
			return f, 0, 0, errors.New("filter " + k + " is longer than 255 bytes")
		}
	}
	if f.Repo != "" && !validRepo(f.Repo) {
		return f, 0, 0, errors.New("filter repo: want owner/name, got " + strconv.Quote(f.Repo))
	}
	if f.Status != "" && !slices.Contains(store.RunStatuses, f.Status) {
		return f, 0, 0, errors.New("filter status: unknown status " + strconv.Quote(f.Status))
	}
	if f.Event != "" && !validEvent(f.Event) {
		return f, 0, 0, errors.New("filter event: not an event name: " + strconv.Quote(f.Event))
	}
	var before int64
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return f, 0, 0, errors.New("before: want a run id, got " + strconv.Quote(b))
		}
		before = n
	}
	per := defaultPerPage
	if p := v.Get("per_page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return f, 0, 0, errors.New("per_page: want a whole number from 1 to 100")
		}
		per = min(n, maxPerPage)
	}
	return f, before, per, nil
}

func validRepo(s string) bool {
	slash := 0
	for i, c := range s {
		switch {
		case c == '/':
			slash++
			if i == 0 || i == len(s)-1 {
				return false
			}
		case c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return slash == 1
}

func validEvent(s string) bool {
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return s != ""
}

// runsPage is GET /runs: the runs, filtered and paged by keyset.
func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, before, per, err := parseRunsFilter(q)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if f.Repo != "" && !s.canRead(r, f.Repo) {
		s.errorPage(w, r, http.StatusNotFound, "no such repository")
		return
	}
	// Fetch one more than a page to know whether there is a next one;
	// runs the viewer may not read are left out of the page.
	items, err := s.st.Queries().RunItems(r.Context(), f, before, per+1)
	if err != nil {
		s.log.Error("runs page", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	more := len(items) > per
	if more {
		items = items[:per]
	}
	var shown []store.RunItem
	for _, it := range items {
		if s.canRead(r, it.Repo) {
			shown = append(shown, it)
		}
	}
	next := ""
	if more && len(items) > 0 {
		nq := url.Values{}
		for _, k := range runsFilterKeys {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		if per != defaultPerPage {
			nq.Set("per_page", strconv.Itoa(per))
		}
		nq.Set("before", strconv.FormatInt(items[len(items)-1].ID, 10))
		next = "/runs?" + nq.Encode()
	}
	s.page(w, r, "runs.html", "Runs", struct {
		Runs         []store.RunItem
		Filter       store.RunFilter
		WorkflowFile string // the workflow filter's file name, for the dispatch form
		Statuses     []string
		Next         string
		Paged        bool
	}{shown, f, path.Base(f.Workflow), store.RunStatuses, next, before > 0})
}

// deliveriesPage is GET /deliveries: every webhook and the runs it made.
func (s *Server) deliveriesPage(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r)
	if !ok {
		return
	}
	q := s.st.Queries()
	ds, err := q.DeliveriesBefore(r.Context(), p.before, p.perPage)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	var shown []store.Delivery
	var ids []string
	for _, d := range ds {
		// A delivery refused before it named a repository has none; it is
		// shown to viewers who may read every repository only.
		if s.canRead(r, d.Repo) {
			shown = append(shown, d)
			ids = append(ids, d.ID)
		}
	}
	runs, err := q.RunItemsForDeliveries(r.Context(), ids)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	type row struct {
		store.Delivery
		Runs []store.RunItem
	}
	var rows []row
	for _, d := range shown {
		rows = append(rows, row{d, runs[d.ID]})
	}
	next := ""
	if len(ds) == p.perPage {
		next = "/deliveries?" + url.Values{"before": {ds[len(ds)-1].ID}, "per_page": {strconv.Itoa(p.perPage)}}.Encode()
	}
	var refused []Refusal
	if p.before == "" && readsAll(r) {
		refused = s.refused.recent(r.Context()) // on the first page; they name no repository anyone checked
	}
	s.page(w, r, "deliveries.html", "Deliveries", struct {
		Rows    []row
		Next    string
		Refused []Refusal
		// Redeliver: the Redeliver button is shown (App mode).
		Redeliver   bool
		Redelivered string
	}{rows, next, refused, s.redeliverFn != nil, r.URL.Query().Get("redelivered")})
}

// sandboxesPage is GET /sandboxes: what runs where, the warm pool, stop buttons.
func (s *Server) sandboxesPage(w http.ResponseWriter, r *http.Request) {
	snap := s.sandboxSnapshot(r)
	s.page(w, r, "sandboxes.html", "Sandboxes", snap)
}

// sandboxSnapshot is the snapshot with each job's run, job sandboxes of
// repositories the viewer may not read left out.
func (s *Server) sandboxSnapshot(r *http.Request) *SandboxSnapshot {
	if s.sandboxes == nil {
		return nil
	}
	snap := s.sandboxes.Snapshot()
	var live []LiveSandbox
	q := s.st.Queries()
	for _, l := range snap.Live {
		if l.JobID != 0 {
			j, err := q.Job(r.Context(), l.JobID)
			if err != nil {
				continue
			}
			run, err := q.Run(r.Context(), j.RunID)
			if err != nil || !s.canRead(r, run.Repo) {
				continue
			}
			l.Run = &RunRef{RunID: run.ID, Repo: run.Repo, Job: j.Name}
		}
		live = append(live, l)
	}
	snap.Live = live
	return &snap
}

// stopSandbox is POST /sandboxes/{job_id}/stop: destroys a job's sandbox.
func (s *Server) stopSandbox(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("job_id"), 10, 64)
	if err != nil || id < 1 {
		s.errorPage(w, r, http.StatusBadRequest, "bad job id")
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
	if !s.canWrite(r, run.Repo) {
		s.errorPage(w, r, http.StatusForbidden, "you may not stop jobs of "+run.Repo)
		return
	}
	if s.controls != nil {
		// The job is cancelled as by the Cancel button: it records cancelled with
		// who did it, its context tears the sandbox down, its run goes on (or
		// ends) as for any cancelled job, and GitHub is told.
		if err := s.controls.CancelJob(r.Context(), id, s.actorOf(r)); err != nil {
			var sc interface{ StatusCode() int }
			if !errors.As(err, &sc) {
				s.log.Error("stop sandbox", "job", id, "err", err)
				s.errorPage(w, r, http.StatusInternalServerError, "internal error")
				return
			}
			s.errorPage(w, r, sc.StatusCode(), "job "+strconv.FormatInt(id, 10)+": "+err.Error())
			return
		}
		s.log.Info("job cancelled from the sandboxes page", "job", id, "run", run.ID)
		http.Redirect(w, r, "/sandboxes", http.StatusSeeOther)
		return
	}
	if s.sandboxes == nil {
		s.errorPage(w, r, http.StatusNotImplemented, "this server has no sandbox control")
		return
	}
	// No run controls (a server wired without a dispatcher): close the sandbox;
	// the job ends through the infrastructure path ("stopped by an operator").
	if err := s.sandboxes.Stop(id); err != nil {
		s.errorPage(w, r, http.StatusConflict, "job "+strconv.FormatInt(id, 10)+": "+err.Error())
		return
	}
	s.log.Info("sandbox stopped from the dashboard", "job", id, "run", run.ID)
	http.Redirect(w, r, "/sandboxes", http.StatusSeeOther)
}

// ago is a relative time ("3m ago"), for templates.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d ago"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// templateFuncs are the helpers the templates use.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"dur":  duration,
		"when": func(t time.Time) string { return t.Format("2006-01-02 15:04:05") },
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":  ago,
		"keys": sortedKeys,
		"short": func(s string) string {
			if len(s) > 7 {
				return s[:7]
			}
			return s
		},
		"secs": func(f float64) string {
			return (time.Duration(f * float64(time.Second))).Round(100 * time.Millisecond).String()
		},
		"pct": func(f *float64) string {
			if f == nil {
				return "—"
			}
			return strconv.FormatFloat(*f*100, 'f', 1, 64) + " %"
		},
		"icon": stateIcon,
		"mib":  func(n int) string { return strconv.Itoa(n) + " MiB" },
	}
}

// stateIcon is the symbol of a status or conclusion.
func stateIcon(status, conclusion string) string {
	if status != store.StatusCompleted {
		switch status {
		case store.StatusInProgress:
			return "◐"
		default:
			return "○"
		}
	}
	switch conclusion {
	case store.ConclusionSuccess:
		return "✓"
	case store.ConclusionFailure, store.ConclusionTimedOut:
		return "✗"
	case store.ConclusionCancelled:
		return "⊘"
	case store.ConclusionSkipped:
		return "⤼"
	}
	return "•"
}
