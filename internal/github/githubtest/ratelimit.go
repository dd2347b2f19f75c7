package githubtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultRateLimit is the fake's primary rate limit per hour (GitHub's for
// a personal access token or an installation).
const DefaultRateLimit = 5000

// rateWindow is the fake's one primary rate-limit window (one bucket for
// every credential, a simplification of GitHub's per-credential buckets).
type rateWindow struct {
	limit int // 0: DefaultRateLimit
	used  int
	reset time.Time
}

// SetRateLimit sets the requests allowed per hour from now on and starts a
// new window; a test lowers it to see the remaining count fall.
func (s *Server) SetRateLimit(limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = rateWindow{limit: limit}
}

// roll starts a new window when the current one is over (or none began).
func (w *rateWindow) roll(now time.Time) {
	if w.limit == 0 {
		w.limit = DefaultRateLimit
	}
	if w.reset.IsZero() || !now.Before(w.reset) {
		w.used, w.reset = 0, now.Add(time.Hour)
	}
}

// countRate counts a REST request against the window and sets GitHub's
// X-RateLimit-* headers on the answer, as GitHub does on every REST answer.
// GET /rate_limit does not count (as on GitHub); the web flow's /login/
// pages and git's smart HTTP are not the REST API and get no headers. It
// reports false when the window is used up: GitHub answers 403 then.
func (s *Server) countRate(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if strings.HasPrefix(p, "/login/") || strings.Contains(p, ".git/") || strings.HasSuffix(p, ".git") {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate.roll(s.now())
	ok := s.rate.used < s.rate.limit
	if ok && p != "/rate_limit" {
		s.rate.used++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rate.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.rate.limit-s.rate.used))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.rate.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.rate.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return ok || p == "/rate_limit"
}
