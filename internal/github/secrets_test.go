package github_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

// TestSecretsNeverLeak forces every kind of failure and checks that no credential appears in
// an error, a log line or a request URL.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	type failer func(e *env)
	fails := map[string]failer{
		"5xx exhausted":       func(e *env) { e.srv.FailNext(10, 502, nil) },
		"dropped connections": func(e *env) { e.srv.FailNext(10, 0, nil) },
		"401":                 func(e *env) { e.srv.FailNext(10, 401, nil) },
		"404":                 func(e *env) { e.srv.FailNext(1, 404, nil) },
		"422":                 func(e *env) { e.srv.FailNext(1, 422, nil) },
		"rate limit too long": func(e *env) {
			e.srv.FailNext(1, 403, map[string]string{"X-RateLimit-Remaining": "0",
				"X-RateLimit-Reset": strconv.FormatInt(e.clock.Now().Add(time.Hour).Unix(), 10)})
		},
	}
	for _, mode := range []string{"token", "app"} {
		for name, fail := range fails {
			t.Run(mode+"/"+name, func(t *testing.T) {
				var e *env
				secrets := []string{testToken}
				if mode == "token" {
					e = tokenEnv(t, func(c *github.Config) { c.MaxRetries = 2 })
				} else {
					e = appEnv(t, func(c *github.Config) { c.MaxRetries = 2 })
					tok, err := e.c.GitToken(ctx, repo)
					if err != nil {
						t.Fatal(err)
					}
					secrets = []string{tok, "eyJ" /* any JWT */, "PRIVATE KEY"}
				}
				e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 1, HeadSHA: sha1})
				var errs []error
				fail(e)
				errs = append(errs, e.c.SetStatus(ctx, repo, sha1, github.Status{State: github.StateSuccess}))
				fail(e)
				_, err := e.c.UpsertPRComment(ctx, repo, 1, "m", "b")
				errs = append(errs, err)
				fail(e)
				_, err = e.c.BranchHeads(ctx, repo)
				errs = append(errs, err)
				if mode == "app" {
					e.srv.RevokeInstallationTokens()
					fail(e) // now the token request itself fails
					_, err = e.c.CreateCheckRun(ctx, repo, github.CheckRun{Name: "n", HeadSHA: sha1})
					errs = append(errs, err)
				}
				var text strings.Builder
				for i, err := range errs {
					if err == nil {
						t.Errorf("call %d: got success, want the forced error", i)
						continue
					}
					text.WriteString(err.Error() + "\n")
				}
				text.WriteString(e.logs.String())
				for _, r := range e.srv.Requests() {
					text.WriteString(r.Path + "?" + r.Query + "\n")
				}
				for _, s := range secrets {
					if strings.Contains(text.String(), s) {
						t.Errorf("secret %q found in errors, logs or URLs:\n%s", s[:min(len(s), 8)], text.String())
					}
				}
			})
		}
	}
}
