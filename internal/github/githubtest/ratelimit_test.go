package githubtest

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestRateLimitWindow: every REST answer carries GitHub's X-RateLimit-*
// headers counting down; past the limit the fake answers 403 with
// remaining 0 (GitHub's primary limit) until the window resets;
// GET /rate_limit reports the window and does not count.
func TestRateLimitWindow(t *testing.T) {
	s := NewServer(t)
	s.AddRepo("octo", "hello", 0)
	s.SetToken("tok")
	now := time.Unix(1_800_000_000, 0)
	s.SetNow(func() time.Time { return now })
	s.SetRateLimit(2)
	get := func(path string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	steps := []struct {
		path          string
		advance       time.Duration
		wantCode      int
		wantRemaining int
	}{
		{"repos/octo/hello", 0, 200, 1},
		{"rate_limit", 0, 200, 1}, // not counted
		{"repos/octo/hello", 0, 200, 0},
		{"repos/octo/hello", 0, 403, 0}, // used up
		{"repos/octo/hello", time.Hour, 200, 1},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		code, h := get(st.path)
		remaining, _ := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
		if code != st.wantCode || remaining != st.wantRemaining || h.Get("X-RateLimit-Limit") != "2" || h.Get("X-RateLimit-Reset") == "" {
			t.Errorf("step %d GET /%s: got %d, remaining %d, limit %q, reset %q; want %d, remaining %d, limit 2",
				i, st.path, code, remaining, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Reset"), st.wantCode, st.wantRemaining)
		}
	}
}
