// Package benchserver runs a real `hookci serve` for the benchmarks: on a
// free loopback port, with a git server directory and a data directory of
// its own, and sends it signed webhooks.
package benchserver

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
	"time"

	"github.com/hookci/hookci/internal/webhook"
)

const secret = "bench-secret"

// Server is a running hookci serve.
type Server struct {
	Base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	Logs *bytes.Buffer
}

// Start runs hookci (the binary) serve with repositories fetched from
// file://gitRoot, its data in dataDir, and extra HOOKCI_* settings.
func Start(hookci, gitRoot, dataDir string, env ...string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(hookci, "serve")
	cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+addr, "HOOKCI_WEBHOOK_SECRET="+secret, "HOOKCI_DATA_DIR="+dataDir,
		"HOOKCI_GIT_URL=file://"+gitRoot, "HOOKCI_GITHUB_TOKEN=")
	cmd.Env = append(cmd.Env, env...)
	s := &Server{Base: "http://" + addr, cmd: cmd, Logs: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = s.Logs, s.Logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		if r, err := http.Get(s.Base + "/healthz"); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			return s, nil
		}
		if i > 500 {
			s.Stop()
			return nil, fmt.Errorf("server did not start:\n%s", s.Logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid is the server process's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop ends the server the way an operator would (SIGTERM), so it closes its
// sandboxes; SIGKILL only if it does not exit.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// Push sends a signed push webhook for sha of repo ("owner/name").
func (s *Server) Push(repo, sha string) error {
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository": map[string]any{"full_name": repo}})
	req, _ := http.NewRequest("POST", s.Base+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "bench-"+sha)
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Git runs git in dir with a fixed identity and returns its trimmed output.
func Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@b", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@b")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Repo makes a work tree with files committed and a bare repository at
// gitRoot/<repo>.git it is pushed to; it returns the work tree.
func Repo(root, gitRoot, repo string, files map[string]string) (string, error) {
	work, bare := filepath.Join(root, "work"), filepath.Join(gitRoot, repo+".git")
	for p, c := range files {
		full := filepath.Join(work, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			return "", err
		}
	}
	os.MkdirAll(bare, 0o755)
	for _, a := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "c0"}} {
		if _, err := Git(work, a...); err != nil {
			return "", err
		}
	}
	if _, err := Git(bare, "init", "-q", "--bare", "-b", "main"); err != nil {
		return "", err
	}
	_, err := Git(work, "push", "-q", bare, "main")
	return work, err
}

// Commit commits a change to file in work, pushes it to the bare repository
// and returns the commit.
func Commit(work, gitRoot, repo, file, content string) (string, error) {
	if err := os.WriteFile(filepath.Join(work, file), []byte(content), 0o644); err != nil {
		return "", err
	}
	if _, err := Git(work, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := Git(work, "commit", "-qm", "bench"); err != nil {
		return "", err
	}
	if _, err := Git(work, "push", "-q", "-f", filepath.Join(gitRoot, repo+".git"), "main"); err != nil {
		return "", err
	}
	return Git(work, "rev-parse", "HEAD")
}

// MS renders a duration in milliseconds.
func MS(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d.Microseconds())/1000) }
