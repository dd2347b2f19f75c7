package github_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

const tokenPath = "/app/installations/77/access_tokens"

func TestAppInstallationTokenCachedAndRefreshed(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	st := github.Status{State: github.StatePending, Context: "c"}
	for range 3 {
		if err := e.c.SetStatus(ctx, repo, sha1, st); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 1 {
		t.Errorf("after 3 calls: got %d token requests, want 1 (cached)", got)
	}
	e.clock.Advance(54 * time.Minute) // 6 minutes left: still used
	if err := e.c.SetStatus(ctx, repo, sha1, st); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 1 {
		t.Errorf("6 min before expiry: got %d token requests, want 1", got)
	}
	e.clock.Advance(2 * time.Minute) // 4 minutes left: refreshed
	if err := e.c.SetStatus(ctx, repo, sha1, st); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 2 {
		t.Errorf("4 min before expiry: got %d token requests, want 2 (refreshed)", got)
	}
}

func TestAppShortLivedTokenRefreshed(t *testing.T) {
	e := appEnv(t)
	e.srv.SetTokenLifetime(3 * time.Minute) // already inside the refresh margin
	ctx := context.Background()
	for range 2 {
		if _, err := e.c.GitToken(ctx, repo); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 2 {
		t.Errorf("got %d token requests, want 2 (a token expiring within 5 min is never reused)", got)
	}
}

func TestAppRevokedTokenReplacedOnce(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	st := github.Status{State: github.StateSuccess}
	if err := e.c.SetStatus(ctx, repo, sha1, st); err != nil {
		t.Fatal(err)
	}
	e.srv.RevokeInstallationTokens()
	if err := e.c.SetStatus(ctx, repo, sha1, st); err != nil {
		t.Fatalf("after revocation: %v (want a new token and success)", err)
	}
	if got := len(e.srv.Statuses(full, sha1)); got != 2 {
		t.Errorf("got %d statuses, want 2", got)
	}
	e.srv.RevokeInstallationTokens()
	if _, err := e.c.BranchHeads(ctx, repo); err != nil { // a GET, without a body
		t.Fatalf("GET after revocation: %v (want a new token and success)", err)
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 3 {
		t.Errorf("got %d token requests, want 3", got)
	}
}

func TestAppInstallationLookedUpWhenUnknown(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	r := github.Repo{Owner: owner, Name: name} // no installation id
	for range 2 {
		if err := e.c.SetStatus(ctx, r, sha1, github.Status{State: github.StateSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.CountRequests("GET", "/repos/octo/hello/installation"); got != 1 {
		t.Errorf("got %d installation lookups, want 1 (cached)", got)
	}
}

func TestGitToken(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		e := tokenEnv(t)
		got, err := e.c.GitToken(context.Background(), repo)
		if err != nil || got != testToken {
			t.Errorf("got %q, %v; want the configured token", got, err)
		}
	})
	t.Run("app", func(t *testing.T) {
		e := appEnv(t)
		got, err := e.c.GitToken(context.Background(), repo)
		if err != nil || !strings.HasPrefix(got, "ghs_") {
			t.Errorf("got %q, %v; want an installation token", got, err)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  github.Config
		want string
	}{
		{"no credentials", github.Config{}, "no credentials"},
		{"both", github.Config{Token: "t", AppID: 1, AppKeyPEM: []byte("k")}, "not both"},
		{"app without key", github.Config{AppID: 1}, "needs both"},
		{"garbage key", github.Config{AppID: 1, AppKeyPEM: []byte("not a key")}, "private key"},
		{"bad url", github.Config{Token: "t", APIURL: "ftp://x"}, "APIURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := github.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEnterpriseBaseURL(t *testing.T) {
	e := tokenEnv(t)
	// A GitHub Enterprise style base with a path, without the trailing slash: requests must
	// keep the path prefix (the fake has no /api/v3, so it answers 404 there).
	c := e.newClient(t, github.Config{Token: testToken}, func(c *github.Config) { c.APIURL = e.srv.URL() + "api/v3" })
	err := c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StateSuccess})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("got %v, want a 404 from the prefixed path", err)
	}
	reqs := e.srv.Requests()
	if got := reqs[len(reqs)-1].Path; got != "/api/v3/repos/octo/hello/statuses/"+sha1 {
		t.Errorf("got path %q, want /api/v3/repos/octo/hello/statuses/%s", got, sha1)
	}
}

func TestTokenEndpointFailureIsNotRetriedTwice(t *testing.T) {
	e := appEnv(t, func(c *github.Config) { c.MaxRetries = 2 })
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 1})
	e.srv.FailNext(20, 503, nil)
	_, err := e.c.UpsertPRComment(context.Background(), repo, 1, "m", "b")
	if err == nil || !strings.Contains(err.Error(), "installation 77 token") {
		t.Fatalf("got %v, want the token error", err)
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 3 {
		t.Errorf("got %d token requests, want 3 (1 + MaxRetries, no nested retries)", got)
	}
	if got := len(e.srv.Requests()); got != 3 {
		t.Errorf("got %d requests in all, want 3", got)
	}
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	e := appEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			errs <- e.c.SetStatus(context.Background(), repo, sha1, github.Status{State: github.StatePending, Context: fmt.Sprint(i)})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.CountRequests("POST", tokenPath); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
	if got := len(e.srv.Statuses(full, sha1)); got != 20 {
		t.Errorf("got %d statuses, want 20", got)
	}
}
