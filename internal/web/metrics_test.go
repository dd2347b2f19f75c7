package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func newTestMetrics() *Metrics {
	return NewMetrics(func(context.Context) (int, error) { return 0, nil })
}

// families gathers the registry by metric name.
func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	got, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range got {
		out[f.GetName()] = f
	}
	return out
}

// sample finds the series of name whose labels are exactly labels.
func sample(t *testing.T, m *Metrics, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f := families(t, m)[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, s := range f.GetMetric() {
		if len(s.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range s.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if match {
			return s
		}
	}
	t.Fatalf("%s has no series %v", name, labels)
	return nil
}

func counter(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	return sample(t, m, name, labels).GetCounter().GetValue()
}

// TestMetricLabelsBounded is the attack on the label sets: a thousand
// distinct made-up values for every label that comes from data (backend,
// conclusion, cache result, failure reason, rate-limit resource, HTTP
// status) must not add more than one "other" series per metric.
func TestMetricLabelsBounded(t *testing.T) {
	m := newTestMetrics()
	before := map[string]int{}
	for name, f := range families(t, m) {
		before[name] = len(f.GetMetric())
	}
	rt := m.RoundTripper(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
		resp.Header.Set("X-RateLimit-Resource", r.URL.Query().Get("r"))
		resp.Header.Set("X-RateLimit-Remaining", "1")
		resp.Header.Set("X-RateLimit-Limit", "2")
		return resp, nil
	}))
	for i := range 1000 {
		v := fmt.Sprintf("made-up-%d", i)
		m.RunFinished(v)
		m.JobFinished(v, 1)
		m.JobQueued(v, time.Second)
		m.SandboxStarted(v, time.Second, nil)
		m.SandboxStarted(v, 0, errors.New("no"))
		m.InfrastructureFailure(v, true)
		m.CacheLookup(v)
		m.DeliveryFailed(v)
		req, _ := http.NewRequest("GET", "http://gh.invalid/?r="+v, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range families(t, m) {
		if grew := len(f.GetMetric()) - before[name]; grew > 1 {
			t.Errorf("%s: %d new series from made-up label values, want at most 1 (\"other\")", name, grew)
		}
	}
	if got := counter(t, m, "hookci_runs_total", map[string]string{"conclusion": "other"}); got != 1000 {
		t.Errorf("hookci_runs_total{conclusion=other} = %v, want 1000", got)
	}
}

// TestGitHubRoundTripper: every attempt is counted by status code (or
// "error"), and GitHub's rate-limit headers set the gauges by resource.
func TestGitHubRoundTripper(t *testing.T) {
	m := newTestMetrics()
	answers := []struct {
		code      int
		resource  string
		remaining string
		err       error
	}{
		{code: 200, remaining: "4999"},
		{code: 201, resource: "core", remaining: "4998"},
		{code: 502},
		{err: errors.New("connection reset")},
		{code: 200, resource: "graphql", remaining: "10"},
	}
	i := 0
	rt := m.RoundTripper(roundTripFunc(func(*http.Request) (*http.Response, error) {
		a := answers[i]
		i++
		if a.err != nil {
			return nil, a.err
		}
		resp := &http.Response{StatusCode: a.code, Header: http.Header{}, Body: http.NoBody}
		if a.resource != "" {
			resp.Header.Set("X-RateLimit-Resource", a.resource)
		}
		if a.remaining != "" {
			resp.Header.Set("X-RateLimit-Remaining", a.remaining)
			resp.Header.Set("X-RateLimit-Limit", "5000")
		}
		return resp, nil
	}))
	for range answers {
		req, _ := http.NewRequest("GET", "https://api.github.invalid/repos/o/r", nil)
		rt.RoundTrip(req)
	}
	for _, c := range []struct {
		code string
		want float64
	}{{"200", 2}, {"201", 1}, {"502", 1}, {"error", 1}} {
		if got := counter(t, m, "hookci_github_requests_total", map[string]string{"code": c.code}); got != c.want {
			t.Errorf("hookci_github_requests_total{code=%q} = %v, want %v", c.code, got, c.want)
		}
	}
	for _, c := range []struct {
		resource string
		want     float64
	}{{"core", 4998}, {"graphql", 10}} {
		got := sample(t, m, "hookci_github_rate_limit_remaining", map[string]string{"resource": c.resource}).GetGauge().GetValue()
		if got != c.want {
			t.Errorf("hookci_github_rate_limit_remaining{resource=%q} = %v, want %v", c.resource, got, c.want)
		}
	}
}

// TestWebhookTiming: TimeWebhook observes each answer by status class, and
// only a request that passed the signature check moves the last-webhook time.
func TestWebhookTiming(t *testing.T) {
	m := newTestMetrics()
	m.now = func() time.Time { return time.Unix(1700000000, 0) }
	h := m.TimeWebhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("as") {
		case "accepted":
			m.Delivery("push", "accepted")
			w.WriteHeader(202)
		case "bad":
			m.Delivery("push", "bad_signature")
			w.WriteHeader(401)
		default:
			w.Write([]byte("implicit 200"))
		}
	}))
	for _, q := range []string{"bad", "bad", "accepted", "ok"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/webhook?as="+q, strings.NewReader("{}")))
	}
	for _, c := range []struct {
		class string
		want  uint64
	}{{"2xx", 2}, {"4xx", 2}} {
		got := sample(t, m, "hookci_webhook_ack_duration_seconds", map[string]string{"code": c.class}).GetHistogram().GetSampleCount()
		if got != c.want {
			t.Errorf("ack histogram {code=%q}: %d observations, want %d", c.class, got, c.want)
		}
	}
	if got := sample(t, m, "hookci_webhook_last_received_timestamp_seconds", nil).GetGauge().GetValue(); got != 1700000000 {
		t.Errorf("last webhook time = %v, want 1700000000 (set by the accepted one)", got)
	}

	m2 := newTestMetrics()
	m2.Delivery("push", "bad_signature")
	m2.Delivery("push", "malformed")
	if got := sample(t, m2, "hookci_webhook_last_received_timestamp_seconds", nil).GetGauge().GetValue(); got != 0 {
		t.Errorf("last webhook time after refused requests only = %v, want 0", got)
	}
}
