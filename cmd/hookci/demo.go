package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/webhook"
)

// DemoWorkflow is the sample repository's workflow: five run: steps (the
// same workflow bench/ times against act).
const DemoWorkflow = `name: demo
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Show the commit
        run: |
          echo "commit $GITHUB_SHA on $GITHUB_REF_NAME of $GITHUB_REPOSITORY"
          ls
      - name: Build
        run: |
          mkdir -p out
          for i in $(seq 1 200); do echo "line $i"; done > out/data.txt
          wc -l out/data.txt
      - name: Test
        run: |
          grep -q "line 200" out/data.txt
          echo "tests passed"
      - name: Share a value
        id: share
        run: echo "lines=$(wc -l < out/data.txt)" >> "$GITHUB_OUTPUT"
      - name: Report
        run: echo "built ${{ steps.share.outputs.lines }} lines"
`

// runDemo is `hookci demo`: a sample repository, a server with the embedded
// defaults, and a real signed push webhook sent to it over HTTP.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address for the demo server")
	exit := fs.Bool("exit", false, "exit once the run has finished instead of serving on")
	dataDir := fs.String("data-dir", "", "data directory (default: a fresh temporary one)")
	printWorkflow := fs.Bool("print-workflow", false, "print the sample repository's workflow and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *printWorkflow {
		fmt.Fprint(stdout, DemoWorkflow)
		return 0
	}
	cfg, err := config.Load("", os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "hookci demo:", err)
		return 2
	}
	if *dataDir == "" {
		if *dataDir, err = os.MkdirTemp("", "hookci-demo-"); err != nil {
			fmt.Fprintln(stderr, "hookci demo:", err)
			return 1
		}
		defer os.RemoveAll(*dataDir)
	}
	cfg.DataDir = *dataDir
	secret := make([]byte, 16)
	rand.Read(secret)
	cfg.WebhookSecret = hex.EncodeToString(secret)
	cfg.GitHubToken, cfg.GitHubAppID = "", 0
	gitRoot := filepath.Join(cfg.DataDir, "demo-git")
	sha, err := demoRepo(gitRoot)
	if err != nil {
		fmt.Fprintln(stderr, "hookci demo: sample repository:", err)
		return 1
	}
	cfg.GitURL = "file://" + gitRoot
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "hookci demo:", err)
		return 1
	}
	cfg.Listen = l.Addr().String()
	cfg.PublicURL = "http://" + cfg.Listen
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- serveOn(sctx, cfg, log, l) }()
	fmt.Fprintf(stdout, "hookci demo: server on %s (sandbox %s, data in %s)\n", cfg.PublicURL, cfg.Sandbox, cfg.DataDir)
	outcome, runURL, err := demoSend(ctx, cfg, sha)
	if err != nil {
		fmt.Fprintln(stderr, "hookci demo:", err)
		stop()
		<-done
		return 1
	}
	fmt.Fprintf(stdout, "hookci demo: workflow run %s: %s\n", outcome, runURL)
	code := 0
	if outcome != "success" {
		code = 1
	}
	if !*exit {
		fmt.Fprintln(stdout, "hookci demo: serving until interrupted (Ctrl-C)")
		<-ctx.Done()
	}
	stop()
	if err := <-done; err != nil {
		fmt.Fprintln(stderr, "hookci demo:", err)
		return 1
	}
	return code
}

// demoRepo creates demo/hello under root with the demo workflow and returns its commit.
func demoRepo(root string) (string, error) {
	bare := filepath.Join(root, "demo", "hello.git")
	work := filepath.Join(root, "work")
	for _, d := range []string{bare, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	files := map[string]string{".github/workflows/demo.yml": DemoWorkflow, "README.md": "# hello\nA sample repository for hookci's demo.\n"}
	for p, c := range files {
		full := filepath.Join(work, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			return "", err
		}
	}
	steps := [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=main", bare},
		{"init", "--quiet", "--initial-branch=main", work},
		{"-C", work, "add", "-A"},
		{"-C", work, "-c", "user.name=hookci demo", "-c", "user.email=demo@localhost", "commit", "--quiet", "-m", "hello"},
		{"-C", work, "push", "--quiet", bare, "main"},
	}
	for _, a := range steps {
		if out, err := gitrepo.Command(context.Background(), "", nil, a...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %s: %v: %s", a[0], err, out)
		}
	}
	return gitOut(work, "rev-parse", "HEAD")
}

// demoSend posts a signed push webhook for sha and waits for the run's outcome.
func demoSend(ctx context.Context, cfg config.Config, sha string) (string, string, error) {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha, "created": true,
		"repository": map[string]any{"full_name": "demo/hello", "name": "hello", "owner": map[string]any{"login": "demo"},
			"default_branch": "main"},
		"sender":      map[string]any{"login": "demo"},
		"head_commit": map[string]any{"id": sha, "message": "hello"},
	})
	base := cfg.PublicURL
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("the server did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "demo-"+sha[:12])
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(cfg.WebhookSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", "", fmt.Errorf("webhook answered %s", resp.Status)
	}
	for time.Now().Before(deadline.Add(5 * time.Minute)) {
		var runs []struct {
			ID         int64
			Status     string
			Conclusion string
		}
		r, err := http.Get(base + "/api/runs")
		if err == nil {
			json.NewDecoder(r.Body).Decode(&runs)
			r.Body.Close()
		}
		if len(runs) > 0 && runs[0].Status == "completed" {
			return runs[0].Conclusion, fmt.Sprintf("%s/runs/%d", base, runs[0].ID), nil
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", "", fmt.Errorf("the run did not finish in time")
}
