package githubtest

import (
	"net/http"
	"strconv"
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

// countRate counts a request against the window and sets GitHub's
// X-RateLimit-* headers on the answer, as GitHub does on every REST answer.
// It reports false when the window is exhausted: GitHub answers 403 then.
func (s *Server) countRate(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.rate.limit == 0 {
		s.rate.limit = DefaultRateLimit
	}
	if s.rate.reset.IsZero() || !now.Before(s.rate.reset) {
		s.rate.used, s.rate.reset = 0, now.Add(time.Hour)
	}
	ok := s.rate.used < s.rate.limit
	if ok {
		s.rate.used++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rate.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.rate.limit-s.rate.used))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.rate.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.rate.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return ok
}
