package web

import (
	"crypto/subtle"
	"net/http"
)

// The sign-in pages: GET /login (the form), POST /login (API token →
// session cookie), POST /logout, and Sign in with GitHub (auth_github.go).

// mountAuth adds the sign-in routes. They are not behind auth (they are the
// way in), but their unsafe methods pass the same cross-origin check.
func (s *Server) mountAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginPost)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /login/github", s.githubStart)
	mux.HandleFunc("GET /oauth/callback", s.githubCallback)
}

type loginData struct {
	Next   string
	Token  bool // the API token form is offered
	GitHub bool // Sign in with GitHub is offered
	Error  string
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, d loginData) {
	d.Token, d.GitHub = s.token != "", s.github != nil
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, "login.html", d); err != nil {
		s.log.Error("login template", "err", err)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if s.open() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.renderLogin(w, http.StatusOK, loginData{Next: next})
}

// loginPost exchanges the API token for a session cookie.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := localPath(r.PostForm.Get("next"))
	if s.token == "" {
		s.renderLogin(w, http.StatusNotFound, loginData{Next: next, Error: "Signing in with the API token is not enabled."})
		return
	}
	got := r.PostForm.Get("token")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		s.log.Warn("sign-in with a wrong API token", "remote", r.RemoteAddr)
		s.renderLogin(w, http.StatusUnauthorized, loginData{Next: next, Error: "That is not the API token."})
		return
	}
	s.setCookie(w, r, sessionCookieName, "/", session{Kind: "token", TokenFP: s.sealer.fingerprint(s.token)}, sessionLifetime)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the browser's session. The cookie is sealed, not stored, so a
// copy taken before logout stays valid until it expires (sessionLifetime).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(w, r) {
		return
	}
	s.clearCookie(w, r, sessionCookieName, "/")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
