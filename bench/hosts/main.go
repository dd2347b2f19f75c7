// Command hosts measures hookci scaled out: jobs per minute with 1, 2 and 3
// `hookci serve` hosts on one throwaway PostgreSQL cluster (Debian's
// postgresql through internal/store/pgtest, fsync on), host sandbox,
// `sleep 1` jobs, HOOKCI_MAX_JOBS=4; and the time from `kill -9` of the host
// running a job to that job running (attempt 2) on another host, for each
// of -leases (several kills each, the median printed). With -webhookload
// (a built bench/webhookload) it first prints webhook acknowledgement
// p50/p99 on SQLite and on PostgreSQL at -ack-rates. Each row prints the
// load average, because the hosts share one machine. It needs bin/hookci
// and bin/hookci-agent (scripts/build.sh).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/store/pgtest"
)

func main() {
	bin := flag.String("bin", "bin", "directory with hookci and hookci-agent")
	jobs := flag.Int("jobs", 60, "sleep 1 jobs per measurement")
	maxHosts := flag.Int("hosts", 3, "measure 1..hosts hosts")
	maxJobs := flag.Int("max-jobs", 4, "HOOKCI_MAX_JOBS of each host")
	leases := flag.String("leases", "3s,30s", "comma-separated HOOKCI_LEASE values for the kill -9 measurement (30s is the default)")
	kills := flag.Int("kills", 3, "kill -9 measurements per lease (the median is printed)")
	partitions := flag.Int("partitions", 3, "lost-lease measurements per lease (the host's registry row locked; the median is printed)")
	webhookload := flag.String("webhookload", "", "a built bench/webhookload binary: also measure webhook acknowledgement on SQLite and PostgreSQL")
	ackRates := flag.String("ack-rates", "100,1000", "rates (deliveries/s) for -webhookload")
	corpus := flag.String("corpus", "../shared/corpora", "test corpora directory, for -webhookload's push payload")
	flag.Parse()
	var ls []time.Duration
	for _, f := range strings.Split(*leases, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "hosts: -leases: %q is not a positive duration\n", f)
			os.Exit(2)
		}
		ls = append(ls, d)
	}
	if *webhookload != "" {
		if err := acks(*webhookload, *ackRates, *corpus); err != nil {
			fmt.Fprintln(os.Stderr, "hosts:", err)
			os.Exit(1)
		}
	}
	if err := run(*bin, *jobs, *maxHosts, *maxJobs, ls, *kills, *partitions); err != nil {
		fmt.Fprintln(os.Stderr, "hosts:", err)
		os.Exit(1)
	}
}

// bench is one measurement's shared setup.
type bench struct {
	hookci, agent string
	root, gitRoot string
	cluster       *pgtest.Cluster
	kills         int // failover measurements so far (names their databases)

	mu   sync.Mutex // guards live
	live map[*host]bool
}

