package github_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

func TestSetStatusLifecycle(t *testing.T) {
	for _, mode := range []struct {
		name string
		env  func(*testing.T, ...func(*github.Config)) *env
	}{{"token", tokenEnv}, {"app", appEnv}} {
		t.Run(mode.name, func(t *testing.T) {
			e := mode.env(t)
			ctx := context.Background()
			long := strings.Repeat("é", 200)
			steps := []github.Status{
				{State: github.StatePending, Context: "hookci/build", Description: "queued", TargetURL: "https://ci.example/r/1"},
				{State: github.StateSuccess, Context: "hookci/build", Description: long},
				{State: github.StateFailure},
			}
			for _, st := range steps {
				if err := e.c.SetStatus(ctx, repo, sha1, st); err != nil {
					t.Fatalf("SetStatus(%s): %v", st.State, err)
				}
			}
			want := []githubtest.Status{
				{State: "pending", Context: "hookci/build", Description: "queued", TargetURL: "https://ci.example/r/1"},
				{State: "success", Context: "hookci/build", Description: strings.Repeat("é", 139) + "…"},
				{State: "failure", Context: "default"},
			}
			got := e.srv.Statuses(full, sha1)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(githubtest.Status{}, "ID", "CreatedAt")); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetStatusRejectsBadInput(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		repo github.Repo
		sha  string
		st   github.Status
		want string
	}{
		{"bad state", repo, sha1, github.Status{State: "done"}, "invalid state"},
		{"empty sha", repo, "", github.Status{State: "success"}, "empty sha"},
		{"bad repo", github.Repo{Owner: "a/b", Name: "c"}, sha1, github.Status{State: "success"}, "invalid repository"},
		{"short sha (fake 422)", repo, "abc", github.Status{State: "success"}, "422"},
		{"unknown repo (fake 404)", github.Repo{Owner: "no", Name: "such"}, sha1, github.Status{State: "success"}, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.c.SetStatus(ctx, tt.repo, tt.sha, tt.st)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
