package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/webhook"
)

// acceptOnly runs the real webhook handler over real HTTP against the
// server's store with no queue worker, then closes the store: the state a
// server leaves when it dies right after answering 202.
func acceptOnly(t *testing.T, cfg config.Config, delivery string, body []byte) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(cfg.DataDir, "db"), store.Options{DatabaseURL: cfg.DatabaseURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(webhook.New(cfg.WebhookSecret, st, webhook.Options{}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(cfg.WebhookSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("accept: status %d", resp.StatusCode)
	}
}
