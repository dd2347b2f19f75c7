package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sessions are sealed cookies: the session (who, how signed in, until when,
// and for a GitHub sign-in the user's GitHub token) is encrypted and
// authenticated with AES-256-GCM under a key kept in the data directory
// (LoadSessionKey). The browser holds only ciphertext: the user's GitHub
// token never reaches a page or a script (the cookie is HttpOnly), and a
// cookie cannot be forged or altered without the key. There is no session
// table: deleting the key file (or changing api_token, for token sessions)
// ends every session at the next restart.

const (
	sessionCookieName = "hookci_session"
	stateCookieName   = "hookci_oauth_state"
	// sessionLifetime bounds a session; sign in again after it.
	sessionLifetime = 12 * time.Hour
	// stateLifetime bounds a GitHub sign-in from start to callback.
	stateLifetime  = 10 * time.Minute
	sessionKeyFile = "session.key"
)

// session is what a session cookie holds.
type session struct {
	Kind    string `json:"k"`           // "token" or "github"
	Login   string `json:"l,omitempty"` // GitHub login
	GHToken string `json:"t,omitempty"` // the user's GitHub token
	TokenFP string `json:"f,omitempty"` // token sessions: fingerprint of the API token they were made with
	State   string `json:"s,omitempty"` // state cookies: the OAuth state
	Next    string `json:"n,omitempty"` // state cookies: where to go after sign-in
	Expires int64  `json:"e"`           // unix seconds
}

// LoadSessionKey returns the session key kept in dataDir, creating it (32
// random bytes, mode 0600) the first time.
func LoadSessionKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, sessionKeyFile)
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("session key %s: %d bytes, want 32 (delete it to make a new one)", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("session key: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return LoadSessionKey(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("session key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return key, nil
}

// sealer seals and opens cookies.
type sealer struct {
	aead cipher.AEAD
	key  []byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("session key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return &sealer{aead: aead, key: key}, nil
}

// seal encrypts v for the cookie name (a cookie sealed for one name does
// not open under another).
func (s *sealer) seal(name string, v session) string {
	plain, _ := json.Marshal(v)
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name)))
}

// open returns the unexpired session sealed in value, or false.
func (s *sealer) open(name, value string, now time.Time) (session, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return session{}, false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return session{}, false
	}
	var v session
	if json.Unmarshal(plain, &v) != nil || now.Unix() >= v.Expires {
		return session{}, false
	}
	return v, true
}

// fingerprint identifies the API token without revealing it, so that a
// token session ends when the token is changed.
func (s *sealer) fingerprint(token string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("api-token\x00" + token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// secure reports whether cookies get the Secure flag: the request came over
// TLS to hookci itself, or the public URL people use is https (hookci behind
// a TLS reverse proxy). X-Forwarded-Proto is not consulted: any client can
// send it.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(s.publicURL), "https://")
}

// setCookie sets a sealed HttpOnly, SameSite=Lax cookie.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, path string, v session, life time.Duration) {
	v.Expires = s.now().Add(life).Unix()
	http.SetCookie(w, &http.Cookie{Name: name, Value: s.sealer.seal(name, v), Path: path, MaxAge: int(life / time.Second),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// clearCookie removes a cookie set by setCookie.
func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// readCookie opens the sealed cookie name of r.
func (s *Server) readCookie(r *http.Request, name string) (session, bool) {
	c, err := r.Cookie(name)
	if err != nil {
		return session{}, false
	}
	return s.sealer.open(name, c.Value, s.now())
}
