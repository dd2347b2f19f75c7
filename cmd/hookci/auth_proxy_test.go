package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAttackServeBehindLocalProxy runs the real server (serveOn, real store)
// and puts a reverse proxy on the same host in front of it: the proxy's
// requests come from 127.0.0.1, and that must open nothing. "No
// authentication" is decided by the configured listen address only.
func TestAttackServeBehindLocalProxy(t *testing.T) {
	gh := newFakeGitHub(t)
	base := baseConfig(t, t.TempDir(), gh.URL())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// 1. Beyond loopback without api_token or GitHub sign-in: hookci refuses to start.
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := base
	cfg.Listen = l.Addr().String()
	err = serveOn(context.Background(), cfg, log, l)
	if err == nil || !strings.Contains(err.Error(), "api_token") || !strings.Contains(err.Error(), "github_oauth_client_id") {
		t.Fatalf("serve on %s without authentication: got %v, want a refusal naming api_token and github_oauth_client_id", cfg.Listen, err)
	}

	serve := func(t *testing.T, listen, token string) (direct, viaProxy string) {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		cfg := base
		cfg.DataDir = t.TempDir()
		cfg.Listen, cfg.APIToken = l.Addr().String(), token
		direct = "http://127.0.0.1:" + port
		cfg.PublicURL = direct
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serveOn(ctx, cfg, log, l) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		})
		authWaitHealthy(t, direct)
		u, _ := url.Parse(direct)
		p := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
		t.Cleanup(p.Close)
		return direct, p.URL
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status := func(t *testing.T, method, u string, hdr map[string]string, body string) *http.Response {
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// 2. Beyond loopback with a token, behind a local proxy: sign-in is still demanded.
	t.Run("wide listener with token", func(t *testing.T) {
		_, via := serve(t, "0.0.0.0:0", "proxy-test-token")
		for _, tc := range []struct {
			method, path string
			hdr          map[string]string
			body         string
			want         int
		}{
			{"GET", "/api/runs", nil, "", 401},
			{"GET", "/api/runs?token=proxy-test-token", nil, "", 401},
			{"GET", "/", map[string]string{"Accept": "text/html"}, "", 303},
			{"GET", "/metrics", map[string]string{"X-Forwarded-For": "127.0.0.1"}, "", 401},
			{"GET", "/api/runs", map[string]string{"Authorization": "Bearer proxy-test-token"}, "", 200},
			{"GET", "/healthz", nil, "", 200},
		} {
			if resp := status(t, tc.method, via+tc.path, tc.hdr, tc.body); resp.StatusCode != tc.want {
				t.Errorf("through the proxy %s %s: got %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			}
		}
		resp := status(t, "POST", via+"/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			url.Values{"token": {"proxy-test-token"}}.Encode())
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "hookci_session" {
				session = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || session == nil {
			t.Fatalf("sign-in through the proxy: got %d, cookie %v", resp.StatusCode, session)
		}
		req, _ := http.NewRequest("GET", via+"/", nil)
		req.AddCookie(session)
		if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("dashboard with the session through the proxy: got %v %v, want 200", resp.StatusCode, err)
		}
	})

	// 3. Loopback without a token (allowed for local use), a proxy put in front: closed.
	t.Run("loopback without token", func(t *testing.T) {
		direct, via := serve(t, "127.0.0.1:0", "")
		if resp := status(t, "GET", direct+"/api/runs", nil, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("direct local request: got %d, want 200", resp.StatusCode)
		}
		for _, path := range []string{"/api/runs", "/", "/metrics"} {
			if resp := status(t, "GET", via+path, nil, ""); resp.StatusCode != http.StatusForbidden {
				t.Errorf("through a local proxy GET %s: got %d, want 403", path, resp.StatusCode)
			}
		}
	})
}

func authWaitHealthy(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server never became healthy")
}
