package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/web"
)

type downGitHub struct{}

func (downGitHub) RateLimit(context.Context) (web.RateLimit, error) {
	return web.RateLimit{}, errors.New("dial tcp: connection refused")
}

// hookci status against a real web server and store: the table, --json,
// and the exit statuses (healthy 0, unhealthy 1, usage 2, refused 3).
func TestStatusCommand(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI\x1b[2J",
		Event: "push", SHA: "abc", Ref: "refs/heads/main", Status: store.StatusCompleted, Conclusion: store.ConclusionFailure,
		StartedAt: time.Now().Add(-3 * time.Second), FinishedAt: time.Now()}
	if err := st.Queries().CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	healthy := httptest.NewServer(web.New(st, web.NewMetrics(st.QueueDepth), web.Options{Token: "tok"}).Handler(http.NotFoundHandler()))
	defer healthy.Close()
	sick := httptest.NewServer(web.New(st, web.NewMetrics(st.QueueDepth), web.Options{GitHubHealth: downGitHub{}}).Handler(http.NotFoundHandler()))
	defer sick.Close()
	cases := []struct {
		name  string
		token string
		args  []string
		code  int
		want  []string
	}{
		{"healthy", "tok", []string{"--server", healthy.URL}, 0, []string{"HEALTH", "healthy", "RECENT FAILURES", "#1", "o/r"}},
		{"json", "tok", []string{"--server", healthy.URL, "--json"}, 0, []string{`"healthy": true`}},
		{"unhealthy", "", []string{"--server", sick.URL}, 1, []string{"UNHEALTHY", "connection refused"}},
		{"wrong token", "nope", []string{"--server", healthy.URL}, 3, nil},
		{"bad server", "", []string{"--server", "ftp://x"}, 2, nil},
		{"bad colour", "", []string{"--color", "purple"}, 2, nil},
		{"colour", "tok", []string{"--server", healthy.URL, "--color", "always"}, 0, []string{"\x1b[32mhealthy\x1b[0m", "\x1b[31m#1\x1b[0m"}},
	}
	for _, c := range cases {
		t.Setenv("HOOKCI_API_TOKEN", c.token)
		var out, errb bytes.Buffer
		code := cmdStatus(ctx, c.args, &out, &errb)
		if code != c.code {
			t.Errorf("%s: got exit %d, want %d (stderr %q)", c.name, code, c.code, errb.String())
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out.String())
			}
		}
		if c.name != "colour" && strings.Contains(out.String(), "\x1b") {
			t.Errorf("%s: output holds escape sequences (not a terminal, or from a workflow name):\n%q", c.name, out.String())
		}
		if strings.Contains(out.String(), "\x1b[2J") {
			t.Errorf("%s: the workflow name's escape sequence reached the terminal", c.name)
		}
		if c.name == "json" {
			var o web.OverviewJSON
			if err := json.Unmarshal(out.Bytes(), &o); err != nil {
				t.Errorf("json: %v", err)
			}
		}
	}
}
