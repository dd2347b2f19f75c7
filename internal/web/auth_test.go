package web

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/store"
)

// authFixture is a real web server on a real store, with a test-only
// control route (POST /api/runs/{id}/cancel) behind s.auth like the real
// controls, counting the requests that reach it.
type authFixture struct {
	st      *store.Store
	s       *Server
	srv     *httptest.Server
	control atomic.Int32
}

func newAuthFixture(t *testing.T, opts Options, tlsServer bool) *authFixture {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &authFixture{st: st}
	f.s = New(st, NewMetrics(st.QueueDepth), opts)
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux := http.NewServeMux()
	mux.Handle("POST /api/runs/{id}/cancel", f.s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.control.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})))
	mux.Handle("/", f.s.Handler(hook))
	if tlsServer {
		f.srv = httptest.NewTLSServer(mux)
	} else {
		f.srv = httptest.NewServer(mux)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// browser is a client with a cookie jar that does not follow redirects.
func (f *authFixture) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := f.srv.Client()
	return &http.Client{Transport: c.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookieName {
			return c
		}
	}
	return nil
}

func form(kv ...string) io.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}

// TestTokenLogin: the API token at /login becomes a session cookie with the
// right flags that opens the dashboard; a wrong token gets no cookie; logout
// ends it; the cookie's Secure flag follows TLS or an https public URL.
func TestTokenLogin(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tls        bool
		publicURL  string
		wantSecure bool
	}{
		{"plain http", false, "", false},
		{"behind a TLS proxy", false, "https://ci.example.com", true},
		{"TLS to hookci", true, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuthFixture(t, Options{Token: "s3cret-token", PublicURL: tc.publicURL}, tc.tls)
			b := f.browser(t)
			html := map[string]string{"Accept": "text/html"}
			resp := do(t, b, "GET", f.srv.URL+"/runs/1?x=y", nil, html)
			if got, want := resp.Header.Get("Location"), "/login?next=%2Fruns%2F1%3Fx%3Dy"; resp.StatusCode != http.StatusSeeOther || got != want {
				t.Fatalf("page without session: got %d Location %q, want 303 %q", resp.StatusCode, got, want)
			}
			resp = do(t, b, "POST", f.srv.URL+"/login", form("token", "wrong", "next", "/"), nil)
			if resp.StatusCode != http.StatusUnauthorized || sessionCookie(resp) != nil {
				t.Fatalf("wrong token: got %d with cookie %v, want 401 and no cookie", resp.StatusCode, sessionCookie(resp))
			}
			resp = do(t, b, "POST", f.srv.URL+"/login", form("token", "s3cret-token", "next", "/runs/1?x=y"), nil)
			c := sessionCookie(resp)
			if resp.StatusCode != http.StatusSeeOther || c == nil {
				t.Fatalf("right token: got %d, cookie %v; want 303 and a session cookie", resp.StatusCode, c)
			}
			if got := resp.Header.Get("Location"); got != "/runs/1?x=y" {
				t.Errorf("after sign-in: got Location %q, want /runs/1?x=y", got)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.wantSecure || c.Path != "/" {
				t.Errorf("cookie flags: got HttpOnly=%v SameSite=%v Secure=%v Path=%q, want true Lax %v /",
					c.HttpOnly, c.SameSite, c.Secure, c.Path, tc.wantSecure)
			}
			if strings.Contains(c.Value, "s3cret-token") {
				t.Errorf("the cookie holds the API token in clear: %q", c.Value)
			}
			// The jar will not send a Secure cookie over http; replay it by hand.
			withCookie := func(method, path string) int {
				req, _ := http.NewRequest(method, f.srv.URL+path, nil)
				req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
				resp, err := f.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for _, path := range []string{"/", "/api/runs", "/api/deliveries"} {
				if got := withCookie("GET", path); got != http.StatusOK {
					t.Errorf("GET %s with the session: got %d, want 200", path, got)
				}
			}
			// A tampered cookie is nobody.
			tampered := []byte(c.Value)
			tampered[len(tampered)/2] ^= 1
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/runs", nil)
			req.AddCookie(&http.Cookie{Name: c.Name, Value: string(tampered)})
			if resp, err := f.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("tampered cookie: got %v %v, want 401", resp.StatusCode, err)
			}
			resp = do(t, b, "POST", f.srv.URL+"/logout", nil, nil)
			if out := sessionCookie(resp); resp.StatusCode != http.StatusSeeOther || out == nil || out.MaxAge >= 0 {
				t.Errorf("logout: got %d, cookie %v; want 303 and the cookie removed", resp.StatusCode, out)
			}
		})
	}
}

