package github

import (
	"errors"
	"net/http"

	gh "github.com/google/go-github/v93/github"
)

// HTTPStatus returns the HTTP status of GitHub's error answer behind err (404: no such
// repository, pull request or check run, or no access; 422: refused body), or 0 when err is
// not an answer from GitHub (transport failure, cancellation, bad input caught locally).
func HTTPStatus(err error) int {
	var er *gh.ErrorResponse
	var rl *gh.RateLimitError
	var al *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &er) && er.Response != nil:
		return er.Response.StatusCode
	case errors.As(err, &rl) && rl.Response != nil:
		return rl.Response.StatusCode
	case errors.As(err, &al) && al.Response != nil:
		return al.Response.StatusCode
	}
	return 0
}

// IsRateLimited reports whether err comes from a GitHub rate limit (primary or secondary)
// that outlasted the retries or Config.MaxRateLimitWait: worth trying again later.
func IsRateLimited(err error) bool {
	var rl *gh.RateLimitError
	var al *gh.AbuseRateLimitError
	return errors.Is(err, ErrRateLimited) || errors.As(err, &rl) || errors.As(err, &al) ||
		HTTPStatus(err) == http.StatusTooManyRequests
}
