// Command fivestep times the demo's five-step run: workflow end to end,
// side by side with act (host mode, `-P ubuntu-latest=-self-hosted`) on the
// same repository in the same run, and reports the ratio. It measures
//
//   - `hookci run DIR` (store, planner, dispatcher, host sandbox, runner) and
//   - a running `hookci serve`: signed webhook in → run completed,
//
// against `act push` in DIR. It needs bin/hookci and bin/hookci-agent
// (scripts/build.sh) and act on PATH or in ~/go/bin.
//
// With -before DIR (another build's bin directory) it times that build too,
// interleaved with this one run by run (and its server side by side with
// this one's, pushes alternating), so a before/after comparison sees the
// same load on a shared machine; it prints both and their ratio.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
)

func main() {
	n := flag.Int("n", 7, "repetitions of each")
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	sandbox := flag.String("sandbox", "host", "HOOKCI_SANDBOX of the server measured (host, namespace, microvm)")
	workflowFile := flag.String("workflow", "", "workflow file (default: the demo's five-step workflow, read from `hookci demo --print-workflow`)")
	serve := flag.Bool("serve", true, "also measure the server path (webhook → run completed)")
	before := flag.String("before", "", "directory of another build (hookci, hookci-agent) to time interleaved with this one")
	flag.Parse()
	if err := run(*n, *bin, *before, *workflowFile, *sandbox, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "fivestep:", err)
		os.Exit(1)
	}
}

func run(n int, bin, before, workflowFile, sandbox string, serve bool) error {
	bin, _ = filepath.Abs(bin)
	hookci := filepath.Join(bin, "hookci")
	hookciBefore := ""
	if before != "" {
		before, _ = filepath.Abs(before)
		hookciBefore = filepath.Join(before, "hookci")
	}
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
	repo, err := benchserver.Repo(root, filepath.Join(root, "git"), "bench/five",
		map[string]string{".github/workflows/five.yml": wf, "README.md": "bench\n"})
	if err != nil {
		return err
	}
	// timeCmd returns the wall time and the CPU time (user+system of the
	// process and the children it waited for: git, bash, the agent).
	timeCmd := func(name string, args ...string) (time.Duration, time.Duration, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = repo
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return d, 0, fmt.Errorf("%s: %v\n%s", name, err, out.String())
		}
		return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
	}
	var hr, ar, sr, hc, ac, br, bc, bsr []time.Duration
	for i := 0; i < n; i++ {
		d, c, err := timeCmd(act, "-P", "ubuntu-latest=-self-hosted", "push")
		if err != nil {
			return err
		}
		ar, ac = append(ar, d), append(ac, c)
		d, c, err = timeCmd(hookci, "run", "--sandbox", "host", ".")
		if err != nil {
			return err
		}
		hr, hc = append(hr, d), append(hc, c)
		if hookciBefore != "" {
			d, c, err = timeCmd(hookciBefore, "run", "--sandbox", "host", ".")
			if err != nil {
				return err
			}
			br, bc = append(br, d), append(bc, c)
		}
	}
	var sar []time.Duration // act, timed between the server path's pushes
	if serve {
		actOnce := func() (time.Duration, error) {
			d, _, err := timeCmd(act, "-P", "ubuntu-latest=-self-hosted", "push")
			return d, err
		}
		if sr, bsr, sar, err = serverPath(hookci, hookciBefore, root, repo, n, sandbox, actOnce); err != nil {
			return err
		}
	}
	fmt.Printf("five-step run: workflow, end to end, median of %d (host, no VM: sandbox backend \"host\"; act in host mode)\n", n)
	fmt.Printf("  act push (host mode)                  %8s   CPU %8s\n", ms(median(ar)), ms(median(ac)))
	fmt.Printf("  hookci run (local, host sandbox)      %8s   CPU %8s   ratio to act: wall %.2f, CPU %.2f\n",
		ms(median(hr)), ms(median(hc)), ratio(hr, ar), ratio(hc, ac))
	if hookciBefore != "" {
		fmt.Printf("  before: hookci run (%s)  %8s   CPU %8s   ratio to act: wall %.2f, CPU %.2f; after/before: wall %.2f, CPU %.2f\n",
			before, ms(median(br)), ms(median(bc)), ratio(br, ar), ratio(bc, ac), ratio(hr, br), ratio(hc, bc))
	}
	if serve {
		fmt.Printf("  act push, timed between the server path's pushes  %8s\n", ms(median(sar)))
		fmt.Printf("  hookci serve (sandbox %s): webhook → run completed %8s   ratio to act %.2f\n", sandbox, ms(median(sr)), ratio(sr, sar))
		if hookciBefore != "" {
			fmt.Printf("  before: hookci serve (sandbox %s)  %8s   ratio to act %.2f; after/before %.2f\n",
				sandbox, ms(median(bsr)), ratio(bsr, sar), ratio(sr, bsr))
		}
	}
	fmt.Printf("  hardware: %s\n", hw.Describe())
	fmt.Printf("  scratch directories: %s\n", hw.FileSystem(os.TempDir()))
	return nil
}

