package github_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

const callback = "http://hookci.test/oauth/callback"

// authorize runs the browser's half of the flow as login: the fake
// redirects to the callback with a code; it returns that code.
func authorize(t *testing.T, srv *githubtest.Server, o *github.OAuth, login, redirect string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(srv.URL())
	jar.SetCookies(u, []*http.Cookie{srv.GitHubSession(login)})
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(o.AuthorizeURL("st4te", redirect))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "st4te" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: got %d → %q, want 302 with code and state", resp.StatusCode, loc)
	}
	return loc.Query().Get("code")
}

func oauthEnv(t *testing.T) (*githubtest.Server, *github.OAuth) {
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme", "app", 0)
	srv.AddRepo("acme", "private", 0)
	srv.AddOAuthApp("cid", "csecret", callback)
	return srv, &github.OAuth{ClientID: "cid", ClientSecret: "csecret", WebURL: srv.URL(), APIURL: srv.URL()}
}

// TestOAuthFlow: code → token → user → permissions, as GitHub answers them.
func TestOAuthFlow(t *testing.T) {
	ctx := context.Background()
	srv, o := oauthEnv(t)
	srv.SetUserPermission("alice", "acme/app", "write")
	tok, _, err := o.Exchange(ctx, authorize(t, srv, o, "alice", callback), callback)
	if err != nil {
		t.Fatal(err)
	}
	if login, err := o.User(ctx, tok); err != nil || login != "alice" {
		t.Errorf("User: got %q, %v; want alice", login, err)
	}
	for _, tc := range []struct {
		repo string
		want github.Permission
	}{
		{"app", github.Permission{Push: true, Pull: true}},
		{"private", github.Permission{}}, // 404 for alice: not even readable
		{"missing", github.Permission{}},
	} {
		got, err := o.RepoPermission(ctx, tok, "acme", tc.repo)
		if err != nil || got != tc.want {
			t.Errorf("RepoPermission(acme/%s): got %+v, %v; want %+v", tc.repo, got, err, tc.want)
		}
	}
	if _, err := o.User(ctx, "gho_forged"); err == nil || strings.Contains(err.Error(), "gho_forged") {
		t.Errorf("User with a forged token: got %v, want an error not naming the token", err)
	}
	if _, err := o.RepoPermission(ctx, "gho_forged", "acme", "app"); err == nil {
		t.Errorf("RepoPermission with a forged token: got no error, want 401")
	}
}

// TestOAuthFakeIsStrict: what GitHub refuses, the fake refuses, and the
// client reports it as ErrOAuthRefused without the secret.
func TestOAuthFakeIsStrict(t *testing.T) {
	ctx := context.Background()
	srv, o := oauthEnv(t)
	now := time.Now()
	srv.SetNow(func() time.Time { return now })

	wrong := *o
	wrong.ClientSecret = "not-the-secret"
	if _, _, err := wrong.Exchange(ctx, authorize(t, srv, o, "bob", callback), callback); !errors.Is(err, github.ErrOAuthRefused) ||
		!strings.Contains(err.Error(), "incorrect_client_credentials") || strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("wrong client secret: got %v, want incorrect_client_credentials without the secret", err)
	}

	code := authorize(t, srv, o, "bob", callback)
	if _, _, err := o.Exchange(ctx, code, callback); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	if _, _, err := o.Exchange(ctx, code, callback); !errors.Is(err, github.ErrOAuthRefused) || !strings.Contains(err.Error(), "bad_verification_code") {
		t.Errorf("reused code: got %v, want bad_verification_code", err)
	}

	code = authorize(t, srv, o, "bob", callback)
	now = now.Add(11 * time.Minute)
	if _, _, err := o.Exchange(ctx, code, callback); !errors.Is(err, github.ErrOAuthRefused) || !strings.Contains(err.Error(), "bad_verification_code") {
		t.Errorf("expired code: got %v, want bad_verification_code", err)
	}

	code = authorize(t, srv, o, "bob", callback+"/sub")
	if _, _, err := o.Exchange(ctx, code, callback); !errors.Is(err, github.ErrOAuthRefused) || !strings.Contains(err.Error(), "redirect_uri_mismatch") {
		t.Errorf("code exchanged with another redirect_uri: got %v, want redirect_uri_mismatch", err)
	}

	// Authorize: unknown client, foreign callback, browser not signed in to GitHub.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	unknown := *o
	unknown.ClientID = "someone-else"
	for _, tc := range []struct {
		name, url string
		want      int
		wantLoc   string
	}{
		{"unknown client", unknown.AuthorizeURL("s", callback), 404, ""},
		{"foreign redirect_uri", o.AuthorizeURL("s", "http://evil.test/oauth/callback"), 302, callback + "?error=redirect_uri_mismatch"},
		{"lookalike path", o.AuthorizeURL("s", "http://hookci.test/oauth/callbackx"), 302, callback + "?error=redirect_uri_mismatch"},
		{"not signed in to GitHub", o.AuthorizeURL("s", callback), 401, ""},
	} {
		resp, err := c.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != tc.want || !strings.HasPrefix(loc, tc.wantLoc) || strings.Contains(loc, "code=") {
			t.Errorf("authorize, %s: got %d → %q, want %d → %q… without a code", tc.name, resp.StatusCode, loc, tc.want, tc.wantLoc)
		}
	}
}

// TestOAuthExpiringUserTokens: a GitHub App's user token comes with its
// lifetime and stops working when it ends.
func TestOAuthExpiringUserTokens(t *testing.T) {
	ctx := context.Background()
	srv, o := oauthEnv(t)
	now := time.Now()
	srv.SetNow(func() time.Time { return now })
	srv.SetUserTokenLifetime(8 * time.Hour)
	tok, life, err := o.Exchange(ctx, authorize(t, srv, o, "carol", callback), callback)
	if err != nil || life != 8*time.Hour {
		t.Fatalf("Exchange: got lifetime %v, %v; want 8h", life, err)
	}
	if login, err := o.User(ctx, tok); err != nil || login != "carol" {
		t.Errorf("User before expiry: got %q, %v", login, err)
	}
	now = now.Add(8 * time.Hour)
	if _, err := o.User(ctx, tok); err == nil {
		t.Errorf("User after expiry: got no error, want 401")
	}
}
