package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OAuth is the "Sign in with GitHub" side of GitHub: the OAuth web flow of an
// OAuth app or of a GitHub App's client, and the reads made with the
// signed-in user's token (who they are, what they may do to a repository).
// User tokens travel only in request bodies answered by GitHub and in the
// Authorization header; they never appear in URLs, logs or errors.
type OAuth struct {
	// ClientID and ClientSecret identify the app.
	ClientID, ClientSecret string
	// WebURL is GitHub's web base (https://github.com/, the default), where
	// /login/oauth/… live; APIURL the REST base (DefaultAPIURL by default).
	WebURL, APIURL string
	// HTTPClient makes the requests (default: 15 s timeout).
	HTTPClient *http.Client
}

// Permission is what a user may do to a repository, from GitHub's
// permissions object. The zero value is "nothing, not even see it".
type Permission struct {
	Admin bool `json:"admin"`
	Push  bool `json:"push"`
	Pull  bool `json:"pull"`
}

// ErrOAuthRefused is wrapped by Exchange's error when GitHub refused the
// code (bad_verification_code, redirect_uri_mismatch, wrong client secret…).
var ErrOAuthRefused = errors.New("github: sign-in refused")

func (o *OAuth) web() string {
	if o.WebURL == "" {
		return "https://github.com/"
	}
	return strings.TrimRight(o.WebURL, "/") + "/"
}

func (o *OAuth) api() string {
	if o.APIURL == "" {
		return DefaultAPIURL
	}
	return strings.TrimRight(o.APIURL, "/") + "/"
}

func (o *OAuth) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// AuthorizeURL is where the browser is sent to sign in; GitHub sends it back
// to redirectURI with code and state.
func (o *OAuth) AuthorizeURL(state, redirectURI string) string {
	v := url.Values{"client_id": {o.ClientID}, "redirect_uri": {redirectURI}, "state": {state}, "allow_signup": {"false"}}
	return o.web() + "login/oauth/authorize?" + v.Encode()
}

// Exchange trades an authorization code for the user's token and how long
// it lasts (0: GitHub gave no expiry, as for OAuth apps' tokens; a GitHub
// App's user tokens last 8 hours).
func (o *OAuth) Exchange(ctx context.Context, code, redirectURI string) (string, time.Duration, error) {
	form := url.Values{"client_id": {o.ClientID}, "client_secret": {o.ClientSecret}, "code": {code}, "redirect_uri": {redirectURI}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.web()+"login/oauth/access_token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("github: sign-in: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := o.do(req, &out); err != nil {
		return "", 0, fmt.Errorf("github: sign-in: %w", err)
	}
	if out.Error != "" || out.AccessToken == "" {
		return "", 0, fmt.Errorf("%w: %s: %s", ErrOAuthRefused, out.Error, out.Description)
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// User returns the login of the token's user.
func (o *OAuth) User(ctx context.Context, token string) (string, error) {
	var out struct {
		Login string `json:"login"`
	}
	if err := o.get(ctx, token, "user", &out); err != nil {
		return "", fmt.Errorf("github: user: %w", err)
	}
	if out.Login == "" {
		return "", errors.New("github: user: no login in GitHub's answer")
	}
	return out.Login, nil
}

// RepoPermission returns what the token's user may do to owner/name. A
// repository GitHub does not show the user (404) is the zero Permission
// without error; other failures are errors.
func (o *OAuth) RepoPermission(ctx context.Context, token, owner, name string) (Permission, error) {
	var out struct {
		Permissions *Permission `json:"permissions"`
	}
	err := o.get(ctx, token, "repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name), &out)
	var st statusError
	switch {
	case errors.As(err, &st) && int(st) == http.StatusNotFound:
		return Permission{}, nil
	case err != nil:
		return Permission{}, fmt.Errorf("github: permission on %s/%s: %w", owner, name, err)
	case out.Permissions == nil:
		// A public repository read without a user token has no permissions object.
		return Permission{Pull: true}, nil
	}
	return *out.Permissions, nil
}

// statusError is a non-2xx answer.
type statusError int

func (e statusError) Error() string {
	return fmt.Sprintf("GitHub answered %d %s", int(e), http.StatusText(int(e)))
}

func (o *OAuth) get(ctx context.Context, token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.api()+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	return o.do(req, v)
}

func (o *OAuth) do(req *http.Request, v any) error {
	req.Header.Set("User-Agent", "hookci")
	resp, err := o.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // the URL carries no secret, but keep errors short
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return statusError(resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("decoding GitHub's answer: %w", err)
	}
	return nil
}