// TestTokenSessionEndsWithToken: a session made with an old API token does
// not open a server configured with a new one (same session key).
func TestTokenSessionEndsWithToken(t *testing.T) {
	key := make([]byte, 32)
	old := newAuthFixture(t, Options{Token: "old-token", SessionKey: key}, false)
	resp := do(t, old.browser(t), "POST", old.srv.URL+"/login", form("token", "old-token"), nil)
	c := sessionCookie(resp)
	if c == nil {
		t.Fatalf("no session cookie (status %d)", resp.StatusCode)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"old-token", 200}, {"new-token", 401}} {
		f := newAuthFixture(t, Options{Token: tc.token, SessionKey: key}, false)
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/runs", nil)
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("old session on a server with token %q: got %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}
}

// TestAttackTokenInURL: the API token in the query string opens nothing;
// only the Authorization header does. API clients get 401 JSON.
func TestAttackTokenInURL(t *testing.T) {
	f := newAuthFixture(t, Options{Token: "t0ken"}, false)
	c := f.srv.Client()
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/api/runs?token=t0ken", "", 401},
		{"/?token=t0ken", "", 401},
		{"/metrics?token=t0ken", "", 401},
		{"/api/runs?access_token=t0ken", "", 401},
		{"/api/runs", "Bearer t0ken", 200},
		{"/api/runs", "Bearer t0ken2", 401},
		{"/api/runs", "token t0ken", 401},
		{"/api/runs", "t0ken", 401},
	} {
		resp := do(t, c, "GET", f.srv.URL+tc.path, nil, map[string]string{"Authorization": tc.auth})
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s (Authorization %q): got %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: 401 as %q, want JSON", tc.path, resp.Header.Get("Content-Type"))
		}
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/runs", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Message == "" {
		t.Errorf("401 body: got %+v (%v), want {\"message\": …}", body, err)
	}
	resp.Body.Close()
}

// TestAttackCrossSite: a state-changing request from another site is
// refused even with a valid session (the control is not reached), and so
// are cross-site /login and /logout; the same request from the dashboard's
// own origin, or from a non-browser client, goes through.
func TestAttackCrossSite(t *testing.T) {
	f := newAuthFixture(t, Options{Token: "t0ken"}, false)
	b := f.browser(t)
	if resp := do(t, b, "POST", f.srv.URL+"/login", form("token", "t0ken"), nil); sessionCookie(resp) == nil {
		t.Fatalf("no session (status %d)", resp.StatusCode)
	}
	same := map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   io.Reader
		hdr    map[string]string
		want   int
	}{
		{"cancel from evil.example (Sec-Fetch-Site)", "POST", "/api/runs/1/cancel", nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"cancel from evil.example (Origin only)", "POST", "/api/runs/1/cancel", nil, map[string]string{"Origin": "https://evil.example"}, 403},
		{"cancel from a sibling site", "POST", "/api/runs/1/cancel", nil, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"login from evil.example", "POST", "/login", form("token", "t0ken"), map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"logout from evil.example", "POST", "/logout", nil, map[string]string{"Origin": "https://evil.example"}, 403},
		{"cancel from the dashboard", "POST", "/api/runs/1/cancel", nil, same, 202},
		{"cancel from a script (no browser headers)", "POST", "/api/runs/1/cancel", nil, nil, 202},
	} {
		before := f.control.Load()
		resp := do(t, b, tc.method, f.srv.URL+tc.path, tc.body, tc.hdr)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if reached := f.control.Load() > before; reached != (tc.want == 202 && strings.Contains(tc.path, "cancel")) {
			t.Errorf("%s: control reached = %v", tc.name, reached)
		}
		if tc.want == 403 && sessionCookie(resp) != nil {
			t.Errorf("%s: refused, yet a cookie was set or cleared", tc.name)
		}
	}
}