func run(bin string, jobs, maxHosts, maxJobs int, leases []time.Duration, kills, partitions int) error {
	bin, _ = filepath.Abs(bin)
	b := &bench{hookci: filepath.Join(bin, "hookci"), agent: filepath.Join(bin, "hookci-agent")}
	for _, p := range []string{b.hookci, b.agent} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (run scripts/build.sh)", err)
		}
	}
	var err error
	if b.root, err = os.MkdirTemp("", "hookci-hosts-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.root)
	b.gitRoot = filepath.Join(b.root, "git")
	if b.cluster, err = pgtest.StartDurable(); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer b.cluster.Stop()
	// Interrupted (^C, timeout): stop the hosts, their sandboxes and
	// PostgreSQL, which would otherwise outlive the bench.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		b.mu.Lock()
		for h := range b.live {
			h.srv.Stop()
			killProcessesUnder(h.dataDir)
		}
		b.mu.Unlock()
		b.cluster.Stop()
		os.RemoveAll(b.root)
		fmt.Fprintln(os.Stderr, "hosts: interrupted by", s)
		os.Exit(1)
	}()

	fmt.Printf("jobs per minute: %d `sleep 1` jobs (one push, a matrix of %d), host sandbox, HOOKCI_MAX_JOBS=%d per host, one PostgreSQL (fsync on)\n",
		jobs, jobs, maxJobs)
	fmt.Printf("  %-6s %-10s %-12s %-14s %s\n", "hosts", "wall", "jobs/min", "ideal jobs/min", "load average (1/5/15 min) at the end")
	for n := 1; n <= maxHosts; n++ {
		wall, err := b.throughput(n, jobs, maxJobs)
		if err != nil {
			return fmt.Errorf("%d hosts: %w", n, err)
		}
		ideal := float64(n*maxJobs) * 60 // slots × one-second jobs per minute
		fmt.Printf("  %-6d %-10s %-12.0f %-14.0f %s\n", n, wall.Round(10*time.Millisecond), float64(jobs)/wall.Minutes(), ideal, loadavg())
	}
	for _, lease := range leases {
		fmt.Printf("kill -9 of the host running a job → the job running (attempt 2) on another host; two hosts, HOOKCI_LEASE=%s\n", lease)
		fmt.Printf("  %-4s %-14s %s\n", "#", "kill→re-run", "load average")
		var ds []time.Duration
		for i := 1; i <= kills; i++ {
			b.kills++
			d, _, err := b.failover(b.kills, lease, false)
			if err != nil {
				return fmt.Errorf("kill -9 %d: %w", i, err)
			}
			ds = append(ds, d)
			fmt.Printf("  %-4d %-14s %s\n", i, d.Round(10*time.Millisecond), loadavg())
		}
		printMedian(ds, lease)
		if partitions <= 0 {
			continue
		}
		fmt.Printf("lost lease (the running host's registry row locked: its heartbeats cannot land, its other queries go on) → the job running\n"+
			"  on the other host; two hosts, HOOKCI_MAX_JOBS=4, HOOKCI_LEASE=%s\n", lease)
		fmt.Printf("  %-4s %-14s %-32s %s\n", "#", "lock→re-run", "fetches by the locked host", "load average")
		ds = nil
		for i := 1; i <= partitions; i++ {
			b.kills++
			d, fetches, err := b.failover(b.kills, lease, true)
			if err != nil {
				return fmt.Errorf("lost lease %d: %w", i, err)
			}
			ds = append(ds, d)
			fmt.Printf("  %-4d %-14s %-32s %s\n", i, d.Round(10*time.Millisecond), fetches, loadavg())
		}
		printMedian(ds, lease)
	}
	fmt.Printf("  hardware: %s\n", hw.Describe())
	return nil
}

// host is one running serve and its data directory.
type host struct {
	srv     *benchserver.Server
	dataDir string
	id      string
}

// startHosts starts n serve processes on database url.
func (b *bench) startHosts(name, url string, n, maxJobs int, env ...string) ([]*host, error) {
	var hs []*host
	for i := range n {
		dataDir := filepath.Join(b.root, fmt.Sprintf("%s-data%d", name, i))
		e := append([]string{"HOOKCI_SANDBOX=host", "HOOKCI_AGENT_PATH=" + b.agent, "HOOKCI_DATABASE_URL=" + url,
			"HOOKCI_MAX_JOBS=" + strconv.Itoa(maxJobs)}, env...)
		srv, err := benchserver.Start(b.hookci, b.gitRoot, dataDir, e...)
		if err != nil {
			b.stopHosts(hs)
			return nil, err
		}
		id, _ := os.ReadFile(filepath.Join(dataDir, "db", "host-id")) // the store keeps it beside its database
		h := &host{srv: srv, dataDir: dataDir, id: strings.TrimSpace(string(id))}
		b.mu.Lock()
		if b.live == nil {
			b.live = map[*host]bool{}
		}
		b.live[h] = true
		b.mu.Unlock()
		hs = append(hs, h)
	}
	return hs, nil
}

// stopHosts stops hs and every process left under their data directories.
func (b *bench) stopHosts(hs []*host) {
	for _, h := range hs {
		b.mu.Lock()
		delete(b.live, h)
		b.mu.Unlock()
		if h.srv != nil {
			h.srv.Stop()
		}
		killProcessesUnder(h.dataDir)
	}
}

