package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

func TestTokenGuardsEverythingButWebhookAndHealth(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) })
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{Token: "t0ken"}).Handler(hook))
	defer srv.Close()
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/healthz", "", 200},
		{"POST", "/webhook", "", 202},
		{"GET", "/", "", 401},
		{"GET", "/api/runs", "", 401},
		{"GET", "/metrics", "", 401},
		{"GET", "/api/runs", "Bearer wrong", 401},
		{"GET", "/api/runs", "Bearer t0ken", 200},
		{"GET", "/?token=t0ken", "", 200},
		{"GET", "/runs/99", "Bearer t0ken", 404},
		{"GET", "/runs/x", "Bearer t0ken", 400},
		{"GET", "/metrics", "Bearer t0ken", 200},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s (auth %q) = %d, want %d", tc.method, tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "10.1.2.3:80": false, "bad": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
