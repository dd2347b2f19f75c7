// Package github owns hookci's conversation with the GitHub REST API: authentication (a
// personal or fine-grained token, or a GitHub App with per-installation tokens cached until
// shortly before they expire), commit statuses, check runs with annotations, the one
// updatable pull-request comment, the reads the reconciler needs (branch heads, open pull
// requests), webhook deliveries, and Sign in with GitHub (OAuth: the web flow, the
// signed-in user and their permission on a repository).
//
// Every request goes through one http.RoundTripper chain that authenticates it, makes its
// body replayable, and retries politely: exponential backoff with jitter on 5xx answers and
// transport errors, the server's Retry-After on 403/429, and a wait until X-RateLimit-Reset
// when the primary rate limit is exhausted (bounded by Config.MaxRateLimitWait). Requests
// that create something (a comment, a check run) are never blindly re-sent after an
// ambiguous failure: the caller re-reads GitHub's state first, so retries never duplicate.
//
// Secrets (tokens, App JWTs) travel only in the Authorization header: they never appear in
// URLs, log lines or error messages.
//
// The fake API server used by tests lives in the githubtest subpackage.
package github
