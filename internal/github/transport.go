package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	backoffBase     = 500 * time.Millisecond
	backoffCap      = 30 * time.Second
	secondaryMinGap = time.Minute // GitHub: wait at least a minute on a bare secondary limit
	resetBuffer     = time.Second // X-RateLimit-Reset has one-second resolution
)

type noBlindRetryKey struct{}

// withoutBlindRetry marks requests that create something: after an ambiguous failure (5xx,
// transport error) the request may have taken effect, so it must not be re-sent blindly. Rate
// limit refusals (403/429) are still retried: GitHub refused those before acting.
func withoutBlindRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noBlindRetryKey{}, true)
}

// retryTransport re-sends a request (with a replayed body) on transient failures.
type retryTransport struct {
	next       http.RoundTripper
	maxRetries int
	maxWait    time.Duration
	timeout    time.Duration // of one attempt, until its body is closed; 0 = none
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	log        *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	body, err := bufferBody(req)
	if err != nil {
		return nil, err
	}
	blind := ctx.Value(noBlindRetryKey{}) == nil
	for attempt := 0; ; attempt++ {
		resp, err := t.attempt(req, body)
		wait, why := t.decide(ctx, resp, err, attempt, blind)
		if why == "" || attempt >= t.maxRetries {
			return resp, err
		}
		if resp != nil {
			drain(resp)
		}
		if wait > t.maxWait {
			return nil, fmt.Errorf("%s %s: %w: %s needs a wait of %s, more than the limit of %s",
				req.Method, req.URL.Path, ErrRateLimited, why, wait.Round(time.Second), t.maxWait)
		}
		t.log.LogAttrs(ctx, slog.LevelWarn, "github: retrying request",
			slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.String("reason", why), slog.Duration("wait", wait), slog.Int("attempt", attempt+1))
		if err := t.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: waiting to retry: %w", req.Method, req.URL.Path, err)
		}
	}
}

// attempt sends req once with a fresh copy of body, bounded by t.timeout.
func (t *retryTransport) attempt(req *http.Request, body []byte) (*http.Response, error) {
	if t.timeout <= 0 {
		return t.next.RoundTrip(withBody(req, body))
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(withBody(req.WithContext(ctx), body))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases an attempt's context once its response body is done with.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// decide returns how long to wait before the next attempt and why, or why == "" when the
// answer (or error) is final.
func (t *retryTransport) decide(ctx context.Context, resp *http.Response, err error, attempt int, blind bool) (time.Duration, string) {
	if err != nil {
		var ce *credentialError
		if ctx.Err() != nil || !blind || errors.As(err, &ce) {
			return 0, ""
		}
		return backoff(attempt), "transport error"
	}
	switch code := resp.StatusCode; {
	case code == 500 || code == 502 || code == 503 || code == 504:
		if !blind {
			return 0, ""
		}
		if d, ok := t.retryAfter(resp); ok {
			return d, resp.Status + " with Retry-After"
		}
		return backoff(attempt), resp.Status
	case code == 403 || code == 429:
		return t.rateLimitWait(resp, attempt)
	}
	return 0, ""
}

// rateLimitWait interprets a 403/429: Retry-After, an exhausted primary limit, or a
// secondary limit. A 403 that is none of these is a permission problem: final.
func (t *retryTransport) rateLimitWait(resp *http.Response, attempt int) (time.Duration, string) {
	if d, ok := t.retryAfter(resp); ok {
		return d, "Retry-After"
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil {
			return backoff(attempt) + secondaryMinGap, "rate limit exhausted (no reset time)"
		}
		wait := time.Unix(reset, 0).Sub(t.now()) + resetBuffer
		return max(wait, resetBuffer), "primary rate limit exhausted"
	}
	if resp.StatusCode == 429 || secondaryLimitBody(resp) {
		return secondaryMinGap << min(attempt, 4), "secondary rate limit"
	}
	return 0, ""
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func (t *retryTransport) retryAfter(resp *http.Response) (time.Duration, bool) {
	ra := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if ra == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(ra); err == nil {
		return max(at.Sub(t.now()), 0), true
	}
	return 0, false
}

// secondaryLimitBody peeks at an error body (restoring it) for GitHub's secondary limit message.
func secondaryLimitBody(resp *http.Response) bool {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	s := strings.ToLower(string(b))
	return strings.Contains(s, "secondary rate limit") || strings.Contains(s, "abuse")
}

// backoff is exponential with "equal jitter": half fixed, half random.
func backoff(attempt int) time.Duration {
	d := min(backoffBase<<min(attempt, 16), backoffCap)
	return d/2 + rand.N(d/2+1)
}

// bufferBody reads a request body once so every attempt can send it again.
func bufferBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("github: read request body: %w", err)
	}
	return b, nil
}

func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	if body == nil {
		r.Body, r.GetBody = nil, nil
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return r
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}
