package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/github"
)

// Sign in with GitHub: the OAuth web flow. GET /login/github makes a random
// state, keeps it (with where to go afterwards) in a sealed cookie bound to
// this browser, and sends the browser to GitHub; GET /oauth/callback takes
// the code only when the state GitHub returns equals the cookie's, so no
// other site can sign a browser in as someone else (login CSRF). The code is
// exchanged for the user's token, which goes into the sealed session cookie
// and nowhere else.

// GitHubSignIn is what Sign in with GitHub needs of GitHub; *github.OAuth is one.
type GitHubSignIn interface {
	AuthorizeURL(state, redirectURI string) string
	Exchange(ctx context.Context, code, redirectURI string) (token string, lifetime time.Duration, err error)
	User(ctx context.Context, token string) (string, error)
	RepoPermission(ctx context.Context, token, owner, name string) (github.Permission, error)
}

// callbackPath is the OAuth callback; register PublicURL + callbackPath at GitHub.
const callbackPath = "/oauth/callback"

func (s *Server) redirectURI() string { return s.publicURL + callbackPath }

func (s *Server) githubStart(w http.ResponseWriter, r *http.Request) {
	if s.github == nil {
		http.NotFound(w, r)
		return
	}
	b := make([]byte, 24)
	rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, stateCookieName, callbackPath, session{State: state, Next: localPath(r.URL.Query().Get("next"))}, stateLifetime)
	http.Redirect(w, r, s.github.AuthorizeURL(state, s.redirectURI()), http.StatusFound)
}

func (s *Server) githubCallback(w http.ResponseWriter, r *http.Request) {
	if s.github == nil {
		http.NotFound(w, r)
		return
	}
	st, ok := s.readCookie(r, stateCookieName)
	s.clearCookie(w, r, stateCookieName, callbackPath) // one attempt per start
	q := r.URL.Query()
	if !ok || st.State == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		s.log.Warn("GitHub sign-in callback with a state this browser did not start", "remote", r.RemoteAddr)
		s.renderLogin(w, http.StatusBadRequest, loginData{Next: "/", Error: "This sign-in was not started from this browser, or took too long. Start again."})
		return
	}
	if e := q.Get("error"); e != "" {
		s.renderLogin(w, http.StatusForbidden, loginData{Next: st.Next, Error: "GitHub did not sign you in: " + e})
		return
	}
	code := q.Get("code")
	if code == "" {
		s.renderLogin(w, http.StatusBadRequest, loginData{Next: st.Next, Error: "GitHub sent no code. Start again."})
		return
	}
	tok, tokLife, err := s.github.Exchange(r.Context(), code, s.redirectURI())
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, github.ErrOAuthRefused) {
			status = http.StatusBadRequest
		}
		s.log.Warn("GitHub sign-in failed", "err", err)
		s.renderLogin(w, status, loginData{Next: st.Next, Error: "GitHub did not sign you in. Start again."})
		return
	}
	login, err := s.github.User(r.Context(), tok)
	if err != nil {
		s.log.Warn("GitHub sign-in: reading the user", "err", err)
		s.renderLogin(w, http.StatusBadGateway, loginData{Next: st.Next, Error: "Could not ask GitHub who you are. Start again."})
		return
	}
	s.log.Info("signed in with GitHub", "login", login)
	life := sessionLifetime
	if tokLife > 0 && tokLife < life { // the session ends with the user's token
		life = tokLife
	}
	s.setCookie(w, r, sessionCookieName, "/", session{Kind: "github", Login: login, GHToken: tok}, life)
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}

// permTTL is how long a user's permission on a repository is believed
// without asking GitHub again.
const permTTL = 60 * time.Second

// maxPerms bounds the permission cache.
const maxPerms = 10000

type permEntry struct {
	perm    github.Permission
	expires time.Time
}

// permCache remembers users' permissions on repositories briefly.
type permCache struct {
	mu sync.Mutex
	m  map[string]permEntry // login + "\x00" + lower-case repo
}

// permission returns what v may do to repo, from the cache or GitHub. A
// GitHub failure is "nothing" (and not remembered): refusing is safe.
func (s *Server) permission(ctx context.Context, v *viewer, repo string) github.Permission {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return github.Permission{}
	}
	key := v.login + "\x00" + strings.ToLower(repo)
	now := s.now()
	c := &s.perms
	c.mu.Lock()
	e, hit := c.m[key]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.perm
	}
	p, err := s.github.RepoPermission(ctx, v.ghToken, owner, name)
	if err != nil {
		s.log.Warn("asking GitHub for a user's permission", "login", v.login, "repo", repo, "err", err)
		return github.Permission{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxPerms {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if c.m == nil || len(c.m) >= maxPerms {
			c.m = map[string]permEntry{}
		}
	}
	c.m[key] = permEntry{perm: p, expires: now.Add(permTTL)}
	return p
}