// throughput pushes one commit whose workflow is a matrix of jobs `sleep 1`
// jobs to n hosts on a fresh database and returns the time from the webhook
// to the run completed.
func (b *bench) throughput(n, jobs, maxJobs int) (time.Duration, error) {
	url, err := b.cluster.NewDatabase(context.Background())
	if err != nil {
		return 0, err
	}
	var items []string
	for i := range jobs {
		items = append(items, strconv.Itoa(i))
	}
	repoName := fmt.Sprintf("bench/hosts%d", n)
	wf := "name: CI\non: push\njobs:\n  sleep:\n    strategy:\n      max-parallel: 1000\n      matrix:\n        i: [" +
		strings.Join(items, ", ") + "]\n    runs-on: ubuntu-latest\n    steps:\n      - run: sleep 1\n"
	work, err := benchserver.Repo(filepath.Join(b.root, repoName), b.gitRoot, repoName, map[string]string{".github/workflows/ci.yml": wf})
	if err != nil {
		return 0, err
	}
	sha, err := benchserver.Git(work, "rev-parse", "HEAD")
	if err != nil {
		return 0, err
	}
	hs, err := b.startHosts(fmt.Sprintf("tp%d", n), url, n, maxJobs)
	if err != nil {
		return 0, err
	}
	defer b.stopHosts(hs)
	t0 := time.Now()
	if err := hs[0].srv.Push(repoName, sha); err != nil {
		return 0, err
	}
	for {
		var runs []struct{ SHA, Status, Conclusion string }
		getJSON(hs[len(hs)-1].srv.Base+"/api/runs", &runs)
		if len(runs) == 1 && runs[0].Status == "completed" {
			if runs[0].Conclusion != "success" {
				return 0, fmt.Errorf("run concluded %s", runs[0].Conclusion)
			}
			break
		}
		if time.Since(t0) > 10*time.Minute {
			return 0, fmt.Errorf("run did not finish:\n%s", hs[0].srv.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	wall := time.Since(t0)
	// Which host ran how many (printed, so the table shows the work spread).
	if conn, err := pgx.Connect(context.Background(), url); err == nil {
		defer conn.Close(context.Background())
		rows, err := conn.Query(context.Background(), `SELECT attempted_by[array_length(attempted_by, 1)], COUNT(*)
			FROM river_job WHERE kind = 'hookci_job' AND state = 'completed' GROUP BY 1 ORDER BY 1`)
		if err == nil {
			var parts []string
			for rows.Next() {
				var h string
				var c int
				if rows.Scan(&h, &c) == nil {
					parts = append(parts, fmt.Sprint(c))
				}
			}
			fmt.Printf("  (%d hosts: jobs per host %s)\n", n, strings.Join(parts, "/"))
		}
	}
	return wall, nil
}

// printMedian prints the median, min and max of ds.
func printMedian(ds []time.Duration, lease time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	fmt.Printf("  median %s, min %s, max %s (lease %s)\n", ds[len(ds)/2].Round(10*time.Millisecond),
		ds[0].Round(10*time.Millisecond), ds[len(ds)-1].Round(10*time.Millisecond), lease)
}

// failover starts two hosts, pushes a job that sleeps 60 s, kills -9 the
// host that runs it (partition: locks its registry row instead, so that its
// lease is lost while it lives) and returns the time until the job runs
// again (attempt 2) on the other host; with partition also how often the
// locked host fetched the job and how often it was taken over.
func (b *bench) failover(i int, lease time.Duration, partition bool) (time.Duration, string, error) {
	ctx := context.Background()
	url, err := b.cluster.NewDatabase(ctx)
	if err != nil {
		return 0, "", err
	}
	repoName := fmt.Sprintf("bench/kill%d", i)
	wf := "name: CI\non: push\njobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sleep 60\n"
	work, err := benchserver.Repo(filepath.Join(b.root, repoName), b.gitRoot, repoName, map[string]string{".github/workflows/ci.yml": wf})
	if err != nil {
		return 0, "", err
	}
	sha, err := benchserver.Git(work, "rev-parse", "HEAD")
	if err != nil {
		return 0, "", err
	}
	hs, err := b.startHosts(fmt.Sprintf("kill%d", i), url, 2, 4, "HOOKCI_LEASE="+lease.String())
	if err != nil {
		return 0, "", err
	}
	defer b.stopHosts(hs)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close(ctx)
	if err := hs[i%2].srv.Push(repoName, sha); err != nil {
		return 0, "", err
	}
	// runningOn is the host whose worker runs the job's queue row. A
	// takeover queues a copy of the dead host's row (store.takeOver), whose
	// River attempt starts again at 1: the job's own attempt (2) is in the
	// jobs table, read through the API below.
	runningOn := func() string {
		var h string
		conn.QueryRow(ctx, `SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job
			WHERE kind = 'hookci_job' AND state = 'running'`).Scan(&h)
		return h
	}
	var victim, other *host
	for t0 := time.Now(); victim == nil; time.Sleep(20 * time.Millisecond) {
		id := runningOn()
		for j, h := range hs {
			if id != "" && id == h.id {
				victim, other = h, hs[1-j]
			}
		}
		if time.Since(t0) > 2*time.Minute {
			return 0, "", fmt.Errorf("the job did not start (running on %q, hosts %s %s)", id, hs[0].id, hs[1].id)
		}
	}
	time.Sleep(2 * time.Second) // the job's step is running, not only claimed
	// fetches says how often the victim took the job's queue rows and how
	// many of them were taken over.
	fetches := func() string {
		var n, taken, handed int
		conn.QueryRow(ctx, `SELECT coalesce(sum(array_length(array_positions(attempted_by, $1), 1)), 0),
			count(*) FILTER (WHERE metadata ? 'hookci_taken_over'), count(*) FILTER (WHERE metadata ? 'hookci_handed_on')
			FROM river_job WHERE kind = 'hookci_job'`, victim.id).Scan(&n, &taken, &handed)
		return fmt.Sprintf("%d (taken over %d×, handed on %d×)", n, taken, handed)
	}
	var killed time.Time
	if partition {
		lock, err := pgx.Connect(ctx, url)
		if err != nil {
			return 0, "", err
		}
		defer lock.Close(ctx)
		tx, err := lock.Begin(ctx)
		if err != nil {
			return 0, "", err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT id FROM hosts WHERE id = $1 FOR UPDATE`, victim.id); err != nil {
			return 0, "", err
		}
		killed = time.Now()
	} else {
		syscall.Kill(victim.srv.Pid(), syscall.SIGKILL)
		killed = time.Now()
		killProcessesUnder(victim.dataDir) // a host sandbox's agent outlives its server; a lost machine loses both
		victim.srv.Stop()                  // reaps the killed process
		victim.srv = nil
	}
	for {
		if runningOn() == other.id {
			// The job row says in_progress on the new attempt: the sandbox is up.
			var runs []struct {
				ID     any
				Status string
			}
			getJSON(other.srv.Base+"/api/runs", &runs)
			if len(runs) == 1 {
				var view struct {
					Jobs []struct {
						Attempt int
						Status  string
					}
				}
				getJSON(fmt.Sprintf("%s/api/runs/%v", other.srv.Base, runs[0].ID), &view)
				if len(view.Jobs) == 1 && view.Jobs[0].Attempt >= 2 && view.Jobs[0].Status == "in_progress" {
					return time.Since(killed), fetches(), nil
				}
			}
		}
		if time.Since(killed) > lease+2*time.Minute {
			return 0, "", fmt.Errorf("the job did not run again:\n%s\n%s", dbState(ctx, conn), other.srv.Logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getJSON(url string, v any) {
	r, err := http.Get(url)
	if err != nil {
		return
	}
	defer r.Body.Close()
	json.NewDecoder(r.Body).Decode(v)
}

// loadavg is /proc/loadavg's three averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// killProcessesUnder kills every process whose command line names a path
// under dir (the host sandbox's agent and its steps).
func killProcessesUnder(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir+"/") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// acks runs the webhookload binary at each of rates on SQLite and on a
// throwaway PostgreSQL cluster, printing its figures after the load
// average (the figures mean something only on an otherwise idle machine).
func acks(webhookload, rates, corpus string) error {
	fmt.Println("webhook acknowledgement, SQLite vs PostgreSQL (bench/webhookload: in-process handler, real store, queue running)")
	for _, r := range strings.Split(rates, ",") {
		r = strings.TrimSpace(r)
		for _, db := range []string{"sqlite", "postgres"} {
			args := []string{"-rate", r, "-duration", "5s", "-corpus", corpus}
			if db == "postgres" {
				args = append(args, "-postgres")
			}
			fmt.Printf("-- %s at %s/s; load average before: %s\n", db, r, loadavg())
			cmd := exec.Command(webhookload, args...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Printf("   (%s at %s/s: %v)\n", db, r, err) // refusals at an overload are a figure, not an end
			}
		}
	}
	return nil
}

// dbState describes the queue's and the jobs' rows and the lock waits,
// for a failure's message.
func dbState(ctx context.Context, conn *pgx.Conn) string {
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, state, attempt, coalesce(array_to_string(attempted_by, ','), ''), kind, coalesce(errors::text, '') FROM river_job ORDER BY id`,
		`SELECT id, status, attempt, coalesce(message, ''), '', '' FROM jobs ORDER BY id`,
		`SELECT pid, state, wait_event_type || ':' || coalesce(wait_event, ''), left(query, 120), coalesce(now() - xact_start, '0')::text, ''
			FROM pg_stat_activity WHERE datname = current_database() AND pid != pg_backend_pid()`,
	} {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			fmt.Fprintf(&b, "%v\n", err)
			continue
		}
		for rows.Next() {
			vals, _ := rows.Values()
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}
