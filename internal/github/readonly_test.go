package github

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/github/githubtest"
)

// TestReadOnlyToken: App mode mints a contents:read token that the fake
// refuses for writes, as GitHub does; token mode has none to give.
func TestReadOnlyToken(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddRepo("octo", "hello", 31)
	key := srv.EnableApp(5)
	c, err := New(Config{APIURL: srv.URL(), AppID: 5, AppKeyPEM: key})
	if err != nil {
		t.Fatal(err)
	}
	repo := Repo{Owner: "octo", Name: "hello", InstallationID: 31}
	tok, err := c.ReadOnlyToken(context.Background(), repo)
	if err != nil || tok == "" {
		t.Fatalf("ReadOnlyToken = %q, %v", tok, err)
	}
	if n := srv.ReadOnlyTokensIssued(); n != 1 {
		t.Errorf("read-only tokens issued = %d, want 1", n)
	}
	req, _ := http.NewRequest("POST", srv.URL()+"repos/octo/hello/statuses/"+strings.Repeat("a", 40),
		strings.NewReader(`{"state":"success"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a write with the read-only token: %d, want 403", resp.StatusCode)
	}
	pat, _ := New(Config{APIURL: srv.URL(), Token: "ghp_x"})
	if tok, err := pat.ReadOnlyToken(context.Background(), repo); err != nil || tok != "" {
		t.Errorf("token mode ReadOnlyToken = %q, %v; want none", tok, err)
	}
}
