package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/webhook"
)

// startCaddy runs the real Caddy (Debian's package) with
// deploy/caddy/Caddyfile in front of upstream, on free loopback ports, with
// Caddy's internal CA. It returns an HTTPS client that trusts that CA (read
// from Caddy's data directory), does not follow redirects, and reaches
// https://localhost:<port>, and that base URL.
func startCaddy(t *testing.T, upstream string) (*http.Client, string) {
	t.Helper()
	bin := needTool(t, "caddy")
	dir := t.TempDir()
	// The deployment's Caddyfile, bound to loopback only for the test (in
	// production Caddy listens on every interface).
	src := readFile(t, filepath.Join(deployDir, "caddy", "Caddyfile"))
	cf := strings.Replace(src, "\tskip_install_trust\n", "\tskip_install_trust\n\tdefault_bind 127.0.0.1\n", 1)
	if cf == src {
		t.Fatal("Caddyfile: no skip_install_trust line in the global options")
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	httpsAddr, httpAddr, adminAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), caddyEnv(dir, map[string]string{
		"HOOKCI_DOMAIN": "localhost", "HOOKCI_TLS": "internal", "HOOKCI_UPSTREAM": upstream,
		"HOOKCI_HTTPS_PORT": port(httpsAddr), "HOOKCI_HTTP_PORT": port(httpAddr), "HOOKCI_CADDY_ADMIN": adminAddr,
	})...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("caddy log:\n%s", logs.String())
		}
	})
	rootPath := filepath.Join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	var root []byte
	waitFor(t, "Caddy's internal CA certificate", func() bool {
		var err error
		root, err = os.ReadFile(rootPath)
		return err == nil && len(root) > 0
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatalf("%s holds no certificate", rootPath)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
			// https://localhost:<port> always reaches Caddy on 127.0.0.1.
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "tcp", httpsAddr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := "https://localhost:" + port(httpsAddr)
	waitFor(t, "Caddy serving HTTPS", func() bool {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return client, base
}

// get fetches url with an optional bearer token and returns status and body.
func getWith(t *testing.T, c *http.Client, url, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestCaddyInFrontOfHookci (issue 10 §5): the real Caddy with the
// deployment's Caddyfile and Caddy's internal CA terminates TLS in front of
// a real hookci serve (api_token set, listening on loopback as the env
// example says). A signed webhook sent over HTTPS through Caddy is answered
// 202, stored and run; the dashboard and the API still demand sign-in
// through the proxy (a request from Caddy comes from loopback, which must not
// open the door); with the token the API answers; /metrics is not published.
func TestCaddyInFrontOfHookci(t *testing.T) {
	needTool(t, "caddy")
	const apiToken = "dashboard-token"
	h := newHarnessWith(t, func(h *harness) { h.cfg.APIToken = apiToken })
	client, base := startCaddy(t, strings.TrimPrefix(h.url, "http://"))

	zero := strings.Repeat("0", 40)
	sha := h.repo.Commit("through the proxy", map[string]string{".github/workflows/ci.yml": twoJobWorkflow,
		"src/main.sh": "#!/bin/sh\necho main works\n"})
	h.repo.Push("main")
	body := pushPayload(t, zero, sha)
	req, _ := http.NewRequest("POST", base+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "via-caddy-1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(e2eSecret), body))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signed webhook through Caddy: got %d %s, want 202", resp.StatusCode, b)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("the webhook did not go over TLS")
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security %q: want Caddy's header on every answer", hsts)
	}
	// Stored (the API, with the token, through Caddy) and run.
	code, _, out := getWith(t, client, base+"/api/deliveries", apiToken)
	if code != 200 || !strings.Contains(out, `"via-caddy-1"`) {
		t.Fatalf("GET /api/deliveries with the token through Caddy: got %d %s, want 200 listing via-caddy-1", code, out)
	}
	if sts := h.waitStatus(sha); sts[len(sts)-1].State != "success" {
		t.Fatalf("the run of the proxied webhook: %+v", sts)
	}
	code, _, out = getWith(t, client, base+"/api/runs", apiToken)
	var runs []map[string]any
	if code != 200 || json.Unmarshal([]byte(out), &runs) != nil || !strings.Contains(out, e2eRepo) {
		t.Fatalf("GET /api/runs with the token through Caddy: got %d %s, want 200 with the run", code, out)
	}

	// Without credentials, through the proxy: no dashboard, no API, no metrics.
	cases := []struct {
		path     string
		wantCode int // 0: anything but 200
	}{
		{"/", 0}, // 401 today; a sign-in redirect once sign-in pages exist
		{"/api/runs", http.StatusUnauthorized},
		{"/api/deliveries", http.StatusUnauthorized},
		{"/runs/1", 0},
		{"/metrics", http.StatusNotFound}, // Caddy does not publish it
	}
	for _, c := range cases {
		code, _, out := getWith(t, client, base+c.path, "")
		switch {
		case c.wantCode != 0 && code != c.wantCode:
			t.Errorf("GET %s without credentials through Caddy: got %d, want %d", c.path, code, c.wantCode)
		case code == http.StatusOK:
			t.Errorf("GET %s without credentials through Caddy: got 200, want sign-in demanded", c.path)
		}
		for _, leak := range []string{e2eRepo, sha, "via-caddy-1", "hookci_runs_total"} {
			if strings.Contains(out, leak) {
				t.Errorf("GET %s without credentials through Caddy shows %q:\n%s", c.path, leak, out)
			}
		}
	}
	// A wrong token is no better than none.
	if code, _, _ := getWith(t, client, base+"/api/runs", "not-the-token"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/runs with a wrong token through Caddy: got %d, want 401", code)
	}
}

// TestCaddyStreamsLiveLogs: a running job's log reaches a viewer through
// Caddy while the job still runs (the Caddyfile proxies the event stream
// unbuffered). The job waits for a file the test creates only after the
// first line came through the proxy, so a buffering proxy fails the test
// (the stream would hold the line until the job ends, which it never does).
func TestCaddyStreamsLiveLogs(t *testing.T) {
	needTool(t, "caddy")
	const apiToken = "dashboard-token"
	h := newHarnessWith(t, func(h *harness) { h.cfg.APIToken = apiToken })
	client, base := startCaddy(t, strings.TrimPrefix(h.url, "http://"))
	release := filepath.Join(t.TempDir(), "release")
	sha := h.repo.Commit("live", map[string]string{".github/workflows/live.yml": `name: Live
on: push
jobs:
  live:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "first-line-through-the-proxy"
          while [ ! -e "$RELEASE" ]; do sleep 0.05; done
          echo "released"
        env:
          RELEASE: ` + release + "\n"})
	h.repo.Push("main")
	h.sendSigned("push", "live-1", pushPayload(t, strings.Repeat("0", 40), sha))

	// The run's only job is job 1 of this fresh store.
	var resp *http.Response
	waitFor(t, "the job's event stream through Caddy", func() bool {
		req, _ := http.NewRequest("GET", base+"/api/jobs/1/log/stream", nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		r, err := client.Do(req)
		if err != nil {
			return false
		}
		if r.StatusCode != 200 {
			r.Body.Close()
			return false
		}
		resp = r
		return true
	})
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("stream Content-Type %q", ct)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	readUntil := func(want string) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q; got %q", want, seen)
				}
				seen = append(seen, l)
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q through Caddy within 60 s while the job runs; got %q", want, seen)
			}
		}
	}
	readUntil("first-line-through-the-proxy")
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	readUntil("released")
	readUntil("event: end")
	readUntil(`"success"`)
}