// serverPath times webhook → run completed on a server of hookci, and, when
// hookciBefore is set, on a second server of that build side by side,
// pushes alternating.
// act, when not nil, runs act once per round, so that the server path's
// ratio is to act timed in the same minutes (this machine's disk speed
// drifts from minute to minute): its times are returned as acts.
func serverPath(hookci, hookciBefore, root, repo string, n int, sandbox string, act func() (time.Duration, error)) (after, before, acts []time.Duration, err error) {
	gitRoot := filepath.Join(root, "git")
	srv, err := benchserver.Start(hookci, gitRoot, filepath.Join(root, "data"), "HOOKCI_SANDBOX="+sandbox)
	if err != nil {
		return nil, nil, nil, err
	}
	defer srv.Stop()
	var old *benchserver.Server
	if hookciBefore != "" {
		if old, err = benchserver.Start(hookciBefore, gitRoot, filepath.Join(root, "data-before"), "HOOKCI_SANDBOX="+sandbox); err != nil {
			return nil, nil, nil, err
		}
		defer old.Stop()
	}
	for i := 0; i < n; i++ {
		if act != nil {
			d, err := act()
			if err != nil {
				return nil, nil, nil, err
			}
			acts = append(acts, d)
		}
		d, err := timePush(srv, repo, gitRoot, fmt.Sprintf("bench %d\n", i))
		if err != nil {
			return nil, nil, nil, err
		}
		after = append(after, d)
		if old != nil {
			if d, err = timePush(old, repo, gitRoot, fmt.Sprintf("bench before %d\n", i)); err != nil {
				return nil, nil, nil, err
			}
			before = append(before, d)
		}
	}
	return after, before, acts, nil
}

// timePush commits content and times its webhook to the run completed.
func timePush(srv *benchserver.Server, repo, gitRoot, content string) (time.Duration, error) {
	// A new commit each time, so each delivery really fetches and runs.
	sha, err := benchserver.Commit(repo, gitRoot, "bench/five", "README.md", content)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := srv.Push("bench/five", sha); err != nil {
		return 0, err
	}
	for {
		var runs []struct {
			SHA, Status, Conclusion string
		}
		r, err := http.Get(srv.Base + "/api/runs")
		if err == nil {
			json.NewDecoder(r.Body).Decode(&runs)
			r.Body.Close()
		}
		if len(runs) > 0 && runs[0].SHA == sha && runs[0].Status == "completed" {
			if runs[0].Conclusion != "success" {
				return 0, fmt.Errorf("run concluded %s", runs[0].Conclusion)
			}
			return time.Since(t0), nil
		}
		if time.Since(t0) > 5*time.Minute {
			return 0, fmt.Errorf("run did not finish:\n%s", srv.Logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
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

var ms = benchserver.MS
