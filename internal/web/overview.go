package web

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// The overview page (/) and its JSON (/api/overview, which the page polls
// and `hookci status` prints): health, sandbox capacity, the queue, the
// last 24 hours, recent failures.

// GitHubStatus tells whether GitHub's API answers and how much of the
// server's rate limit is left. The server wires its GitHub client; nil when
// it has none (results are not reported).
type GitHubStatus interface {
	RateLimit(ctx context.Context) (RateLimit, error)
}

// RateLimit is GitHub's core API rate limit as last seen.
type RateLimit struct {
	Remaining int       `json:"remaining"`
	Limit     int       `json:"limit"`
	Reset     time.Time `json:"reset"`
}

// Sandboxes is what the dashboard sees of the sandbox backends: a snapshot
// of their capacity and live sandboxes, and a way to stop a job's sandbox.
// The server wires backends.Set through an adapter; nil: no sandbox panel.
type Sandboxes interface {
	Snapshot() SandboxSnapshot
	Stop(jobID int64) error
}

// SandboxSnapshot is the sandboxes at one moment.
type SandboxSnapshot struct {
	Default  string         `json:"default"`
	Backends []BackendState `json:"backends"`
	Live     []LiveSandbox  `json:"live"`
}

// BackendState is one backend's capacity and use.
type BackendState struct {
	Name      string `json:"name"`
	Running   int    `json:"running"`
	Warm      int    `json:"warm"`
	Max       int    `json:"max"`
	MemoryMiB int    `json:"memory_mib"`
	Error     string `json:"error,omitempty"`
}

// LiveSandbox is one running sandbox.
type LiveSandbox struct {
	ID        string    `json:"id"`
	JobID     int64     `json:"job_id"` // 0: a warm sandbox
	Backend   string    `json:"backend"`
	Started   time.Time `json:"started"`
	MemoryMiB int       `json:"memory_mib"`
	Run       *RunRef   `json:"run,omitempty"`
}

// RunRef names the run and job a sandbox serves.
type RunRef struct {
	RunID int64  `json:"run_id"`
	Repo  string `json:"repo"`
	Job   string `json:"job"`
}

// OverviewJSON is /api/overview's answer.
type OverviewJSON struct {
	Healthy bool         `json:"healthy"`
	Health  HealthJSON   `json:"health"`
	Sandbox *SandboxJSON `json:"sandboxes,omitempty"`
	Queue   QueueJSON    `json:"queue"`
	Day     DayJSON      `json:"last_24h"`
	Failed  []RunJSON    `json:"recent_failures"`
	Now     time.Time    `json:"now"`
}

// HealthJSON is the server's health.
type HealthJSON struct {
	Store        string     `json:"store"` // "ok" or the error
	Queue        int        `json:"queue_depth"`
	GitHub       string     `json:"github"` // "ok", "not configured", or the error
	RateLimit    *RateLimit `json:"rate_limit,omitempty"`
	LastDelivery *time.Time `json:"last_delivery,omitempty"`
}

// SandboxJSON is the sandbox capacity.
type SandboxJSON struct {
	Default  string         `json:"default"`
	Backends []BackendState `json:"backends"`
	Live     int            `json:"live"`
}

// QueueJSON is the jobs not yet running.
type QueueJSON struct {
	Queued       int        `json:"queued"` // waiting for a sandbox
	Waiting      int        `json:"waiting"`
	Running      int        `json:"running"`
	OldestQueued *time.Time `json:"oldest_queued,omitempty"`
	OldestWait   string     `json:"oldest_wait,omitempty"`
}

// DayJSON is the last 24 hours.
type DayJSON struct {
	Deliveries  map[string]int `json:"deliveries"`
	Runs        map[string]int `json:"runs"`
	SuccessRate *float64       `json:"success_rate,omitempty"` // of finished runs, 0–1; absent when none finished
	Workflows   []WorkflowJSON `json:"workflows"`
}

