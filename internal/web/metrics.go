package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are hookci's Prometheus metrics, on a registry of their own.
// Every label takes its values from a fixed set (see the label functions
// below), so no input from outside can add series. Other packages report
// through callbacks and small interfaces they declare (dispatch.Observer,
// webhook.Options.Observe, gitrepo.Cache.ObserveFetch, actions.Executor.ObserveCache)
// and through RoundTripper for GitHub's API.
type Metrics struct {
	Registry *prometheus.Registry
	now      func() time.Time

	deliveries      *prometheus.CounterVec
	lastWebhook     prometheus.Gauge
	ack             *prometheus.HistogramVec
	failed          *prometheus.CounterVec
	reconciled      prometheus.Counter
	runs            *prometheus.CounterVec
	jobs            *prometheus.HistogramVec
	queueWait       *prometheus.HistogramVec
	sbStart         *prometheus.HistogramVec
	sbStartFail     *prometheus.CounterVec
	infraFail       *prometheus.CounterVec
	retries         *prometheus.CounterVec
	ghRequests      *prometheus.CounterVec
	ghRemaining     *prometheus.GaugeVec
	ghLimit         *prometheus.GaugeVec
	gitFetch        *prometheus.HistogramVec
	cacheLookups    *prometheus.CounterVec
	refusalsDropped prometheus.Counter
}

// Label value sets. A value outside its set is counted as "other".
var (
	backendLabels    = []string{"host", "namespace", "microvm", "firecracker"}
	conclusionLabels = []string{store.ConclusionSuccess, store.ConclusionFailure, store.ConclusionCancelled,
		store.ConclusionSkipped, store.ConclusionTimedOut}
	cacheResults     = []string{"hit", "partial", "miss"}
	rateLimitClasses = []string{"core", "search", "graphql", "integration_manifest", "code_search"}
	// ackBuckets: GitHub gives up on a delivery after 10 s.
	ackBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// waitBuckets: from "at once" to "an hour in the queue".
	waitBuckets = []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
)

func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return "other"
}

// NewMetrics registers the metrics; queueDepth is sampled at each scrape.
func NewMetrics(queueDepth func(ctx context.Context) (int, error)) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		now:      time.Now,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_webhook_deliveries_total", Help: "Webhook requests by event and outcome.",
		}, []string{"event", "outcome"}),
		lastWebhook: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookci_webhook_last_received_timestamp_seconds",
			Help: "When the last correctly signed webhook arrived (Unix time; 0: none since start).",
		}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookci_webhook_ack_duration_seconds", Help: "Time to answer a webhook request, by status class.",
			Buckets: ackBuckets,
		}, []string{"code"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_deliveries_failed_total", Help: "Acknowledged deliveries that ended failed, by reason.",
		}, []string{"reason"}),
		reconciled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookci_reconciler_deliveries_total",
			Help: "Deliveries the reconciler synthesized for pushes and pull requests no webhook announced.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_runs_total", Help: "Finished workflow runs by conclusion.",
		}, []string{"conclusion"}),
		jobs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookci_job_duration_seconds", Help: "Job durations by conclusion.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"conclusion"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookci_queue_wait_seconds",
			Help:    "From the webhook's receipt to the start of a job that needs no other job, by backend.",
			Buckets: waitBuckets,
		}, []string{"backend"}),
		sbStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookci_sandbox_start_duration_seconds", Help: "Time to start a job's sandbox, by backend (successful starts).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"backend"}),
		sbStartFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_sandbox_start_failures_total", Help: "Sandboxes that failed to start, by backend.",
		}, []string{"backend"}),
		infraFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_job_infrastructure_failures_total",
			Help: "Job attempts lost to the infrastructure (sandbox start or agent), by backend.",
		}, []string{"backend"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_job_retries_total", Help: "Jobs retried on a fresh sandbox after an infrastructure failure, by backend.",
		}, []string{"backend"}),
		ghRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_github_requests_total",
			Help: "GitHub API requests (each attempt) by HTTP status code; \"error\" when no answer came.",
		}, []string{"code"}),
		ghRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookci_github_rate_limit_remaining", Help: "X-RateLimit-Remaining of the last GitHub answer, by resource.",
		}, []string{"resource"}),
		ghLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookci_github_rate_limit_limit", Help: "X-RateLimit-Limit of the last GitHub answer, by resource.",
		}, []string{"resource"}),
		gitFetch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookci_git_fetch_duration_seconds", Help: "git fetches into the mirrors (cache misses only), by outcome.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"outcome"}),
		refusalsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookci_webhook_refusals_dropped_total",
			Help: "Refused or duplicate webhook requests left out of the durable record (its buffer was full, or the store failed); the requests themselves are in hookci_webhook_deliveries_total.",
		}),
		cacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_cache_lookups_total",
			Help: "actions/cache restores: hit (primary key), partial (a restore key) or miss.",
		}, []string{"result"}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookci_queue_depth", Help: "Queue jobs waiting to be worked.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := queueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	// Series that alerts and the dashboard divide by or rate exist from the
	// start, at zero, so that their queries answer before the first event.
	for _, r := range store.FailureReasons {
		m.failed.WithLabelValues(r)
	}
	for _, b := range backendLabels {
		m.sbStartFail.WithLabelValues(b)
		m.infraFail.WithLabelValues(b)
		m.retries.WithLabelValues(b)
	}
	for _, r := range cacheResults {
		m.cacheLookups.WithLabelValues(r)
	}
	m.ghRequests.WithLabelValues("error") // the error ratio's numerator
	m.gitFetch.WithLabelValues("ok")
	m.gitFetch.WithLabelValues("error")
	m.Registry.MustRegister(m.deliveries, m.lastWebhook, m.ack, m.failed, m.reconciled, m.runs, m.jobs, depth,
		m.queueWait, m.sbStart, m.sbStartFail, m.infraFail, m.retries, m.ghRequests, m.ghRemaining, m.ghLimit,
		m.gitFetch, m.cacheLookups, m.refusalsDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// signedOutcomes are the webhook outcomes of a request that passed the
// signature check: GitHub (or whoever holds the secret) sent it.
var signedOutcomes = []string{"accepted", "duplicate", "replay", "ignored", "ping"}

// Delivery counts a webhook request (webhook.Options.Observe). The caller
// passes a label from a fixed set (webhook.EventLabel), never a raw header.
func (m *Metrics) Delivery(event, outcome string) {
	if event == "" {
		event = "unknown"
	}
	m.deliveries.WithLabelValues(event, outcome).Inc()
	if slices.Contains(signedOutcomes, outcome) {
		m.lastWebhook.Set(float64(m.now().UnixNano()) / 1e9)
	}
}

// RefusalsDropped counts n refused-webhook records the durable record lost.
func (m *Metrics) RefusalsDropped(n int) {
	if m != nil {
		m.refusalsDropped.Add(float64(n))
	}
}

// TimeWebhook wraps the webhook handler (Server.Handler mounts it so) and
// observes how long each answer took, by status class (2xx, 4xx, 5xx).
func (m *Metrics) TimeWebhook(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := m.now()
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.ack.WithLabelValues(statusClass(sw.status)).Observe(m.now().Sub(t0).Seconds())
	})
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// DeliveryFailed counts a delivery that ended failed; a reason outside
// store.FailureReasons is counted as "other".
func (m *Metrics) DeliveryFailed(reason string) {
	m.failed.WithLabelValues(oneOf(reason, store.FailureReasons)).Inc()
}

