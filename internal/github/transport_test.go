package github_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		fail      int
		status    int
		headers   func(now time.Time) map[string]string
		wantSleep func(now time.Time) []time.Duration // nil: only count and bounds are checked
		wantN     int                                 // sleeps
	}{
		{name: "5xx then success", fail: 2, status: 502, wantN: 2},
		{name: "transport error then success", fail: 1, status: 0, wantN: 1},
		{name: "403 primary limit waits until reset", fail: 1, status: 403,
			headers: func(now time.Time) map[string]string {
				return map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000",
					"X-RateLimit-Reset": strconv.FormatInt(now.Add(7*time.Minute).Unix(), 10)}
			},
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{7*time.Minute + time.Second} }},
		{name: "429 primary limit", fail: 1, status: 429,
			headers: func(now time.Time) map[string]string {
				return map[string]string{"X-RateLimit-Remaining": "0",
					"X-RateLimit-Reset": strconv.FormatInt(now.Add(30*time.Second).Unix(), 10)}
			},
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{31 * time.Second} }},
		{name: "429 Retry-After", fail: 1, status: 429,
			headers:   func(time.Time) map[string]string { return map[string]string{"Retry-After": "17"} },
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{17 * time.Second} }},
		{name: "403 secondary limit with Retry-After", fail: 1, status: 403,
			headers:   func(time.Time) map[string]string { return map[string]string{"Retry-After": "60"} },
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{time.Minute} }},
		{name: "503 with Retry-After", fail: 1, status: 503,
			headers:   func(time.Time) map[string]string { return map[string]string{"Retry-After": "5"} },
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{5 * time.Second} }},
		{name: "429 Retry-After as HTTP date", fail: 1, status: 429,
			headers: func(now time.Time) map[string]string {
				return map[string]string{"Retry-After": now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)}
			},
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{2 * time.Minute} }},
		{name: "403 secondary limit message only", fail: 2, status: 403,
			wantSleep: func(time.Time) []time.Duration { return []time.Duration{time.Minute, 2 * time.Minute} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tokenEnv(t)
			var h map[string]string
			if tt.headers != nil {
				h = tt.headers(e.clock.Now())
			}
			e.srv.FailNext(tt.fail, tt.status, h)
			err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess, Context: "ci"})
			if err != nil {
				t.Fatalf("SetStatus: %v", err)
			}
			if got := len(e.srv.Statuses(full, sha1)); got != 1 {
				t.Errorf("got %d statuses, want 1 (the replayed body must arrive intact)", got)
			}
			sleeps := e.clock.Sleeps()
			if tt.wantSleep != nil {
				if diff := cmp.Diff(tt.wantSleep(e.clock.Now()), sleeps); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
				return
			}
			if len(sleeps) != tt.wantN {
				t.Errorf("got sleeps %v, want %d of them", sleeps, tt.wantN)
			}
			for _, d := range sleeps {
				if d <= 0 || d > 30*time.Second {
					t.Errorf("backoff %v out of (0, 30s]", d)
				}
			}
		})
	}
}

func TestRetriesAreBounded(t *testing.T) {
	e := tokenEnv(t, func(c *github.Config) { c.MaxRetries = 2 })
	e.srv.FailNext(10, 503, nil)
	err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("got %v, want the final 503", err)
	}
	if got := e.srv.CountRequests("POST", "/statuses/"+sha1); got != 3 {
		t.Errorf("got %d attempts, want 3 (1 + MaxRetries)", got)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, code := range []int{400, 401, 404, 422} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			e := tokenEnv(t)
			e.srv.FailNext(1, code, nil)
			if err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess}); err == nil {
				t.Fatal("got success, want the error")
			}
			if got := len(e.clock.Sleeps()); got != 0 {
				t.Errorf("got %d sleeps, want 0", got)
			}
		})
	}
}

func TestRateLimitWaitTooLongFails(t *testing.T) {
	e := tokenEnv(t)
	reset := e.clock.Now().Add(40 * time.Minute)
	e.srv.FailNext(1, 403, map[string]string{"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)})
	err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess})
	if !errors.Is(err, github.ErrRateLimited) {
		t.Fatalf("got %v, want an error wrapping ErrRateLimited", err)
	}
	if !strings.Contains(err.Error(), "40m") {
		t.Errorf("error %q: want the needed wait (40m) in it", err)
	}
	if got := len(e.clock.Sleeps()); got != 0 {
		t.Errorf("got %d sleeps, want 0", got)
	}
}

func TestRetryWaitHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := tokenEnv(t, func(c *github.Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel() // the caller gives up while we wait
			<-ctx.Done()
			return ctx.Err()
		}
	})
	e.srv.FailNext(1, 503, nil)
	err := e.c.SetStatus(ctx, repo, sha1, github.Status{State: github.StateSuccess})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if got := e.srv.CountRequests("POST", "/statuses/"+sha1); got != 1 {
		t.Errorf("got %d attempts, want 1", got)
	}
}

func TestRetryIsLogged(t *testing.T) {
	e := tokenEnv(t)
	e.srv.FailNext(1, 500, nil)
	if err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess}); err != nil {
		t.Fatal(err)
	}
	if got := e.logs.String(); !strings.Contains(got, "retrying") || !strings.Contains(got, "500") {
		t.Errorf("log %q: want a retry line naming the 500", got)
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		headers     map[string]string
		wantStatus  int
		wantLimited bool
	}{
		{"not found", 404, nil, 404, false},
		{"unprocessable", 422, nil, 422, false},
		{"server error", 502, nil, 502, false},
		{"primary limit outlasting retries", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}, 403, true},
		{"secondary limit outlasting retries", 429, map[string]string{"Retry-After": "1"}, 429, true},
		{"dropped connection", 0, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tokenEnv(t, func(c *github.Config) { c.MaxRetries = 1 })
			e.srv.FailNext(5, tt.status, tt.headers)
			err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess})
			if err == nil {
				t.Fatal("got success, want an error")
			}
			if got := github.HTTPStatus(err); got != tt.wantStatus {
				t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, tt.wantStatus)
			}
			if got := github.IsRateLimited(err); got != tt.wantLimited {
				t.Errorf("IsRateLimited(%v) = %v, want %v", err, got, tt.wantLimited)
			}
		})
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	e := tokenEnv(t, func(c *github.Config) { c.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} })
	e.srv.StallNext(1, time.Minute) // the first attempt hangs; the client's timeout ends it
	if err := e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess}); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	if got := len(e.clock.Sleeps()); got != 1 {
		t.Errorf("got %d retries, want 1", got)
	}
	if got := len(e.srv.Statuses(full, sha1)); got != 1 {
		t.Errorf("got %d statuses, want 1", got)
	}
}

func TestAmbiguousTimeoutOnCreateDoesNotDuplicate(t *testing.T) {
	e := tokenEnv(t, func(c *github.Config) { c.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} })
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 2})
	e.srv.StallNextMatching("POST", "/issues/2/comments", time.Minute) // times out, not applied
	id, err := e.c.UpsertPRComment(context.Background(), repo, 2, "summary", "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Comments(full, 2); len(got) != 1 || got[0].ID != id {
		t.Errorf("got %+v, want exactly comment %d", got, id)
	}
	// The timed-out create is ambiguous: re-list (GET), then create again.
	if got := e.srv.CountRequests("GET", "/issues/2/comments"); got != 2 {
		t.Errorf("got %d listings, want 2", got)
	}
}
