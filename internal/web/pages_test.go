package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// fixture is a store with one delivery, one failed run whose names and log
// hold HTML, served by the web server.
type fixture struct {
	st    *store.Store
	srv   *httptest.Server
	run   *store.Run
	job   *store.Job
	stops []int64
}

type stubSandboxes struct{ f *fixture }

func (s stubSandboxes) Snapshot() SandboxSnapshot {
	return SandboxSnapshot{Default: "namespace", Backends: []BackendState{{Name: "namespace", Running: 1, Warm: 1, Max: 4}},
		Live: []LiveSandbox{{ID: "job-1-1-1", JobID: s.f.job.ID, Backend: "namespace", Started: time.Now()},
			{ID: "warm-1", Backend: "namespace", Started: time.Now()}}}
}

func (s stubSandboxes) Stop(id int64) error {
	s.f.stops = append(s.f.stops, id)
	return nil
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st}
	d := store.Delivery{ID: "dlv-1", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Status: store.DeliveryPlanned,
		Payload: []byte(`{"sender":{"login":"mona"},"head_commit":{"message":"<b>bold</b> commit"}}`)}
	if _, err := st.AddDelivery(ctx, d, false); err != nil {
		t.Fatal(err)
	}
	q := st.Queries()
	f.run = &store.Run{DeliveryID: "dlv-1", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "<script>document.title='pwned'</script>",
		Event: "push", SHA: "0123456789abcdef", Ref: "refs/heads/main", Status: store.StatusCompleted, Conclusion: store.ConclusionFailure,
		StartedAt: time.Now().Add(-time.Minute), FinishedAt: time.Now()}
	if err := q.CreateRun(ctx, f.run); err != nil {
		t.Fatal(err)
	}
	f.job = &store.Job{RunID: f.run.ID, Key: "build", Name: "build <i>x</i>", Status: store.StatusCompleted, Conclusion: store.ConclusionFailure,
		Summary: "## Sum\n<script>document.title='pwned'</script>", Annotations: `[{"level":"error","message":"<b>bad</b>","file":"a.go","line":3}]`}
	if err := q.CreateJob(ctx, f.job, false); err != nil {
		t.Fatal(err)
	}
	if err := q.UpdateJob(ctx, f.job); err != nil { // the summary is written with the job's result
		t.Fatal(err)
	}
	q.PutStep(ctx, store.Step{JobID: f.job.ID, Index: 0, Name: "Run make", Status: store.StatusCompleted, Conclusion: store.ConclusionFailure})
	q.AppendLog(ctx, f.job.ID, 0, []byte("\x1b[31merror\x1b[0m <img src=x onerror=alert(1)>\n##[group]G\nin\n##[endgroup]\n"))
	f.srv = httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{Sandboxes: stubSandboxes{f}}).Handler(http.NotFoundHandler()))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	id := itoa(f.run.ID)
	cases := []struct {
		path    string
		code    int
		want    []string
		mustNot []string
	}{
		{"/", 200, []string{"Overview", "namespace", "/runs/" + id, "&lt;script&gt;"}, []string{"<script>document"}},
		{"/runs", 200, []string{"&lt;b&gt;bold&lt;/b&gt; commit", "mona", "<code>main</code>"}, []string{"<b>bold"}},
		{"/runs?status=failure&actor=mona&branch=main&repo=o/r&workflow=ci.yml&event=push", 200, []string{"/runs/" + id}, nil},
		{"/runs?repo=o/r&workflow=ci.yml", 200, []string{"dispatch-form", "/api/repos/o/r/actions/workflows/ci.yml/dispatches"}, nil},
		{"/runs?status=success", 200, []string{"No runs."}, nil},
		{"/runs?status=bogus", 400, []string{"filter status", "bogus"}, nil},
		{"/runs?colour=red", 400, []string{"unknown filter", "colour"}, nil},
		{"/runs?repo=not-a-repo", 400, []string{"filter repo"}, nil},
		{"/runs?before=abc", 400, []string{"before"}, nil},
		{"/runs/" + id, 200, []string{`class="f1"`, "&lt;img src=x onerror=alert(1)&gt;", `<details class="grp">`, "job-" + itoa(f.job.ID) + "-L1",
			"<h2>Sum</h2>", "&lt;b&gt;bad&lt;/b&gt;", "a.go:3", "raw log",
			`data-post="/jobs/` + itoa(f.job.ID) + `/rerun"`, `data-post="/runs/` + id + `/rerun-failed-jobs"`}, []string{"<script>document", "<img src=x", "<b>bad"}},
		{"/runs/999999", 404, []string{"no such run"}, nil},
		{"/jobs/" + itoa(f.job.ID) + "/log.txt", 200, []string{"<img src=x onerror=alert(1)>", "##[group]G"}, nil},
		{"/deliveries", 200, []string{"dlv-1", "planned", "/runs/" + id}, nil},
		{"/sandboxes", 200, []string{"job-1-1-1", "warm, waiting for a job", "/sandboxes/" + itoa(f.job.ID) + "/stop"}, nil},
	}
	for _, c := range cases {
		code, body := f.get(t, c.path)
		if code != c.code {
			t.Errorf("GET %s: got %d, want %d", c.path, code, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: body lacks %q:\n%s", c.path, w, body)
			}
		}
		for _, n := range c.mustNot {
			if strings.Contains(body, n) {
				t.Errorf("GET %s: body contains %q", c.path, n)
			}
		}
	}
}

