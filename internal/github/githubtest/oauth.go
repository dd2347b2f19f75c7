package githubtest

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The OAuth web flow ("Sign in with GitHub") as github.com runs it: the
// browser is sent to /login/oauth/authorize, GitHub sends it back to the
// application's callback with a one-time code and the application's state,
// and the application exchanges the code (with its client secret) at
// /login/oauth/access_token for a user token. The user token then acts as the
// user: GET /user, and GET /repos/{owner}/{repo} with the user's permissions.
//
// Who the browser is signed in to GitHub as is a cookie of the fake's own
// (GitHubSession), as on github.com; without it authorize refuses.

// codeLifetime is how long an authorization code may be exchanged (GitHub: 10 minutes).
const codeLifetime = 10 * time.Minute

// sessionCookie names the fake's "signed in to github.com" cookie.
const sessionCookie = "githubtest_session"

type oauthApp struct{ secret, callback string }

type userToken struct {
	login   string
	expires time.Time // zero: never
}

type oauthCode struct {
	clientID, redirectURI, login string
	expires                      time.Time
}

// oauthState is the fake's OAuth bookkeeping; every field is guarded by Server.mu.
type oauthState struct {
	apps       map[string]oauthApp          // by client id
	codes      map[string]oauthCode         // unused codes
	sessions   map[string]string            // browser session → login
	userTokens map[string]userToken         // by token
	userLife   time.Duration                // 0: user tokens do not expire (OAuth apps)
	userIDs    map[string]int64             // login → id
	perms      map[string]map[string]string // login → repository → read/write/admin
}

func (s *Server) oauthInit() *oauthState {
	o := &s.oauth
	if o.apps == nil {
		o.apps, o.codes, o.sessions = map[string]oauthApp{}, map[string]oauthCode{}, map[string]string{}
		o.userTokens, o.userIDs, o.perms = map[string]userToken{}, map[string]int64{}, map[string]map[string]string{}
	}
	return o
}

// AddOAuthApp registers an OAuth app (or a GitHub App's client) with its
// secret and its registered callback URL.
func (s *Server) AddOAuthApp(clientID, secret, callbackURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthInit().apps[clientID] = oauthApp{secret: secret, callback: callbackURL}
}

// GitHubSession returns the cookie that makes a browser signed in to the
// fake GitHub as login (creating the user); put it in the browser's jar for URL().
func (s *Server) GitHubSession(login string) *http.Cookie {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthInit()
	if _, ok := o.userIDs[login]; !ok {
		o.userIDs[login] = s.newID()
	}
	id := randomString(24)
	o.sessions[id] = login
	return &http.Cookie{Name: sessionCookie, Value: id, Path: "/"}
}

// SetUserPermission gives login level ("read", "write" or "admin"; "" takes
// it away) on the repository full ("owner/name"). Without one, the user's
// token gets 404 for the repository, as for a private repository on GitHub.
func (s *Server) SetUserPermission(login, full, level string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthInit()
	if s.repos[full] == nil {
		s.t.Fatalf("githubtest: SetUserPermission: no repository %s", full)
	}
	if !oneOf(level, "", "read", "write", "admin") {
		s.t.Fatalf("githubtest: SetUserPermission: level %q", level)
	}
	if o.perms[login] == nil {
		o.perms[login] = map[string]string{}
	}
	o.perms[login][full] = level
}

// SetUserTokenLifetime makes user tokens issued from now on expire after d,
// as a GitHub App's do (8 hours): the token answer then carries expires_in.
func (s *Server) SetUserTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthInit().userLife = d
}

// UserTokens returns how many user tokens the fake has issued.
func (s *Server) UserTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.oauthInit().userTokens)
}

