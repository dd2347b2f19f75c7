// Command phases prints where the time of one run goes, phase by phase,
// from hookci's own trace (HOOKCI_TRACE, package internal/trace): the same
// binary and code path as any run, with the recorder switched on.
//
// It measures the demo's five-step workflow (or -workflow) two ways:
//
//   - `hookci run .` in a repository: offsets from the moment the bench
//     starts the process, so the gap before "config" is process start-up;
//   - a running `hookci serve` (host sandbox unless -sandbox): offsets from
//     the moment the bench sends the signed webhook, to the run completed.
//
// Each phase's start offset and duration are medians over -n runs; a phase
// seen twice in a run ("git fetch": the planning mirror, then the
// workspace) is listed once per occurrence. Figures move with the
// machine's load: read them as proportions. It needs bin/hookci and
// bin/hookci-agent (scripts/build.sh).
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
	"strings"
	"time"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/trace"
)

func main() {
	n := flag.Int("n", 7, "runs of each")
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	sandbox := flag.String("sandbox", "host", "sandbox backend of both (host, namespace, microvm)")
	workflowFile := flag.String("workflow", "", "workflow file (default: the demo's five-step workflow)")
	only := flag.String("only", "", "run or serve (default: both)")
	flag.Parse()
	if err := run(*n, *bin, *workflowFile, *sandbox, *only); err != nil {
		fmt.Fprintln(os.Stderr, "phases:", err)
		os.Exit(1)
	}
}

// sample is one run: its spans as offsets from the run's start, and its end.
type sample struct {
	spans []offsetSpan
	total time.Duration
	cpu   time.Duration // hookci run only: user+system of it and its children
}

type offsetSpan struct {
	name       string
	start, dur time.Duration
}

func run(n int, bin, workflowFile, sandbox, only string) error {
	bin, _ = filepath.Abs(bin)
	hookci := filepath.Join(bin, "hookci")
	wf, err := workflow(hookci, workflowFile)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "hookci-phases-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	repo, err := benchserver.Repo(root, filepath.Join(root, "git"), "bench/phases",
		map[string]string{".github/workflows/five.yml": wf, "README.md": "bench\n"})
	if err != nil {
		return err
	}
	if only == "" || only == "run" {
		var samples []sample
		for i := 0; i < n; i++ {
			s, err := localRun(hookci, repo, filepath.Join(root, fmt.Sprintf("run-%d.trace", i)), sandbox)
			if err != nil {
				return err
			}
			samples = append(samples, s)
		}
		fmt.Printf("hookci run --sandbox %s (five-step workflow), from process start; median of %d\n", sandbox, n)
		print(samples, "process exit")
		cpu := make([]time.Duration, len(samples))
		for i, s := range samples {
			cpu[i] = s.cpu
		}
		fmt.Printf("  CPU (user+system, hookci and its children): %s\n\n", benchserver.MS(median(cpu)))
	}
	if only == "" || only == "serve" {
		samples, err := serveRuns(hookci, root, repo, n, sandbox)
		if err != nil {
			return err
		}
		fmt.Printf("hookci serve (sandbox %s): signed webhook → run completed; median of %d\n", sandbox, n)
		print(samples, "run completed (seen by the API)")
	}
	fmt.Printf("hardware: %s (figures taken on a shared machine: read them as proportions)\n", hw.Describe())
	fmt.Printf("scratch directories: %s\n", hw.FileSystem(os.TempDir()))
	return nil
}

func localRun(hookci, repo, traceFile, sandbox string) (sample, error) {
	cmd := exec.Command(hookci, "run", "--sandbox", sandbox, ".")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "HOOKCI_TRACE="+traceFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("hookci run: %v\n%s", err, out.String())
	}
	s := sample{total: time.Since(t0), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	spans, err := readTrace(traceFile, t0)
	s.spans = spans
	return s, err
}

