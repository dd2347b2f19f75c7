// Command idle measures what an idle `hookci serve` costs: the CPU time
// (user + system, from /proc) the server process spends over a quiet
// period with no webhooks and no jobs, as a share of one core; then the
// latency of the first run after that quiet period (signed webhook in → run
// completed), so that idle is not made cheap by waking late. Several
// binaries can be measured in one run (before/after), alternating.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
)

const workflow = `on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo hello
`

func main() {
	bins := flag.String("hookci", "bin/hookci", "comma-separated hookci binaries to compare (each beside its hookci-agent)")
	dur := flag.Duration("duration", 60*time.Second, "idle period measured")
	rounds := flag.Int("n", 1, "rounds (each measures every binary once)")
	sandbox := flag.String("sandbox", "host", "HOOKCI_SANDBOX of the server")
	flag.Parse()
	if err := run(strings.Split(*bins, ","), *dur, *rounds, *sandbox); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

type result struct {
	cpu   []float64       // share of one core, per round
	first []time.Duration // first run after the quiet period
}

func run(bins []string, dur time.Duration, rounds int, sandbox string) error {
	res := make([]result, len(bins))
	for r := 0; r < rounds; r++ {
		for i, bin := range bins {
			cpu, first, err := once(bin, dur, sandbox, r)
			if err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			res[i].cpu = append(res[i].cpu, cpu)
			res[i].first = append(res[i].first, first)
		}
	}
	fmt.Printf("idle hookci serve (sandbox %s, default settings): CPU of the server process over %s with nothing to do, median of %d\n",
		sandbox, dur, rounds)
	for i, bin := range bins {
		fmt.Printf("  %-40s idle CPU %5.2f %% of a core   then first run (webhook → completed) %s\n",
			bin, median(res[i].cpu), benchserver.MS(medianD(res[i].first)))
	}
	fmt.Printf("  hardware: %s (shared with other work: absolute figures move with the load)\n", hw.Describe())
	return nil
}

// once starts a server, lets it settle, measures its CPU over dur, then
// times one run.
func once(bin string, dur time.Duration, sandbox string, round int) (float64, time.Duration, error) {
	bin, _ = filepath.Abs(bin)
	root, err := os.MkdirTemp("", "hookci-idle-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(root)
	gitRoot := filepath.Join(root, "git")
	work, err := benchserver.Repo(root, gitRoot, "bench/idle",
		map[string]string{".github/workflows/idle.yml": workflow, "README.md": "idle\n"})
	if err != nil {
		return 0, 0, err
	}
	srv, err := benchserver.Start(bin, gitRoot, filepath.Join(root, "data"), "HOOKCI_SANDBOX="+sandbox)
	if err != nil {
		return 0, 0, err
	}
	defer srv.Stop()
	time.Sleep(5 * time.Second) // start-up work (migrations, warm pool) is not idle
	c0, err := cpuTime(srv.Pid())
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(dur)
	c1, err := cpuTime(srv.Pid())
	if err != nil {
		return 0, 0, err
	}
	share := 100 * float64(c1-c0) / float64(time.Since(t0))
	sha, err := benchserver.Commit(work, gitRoot, "bench/idle", "README.md", fmt.Sprintf("round %d\n", round))
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := srv.Push("bench/idle", sha); err != nil {
		return 0, 0, err
	}
	for {
		var runs []struct{ SHA, Status, Conclusion string }
		if r, err := http.Get(srv.Base + "/api/runs"); err == nil {
			json.NewDecoder(r.Body).Decode(&runs)
			r.Body.Close()
		}
		if len(runs) > 0 && runs[0].SHA == sha && runs[0].Status == "completed" {
			if runs[0].Conclusion != "success" {
				return 0, 0, fmt.Errorf("run concluded %s:\n%s", runs[0].Conclusion, srv.Logs.String())
			}
			return share, time.Since(start), nil
		}
		if time.Since(start) > 2*time.Minute {
			return 0, 0, fmt.Errorf("run did not finish:\n%s", srv.Logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cpuTime is the user + system CPU time of process pid so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100), nil // USER_HZ is 100 on Linux
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func medianD(v []time.Duration) time.Duration {
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}
