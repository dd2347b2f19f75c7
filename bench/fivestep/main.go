// Command fivestep times the demo's five-step run: workflow end to end,
// side by side with act (host mode, `-P ubuntu-latest=-self-hosted`) on the
// same repository in the same run, and reports the ratio. It measures
//
//   - `hookci run DIR` (store, planner, dispatcher, host sandbox, runner) and
//   - a running `hookci serve`: signed webhook in → run completed,
//
// against `act push` in DIR. It needs bin/hookci and bin/hookci-agent
// (scripts/build.sh) and act on PATH or in ~/go/bin.
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
	n := flag.Int("n", 7, "repetitions of each")
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	sandbox := flag.String("sandbox", "host", "HOOKCI_SANDBOX of the server measured (host, namespace, microvm)")
	workflowFile := flag.String("workflow", "", "workflow file (default: the demo's five-step workflow, read from `hookci demo --print-workflow`)")
	flag.Parse()
	if err := run(*n, *bin, *workflowFile, *sandbox); err != nil {
		fmt.Fprintln(os.Stderr, "fivestep:", err)
		os.Exit(1)
	}
}

func run(n int, bin, workflowFile, sandbox string) error {
	bin, _ = filepath.Abs(bin)
	hookci := filepath.Join(bin, "hookci")
	act, err := exec.LookPath("act")
	if err != nil {
		home, _ := os.UserHomeDir()
		act = filepath.Join(home, "go", "bin", "act")
		if _, err := os.Stat(act); err != nil {
			return fmt.Errorf("act not found: go install github.com/nektos/act@v0.2.89")
		}
	}
	wf, err := workflow(hookci, workflowFile)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "hookci-fivestep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	repo := filepath.Join(root, "work")
	bare := filepath.Join(root, "git", "bench", "five.git")
	must := func(dir string, args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@b", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@b")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, out)
		}
		return nil
	}
	os.MkdirAll(filepath.Join(repo, ".github", "workflows"), 0o755)
	os.MkdirAll(bare, 0o755)
	os.WriteFile(filepath.Join(repo, ".github", "workflows", "five.yml"), []byte(wf), 0o644)
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("bench\n"), 0o644)
	for _, a := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "bench"}} {
		if err := must(repo, a...); err != nil {
			return err
		}
	}
	if err := must(bare, "init", "-q", "--bare", "-b", "main"); err != nil {
		return err
	}
	if err := must(repo, "push", "-q", bare, "main"); err != nil {
		return err
	}
	timeCmd := func(name string, args ...string) (time.Duration, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = repo
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return d, fmt.Errorf("%s: %v\n%s", name, err, out.String())
		}
		return d, nil
	}
	var hr, ar, sr []time.Duration
	for i := 0; i < n; i++ {
		d, err := timeCmd(act, "-P", "ubuntu-latest=-self-hosted", "push")
		if err != nil {
			return err
		}
		ar = append(ar, d)
		d, err = timeCmd(hookci, "run", "--sandbox", "host", ".")
		if err != nil {
			return err
		}
		hr = append(hr, d)
	}
	sr, err = serverPath(hookci, root, repo, bare, n, must, sandbox)
	if err != nil {
		return err
	}
	fmt.Printf("five-step run: workflow, end to end, median of %d (host, no VM: sandbox backend \"host\"; act in host mode)\n", n)
	fmt.Printf("  act push (host mode)                  %8s\n", ms(median(ar)))
	fmt.Printf("  hookci run (local, host sandbox)      %8s   ratio to act %.2f\n", ms(median(hr)), ratio(hr, ar))
	fmt.Printf("  hookci serve (sandbox %s): webhook → run completed %8s   ratio to act %.2f\n", sandbox, ms(median(sr)), ratio(sr, ar))
	fmt.Printf("  hardware: %s\n", hw.Describe())
	return nil
}

func serverPath(hookci, root, repo, bare string, n int, must func(string, ...string) error, sandbox string) ([]time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	secret := "bench-secret"
	cmd := exec.Command(hookci, "serve")
	cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+addr, "HOOKCI_WEBHOOK_SECRET="+secret, "HOOKCI_DATA_DIR="+filepath.Join(root, "data"),
		"HOOKCI_GIT_URL=file://"+filepath.Join(root, "git"), "HOOKCI_SANDBOX="+sandbox, "HOOKCI_GITHUB_TOKEN=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer stop(cmd)
	base := "http://" + addr
	for i := 0; ; i++ {
		if r, err := http.Get(base + "/healthz"); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		if i > 300 {
			return nil, fmt.Errorf("server did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var out []time.Duration
	for i := 0; i < n; i++ {
		// A new commit each time, so each delivery really fetches and runs.
		os.WriteFile(filepath.Join(repo, "README.md"), []byte(fmt.Sprintf("bench %d\n", i)), 0o644)
		if err := must(repo, "commit", "-qam", fmt.Sprintf("c%d", i)); err != nil {
			return nil, err
		}
		if err := must(repo, "push", "-q", bare, "main"); err != nil {
			return nil, err
		}
		shaOut, _ := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
		sha := strings.TrimSpace(string(shaOut))
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
			"repository": map[string]any{"full_name": "bench/five", "name": "five", "owner": map[string]any{"login": "bench"}}})
		req, _ := http.NewRequest("POST", base+"/webhook", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "bench-"+sha)
		req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(secret), body))
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		for {
			var runs []struct {
				SHA, Status, Conclusion string
			}
			r, err := http.Get(base + "/api/runs")
			if err == nil {
				json.NewDecoder(r.Body).Decode(&runs)
				r.Body.Close()
			}
			if len(runs) > 0 && runs[0].SHA == sha && runs[0].Status == "completed" {
				if runs[0].Conclusion != "success" {
					return nil, fmt.Errorf("run concluded %s", runs[0].Conclusion)
				}
				break
			}
			if time.Since(t0) > 2*time.Minute {
				return nil, fmt.Errorf("run did not finish:\n%s", logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

func workflow(hookci, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		return string(b), err
	}
	out, err := exec.Command(hookci, "demo", "--print-workflow").Output()
	if err != nil {
		return "", fmt.Errorf("hookci demo --print-workflow: %w", err)
	}
	return string(out), nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func ratio(a, b []time.Duration) float64 { return float64(median(a)) / float64(median(b)) }

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
