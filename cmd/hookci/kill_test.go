package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/webhook"
)

// TestKill9AfterAcknowledgement: the real binary is killed with SIGKILL
// right after answering 202 (and again while the job runs); the restarted
// server still runs the delivery to success.
func TestKill9AfterAcknowledgement(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "hookci")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gitRoot, data := t.TempDir(), t.TempDir()
	repo := gittest.New(t, gitRoot, e2eRepo)
	sha := repo.Commit("c", map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 2 && echo finished
`})
	repo.Push("main")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+addr, "HOOKCI_WEBHOOK_SECRET="+e2eSecret, "HOOKCI_DATA_DIR="+data,
			"HOOKCI_GIT_URL=file://"+gitRoot, "HOOKCI_SANDBOX=host", "HOOKCI_AGENT_PATH="+agenttest.Binary(t), "HOOKCI_GITHUB_TOKEN=")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // gracefully, so the server closes its warm sandboxes
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
		waitFor(t, "the server to listen", func() bool {
			r, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				r.Body.Close()
			}
			return err == nil && r.StatusCode == 200
		})
		return cmd
	}
	runs := func() []map[string]any {
		var out []map[string]any
		if r, err := http.Get("http://" + addr + "/api/runs"); err == nil {
			json.NewDecoder(r.Body).Decode(&out)
			r.Body.Close()
		}
		return out
	}
	kill := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}

	// 1: killed right after the 202.
	srv := start()
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository": map[string]any{"full_name": e2eRepo}})
	req, _ := http.NewRequest("POST", "http://"+addr+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "kill-1")
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(e2eSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("webhook: %s", resp.Status)
	}
	kill(srv)

	// 2: restarted, killed again while the job runs.
	srv = start()
	waitFor(t, "the job to start", func() bool {
		rs := runs()
		return len(rs) == 1 && rs[0]["Status"] == "in_progress"
	})
	kill(srv)

	// 3: restarted: the run finishes, successfully.
	start()
	waitFor(t, "the run to finish", func() bool {
		rs := runs()
		return len(rs) == 1 && rs[0]["Status"] == "completed"
	})
	rs := runs()
	if rs[0]["Conclusion"] != "success" {
		t.Fatalf("run after two kills: %v", rs[0])
	}
	var view struct {
		Jobs []struct {
			Attempt int
			Steps   []struct{ Log string }
		}
	}
	r, err := http.Get(fmt.Sprintf("http://%s/api/runs/%v", addr, rs[0]["ID"]))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(r.Body).Decode(&view)
	r.Body.Close()
	if len(view.Jobs) != 1 || view.Jobs[0].Attempt < 2 {
		t.Errorf("job attempts = %+v, want one job run again after the kill", view.Jobs)
	}
	if len(view.Jobs) == 1 && !strings.Contains(fmt.Sprint(view.Jobs[0].Steps), "finished") {
		t.Errorf("job log lacks the step's output: %+v", view.Jobs[0].Steps)
	}
	_ = time.Second
}
