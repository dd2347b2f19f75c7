package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxJWTLifetime is GitHub's limit on how far in the future an App JWT may expire.
const maxJWTLifetime = 10 * time.Minute

type instToken struct {
	installation int64
	expires      time.Time
	repos        []string          // repository names it covers (nil: all of the installation's)
	perms        map[string]string // permission → read/write
	minted       *MintedToken      // its record
}

// SetApp configures the GitHub App whose JWTs (RS256, iss = appID) the fake accepts.
func (s *Server) SetApp(appID int64, pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appID, s.appPub = appID, pub
}

// appKey is one RSA-2048 key generated per test process: generating one per Server would
// cost a good part of a second of CPU each time.
var appKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// EnableApp configures App appID like SetApp with an RSA-2048 key (the same for every Server
// of the test process) and returns the private key in PEM (PKCS#1), as GitHub hands it out.
func (s *Server) EnableApp(appID int64) []byte {
	key, err := appKey()
	if err != nil {
		s.t.Fatalf("githubtest: generate App key: %v", err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	s.SetApp(appID, &key.PublicKey)
	s.mu.Lock()
	s.appKeyPEM = pemKey
	s.mu.Unlock()
	return pemKey
}

// AppKey returns the PEM key made by EnableApp (nil before).
func (s *Server) AppKey() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appKeyPEM
}

// RevokeInstallationTokens invalidates every installation token issued so far.
func (s *Server) RevokeInstallationTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.instTokens)
}

// InstallationTokens returns how many installation tokens the fake has issued and not revoked.
func (s *Server) InstallationTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.instTokens)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token "} {
		if tok, ok := strings.CutPrefix(h, p); ok {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// requireApp checks the App JWT of an /app/... request. The caller holds s.mu.
func (s *Server) requireApp(w http.ResponseWriter, r *http.Request) bool {
	tok := bearer(r)
	if tok == "" || s.appPub == nil {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return false
	}
	if msg := s.checkJWT(tok); msg != "" {
		writeError(w, http.StatusUnauthorized, msg)
		return false
	}
	return true
}

// checkJWT returns what GitHub would complain about, or "".
func (s *Server) checkJWT(tok string) string {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.appPub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(s.now),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		return "A JSON web token could not be decoded: " + err.Error()
	}
	iat, err1 := claims.GetIssuedAt()
	exp, err2 := claims.GetExpirationTime()
	switch {
	case err1 != nil || iat == nil:
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case err2 != nil || exp.Sub(s.now()) > maxJWTLifetime:
		return "'Expiration time' claim ('exp') is too far in the future"
	case !issuerIs(claims["iss"], s.appID):
		return "Integration not found"
	}
	return ""
}

func issuerIs(iss any, appID int64) bool {
	switch v := iss.(type) {
	case string:
		return v == strconv.FormatInt(appID, 10)
	case float64:
		return int64(v) == appID
	}
	return false
}

// requireRepo authenticates a repository request and returns its repository; it answers
// 401 for missing or bad credentials and 404 for a repository the credential cannot see.
// The caller holds s.mu.
func (s *Server) requireRepo(w http.ResponseWriter, r *http.Request) (*repoState, bool) {
	tok := bearer(r)
	repo := s.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
	if login, isUser := s.userLogin(tok); isUser {
		return s.userRepo(w, r, login)
	}
	switch it, isInst := s.instTokens[tok]; {
	case tok == "":
		writeError(w, http.StatusUnauthorized, "Requires authentication")
		return nil, false
	case s.token != "" && tok == s.token:
	case !isInst || !s.now().Before(it.expires):
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	case repo != nil && (repo.installationID != it.installation || !inScope(it.repos, repo.name)):
		repo = nil
	default:
		switch ok, known := allows(it.perms, r); {
		case !known:
			writeError(w, http.StatusInternalServerError, "githubtest: no permission known for "+r.Pattern)
			return nil, false
		case !ok && repo != nil:
			writeError(w, http.StatusForbidden, "Resource not accessible by integration")
			return nil, false
		}
	}
	if repo == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	return repo, true
}

// appInstallation checks an App-JWT request naming installation {id} (as
// GitHub: 401 without a valid JWT, 404 for an installation it does not
// know) and returns the id. s.mu must be held.
func (s *Server) appInstallation(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if !s.requireApp(w, r) {
		return 0, false
	}
	id, ok := pathInt(w, r, "id")
	if !ok {
		return 0, false
	}
	if !s.installations[id] {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, false
	}
	return id, true
}

func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.appInstallation(w, r)
	if !ok {
		return
	}
	var req struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && err != io.EOF {
			writeError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
	}
	if len(req.RepositoryIDs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "githubtest: repository_ids is not supported; name the repositories")
		return
	}
	repos, msg := s.checkRepos(id, req.Repositories)
	if msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	perms, msg := s.grant(id, req.Permissions)
	if msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	readOnly := true
	for _, level := range perms {
		readOnly = readOnly && level == "read"
	}
	tok := "ghs_" + randomString(36)
	exp := s.now().Add(s.tokenLifetime)
	m := &MintedToken{Token: tok, Installation: id, Repositories: repos, Permissions: perms}
	s.minted = append(s.minted, m)
	s.instTokens[tok] = instToken{installation: id, expires: exp, repos: repos, perms: perms, minted: m}
	if readOnly {
		s.readOnlyTokens++
	}
	selection := "all"
	if repos != nil {
		selection = "selected"
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": tok, "expires_at": ts(exp), "repository_selection": selection, "permissions": perms,
	})
}

// ReadOnlyTokensIssued counts installation tokens minted with read permissions only.
func (s *Server) ReadOnlyTokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readOnlyTokens
}

func (s *Server) handleRepoInstallation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.requireApp(w, r) {
		return
	}
	repo := s.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
	if repo == nil || repo.installationID == 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": repo.installationID, "app_id": s.appID,
		"account": map[string]any{"login": repo.owner}})
}

func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("githubtest: crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
