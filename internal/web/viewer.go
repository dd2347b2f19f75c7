package web

import (
	"net/http"

	"github.com/hookci/hookci/internal/store"
)

// The permission checks every handler makes before showing or changing a
// repository's runs. They are the contract between the pages/API and the
// authentication layer (auth.go): a request authenticated by the API token
// (Bearer or a token session), or served on a loopback-only listener without
// authentication configured, may read and write every repository; a user
// signed in with GitHub only what GitHub lets them (asked with the user's
// token, remembered for permTTL).
//
// Handlers call canRead before returning anything of a repository (a run, a
// job, a log, a delivery, an artifact) and answer 404 when it is false (not
// 403: whether a private repository exists is not told), and canWrite before
// a state change (cancel, re-run, dispatch, stop) and answer 403 when it is
// false. Lists are filtered with canRead. A request that did not pass auth
// (no viewer) may do nothing.

// canRead reports whether the request's viewer may see repo ("owner/name").
func (s *Server) canRead(r *http.Request, repo string) bool {
	v := viewerOf(r)
	switch {
	case v == nil:
		return false
	case v.all:
		return true
	case s.github == nil:
		return false
	}
	return s.permission(r.Context(), v, repo).Pull
}

// canWrite reports whether the request's viewer may change repo's runs.
func (s *Server) canWrite(r *http.Request, repo string) bool {
	v := viewerOf(r)
	switch {
	case v == nil:
		return false
	case v.all:
		return true
	case s.github == nil:
		return false
	}
	p := s.permission(r.Context(), v, repo)
	return p.Pull && (p.Push || p.Admin)
}

// readableRuns keeps the runs the viewer may read.
func (s *Server) readableRuns(r *http.Request, runs []store.Run) []store.Run {
	out := runs[:0:0]
	for _, run := range runs {
		if s.canRead(r, run.Repo) {
			out = append(out, run)
		}
	}
	return out
}

// readableDeliveries keeps the deliveries of repositories the viewer may read.
func (s *Server) readableDeliveries(r *http.Request, ds []store.Delivery) []store.Delivery {
	out := ds[:0:0]
	for _, d := range ds {
		if s.canRead(r, d.Repo) {
			out = append(out, d)
		}
	}
	return out
}

// readsAll reports whether the request's viewer may read every repository
// (the API token, a token session, an open loopback server): only such a
// viewer sees what names no repository it was checked against, such as
// refused webhooks.
func readsAll(r *http.Request) bool {
	v := viewerOf(r)
	return v != nil && v.all
}
