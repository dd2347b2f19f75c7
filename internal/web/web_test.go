package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

func TestTokenGuardsEverythingButWebhookAndHealth(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) })
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{Token: "t0ken"}).Handler(hook))
	defer srv.Close()
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/healthz", "", 200},
		{"POST", "/webhook", "", 202},
		{"GET", "/", "", 401},
		{"GET", "/api/runs", "", 401},
		{"GET", "/metrics", "", 401},
		{"GET", "/api/runs", "Bearer wrong", 401},
		{"GET", "/api/runs", "Bearer t0ken", 200},
		{"GET", "/?token=t0ken", "", 401}, // no secrets in URLs (auth.go)
		{"GET", "/runs/99", "Bearer t0ken", 404},
		{"GET", "/runs/x", "Bearer t0ken", 400},
		{"GET", "/metrics", "Bearer t0ken", 200},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s (auth %q) = %d, want %d", tc.method, tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "10.1.2.3:80": false, "bad": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestLogStream(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.Queries()
	run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "s", Status: store.StatusInProgress}
	q.CreateRun(ctx, run)
	job := &store.Job{RunID: run.ID, Key: "j", Name: "j", Status: store.StatusInProgress}
	q.CreateJob(ctx, job, false)
	q.AppendLog(ctx, job.ID, 1, []byte("first\n"))
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	go func() { // the job goes on while the stream is open
		time.Sleep(400 * time.Millisecond)
		q.AppendLog(ctx, job.ID, 2, []byte("second\n"))
		job.Status, job.Conclusion = store.StatusCompleted, "success"
		q.UpdateJob(ctx, job)
	}()
	resp, err := http.Get(fmt.Sprintf("%s/api/jobs/%d/log/stream", srv.URL, job.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	body, err := io.ReadAll(resp.Body) // ends when the job completes
	if err != nil {
		t.Fatal(err)
	}
	got := string(body)
	for _, want := range []string{`"data":"first\n"`, `"data":"second\n"`, "event: end\ndata: \"success\""} {
		if !strings.Contains(got, want) {
			t.Errorf("stream lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "first") > strings.Index(got, "second") {
		t.Errorf("log out of order:\n%s", got)
	}
}

// TestRunPageWarnsWhenUnisolated (issue 9 item 15): a run with a job that
// ran on the host backend shows the warning; a run isolated throughout does not.
func TestRunPageWarnsWhenUnisolated(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	for _, tc := range []struct {
		backends []string
		want     bool
	}{
		{[]string{"host"}, true},
		{[]string{"namespace", "host"}, true},
		{[]string{"namespace", "microvm"}, false},
		{[]string{""}, false}, // refused before any sandbox started
	} {
		run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "s",
			Status: store.StatusCompleted, Conclusion: store.ConclusionSuccess}
		if err := st.Queries().CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		for i, b := range tc.backends {
			job := &store.Job{RunID: run.ID, Key: fmt.Sprint("j", i), Name: fmt.Sprint("job-", i, "-", b), Status: store.StatusCompleted,
				Conclusion: store.ConclusionSuccess, Backend: b}
			if err := st.Queries().CreateJob(ctx, job, false); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.Get(fmt.Sprintf("%s/runs/%d", srv.URL, run.ID))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.Contains(string(page), UnisolatedBanner); got != tc.want {
			t.Errorf("backends %q: page shows the warning: got %v, want %v", tc.backends, got, tc.want)
		}
		if tc.want && !strings.Contains(string(page), "job-"+fmt.Sprint(len(tc.backends)-1)+"-host ran on the") {
			t.Errorf("backends %q: the warning does not name the host job:\n%s", tc.backends, page)
		}
	}
}
