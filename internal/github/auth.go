package github

import (
	"context"
	"errors"
	"fmt"
	gh "github.com/google/go-github/v93/github"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenRefreshMargin: an installation token is replaced this long before it expires.
const tokenRefreshMargin = 5 * time.Minute

type installationToken struct {
	token   string
	expires time.Time
}

// authMode says which credential a request carries; it travels in the request context.
type authMode struct {
	app          bool   // the App's own JWT (/app/... endpoints)
	installation int64  // an installation token (App mode, repository endpoints)
	bearer       string // this token as it is (a job's token, to revoke it)
}

type authKey struct{}

func withAuth(ctx context.Context, m authMode) context.Context {
	return context.WithValue(ctx, authKey{}, m)
}

// RepoContext returns ctx carrying repo's credentials, for requests made through REST().
// In token mode it returns ctx unchanged.
func (c *Client) RepoContext(ctx context.Context, repo Repo) (context.Context, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	if !c.IsApp() {
		return ctx, nil
	}
	id, err := c.installationFor(ctx, repo)
	if err != nil {
		return nil, err
	}
	return withAuth(ctx, authMode{installation: id}), nil
}

// installationFor returns repo.InstallationID, or looks it up once (App JWT) and caches it.
func (c *Client) installationFor(ctx context.Context, repo Repo) (int64, error) {
	if repo.InstallationID != 0 {
		return repo.InstallationID, nil
	}
	c.mu.Lock()
	id, ok := c.repoInstalls[repo.FullName()]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	inst, _, err := c.gh.Apps.GetRepositoryInstallation(withAuth(ctx, authMode{app: true}), repo.Owner, repo.Name)
	if err != nil {
		return 0, fmt.Errorf("github: find App installation for %s: %w", repo.FullName(), err)
	}
	id = inst.GetID()
	c.mu.Lock()
	c.repoInstalls[repo.FullName()] = id
	c.mu.Unlock()
	return id, nil
}

// GitToken returns the password to clone repo over HTTPS with (user "x-access-token"):
// a current installation token in App mode (minted or taken from the cache; valid for at
// least five more minutes), the configured token otherwise.
func (c *Client) GitToken(ctx context.Context, repo Repo) (string, error) {
	if err := validRepo(repo); err != nil {
		return "", err
	}
	if !c.IsApp() {
		return c.token, nil
	}
	id, err := c.installationFor(ctx, repo)
	if err != nil {
		return "", err
	}
	return c.installationToken(ctx, id)
}

// ReadOnlyToken returns a token that can read repo's contents and nothing
// more (App mode: a fresh installation token limited to contents and
// metadata read), for jobs of pull requests from forks. Token mode cannot
// narrow a token: it returns "".
func (c *Client) ReadOnlyToken(ctx context.Context, repo Repo) (string, error) {
	if err := validRepo(repo); err != nil {
		return "", err
	}
	if !c.IsApp() {
		return "", nil
	}
	id, err := c.installationFor(ctx, repo)
	if err != nil {
		return "", err
	}
	ctx = context.WithValue(withAuth(ctx, authMode{app: true}), noBlindRetryKey{}, nil)
	read := "read"
	it, _, err := c.gh.Apps.CreateInstallationToken(ctx, id, &gh.InstallationTokenOptions{
		Repositories: []string{repo.Name},
		Permissions:  &gh.InstallationPermissions{Contents: &read, Metadata: &read},
	})
	if err != nil {
		return "", fmt.Errorf("github: installation %d read-only token: %w", id, err)
	}
	return it.GetToken(), nil
}

// appJWT signs a fresh App JWT: iat one minute in the past (clock drift), exp in nine minutes
// (GitHub refuses more than ten).
func (c *Client) appJWT() (string, error) {
	now := c.now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(c.appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-60 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.appKey)
	if err != nil {
		return "", fmt.Errorf("github: sign App JWT: %w", err)
	}
	return s, nil
}

// installationToken returns a cached token for installation id, minting a new one when the
// cached one is missing or expires within tokenRefreshMargin.
func (c *Client) installationToken(ctx context.Context, id int64) (string, error) {
	if tok, ok := c.cachedToken(id); ok {
		return tok, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if tok, ok := c.cachedToken(id); ok { // another caller fetched it meanwhile
		return tok, nil
	}
	// The token request is harmless to repeat, whatever the request that needs it.
	ctx = context.WithValue(withAuth(ctx, authMode{app: true}), noBlindRetryKey{}, nil)
	it, _, err := c.gh.Apps.CreateInstallationToken(ctx, id, nil)
	if err != nil {
		return "", fmt.Errorf("github: installation %d token: %w", id, err)
	}
	if it.GetToken() == "" {
		return "", fmt.Errorf("github: installation %d token: empty token in answer", id)
	}
	exp := it.GetExpiresAt().Time
	if exp.IsZero() {
		exp = c.now().Add(time.Hour) // GitHub's documented lifetime
	}
	c.mu.Lock()
	c.installTokens[id] = installationToken{token: it.GetToken(), expires: exp}
	c.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelDebug, "github: new installation token",
		slog.Int64("installation", id), slog.Time("expires", exp))
	return it.GetToken(), nil
}

func (c *Client) cachedToken(id int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.installTokens[id]
	if !ok || !c.now().Add(tokenRefreshMargin).Before(t.expires) {
		return "", false
	}
	return t.token, true
}

func (c *Client) dropToken(id int64, tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.installTokens[id]; ok && t.token == tok {
		delete(c.installTokens, id)
	}
}

// authTransport sets the Authorization header from the credential the context asks for.
// An installation token refused with 401 (revoked early) is dropped and replaced once.
type authTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m, _ := req.Context().Value(authKey{}).(authMode)
	tok, err := t.credential(req.Context(), m)
	if err != nil {
		closeBody(req)
		return nil, &credentialError{err}
	}
	resp, err := t.send(req, tok)
	hasBody := req.Body != nil && req.Body != http.NoBody
	if err != nil || resp.StatusCode != http.StatusUnauthorized || m.installation == 0 || (hasBody && req.GetBody == nil) {
		return resp, err
	}
	drain(resp)
	t.c.dropToken(m.installation, tok)
	if tok, err = t.credential(req.Context(), m); err != nil {
		return nil, &credentialError{err}
	}
	req = req.Clone(req.Context())
	if hasBody {
		if req.Body, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("github: replay request body: %w", err)
		}
	}
	return t.send(req, tok)
}

func (t *authTransport) send(req *http.Request, tok string) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.next.RoundTrip(r)
}

func (t *authTransport) credential(ctx context.Context, m authMode) (string, error) {
	switch {
	case m.bearer != "":
		return m.bearer, nil
	case !t.c.IsApp():
		return t.c.token, nil
	case m.app:
		return t.c.appJWT()
	case m.installation != 0:
		return t.c.installationToken(ctx, m.installation)
	default:
		return "", errors.New("github: App mode request without an installation (use RepoContext)")
	}
}

// credentialError: no credential could be had for a request (the token request failed after
// its own retries). The retry transport does not retry it again.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
