package github

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/github/githubtest"
)

// TestJobToken: a job token reaches only its repository and permissions on
// the strict fake; asking for more than the installation has is lowered
// rather than refused; after RevokeToken the token is dead (401), and a
// second revoke is not an error. Token mode cannot mint.
func TestJobToken(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.NewServer(t)
	srv.AddRepo("octo", "hello", 31)
	srv.AddRepo("octo", "other", 31)
	srv.SetInstallationPermissions(31, map[string]string{"metadata": "read", "contents": "read", "statuses": "write", "issues": "read"})
	key := srv.EnableApp(5)
	c, err := New(Config{APIURL: srv.URL(), AppID: 5, AppKeyPEM: key})
	if err != nil {
		t.Fatal(err)
	}
	jt, err := c.MintJobToken(ctx, Repo{Owner: "octo", Name: "hello", InstallationID: 31},
		map[string]string{"contents": "write", "issues": "write", "checks": "write"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"metadata": "read", "contents": "read", "issues": "read"}
	if len(jt.Permissions) != len(want) {
		t.Errorf("granted %v, want %v", jt.Permissions, want)
	}
	for p, l := range want {
		if jt.Permissions[p] != l {
			t.Errorf("granted %s: %q, want %q", p, jt.Permissions[p], l)
		}
	}
	do := func(method, path, tok string) int {
		req, _ := http.NewRequest(method, srv.URL()+path, strings.NewReader(`{"state":"success","body":"x"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sha := strings.Repeat("a", 40)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "repos/octo/hello", 200},
		{"GET", "repos/octo/other", 404},
		{"POST", "repos/octo/other/statuses/" + sha, 404},
		{"POST", "repos/octo/hello/statuses/" + sha, 403},
		{"POST", "repos/octo/hello/issues/1/comments", 403},
		{"POST", "repos/octo/hello/check-runs", 403},
	} {
		if got := do(tc.method, tc.path, jt.Token); got != tc.want {
			t.Errorf("%s %s: got %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	if err := c.RevokeToken(ctx, jt.Token); err != nil {
		t.Fatal(err)
	}
	if got := do("GET", "repos/octo/hello", jt.Token); got != 401 {
		t.Errorf("after revoke: got %d, want 401", got)
	}
	if err := c.RevokeToken(ctx, jt.Token); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	pat, _ := New(Config{APIURL: srv.URL(), Token: "ghp_x"})
	if _, err := pat.MintJobToken(ctx, Repo{Owner: "octo", Name: "hello"}, nil); err != ErrAppRequired {
		t.Errorf("token mode MintJobToken: %v, want ErrAppRequired", err)
	}
}