func TestAPIOverview(t *testing.T) {
	f := newFixture(t)
	code, body := f.get(t, "/api/overview")
	if code != 200 {
		t.Fatalf("got %d, want 200: %s", code, body)
	}
	var o OverviewJSON
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if !o.Healthy || o.Health.Store != "ok" || o.Health.LastDelivery == nil || o.Day.Runs["failure"] != 1 ||
		len(o.Failed) != 1 || o.Sandbox == nil || o.Sandbox.Backends[0].Running != 1 {
		t.Errorf("got %s", body)
	}
	if o.Day.SuccessRate == nil || *o.Day.SuccessRate != 0 {
		t.Errorf("success rate: got %v, want 0", o.Day.SuccessRate)
	}
}

type failingGitHub struct{}

func (failingGitHub) RateLimit(context.Context) (RateLimit, error) {
	return RateLimit{}, errors.New("github unreachable")
}

func TestAPIOverviewUnhealthy(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{GitHubHealth: failingGitHub{}}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/overview")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o OverviewJSON
	json.NewDecoder(resp.Body).Decode(&o)
	if resp.StatusCode != 503 || o.Healthy || o.Health.GitHub != "github unreachable" {
		t.Errorf("got %d %+v, want 503, unhealthy, the GitHub error", resp.StatusCode, o.Health)
	}
}

func TestStopSandbox(t *testing.T) {
	f := newFixture(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/sandboxes/" + itoa(f.job.ID) + "/stop", 303},
		{"/sandboxes/424242/stop", 404},
		{"/sandboxes/x/stop", 400},
	} {
		resp, err := client.Post(f.srv.URL+c.path, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("POST %s: got %d, want %d", c.path, resp.StatusCode, c.code)
		}
	}
	if len(f.stops) != 1 || f.stops[0] != f.job.ID {
		t.Errorf("stopped %v, want [%d]", f.stops, f.job.ID)
	}
}

// The sandbox gauges are on /metrics, per backend.
func TestSandboxGauges(t *testing.T) {
	f := newFixture(t)
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := NewMetrics(st.QueueDepth)
	if err := RegisterSandboxGauges(m, stubSandboxes{f}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(st, m, Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`hookci_sandboxes_running{backend="namespace"} 1`, `hookci_sandboxes_warm{backend="namespace"} 1`,
		`hookci_sandboxes_capacity{backend="namespace"} 4`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
