// Command liveviewers measures what following a live log costs the job
// being followed (issue 10: 200 viewers must not slow the job by more than
// 10 %). A real `hookci serve` (bin/hookci, host sandbox) runs a CPU-bound
// job that prints 2,000 lines; the job's own duration (its started/finished
// times) is taken with no viewer and with -viewers clients following its log
// over server-sent events (/api/jobs/{id}/log/stream) from when the job is
// created to its end, alternating, -n times each. It prints the medians and
// the slowdown. Needs bin/hookci and bin/hookci-agent (scripts/build.sh).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
)

const workflow = `name: Live
on: push
jobs:
  busy:
    runs-on: ubuntu-latest
    steps:
      - run: |
          i=0
          while [ $i -lt 200000 ]; do i=$((i+1)); if [ $((i % 100)) -eq 0 ]; then echo "line $i of a busy job's log"; fi; done
`

func main() {
	n := flag.Int("n", 5, "runs with and without viewers, each")
	viewers := flag.Int("viewers", 200, "clients following the log")
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	pin := flag.Bool("pin", false, "pin the server and its job to CPU 0 and the viewers (this process) to CPU 1, so the viewers' own CPU, which browsers spend on other machines, does not compete with the job")
	flag.Parse()
	if err := run(*n, *viewers, *bin, *pin); err != nil {
		fmt.Fprintln(os.Stderr, "liveviewers:", err)
		os.Exit(1)
	}
}

func run(n, viewers int, bin string, pin bool) error {
	bin, _ = filepath.Abs(bin)
	root, err := os.MkdirTemp("", "hookci-liveviewers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	gitRoot := filepath.Join(root, "git")
	work, err := benchserver.Repo(root, gitRoot, "bench/live", map[string]string{".github/workflows/live.yml": workflow})
	if err != nil {
		return err
	}
	srv, err := benchserver.Start(filepath.Join(bin, "hookci"), gitRoot, filepath.Join(root, "data"), "HOOKCI_SANDBOX=host",
		"HOOKCI_AGENT_PATH="+filepath.Join(bin, "hookci-agent"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	placement := "unpinned: the viewers share the 2 cores with the server and the job"
	if pin {
		if err := pinTo(srv.Pid(), 0); err != nil {
			return err
		}
		if err := pinTo(os.Getpid(), 1); err != nil {
			return err
		}
		placement = "pinned: server and job on CPU 0, viewers on CPU 1"
	}
	var alone, watched []time.Duration
	var cpuAlone, cpuWatched, clientWatched []time.Duration
	var events atomic.Int64
	for i := range 2 * n {
		sha, err := benchserver.Commit(work, gitRoot, "bench/live", "README.md", fmt.Sprintf("run %d\n", i))
		if err != nil {
			return err
		}
		if err := srv.Push("bench/live", sha); err != nil {
			return err
		}
		withViewers := i%2 == 1
		cpu0, self0 := cpuTime(srv.Pid()), cpuTime(os.Getpid())
		d, err := follow(srv.Base, sha, map[bool]int{true: viewers, false: 0}[withViewers], &events)
		if err != nil {
			return err
		}
		cpu := cpuTime(srv.Pid()) - cpu0
		if withViewers {
			watched, cpuWatched = append(watched, d), append(cpuWatched, cpu)
			clientWatched = append(clientWatched, cpuTime(os.Getpid())-self0)
		} else {
			alone, cpuAlone = append(alone, d), append(cpuAlone, cpu)
		}
	}
	a, w := median(alone), median(watched)
	fmt.Printf("liveviewers: job duration, median of %d: alone %s, with %d viewers %s (%+.1f %%); %d log events delivered\n",
		n, benchserver.MS(a), viewers, benchserver.MS(w), 100*(float64(w)/float64(a)-1), events.Load())
	fmt.Printf("  server CPU per run (median, the job's own processes excluded): alone %s, watched %s\n",
		benchserver.MS(median(cpuAlone)), benchserver.MS(median(cpuWatched)))
	fmt.Printf("  the %d viewers' own CPU per run (this process, same machine): %s\n", viewers, benchserver.MS(median(clientWatched)))
	fmt.Printf("  alone %v\n  watched %v\n  hardware: %s (host sandbox, %s)\n", alone, watched, hw.Describe(), placement)
	return nil
}

type apiJob struct {
	ID         int64
	Status     string
	StartedAt  time.Time
	FinishedAt time.Time
}

// follow waits for the run of sha, starts viewers on its job as soon as the
// job exists, waits for the end and returns the job's duration.
func follow(base, sha string, viewers int, events *atomic.Int64) (time.Duration, error) {
	var job apiJob
	deadline := time.Now().Add(2 * time.Minute)
	for job.ID == 0 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no job for %s", sha)
		}
		var runs []struct {
			ID  int64
			SHA string
		}
		if err := getJSON(base+"/api/runs", &runs); err != nil {
			return 0, err
		}
		for _, r := range runs {
			if r.SHA == sha {
				var v struct{ Jobs []apiJob }
				getJSON(base+"/api/runs/"+strconv.FormatInt(r.ID, 10), &v)
				if len(v.Jobs) > 0 {
					job = v.Jobs[0]
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(base + "/api/jobs/" + strconv.FormatInt(job.ID, 10) + "/log/stream")
			if err != nil {
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: log") {
					events.Add(1)
				}
			}
		}()
	}
	for job.Status != "completed" {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("job %d did not finish", job.ID)
		}
		time.Sleep(100 * time.Millisecond) // not busier than a person's browser: the server's CPU is measured
		var v struct{ Jobs []apiJob }
		if err := getJSON(base+"/api/runs/"+strconv.FormatInt(runOf(base, sha), 10), &v); err == nil && len(v.Jobs) > 0 {
			job = v.Jobs[0]
		}
	}
	wg.Wait()
	return job.FinishedAt.Sub(job.StartedAt), nil
}

// pinTo binds every thread of process pid to one CPU; threads and
// processes it starts later inherit the binding.
func pinTo(pid, cpu int) error {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d of %d to CPU %d: %w", tid, pid, cpu, err)
		}
	}
	return nil
}

// cpuTime is the user+system CPU time of process pid so far (its own, not
// its children's: the job's shell runs under the agent, a child).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond // USER_HZ 100
}

func runOf(base, sha string) int64 {
	var runs []struct {
		ID  int64
		SHA string
	}
	getJSON(base+"/api/runs", &runs)
	for _, r := range runs {
		if r.SHA == sha {
			return r.ID
		}
	}
	return 0
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