func serveRuns(hookci, root, repo string, n int, sandbox string) ([]sample, error) {
	gitRoot := filepath.Join(root, "git")
	traceFile := filepath.Join(root, "serve.trace")
	srv, err := benchserver.Start(hookci, gitRoot, filepath.Join(root, "data"), "HOOKCI_SANDBOX="+sandbox, "HOOKCI_TRACE="+traceFile)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	var out []sample
	for i := 0; i < n; i++ {
		sha, err := benchserver.Commit(repo, gitRoot, "bench/phases", "README.md", fmt.Sprintf("bench %d\n", i))
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := srv.Push("bench/phases", sha); err != nil {
			return nil, err
		}
		acked := time.Since(t0)
		if err := waitRun(srv, sha, t0); err != nil {
			return nil, err
		}
		s := sample{total: time.Since(t0)}
		// The server is idle now: what it recorded since t0 is this run's
		// (the last reports may still be on their way: give them a moment).
		time.Sleep(200 * time.Millisecond)
		if s.spans, err = readTrace(traceFile, t0); err != nil {
			return nil, err
		}
		s.spans = append([]offsetSpan{{name: "webhook acknowledged (bench's POST)", dur: acked}}, s.spans...)
		out = append(out, s)
	}
	return out, nil
}

func waitRun(srv *benchserver.Server, sha string, t0 time.Time) error {
	for {
		var runs []struct{ SHA, Status, Conclusion string }
		if r, err := http.Get(srv.Base + "/api/runs"); err == nil {
			json.NewDecoder(r.Body).Decode(&runs)
			r.Body.Close()
		}
		if len(runs) > 0 && runs[0].SHA == sha && runs[0].Status == "completed" {
			if runs[0].Conclusion != "success" {
				return fmt.Errorf("run concluded %s", runs[0].Conclusion)
			}
			return nil
		}
		if time.Since(t0) > 5*time.Minute {
			return fmt.Errorf("run did not finish:\n%s", srv.Logs.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// readTrace reads the spans recorded at or after t0, as offsets from t0,
// numbering repeated names ("git fetch", "git fetch #2").
func readTrace(path string, t0 time.Time) ([]offsetSpan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	spans, err := trace.Read(f)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	var out []offsetSpan
	for _, s := range spans {
		if s.Start.Before(t0) {
			continue
		}
		seen[s.Name]++
		name := s.Name
		if k := seen[s.Name]; k > 1 {
			name = fmt.Sprintf("%s #%d", s.Name, k)
		}
		out = append(out, offsetSpan{name: name, start: s.Start.Sub(t0), dur: s.Dur})
	}
	return out, nil
}

// print writes the phase table: each phase's median start offset and
// duration, in order of start.
func print(samples []sample, end string) {
	starts, durs := map[string][]time.Duration{}, map[string][]time.Duration{}
	var totals []time.Duration
	for _, s := range samples {
		for _, p := range s.spans {
			starts[p.name] = append(starts[p.name], p.start)
			durs[p.name] = append(durs[p.name], p.dur)
		}
		totals = append(totals, s.total)
	}
	names := make([]string, 0, len(starts))
	for name := range starts {
		names = append(names, name)
	}
	sort.Slice(names, func(a, b int) bool { return median(starts[names[a]]) < median(starts[names[b]]) })
	fmt.Printf("  %-48s %9s %9s %6s\n", "phase", "starts at", "takes", "seen")
	for _, name := range names {
		depth := "  "
		if nested(name) {
			depth = "    "
		}
		fmt.Printf("%s%-48s %9s %9s %3d/%d\n", depth, name, ms(median(starts[name])), ms(median(durs[name])), len(starts[name]), len(samples))
	}
	fmt.Printf("  %-48s %9s\n", end, ms(median(totals)))
}

// nested says whether a phase runs inside another listed one (indented).
func nested(name string) bool {
	for _, p := range []string{"git ", "migrations", "store open", "step ", "set up job", "sandbox ", "runner ", "queue pickup: job", "planning", "report"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
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

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
