package github

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v93/github"
)

// DefaultAPIURL is the REST base of github.com.
const DefaultAPIURL = "https://api.github.com/"

// Config configures a Client. Exactly one of Token or (AppID, AppKeyPEM) must be set.
type Config struct {
	// APIURL is the REST base, e.g. https://api.github.com/ (the default) or a GitHub
	// Enterprise base such as https://ghe.example.com/api/v3/. A missing trailing slash is added.
	APIURL string
	// Token selects token mode: a personal access token (classic or fine-grained) or any
	// other bearer token, used for every request and for cloning.
	Token string
	// AppID and AppKeyPEM select App mode: requests for a repository use a token of the
	// repository's installation, minted with an RS256 JWT signed by AppKeyPEM (PKCS#1 or PKCS#8).
	AppID     int64
	AppKeyPEM []byte
	// HTTPClient supplies the base transport and the timeout of each attempt (default:
	// http.DefaultTransport, 30 s; retries and rate-limit waits are not counted in it).
	HTTPClient *http.Client
	// UserAgent is sent with every request (default "hookci").
	UserAgent string
	// MaxRetries bounds the retries of one request (default 4; negative disables retries).
	MaxRetries int
	// MaxRateLimitWait bounds a single wait for a rate limit to reset (default 15 min).
	// A longer wait fails at once with an error wrapping ErrRateLimited.
	MaxRateLimitWait time.Duration
	// Now and Sleep are the clock (defaults: time.Now and a timer honouring ctx). Sleep must
	// return ctx.Err() (or an error wrapping it) when ctx ends first.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives one line per retry or wait (default: discard).
	Logger *slog.Logger
}

// Repo names a repository. InstallationID is the GitHub App installation that covers it
// (from the webhook payload); in App mode 0 means "look it up" (GET /repos/{o}/{r}/installation).
type Repo struct {
	Owner          string
	Name           string
	InstallationID int64
}

// FullName returns "owner/name".
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// ErrAppRequired is returned by calls only a GitHub App may make (check runs, App hooks)
// when the Client runs in token mode.
var ErrAppRequired = errors.New("github: this call needs GitHub App authentication")

// ErrRateLimited is wrapped by the error returned when a rate limit would need a longer
// wait than Config.MaxRateLimitWait. (When retries run out while still limited, the error
// is go-github's *RateLimitError or *AbuseRateLimitError; IsRateLimited covers all three.)
var ErrRateLimited = errors.New("github: rate limited")

// Client talks to one GitHub (or GitHub Enterprise) API. It is safe for concurrent use.
type Client struct {
	gh         *gh.Client
	token      string // token mode
	appID      int64  // App mode
	appKey     *rsa.PrivateKey
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	log        *slog.Logger
	maxRetries int

	mu            sync.Mutex                  // guards the fields below
	installTokens map[int64]installationToken // by installation id
	repoInstalls  map[string]int64            // by "owner/name", for Repo.InstallationID == 0
	installPerms  map[int64]installPerms      // granted permissions by installation id

	fetchMu sync.Mutex // serializes installation token fetches (no stampede)
}

// New checks cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	c := &Client{
		token:         cfg.Token,
		appID:         cfg.AppID,
		now:           cfg.Now,
		sleep:         cfg.Sleep,
		log:           cfg.Logger,
		maxRetries:    cfg.MaxRetries,
		installTokens: map[int64]installationToken{},
		repoInstalls:  map[string]int64{},
		installPerms:  map[int64]installPerms{},
	}
	if err := c.setAuth(cfg); err != nil {
		return nil, err
	}
	c.setDefaults(cfg)
	base, err := apiBase(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	hc := http.Client{Timeout: 30 * time.Second}
	var next http.RoundTripper = http.DefaultTransport
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
		if hc.Transport != nil {
			next = hc.Transport
		}
	}
	// The timeout bounds each attempt, not the whole call: retries and rate-limit waits
	// happen inside the transport and must not be cut short by it.
	attemptTimeout := hc.Timeout
	hc.Timeout = 0
	maxWait := cfg.MaxRateLimitWait
	if maxWait <= 0 {
		maxWait = 15 * time.Minute
	}
	hc.Transport = &retryTransport{
		next:       &authTransport{c: c, next: next},
		maxRetries: c.maxRetries,
		maxWait:    maxWait,
		timeout:    attemptTimeout,
		now:        c.now,
		sleep:      c.sleep,
		log:        c.log,
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "hookci"
	}
	c.gh, err = gh.NewClient(gh.WithHTTPClient(&hc), gh.WithURLs(&base, &base),
		gh.WithUserAgent(ua), gh.WithDisableRateLimitCheck())
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	return c, nil
}

func (c *Client) setAuth(cfg Config) error {
	app := cfg.AppID != 0 || len(cfg.AppKeyPEM) > 0
	switch {
	case app && cfg.Token != "":
		return errors.New("github: set either Token or AppID+AppKeyPEM, not both")
	case !app && cfg.Token == "":
		return errors.New("github: no credentials: set Token or AppID+AppKeyPEM")
	case app && (cfg.AppID <= 0 || len(cfg.AppKeyPEM) == 0):
		return errors.New("github: App mode needs both a positive AppID and AppKeyPEM")
	case app:
		key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.AppKeyPEM)
		if err != nil {
			// The parse error never quotes key material.
			return fmt.Errorf("github: App private key: %w", err)
		}
		c.appKey = key
	}
	return nil
}

func (c *Client) setDefaults(cfg Config) {
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case cfg.MaxRetries == 0:
		c.maxRetries = 4
	case cfg.MaxRetries < 0:
		c.maxRetries = 0
	}
}

func apiBase(s string) (string, error) {
	if s == "" {
		return DefaultAPIURL, nil
	}
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", fmt.Errorf("github: APIURL %q: want an http:// or https:// URL", s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsApp reports whether the Client authenticates as a GitHub App.
func (c *Client) IsApp() bool { return c.appKey != nil }

// REST returns the underlying go-github client, already wired with authentication and
// retries, for calls this package does not wrap. In App mode, pass a context from
// RepoContext so the request carries the right installation token.
func (c *Client) REST() *gh.Client { return c.gh }

func validRepo(r Repo) error {
	if r.Owner == "" || r.Name == "" || strings.ContainsAny(r.Owner+r.Name, "/?#% ") {
		return fmt.Errorf("github: invalid repository %q", r.FullName())
	}
	return nil
}
