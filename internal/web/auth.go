package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Who may see and do what. A request is let in by one of:
//
//   - nothing at all, when neither an API token nor GitHub sign-in is
//     configured: the caller (hookci serve) allows that only on a loopback
//     listen address (CheckExposure), decided by the configured address and
//     never by the peer's, so a reverse proxy on the same host opens nothing;
//   - "Authorization: Bearer <api token>" (scripts, the CLI): every repository;
//   - a session cookie made by /login from the API token (every repository)
//     or by Sign in with GitHub (what GitHub lets that user read and write,
//     viewer.go).
//
// A token in the URL (?token=) is not accepted: URLs end up in logs,
// histories and Referer headers. Unsafe methods (POST, PUT, PATCH, DELETE)
// must also pass http.CrossOriginProtection, so another site cannot make a
// signed-in browser change anything; /login and /logout included.
//
// A browser without a session is sent to /login?next=<where it was going>;
// other clients get 401 with a JSON body.

// viewer is who a request acts for.
type viewer struct {
	all     bool   // API token, token session, or open loopback: every repository
	login   string // signed in with GitHub
	ghToken string // that user's GitHub token: never logged, never shown
}

type viewerKey struct{}

func withViewer(ctx context.Context, v *viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

func viewerOf(r *http.Request) *viewer {
	v, _ := r.Context().Value(viewerKey{}).(*viewer)
	return v
}

// open reports whether no authentication is configured.
func (s *Server) open() bool { return s.token == "" && s.github == nil }

// CheckExposure refuses a configuration that would serve the dashboard and
// API to the network without authentication: a listen address beyond
// loopback needs an API token or GitHub sign-in. hookci refuses to start
// rather than serving only /webhook, so a forgotten setting is an error at
// start, not a dashboard that silently is not there.
func CheckExposure(listen string, opts Options) error {
	if IsLoopback(listen) || opts.Token != "" || opts.GitHub != nil {
		return nil
	}
	return &exposureError{listen}
}

type exposureError struct{ listen string }

func (e *exposureError) Error() string {
	return "HOOKCI_API_TOKEN (api_token) or GitHub sign-in (github_oauth_client_id and github_oauth_client_secret) " +
		"is required when listening beyond loopback (" + e.listen + "): the dashboard and API would be open"
}

// auth guards h: cross-origin protection for unsafe methods, then
// authentication; the viewer is put into the request's context.
func (s *Server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sameOrigin(w, r) {
			return
		}
		v, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		r = r.WithContext(withViewer(r.Context(), v))
		if !s.guardPath(w, r, v) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// sameOrigin applies http.CrossOriginProtection, answering 403 itself.
func (s *Server) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if err := s.crossOrigin.Check(r); err != nil {
		s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		writeJSONStatus(w, http.StatusForbidden, "cross-origin request refused")
		return false
	}
	return true
}

// authenticate returns the request's viewer, or answers the refusal.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	if s.open() {
		if !localRequest(r) {
			s.log.Warn("refused a forwarded or non-local request: no authentication is configured",
				"host", r.Host, "path", r.URL.Path)
			writeJSONStatus(w, http.StatusForbidden, "hookci has no authentication configured and answers only "+
				"local requests, not through a proxy: set api_token (HOOKCI_API_TOKEN) or GitHub sign-in")
			return nil, false
		}
		return &viewer{all: true}, true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if ok && s.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 {
			return &viewer{all: true}, true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookci", error="invalid_token"`)
		writeJSONStatus(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	}
	if sess, ok := s.readCookie(r, sessionCookieName); ok {
		switch {
		case sess.Kind == "token" && s.token != "" && subtle.ConstantTimeCompare([]byte(sess.TokenFP), []byte(s.sealer.fingerprint(s.token))) == 1:
			return &viewer{all: true}, true
		case sess.Kind == "github" && s.github != nil && sess.Login != "" && sess.GHToken != "":
			return &viewer{login: sess.Login, ghToken: sess.GHToken}, true
		}
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && wantsHTML(r) {
		http.Redirect(w, r, "/login?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
		return nil, false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="hookci"`)
	writeJSONStatus(w, http.StatusUnauthorized, "Requires authentication")
	return nil, false
}

// wantsHTML tells a browser navigating to a page from an API client.
func wantsHTML(r *http.Request) bool {
	return !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// writeJSONStatus writes GitHub's error shape, {"message": …}.
func writeJSONStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Write(append(b, '\n'))
}

// localPath returns next when it is a path on this server, else "/": the
// page after sign-in is never another site (no open redirect).
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t\x00") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}

// initAuth sets up sessions, cross-origin protection and GitHub sign-in.
func (s *Server) initAuth(opts Options) {
	s.now = time.Now
	s.github, s.publicURL = opts.GitHub, strings.TrimRight(opts.PublicURL, "/")
	key := opts.SessionKey
	if len(key) != 32 {
		if key != nil {
			s.log.Error("session key is not 32 bytes: using a random one (sessions end with the process)")
		}
		key = make([]byte, 32)
		rand.Read(key)
	}
	s.sealer, _ = newSealer(key) // 32 bytes: cannot fail
	s.crossOrigin = http.NewCrossOriginProtection()
}

// forwardHeaders are set by reverse proxies (Caddy, nginx, httputil).
var forwardHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Via"}

// localRequest reports whether a request to a server without
// authentication looks direct and local: no reverse proxy's headers, and a
// Host naming loopback (which also stops DNS rebinding: a page of another
// site whose name now resolves to 127.0.0.1 sends its own name as Host).
// The peer address is not consulted: a proxy on this host has it too.
func localRequest(r *http.Request) bool {
	for _, h := range forwardHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
