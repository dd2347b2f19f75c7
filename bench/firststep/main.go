// Command firststep measures webhook → first step running: a real
// `hookci serve` (bin/hookci) with the chosen sandbox gets signed push
// webhooks for new commits; for each, the time from sending the webhook to
// the first user step's start (as the run's API reports it) is taken. With
// the microvm sandbox the first delivery builds the VM template and is not
// counted. Prints p50/p95, the sandbox and, for microvm, the accelerator.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/webhook"
)

func main() {
	n := flag.Int("n", 10, "measured deliveries")
	sandbox := flag.String("sandbox", "microvm", "HOOKCI_SANDBOX for the server")
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	imageDir := flag.String("image-dir", os.Getenv("HOOKCI_DATA_DIR"), "data directory holding the guest image")
	flag.Parse()
	if err := run(*n, *sandbox, *bin, *imageDir); err != nil {
		fmt.Fprintln(os.Stderr, "firststep:", err)
		os.Exit(1)
	}
}

func run(n int, sandbox, bin, imageDir string) error {
	bin, _ = filepath.Abs(bin)
	root, err := os.MkdirTemp("", "hookci-firststep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	work, bare := filepath.Join(root, "work"), filepath.Join(root, "git", "bench", "first.git")
	git := func(dir string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@b", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@b")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	os.MkdirAll(filepath.Join(work, ".github", "workflows"), 0o755)
	os.MkdirAll(bare, 0o755)
	os.WriteFile(filepath.Join(work, ".github", "workflows", "ci.yml"), []byte("on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo first step\n"), 0o644)
	for _, a := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "c0"}} {
		if _, err := git(work, a...); err != nil {
			return err
		}
	}
	if _, err := git(bare, "init", "-q", "--bare", "-b", "main"); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(filepath.Join(bin, "hookci"), "serve")
	cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+addr, "HOOKCI_WEBHOOK_SECRET=s", "HOOKCI_DATA_DIR="+filepath.Join(root, "data"),
		"HOOKCI_GIT_URL=file://"+filepath.Join(root, "git"), "HOOKCI_SANDBOX="+sandbox, "HOOKCI_IMAGE_DIR="+imageDir,
		"HOOKCI_GITHUB_TOKEN=", "HOOKCI_LOG_LEVEL="+logLevel())
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer stop(cmd)
	base := "http://" + addr
	for i := 0; ; i++ {
		if r, err := http.Get(base + "/healthz"); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		if i > 500 {
			return fmt.Errorf("server did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var lat []time.Duration
	for i := 0; i <= n; i++ {
		os.WriteFile(filepath.Join(work, "f"), []byte(fmt.Sprint(i)), 0o644)
		git(work, "add", "-A")
		if _, err := git(work, "commit", "-qm", fmt.Sprintf("c%d", i+1)); err != nil {
			return err
		}
		if _, err := git(work, "push", "-q", "-f", bare, "main"); err != nil {
			return err
		}
		sha, _ := git(work, "rev-parse", "HEAD")
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
			"repository": map[string]any{"full_name": "bench/first"}})
		req, _ := http.NewRequest("POST", base+"/webhook", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "first-"+sha)
		req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte("s"), body))
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		started, err := waitFirstStep(base, sha, &logs)
		if err != nil {
			return err
		}
		if i > 0 || sandbox != "microvm" {
			lat = append(lat, started.Sub(t0))
		}
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	accel := ""
	if sandbox == "microvm" {
		var v struct{ Accel string }
		if b, err := os.ReadFile(filepath.Join(root, "data", "sb", "mi", "accel.json")); err == nil && json.Unmarshal(b, &v) == nil {
			accel = ", accelerator " + strings.ToUpper(v.Accel)
		}
	}
	fmt.Printf("webhook → first step running, sandbox %s%s, %d deliveries\n", sandbox, accel, len(lat))
	fmt.Printf("  p50 %s  p95 %s  max %s\n", ms(lat[len(lat)/2]), ms(lat[(len(lat)*95)/100]), ms(lat[len(lat)-1]))
	fmt.Printf("  hardware: %s\n", hw.Describe())
	if os.Getenv("HOOKCI_LOG_LEVEL") != "" {
		fmt.Print(logs.String())
	}
	return nil
}

// waitFirstStep polls the API until the run of sha has a started step 1.
func waitFirstStep(base, sha string, logs *bytes.Buffer) (time.Time, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var runs []struct {
			ID  int64
			SHA string
		}
		if r, err := http.Get(base + "/api/runs"); err == nil {
			json.NewDecoder(r.Body).Decode(&runs)
			r.Body.Close()
		}
		for _, run := range runs {
			if run.SHA != sha {
				continue
			}
			var view struct {
				Jobs []struct {
					Steps []struct {
						Index     int
						StartedAt time.Time
					}
				}
			}
			if r, err := http.Get(fmt.Sprintf("%s/api/runs/%d", base, run.ID)); err == nil {
				json.NewDecoder(r.Body).Decode(&view)
				r.Body.Close()
			}
			for _, j := range view.Jobs {
				for _, s := range j.Steps {
					if s.Index == 1 && !s.StartedAt.IsZero() {
						return s.StartedAt, nil
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no step started for %s:\n%s", sha, logs.String())
}

func logLevel() string {
	if v := os.Getenv("HOOKCI_LOG_LEVEL"); v != "" {
		return v
	}
	return "warn"
}

// stop ends the server the way an operator would (SIGTERM), so that it
// closes its sandboxes; SIGKILL only if it does not exit.
func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d.Microseconds())/1000) }