// GET /login/oauth/authorize
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthInit()
	q := r.URL.Query()
	app, ok := o.apps[q.Get("client_id")]
	if !ok {
		http.Error(w, "Not Found (unknown client_id)", http.StatusNotFound)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = app.callback
	}
	if !redirectAllowed(app.callback, redirect) {
		// GitHub sends the browser to the registered callback with the error.
		u, _ := url.Parse(app.callback)
		u.RawQuery = url.Values{"error": {"redirect_uri_mismatch"},
			"error_description": {"The redirect_uri MUST match the registered callback URL for this application."},
			"state":             {q.Get("state")}}.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	c, err := r.Cookie(sessionCookie)
	login := ""
	if err == nil {
		login = o.sessions[c.Value]
	}
	if login == "" {
		http.Error(w, "Sign in to GitHub to continue (githubtest: no GitHubSession cookie)", http.StatusUnauthorized)
		return
	}
	code := randomString(20)
	o.codes[code] = oauthCode{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), login: login,
		expires: s.now().Add(codeLifetime)}
	u, _ := url.Parse(redirect)
	v := u.Query()
	v.Set("code", code)
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// redirectAllowed is GitHub's rule: same scheme, host and port as the
// registered callback, and its path or a path below it.
func redirectAllowed(callback, redirect string) bool {
	cb, err1 := url.Parse(callback)
	rd, err2 := url.Parse(redirect)
	if err1 != nil || err2 != nil || cb.Scheme != rd.Scheme || cb.Host != rd.Host || rd.User != nil || rd.Fragment != "" {
		return false
	}
	if strings.Contains(rd.Path, "..") {
		return false
	}
	base := strings.TrimSuffix(cb.Path, "/")
	return rd.Path == cb.Path || strings.HasPrefix(rd.Path, base+"/")
}

// POST /login/oauth/access_token: errors are 200 answers with an error
// field, as GitHub's are.
func (s *Server) handleOAuthToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthInit()
	answer := func(v map[string]any) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			writeJSON(w, http.StatusOK, v)
			return
		}
		f := url.Values{}
		for k, x := range v {
			if str, ok := x.(string); ok {
				f.Set(k, str)
			}
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.Write([]byte(f.Encode()))
	}
	fail := func(code, desc string) {
		answer(map[string]any{"error": code, "error_description": desc,
			"error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})
	}
	id := r.Form.Get("client_id")
	app, ok := o.apps[id]
	if !ok || r.Form.Get("client_secret") != app.secret {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	code := r.Form.Get("code")
	c, ok := o.codes[code]
	if ok {
		delete(o.codes, code) // one use, whatever happens next
	}
	if !ok || c.clientID != id || !s.now().Before(c.expires) {
		fail("bad_verification_code", "The code passed is incorrect or expired.")
		return
	}
	if c.redirectURI != "" && r.Form.Get("redirect_uri") != c.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	}
	tok := "gho_" + randomString(36)
	ut := userToken{login: c.login}
	out := map[string]any{"access_token": tok, "token_type": "bearer", "scope": ""}
	if o.userLife > 0 {
		tok = "ghu_" + tok[4:]
		ut.expires = s.now().Add(o.userLife)
		out["access_token"], out["expires_in"] = tok, int64(o.userLife/time.Second)
		out["refresh_token"], out["refresh_token_expires_in"] = "ghr_"+randomString(36), int64(15897600)
	}
	o.userTokens[tok] = ut
	answer(out)
}

// userLogin returns the user a user token belongs to. s.mu must be held.
func (s *Server) userLogin(tok string) (string, bool) {
	ut, ok := s.oauthInit().userTokens[tok]
	if !ok || (!ut.expires.IsZero() && !s.now().Before(ut.expires)) {
		return "", false
	}
	return ut.login, true
}

// GET /user
func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := bearer(r)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, "Requires authentication")
		return
	}
	login, ok := s.userLogin(tok)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login, "id": s.oauth.userIDs[login], "type": "User"})
}

// userRepo answers a repository request made with a user token: 404 for a
// repository the user cannot read, 403 for a change without write access.
// s.mu must be held.
func (s *Server) userRepo(w http.ResponseWriter, r *http.Request, login string) (*repoState, bool) {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	repo, level := s.repos[full], s.oauth.perms[login][full]
	switch {
	case repo == nil || level == "":
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	case r.Method != http.MethodGet && level == "read":
		writeError(w, http.StatusForbidden, "Must have push access to repository")
		return nil, false
	}
	return repo, true
}

// userPermissions is the permissions object GitHub puts into a repository
// fetched with a user token. s.mu must be held.
func (s *Server) userPermissions(r *http.Request) (map[string]bool, bool) {
	login, ok := s.userLogin(bearer(r))
	if !ok {
		return nil, false
	}
	level := s.oauth.perms[login][r.PathValue("owner")+"/"+r.PathValue("repo")]
	admin, push := level == "admin", level == "admin" || level == "write"
	return map[string]bool{"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": level != ""}, true
}