// Reconciled counts n deliveries the reconciler synthesized.
func (m *Metrics) Reconciled(n int) {
	if n > 0 {
		m.reconciled.Add(float64(n))
	}
}

// RunFinished counts a finished run.
func (m *Metrics) RunFinished(conclusion string) {
	m.runs.WithLabelValues(oneOf(conclusion, conclusionLabels)).Inc()
}

// JobFinished observes a finished job.
func (m *Metrics) JobFinished(conclusion string, seconds float64) {
	m.jobs.WithLabelValues(oneOf(conclusion, conclusionLabels)).Observe(seconds)
}

// JobQueued observes the wait of a job from its webhook to its start.
func (m *Metrics) JobQueued(backend string, wait time.Duration) {
	m.queueWait.WithLabelValues(oneOf(backend, backendLabels)).Observe(max(wait, 0).Seconds())
}

// SandboxStarted observes one sandbox start: its duration when it started,
// a failure when err is not nil.
func (m *Metrics) SandboxStarted(backend string, took time.Duration, err error) {
	backend = oneOf(backend, backendLabels)
	if err != nil {
		m.sbStartFail.WithLabelValues(backend).Inc()
		return
	}
	m.sbStart.WithLabelValues(backend).Observe(took.Seconds())
}

// InfrastructureFailure counts a job attempt lost to the infrastructure;
// retried says whether the job is tried again on a fresh sandbox.
func (m *Metrics) InfrastructureFailure(backend string, retried bool) {
	backend = oneOf(backend, backendLabels)
	m.infraFail.WithLabelValues(backend).Inc()
	if retried {
		m.retries.WithLabelValues(backend).Inc()
	}
}

// GitFetched observes one git fetch into a mirror (gitrepo.Cache.ObserveFetch).
func (m *Metrics) GitFetched(took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.gitFetch.WithLabelValues(outcome).Observe(took.Seconds())
}

// CacheLookup counts an actions/cache restore (actions.Executor.ObserveCache):
// result is "hit", "partial" or "miss".
func (m *Metrics) CacheLookup(result string) {
	m.cacheLookups.WithLabelValues(oneOf(result, cacheResults)).Inc()
}

// RoundTripper wraps the transport of the GitHub client (github.Config's
// HTTPClient): every attempt is counted by status code, and the rate-limit
// headers GitHub sends with each answer set the rate-limit gauges.
func (m *Metrics) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if err != nil {
			m.ghRequests.WithLabelValues("error").Inc()
			return resp, err
		}
		code := "other"
		if resp.StatusCode >= 100 && resp.StatusCode <= 599 {
			code = strconv.Itoa(resp.StatusCode)
		}
		m.ghRequests.WithLabelValues(code).Inc()
		res := resp.Header.Get("X-RateLimit-Resource")
		if res == "" {
			res = "core"
		}
		res = oneOf(res, rateLimitClasses)
		if v, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining")); err == nil {
			m.ghRemaining.WithLabelValues(res).Set(float64(v))
		}
		if v, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Limit")); err == nil {
			m.ghLimit.WithLabelValues(res).Set(float64(v))
		}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
