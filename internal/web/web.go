// Package web owns hookci's HTTP surface for people and tools: the health
// check, the run pages (jobs, steps, logs), a JSON API, and /metrics. The
// webhook endpoint is mounted beside it by the server. Everything but the
// webhook, the health check and the sign-in pages needs a Bearer token or a
// session (auth.go) unless no authentication is configured, which hookci
// serve allows on a loopback listen address only (CheckExposure).
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed templates/*.html
var templateFS embed.FS

// Server serves the pages.
type Server struct {
	st          *store.Store
	metrics     *Metrics
	token       string
	log         *slog.Logger
	tmpl        *template.Template
	artifacts   http.Handler
	ghHealth    GitHubStatus // nil: no GitHub client (overview.go)
	sandboxes   Sandboxes    // nil: no sandbox panel
	graph       JobGraph     // nil: jobs in one column
	logs        *logHub      // live log fan-out (stream.go)
	refused     *refusedLog  // webhooks refused or duplicate (refused.go)
	redeliverFn Redeliver    // GitHub's hook deliveries API (deliveries.go)

	github      GitHubSignIn // nil: no Sign in with GitHub
	publicURL   string
	sealer      *sealer
	crossOrigin *http.CrossOriginProtection
	perms       permCache
	now         func() time.Time

	controls Controls
	served   func(repo string) bool
}

// Options configure the Server.
type Options struct {
	// Token, when set, is the API token: "Authorization: Bearer <token>",
	// or a session made from it at /login (auth.go).
	Token  string
	Logger *slog.Logger
	// Artifacts serves GET /runs/{id}/artifacts/{name} and
	// GET /api/runs/{id}/artifacts (nil: not mounted).
	Artifacts http.Handler
	// GitHubHealth, Sandboxes and Graph feed the dashboard (overview.go,
	// runpage.go); each may be nil.
	GitHubHealth GitHubStatus
	Sandboxes    Sandboxes
	Graph        JobGraph

	// GitHub enables Sign in with GitHub (nil: off).
	GitHub GitHubSignIn
	// PublicURL is the base URL people reach hookci at (https: cookies are
	// Secure; the GitHub callback is PublicURL + "/oauth/callback").
	PublicURL string
	// SessionKey (32 bytes, LoadSessionKey) seals session cookies; nil: a
	// random key, so sessions end when the process does.
	SessionKey []byte
	// Controls cancels, re-runs and dispatches for the API's POST routes
	// (nil: they answer 501).
	Controls Controls
	// Served reports whether hookci serves a repository (the allow list):
	// controls on any other answer 404 (nil: every repository).
	Served func(repo string) bool
	// Redeliver asks GitHub to send a delivery again (App mode; nil: the
	// Redeliver button is not shown and its endpoint answers 501).
	Redeliver Redeliver
}

// New returns the web server.
func New(st *store.Store, m *Metrics, opts Options) *Server {
	s := &Server{st: st, metrics: m, token: opts.Token, log: opts.Logger, artifacts: opts.Artifacts,
		ghHealth: opts.GitHubHealth, sandboxes: opts.Sandboxes, graph: opts.Graph}
	s.controls, s.served = opts.Controls, opts.Served // api_*.go
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.logs = newLogHub(st, s.log)
	s.refused, s.redeliverFn = newRefusedLog(), opts.Redeliver
	s.refused.st, s.refused.log = st, s.log
	if m != nil {
		s.refused.dropped = m.RefusalsDropped
	}
	s.initAuth(opts)
	s.tmpl = template.Must(template.New("").Funcs(templateFuncs()).ParseFS(templateFS, "templates/*.html"))
	return s
}

// Close writes the refused-webhook records still buffered to the store
// (before the store closes).
func (s *Server) Close() { s.refused.close() }

// IsLoopback reports whether a listen address only accepts local connections.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler mounts the pages, with webhook at POST /webhook.
func (s *Server) Handler(webhook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/webhook", s.metrics.TimeWebhook(s.refused.wrap(webhook)))
	mux.HandleFunc("GET /healthz", s.healthz)
	s.mountAuth(mux)
	mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})))
	s.mountPages(mux) // the dashboard (pages.go)
	mux.Handle("GET /api/runs", s.auth(http.HandlerFunc(s.apiRuns)))
	mux.Handle("GET /api/runs/{id}", s.auth(http.HandlerFunc(s.apiRun)))
	mux.Handle("GET /api/jobs/{id}/log", s.auth(http.HandlerFunc(s.apiLog)))
	mux.Handle("GET /api/jobs/{id}/log/stream", s.auth(http.HandlerFunc(s.streamLog)))
	mux.Handle("GET /api/deliveries", s.auth(http.HandlerFunc(s.apiDeliveries)))
	s.routeDeliveries(mux)
	s.routeDispatchPage(mux)
	mux.Handle("GET /api/hosts", s.auth(http.HandlerFunc(s.apiHosts)))
	mux.Handle("GET /hosts", s.auth(http.HandlerFunc(s.hostsPage))) // hosts.go
	mux.Handle("GET /api/schedules", s.auth(http.HandlerFunc(s.apiSchedules)))
	mux.Handle("GET /schedules", s.auth(http.HandlerFunc(s.schedulesPage)))
	s.mountActions(mux) // /api/repos/{owner}/{repo}/actions/… (api_actions.go)
	if s.artifacts != nil {
		mux.Handle("GET /runs/{id}/artifacts/{name}", s.auth(s.artifacts))
		mux.Handle("GET /api/runs/{id}/artifacts", s.auth(s.artifacts))
	}
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.st.DB().PingContext(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok\n"))
}

// RunView is a run with its jobs, steps and logs, as pages and the API show it.
type RunView struct {
	store.Run
	Jobs []JobView `json:"jobs"`
}

// JobView is a job with its steps.
type JobView struct {
	store.Job
	Steps []StepView `json:"steps"`
}

// StepView is a step with its log. The API writes Log streamed from the
// store (logs.go); loadRun leaves it empty.
type StepView struct {
	store.Step
	Log string `json:"log"`
}

// loadRun loads a run with its jobs and steps; logs are streamed separately
// (logs.go), never loaded here.
func (s *Server) loadRun(ctx context.Context, id int64) (*RunView, error) {
	q := s.st.Queries()
	run, err := q.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &RunView{Run: run}
	jobs, err := q.RunJobs(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		jv := JobView{Job: j}
		steps, err := q.Steps(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		for _, st := range steps {
			jv.Steps = append(jv.Steps, StepView{Step: st})
		}
		v.Jobs = append(v.Jobs, jv)
	}
	return v, nil
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// runView loads the run named in the path, answering the errors itself.
func (s *Server) runView(w http.ResponseWriter, r *http.Request) (*RunView, bool) {
	id, ok := pathID(r)
	if !ok {
		http.Error(w, "bad run id", http.StatusBadRequest)
		return nil, false
	}
	v, err := s.loadRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such run", http.StatusNotFound)
		return nil, false
	}
	if err != nil {
		s.log.Error("loading run", "run", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	return v, true
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r)
	if !ok {
		return
	}
	var before int64
	if p.before != "" {
		var err error
		if before, err = strconv.ParseInt(p.before, 10, 64); err != nil || before < 1 {
			http.Error(w, "before: want a run id", http.StatusBadRequest)
			return
		}
	}
	runs, err := s.st.Queries().RunsBefore(r.Context(), before, p.perPage)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if len(runs) > 0 {
		setNext(w, r, p, len(runs), strconv.FormatInt(runs[len(runs)-1].ID, 10))
	}
	runs = s.readableRuns(r, runs) // after paging: the next page starts after what was read
	if runs == nil {
		runs = []store.Run{}
	}
	writeJSON(w, runs)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.runView(w, r); ok {
		w.Header().Set("Content-Type", "application/json")
		if err := s.writeRunJSON(r.Context(), w, v); err != nil {
			s.log.Warn("streaming a run", "run", v.ID, "err", err)
		}
	}
}

func (s *Server) apiDeliveries(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r)
	if !ok {
		return
	}
	ds, err := s.st.Queries().DeliveriesBefore(r.Context(), p.before, p.perPage)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	type out struct {
		ID         string    `json:"id"`
		Event      string    `json:"event"`
		Action     string    `json:"action"`
		Repo       string    `json:"repo"`
		ReceivedAt time.Time `json:"received_at"`
		Status     string    `json:"status"`
		// Message is what planning made of it; for a failed delivery, the
		// reason (one of store.FailureReasons) and the error.
		Message string `json:"message"`
	}
	res := []out{}
	for _, d := range s.readableDeliveries(r, ds) {
		res = append(res, out{d.ID, d.Event, d.Action, d.Repo, d.ReceivedAt, d.Status, d.Message})
	}
	if len(ds) > 0 {
		setNext(w, r, p, len(ds), ds[len(ds)-1].ID)
	}
	writeJSON(w, res)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func duration(a, b time.Time) string {
	if a.IsZero() {
		return ""
	}
	if b.IsZero() {
		b = time.Now()
	}
	d := b.Sub(a)
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return d.Round(100 * time.Millisecond).String()
}
