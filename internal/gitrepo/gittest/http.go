package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// HTTPServer serves the repositories under a root (as made by New) over
// real smart HTTP with git http-backend, GitHub style: a private repository
// answers 401 unless the request carries basic auth with one of its
// tokens. It records the credential of every request.
type HTTPServer struct {
	URL string // base URL: URL/<owner>/<name>.git

	mu      sync.Mutex
	private map[string][]string // owner/name → accepted tokens
	allow   func(repo, password string) bool
	seen    []Request
}

// Request is one request the server saw.
type Request struct {
	Repo     string // owner/name
	Password string // the basic auth password ("" when none)
	HasAuth  bool
}

// NewHTTPServer serves root until the test ends.
func NewHTTPServer(t testing.TB, root string) *HTTPServer {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	s := &HTTPServer{private: map[string][]string{}}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo := repoOf(r.URL.Path)
		_, pass, ok := r.BasicAuth()
		s.mu.Lock()
		s.seen = append(s.seen, Request{Repo: repo, Password: pass, HasAuth: ok})
		tokens, isPrivate := s.private[repo]
		allow := s.allow
		s.mu.Unlock()
		if isPrivate && !(ok && (contains(tokens, pass) || (allow != nil && allow(repo, pass)))) {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "Repository not found.", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Private makes repo (owner/name) readable only with one of tokens.
func (s *HTTPServer) Private(repo string, tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.private[repo] = tokens
}

// Authorize makes private repositories also accept a password f approves
// (tokens minted while the test runs, e.g. App installation tokens).
func (s *HTTPServer) Authorize(f func(repo, password string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allow = f
}

// Requests returns the requests seen for repo ("" for all).
func (s *HTTPServer) Requests(repo string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.seen {
		if repo == "" || r.Repo == repo {
			out = append(out, r)
		}
	}
	return out
}

// Passwords returns the distinct passwords presented for repo ("" for all).
func (s *HTTPServer) Passwords(repo string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.Requests(repo) {
		if r.HasAuth && !seen[r.Password] {
			seen[r.Password] = true
			out = append(out, r.Password)
		}
	}
	return out
}

func repoOf(p string) string {
	p = strings.TrimPrefix(p, "/")
	i := strings.Index(p, ".git/")
	if i < 0 {
		return strings.TrimSuffix(p, ".git")
	}
	return p[:i]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
