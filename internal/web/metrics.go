package web

import (
	"context"
	"slices"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are hookci's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry   *prometheus.Registry
	deliveries *prometheus.CounterVec
	failed     *prometheus.CounterVec
	runs       *prometheus.CounterVec
	jobs       *prometheus.HistogramVec
}

// NewMetrics registers the metrics; queueDepth is sampled at each scrape.
func NewMetrics(queueDepth func(ctx context.Context) (int, error)) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_webhook_deliveries_total", Help: "Webhook requests by event and outcome.",
		}, []string{"event", "outcome"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_deliveries_failed_total", Help: "Acknowledged deliveries that ended failed, by reason.",
		}, []string{"reason"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookci_runs_total", Help: "Finished workflow runs by conclusion.",
		}, []string{"conclusion"}),
		jobs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookci_job_duration_seconds", Help: "Job durations by conclusion.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"conclusion"}),
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
	for _, r := range store.FailureReasons {
		m.failed.WithLabelValues(r)
	}
	m.Registry.MustRegister(m.deliveries, m.failed, m.runs, m.jobs, depth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Delivery counts a webhook request (webhook.Options.Observe). The caller
// passes a label from a fixed set (webhook.EventLabel), never a raw header.
func (m *Metrics) Delivery(event, outcome string) {
	if event == "" {
		event = "unknown"
	}
	m.deliveries.WithLabelValues(event, outcome).Inc()
}

// DeliveryFailed counts a delivery that ended failed; a reason outside
// store.FailureReasons is counted as "other".
func (m *Metrics) DeliveryFailed(reason string) {
	if !slices.Contains(store.FailureReasons, reason) {
		reason = "other"
	}
	m.failed.WithLabelValues(reason).Inc()
}

// RunFinished counts a finished run.
func (m *Metrics) RunFinished(conclusion string) { m.runs.WithLabelValues(conclusion).Inc() }

// JobFinished observes a finished job.
func (m *Metrics) JobFinished(conclusion string, seconds float64) {
	m.jobs.WithLabelValues(conclusion).Observe(seconds)
}