// WorkflowJSON is one workflow's durations.
type WorkflowJSON struct {
	Repo     string  `json:"repo"`
	Workflow string  `json:"workflow"`
	Runs     int     `json:"runs"`
	Failed   int     `json:"failed"`
	P50      float64 `json:"p50_seconds"`
	P95      float64 `json:"p95_seconds"`
}

// RunJSON is a run in a list.
type RunJSON struct {
	ID         int64     `json:"id"`
	Repo       string    `json:"repo"`
	Workflow   string    `json:"workflow"`
	Branch     string    `json:"branch"`
	Title      string    `json:"title"`
	Actor      string    `json:"actor"`
	Event      string    `json:"event"`
	Status     string    `json:"status"`
	Conclusion string    `json:"conclusion"`
	CreatedAt  time.Time `json:"created_at"`
	URL        string    `json:"url"`
}

func runJSON(it store.RunItem) RunJSON {
	return RunJSON{ID: it.ID, Repo: it.Repo, Workflow: it.WorkflowName, Branch: it.Branch, Title: it.Title, Actor: it.Actor,
		Event: it.Event, Status: it.Status, Conclusion: it.Conclusion, CreatedAt: it.CreatedAt, URL: "/runs/" + itoa(it.PublicID())}
}

// overviewFailures is how many recent failed runs the overview lists.
const overviewFailures = 10

// overview gathers the overview for r's viewer (failures filtered by canRead).
func (s *Server) overview(ctx context.Context, r *http.Request) (*OverviewJSON, *store.Overview) {
	now := time.Now()
	out := &OverviewJSON{Healthy: true, Now: now}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out.Health.Store = "ok"
	if err := s.st.DB().PingContext(pctx); err != nil {
		out.Health.Store, out.Healthy = err.Error(), false
	}
	if n, err := s.st.QueueDepth(pctx); err == nil {
		out.Health.Queue = n
	}
	out.Health.GitHub = "not configured"
	if s.ghHealth != nil {
		rl, err := s.ghHealth.RateLimit(pctx)
		if err != nil {
			out.Health.GitHub, out.Healthy = err.Error(), false
		} else {
			out.Health.GitHub, out.Health.RateLimit = "ok", &rl
			if rl.Limit > 0 && rl.Remaining == 0 {
				out.Health.GitHub, out.Healthy = "rate limit exhausted until "+rl.Reset.UTC().Format(time.RFC3339), false
			}
		}
	}
	if s.sandboxes != nil {
		snap := s.sandboxes.Snapshot()
		out.Sandbox = &SandboxJSON{Default: snap.Default, Backends: snap.Backends, Live: len(snap.Live)}
		for _, b := range snap.Backends {
			if b.Error != "" && b.Name == snap.Default {
				out.Healthy = false
			}
		}
	}
	o, err := s.st.Queries().Overview(ctx, now.Add(-24*time.Hour), overviewFailures)
	if err != nil {
		s.log.Error("overview", "err", err)
		out.Health.Store, out.Healthy = err.Error(), false
		return out, nil
	}
	if !o.LastDelivery.IsZero() {
		out.Health.LastDelivery = &o.LastDelivery
	}
	out.Queue = QueueJSON{Queued: o.QueuedJobs, Waiting: o.WaitingJobs, Running: o.RunningJobs}
	if !o.OldestQueued.IsZero() {
		out.Queue.OldestQueued = &o.OldestQueued
		out.Queue.OldestWait = now.Sub(o.OldestQueued).Round(time.Second).String()
	}
	// The day's figures count only repositories the viewer may read.
	out.Day = DayJSON{Deliveries: map[string]int{}, Runs: map[string]int{}, Workflows: []WorkflowJSON{}}
	finished, succeeded := 0, 0
	for repo, d := range o.Repos {
		if !s.canRead(r, repo) {
			continue
		}
		for k, n := range d.Deliveries {
			out.Day.Deliveries[k] += n
		}
		for k, n := range d.Runs {
			out.Day.Runs[k] += n
		}
		finished, succeeded = finished+d.Finished, succeeded+d.Succeeded
	}
	if readsAll(r) {
		for k, n := range s.refused.day(r.Context()) { // refused and duplicate webhooks (refused.go)
			out.Day.Deliveries[k] += n
		}
	}
	if finished > 0 {
		rate := float64(succeeded) / float64(finished)
		out.Day.SuccessRate = &rate
	}
	for _, w := range o.Workflows {
		if !s.canRead(r, w.Repo) {
			continue
		}
		out.Day.Workflows = append(out.Day.Workflows, WorkflowJSON{Repo: w.Repo, Workflow: w.Workflow, Runs: w.Runs,
			Failed: w.Failed, P50: w.P50.Seconds(), P95: w.P95.Seconds()})
	}
	out.Failed = []RunJSON{}
	for _, it := range o.RecentFailures {
		if s.canRead(r, it.Repo) {
			out.Failed = append(out.Failed, runJSON(it))
		}
	}
	return out, o
}