// TestAttackOpenRedirect: after sign-in the browser goes only to a path on
// hookci, whatever next says.
func TestAttackOpenRedirect(t *testing.T) {
	f := newAuthFixture(t, Options{Token: "t0ken"}, false)
	for next, want := range map[string]string{
		"/runs/3#job-1-L2":        "/runs/3#job-1-L2",
		"https://evil.example/":   "/",
		"//evil.example/x":        "/",
		"/\\evil.example":         "/",
		"\\\\evil.example":        "/",
		"javascript:alert(1)":     "/",
		"/%0d%0aSet-Cookie:x=y":   "/%0d%0aSet-Cookie:x=y", // stays a path: encoded
		"https:evil.example":      "/",
		"/ok\r\nLocation: //evil": "/",
		"":                        "/",
	} {
		resp := do(t, f.browser(t), "POST", f.srv.URL+"/login", form("token", "t0ken", "next", next), nil)
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next %q: got Location %q, want %q", next, got, want)
		}
		if u, err := url.Parse(resp.Header.Get("Location")); err != nil || u.Host != "" {
			t.Errorf("next %q: redirected off-site to %q", next, resp.Header.Get("Location"))
		}
	}
}

// TestAttackProxyOnSameHost: the door is decided by the configured listen
// address, never by the peer. (1) A server listening beyond loopback is
// refused without authentication (CheckExposure), and with a token a
// reverse proxy on the same host (whose requests come from 127.0.0.1) gets
// 401 like anyone. (2) A server without authentication on loopback answers
// only direct local requests: through a proxy (forwarding headers) or under
// another Host name (DNS rebinding) it refuses.
func TestAttackProxyOnSameHost(t *testing.T) {
	if err := CheckExposure("0.0.0.0:8080", Options{}); err == nil {
		t.Errorf("CheckExposure(0.0.0.0:8080, no auth) = nil, want an error")
	}
	if err := CheckExposure("[::]:8080", Options{}); err == nil {
		t.Errorf("CheckExposure([::]:8080, no auth) = nil, want an error")
	}
	for _, opts := range []Options{{Token: "t"}, {GitHub: &github.OAuth{ClientID: "c", ClientSecret: "s"}}} {
		if err := CheckExposure("0.0.0.0:8080", opts); err != nil {
			t.Errorf("CheckExposure(0.0.0.0:8080, auth) = %v, want nil", err)
		}
	}
	if err := CheckExposure("127.0.0.1:8080", Options{}); err != nil {
		t.Errorf("CheckExposure(127.0.0.1:8080, no auth) = %v, want nil", err)
	}

	proxy := func(t *testing.T, target string) string {
		u, _ := url.Parse(target)
		p := httptest.NewServer(httputil.NewSingleHostReverseProxy(u)) // on 127.0.0.1
		t.Cleanup(p.Close)
		return p.URL
	}
	// (1) A real listener on every address, with a token, behind a proxy.
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	wide := httptest.NewUnstartedServer(New(st, NewMetrics(st.QueueDepth), Options{Token: "t0ken"}).Handler(http.NotFoundHandler()))
	wide.Listener.Close()
	wide.Listener = l
	wide.Start()
	defer wide.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	via := proxy(t, "http://127.0.0.1:"+port)
	for _, path := range []string{"/api/runs", "/", "/metrics", "/api/deliveries"} {
		resp := do(t, http.DefaultClient, "GET", via+path, nil, map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wide listener, through a local proxy, GET %s: got %d, want 401", path, resp.StatusCode)
		}
	}

	// (2) No authentication, loopback listener, a proxy in front.
	f := newAuthFixture(t, Options{}, false)
	via = proxy(t, f.srv.URL)
	for _, tc := range []struct {
		name, base string
		hdr        map[string]string
		want       int
	}{
		{"direct", f.srv.URL, nil, 200},
		{"through a local reverse proxy", via, nil, 403},
		{"direct with Forwarded", f.srv.URL, map[string]string{"Forwarded": "for=203.0.113.9"}, 403},
		{"direct with Via", f.srv.URL, map[string]string{"Via": "1.1 caddy"}, 403},
		{"DNS rebinding (Host evil.example)", f.srv.URL, map[string]string{"Host": "evil.example"}, 403},
		{"Host localhost", f.srv.URL, map[string]string{"Host": "localhost"}, 200},
	} {
		req, _ := http.NewRequest("GET", tc.base+"/api/runs", nil)
		for k, v := range tc.hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("open loopback server, %s: got %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
