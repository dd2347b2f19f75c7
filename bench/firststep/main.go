// Command firststep measures webhook → first step running: a real
// `hookci serve` (bin/hookci) with the chosen sandbox gets signed push
// webhooks for new commits; for each, the time from sending the webhook to
// the first user step's start (as the run's API reports it) is taken. With
// the microvm sandbox the first delivery builds the VM template and is not
// counted. Prints p50/p95, the sandbox, for microvm the accelerator, and the
// load average before and after. With -trace it also prints where the time
// went: the server's phase trace (HOOKCI_TRACE), median offset from the
// webhook and duration of every phase that began before the first step.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
)

func main() {
	n := flag.Int("n", 10, "measured deliveries")
	sandbox := flag.String("sandbox", "microvm", "HOOKCI_SANDBOX for the server")
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	imageDir := flag.String("image-dir", os.Getenv("HOOKCI_DATA_DIR"), "data directory holding the guest image")
	traced := flag.Bool("trace", false, "print the server's phase table (HOOKCI_TRACE)")
	gap := flag.Duration("gap", 0, "pause after each delivery's first step (0: back to back, the previous job and the warm pool's refill still running)")
	flag.Parse()
	if err := run(*n, *sandbox, *bin, *imageDir, *traced, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "firststep:", err)
		os.Exit(1)
	}
}

func run(n int, sandbox, bin, imageDir string, traced bool, gap time.Duration) error {
	bin, _ = filepath.Abs(bin)
	root, err := os.MkdirTemp("", "hookci-firststep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	gitRoot, data := filepath.Join(root, "git"), filepath.Join(root, "data")
	work, err := benchserver.Repo(root, gitRoot, "bench/first", map[string]string{
		".github/workflows/ci.yml": "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo first step\n"})
	if err != nil {
		return err
	}
	env := []string{"HOOKCI_SANDBOX=" + sandbox, "HOOKCI_IMAGE_DIR=" + imageDir, "HOOKCI_LOG_LEVEL=" + logLevel()}
	traceFile := filepath.Join(root, "serve.trace")
	if traced {
		env = append(env, "HOOKCI_TRACE="+traceFile)
	}
	loadBefore := loadAvg()
	srv, err := benchserver.Start(filepath.Join(bin, "hookci"), gitRoot, data, env...)
	if err != nil {
		return err
	}
	defer srv.Stop()
	var lat []time.Duration
	var phases []map[string]phase
	for i := 0; i <= n; i++ {
		sha, err := benchserver.Commit(work, gitRoot, "bench/first", "f", fmt.Sprint(i))
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := srv.Push("bench/first", sha); err != nil {
			return err
		}
		started, err := waitFirstStep(srv, sha)
		if err != nil {
			return err
		}
		if i > 0 || sandbox != "microvm" {
			lat = append(lat, started.Sub(t0))
			if traced {
				// Let the warm pool refill before the next delivery, as
				// between pushes in real life (the bench does not measure
				// a burst) and so the spans of this delivery are written.
				time.Sleep(200 * time.Millisecond)
				p, err := readPhases(traceFile, t0, started)
				if err != nil {
					return err
				}
				phases = append(phases, p)
			}
		}
		time.Sleep(gap)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	accel := ""
	if sandbox == "microvm" {
		var v struct{ Accel string }
		if b, err := os.ReadFile(filepath.Join(data, "sb", "mi", "accel.json")); err == nil && json.Unmarshal(b, &v) == nil {
			accel = ", accelerator " + strings.ToUpper(v.Accel)
		}
	}
	ms := benchserver.MS
	fmt.Printf("webhook → first step running, sandbox %s%s, %d deliveries, %v between a first step and the next push\n", sandbox, accel, len(lat), gap)
	fmt.Printf("  p50 %s  p95 %s  max %s\n", ms(lat[len(lat)/2]), ms(lat[(len(lat)*95)/100]), ms(lat[len(lat)-1]))
	fmt.Printf("  load average before %s, after %s\n", loadBefore, loadAvg())
	fmt.Printf("  hardware: %s\n", hw.Describe())
	if traced {
		printPhases(phases)
	}
	if os.Getenv("HOOKCI_LOG_LEVEL") != "" {
		fmt.Print(srv.Logs.String())
	}
	return nil
}

// waitFirstStep polls the API until the run of sha has a started step 1.
func waitFirstStep(srv *benchserver.Server, sha string) (time.Time, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var runs []struct {
			ID  int64
			SHA string
		}
		if r, err := http.Get(srv.Base + "/api/runs"); err == nil {
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
			if r, err := http.Get(fmt.Sprintf("%s/api/runs/%d", srv.Base, run.ID)); err == nil {
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
	return time.Time{}, fmt.Errorf("no step started for %s:\n%s", sha, srv.Logs.String())
}

func logLevel() string {
	if v := os.Getenv("HOOKCI_LOG_LEVEL"); v != "" {
		return v
	}
	return "warn"
}