// apiOverview is GET /api/overview; 503 when unhealthy, with the same body.
func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request) {
	out, _ := s.overview(r.Context(), r)
	w.Header().Set("Cache-Control", "no-store")
	if !out.Healthy {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	writeJSON(w, out)
}

// overviewPage is GET /: the overview, and the newest runs.
func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	out, _ := s.overview(r.Context(), r)
	runs, err := s.st.Queries().RunItems(r.Context(), store.RunFilter{}, 0, 15)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	var recent []store.RunItem
	for _, it := range runs {
		if s.canRead(r, it.Repo) {
			recent = append(recent, it)
		}
	}
	s.page(w, r, "overview.html", "Overview", struct {
		O    *OverviewJSON
		Runs []store.RunItem
	}{out, recent})
}

// sandboxGauges reports the sandboxes per backend at each scrape:
// hookci_sandboxes_running, _warm and _capacity{backend}.
type sandboxGauges struct {
	sb                    Sandboxes
	running, warm, maxCap *prometheus.Desc
}

// RegisterSandboxGauges adds the sandbox gauges to m's registry.
func RegisterSandboxGauges(m *Metrics, sb Sandboxes) error {
	if m == nil || sb == nil {
		return nil
	}
	return m.Registry.Register(&sandboxGauges{sb: sb,
		running: prometheus.NewDesc("hookci_sandboxes_running", "Sandboxes running jobs, by backend.", []string{"backend"}, nil),
		warm:    prometheus.NewDesc("hookci_sandboxes_warm", "Sandboxes ready in the warm pool, by backend.", []string{"backend"}, nil),
		maxCap:  prometheus.NewDesc("hookci_sandboxes_capacity", "Jobs that may run at once, by backend.", []string{"backend"}, nil),
	})
}

func (g *sandboxGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.running
	ch <- g.warm
	ch <- g.maxCap
}

func (g *sandboxGauges) Collect(ch chan<- prometheus.Metric) {
	for _, b := range g.sb.Snapshot().Backends {
		if b.Error != "" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(g.running, prometheus.GaugeValue, float64(b.Running), b.Name)
		ch <- prometheus.MustNewConstMetric(g.warm, prometheus.GaugeValue, float64(b.Warm), b.Name)
		ch <- prometheus.MustNewConstMetric(g.maxCap, prometheus.GaugeValue, float64(b.Max), b.Name)
	}
}

// cachedGitHub asks GitHub for the rate limit at most once per ttl.
type cachedGitHub struct {
	next GitHubStatus
	ttl  time.Duration

	mu   sync.Mutex
	at   time.Time
	last RateLimit
	err  error
}

// CachedGitHubStatus wraps g so that GitHub is asked at most once per ttl
// (the overview is polled every few seconds by every open dashboard).
func CachedGitHubStatus(g GitHubStatus, ttl time.Duration) GitHubStatus {
	if g == nil {
		return nil
	}
	return &cachedGitHub{next: g, ttl: ttl}
}

func (c *cachedGitHub) RateLimit(ctx context.Context) (RateLimit, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.ttl {
		return c.last, c.err
	}
	c.last, c.err = c.next.RateLimit(ctx)
	c.at = time.Now()
	return c.last, c.err
}

// sortedKeys lists a count map's keys in order (templates).
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
