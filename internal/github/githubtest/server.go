// Package githubtest is a strict fake of the GitHub REST API over real HTTP (httptest),
// for tests of code that talks to GitHub. It implements only the endpoints hookci uses,
// authenticates like GitHub (token, App JWT, installation tokens), validates request bodies
// like GitHub (422 with GitHub's error shape), records everything it accepted, and lets a
// test inject failures (5xx, rate limits) into the next requests. Anything else is a 404.
package githubtest

import (
	"bytes"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	t   testing.TB
	srv *httptest.Server
	mux *http.ServeMux

	mu             sync.Mutex // guards the fields below
	now            func() time.Time
	rate           rateWindow
	token          string // valid personal access token ("" = none)
	appID          int64
	appPub         *rsa.PublicKey
	appKeyPEM      []byte
	tokenLifetime  time.Duration
	instTokens     map[string]instToken // by token
	readOnlyTokens int
	minted         []*MintedToken
	instPerms      map[int64]map[string]string // by installation (absent: the default set)
	repos          map[string]*repoState
	installations  map[int64]bool
	nextID         int64
	requests       []RecordedRequest
	failures       []failure
	deliveries     []*HookDelivery
	redeliveries   []int64
	appHook        appHook    // where App hook redeliveries are sent (hooks.go)
	oauth          oauthState // Sign in with GitHub (oauth.go)
}

type failure struct {
	stall   time.Duration // wait this long (or until the client leaves), then serve normally
	status  int
	headers map[string]string
	after   bool   // apply the request, then answer with the failure
	method  string // "" matches any request
	suffix  string // path suffix to match, with method
}

func (f failure) matches(r *http.Request) bool {
	return f.method == "" || (r.Method == f.method && strings.HasSuffix(r.URL.Path, f.suffix))
}

// NewServer starts a fake GitHub; it is closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{
		t:             t,
		now:           time.Now,
		tokenLifetime: time.Hour,
		instTokens:    map[string]instToken{},
		repos:         map[string]*repoState{},
		installations: map[int64]bool{},
		instPerms:     map[int64]map[string]string{},
	}
	s.mux = http.NewServeMux()
	s.routes()
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the REST base URL, ending in "/".
func (s *Server) URL() string { return s.srv.URL + "/" }

// SetToken makes tok a valid personal access token for every repository.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// SetNow replaces the fake's clock (JWT checks, token expiry, timestamps).
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetTokenLifetime sets the lifetime of installation tokens issued from now on (default 1 h).
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// AddRepo creates owner/name, covered by App installation installationID (0: none).
func (s *Server) AddRepo(owner, name string, installationID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := owner + "/" + name
	if _, ok := s.repos[full]; ok {
		s.t.Fatalf("githubtest: AddRepo: %s already exists", full)
	}
	s.repos[full] = newRepoState(owner, name, installationID, s.newID())
	if installationID != 0 {
		s.installations[installationID] = true
	}
}

// FailNext makes the next n requests fail with status, the given headers and a GitHub-shaped
// JSON error body, without being applied. Use it for 5xx, 403 + X-RateLimit-Remaining: 0 +
// X-RateLimit-Reset, or 429 + Retry-After. Status 0 closes the connection without an answer
// (a transport error for the client).
func (s *Server) FailNext(n, status int, headers map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, headers: headers})
	}
}

// StallNext makes the next n requests wait d before being served normally: a slow GitHub,
// for client timeouts. A request whose client gives up during the wait is not applied.
func (s *Server) StallNext(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{stall: d})
	}
}

// StallNextMatching is StallNext for the next request with method and a path ending in pathSuffix.
func (s *Server) StallNextMatching(method, pathSuffix string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{stall: d, method: method, suffix: pathSuffix})
}

// FailNextAfterApply makes the next request with method and a path ending in pathSuffix take
// effect, then answer with status anyway: the ambiguous failure (say a 502 from a proxy after
// GitHub created the comment) that clients must survive without duplicating.
func (s *Server) FailNextAfterApply(method, pathSuffix string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{status: status, after: true, method: method, suffix: pathSuffix})
}

func (s *Server) newID() int64 {
	s.nextID++
	return 1000 + s.nextID
}

// ServeHTTP records the request, injects a pending failure if any, and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, RecordedRequest{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status, Body: body,
		})
		s.mu.Unlock()
	}()
	f, ok := s.popFailure(r)
	switch {
	case !ok:
		if !s.countRate(rec, r) {
			writeJSON(rec, http.StatusForbidden, apiError{Message: "API rate limit exceeded.",
				DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
				Status:           "403"})
			return
		}
		s.mux.ServeHTTP(rec, r)
	case f.stall > 0:
		// Consume the body so the server notices when the client hangs up.
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		select {
		case <-time.After(f.stall):
			s.mux.ServeHTTP(rec, r)
		case <-r.Context().Done():
			rec.status = 0 // the client left: not applied
		}
	case f.status == 0:
		dropConnection(rec.ResponseWriter)
		rec.status = 0
	case f.after:
		s.mux.ServeHTTP(httptest.NewRecorder(), r)
		writeError(rec, f.status, http.StatusText(f.status))
	default:
		for k, v := range f.headers {
			rec.Header().Set(k, v)
		}
		msg, doc := failureMessage(f)
		writeJSON(rec, f.status, apiError{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(f.status)})
	}
}

func (s *Server) popFailure(r *http.Request) (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if f.matches(r) {
			s.failures = append(s.failures[:i], s.failures[i+1:]...)
			return f, true
		}
	}
	return failure{}, false
}

// failureMessage returns GitHub's message and documentation URL for an injected failure.
func failureMessage(f failure) (string, string) {
	const limits = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	switch {
	case f.headers["X-RateLimit-Remaining"] == "0":
		return "API rate limit exceeded for installation.", limits + "#about-primary-rate-limits"
	case f.status == http.StatusTooManyRequests || f.status == http.StatusForbidden:
		return "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			limits + "#about-secondary-rate-limits"
	}
	return fmt.Sprintf("fake failure: %s", http.StatusText(f.status)), docURL
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// CountRequests returns how many recorded requests had method and a path with the given suffix.
func (s *Server) CountRequests(method, pathSuffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// dropConnection closes the client's connection without writing a response.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}
