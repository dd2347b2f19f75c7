// Package pgtest starts a throwaway PostgreSQL cluster for tests: Debian's
// PostgreSQL server binaries (initdb, postgres) in a temporary directory,
// listening only on a unix socket in that directory, run as a non-root user
// (PostgreSQL refuses to run as root). One cluster serves a whole test
// binary; each test gets a fresh database of its own.
//
// A package's tests use it with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and call URL(t) for a database URL. Outside CI, a machine without
// PostgreSQL skips those tests printing why; under CI=true it fails them.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestUser is the system user the cluster runs as when the tests run as
// root (scripts/deps.sh test creates it); "nobody" when it does not exist.
const TestUser = "hookci-test"

// Cluster is a running PostgreSQL server.
type Cluster struct {
	bin  string // the server binaries' directory
	cred *syscall.Credential
	dir  string // the cluster's temporary directory
	sock string // the unix socket directory
	cmd  *exec.Cmd
	// durable keeps PostgreSQL's fsync and synchronous commit (benchmarks);
	// tests turn them off.
	durable bool
	done    chan struct{} // closed when the server has exited
	mu      sync.Mutex
	n       int // databases created so far
}

// shared is the test binary's one cluster, started by the first URL call
// and stopped by Main. (Process-wide by nature: one cluster per binary.)
var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Main runs the tests, then stops the cluster if one was started, and exits.
func Main(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.Stop()
	}
	os.Exit(code)
}

// URL returns the URL of a new, empty database on the test binary's
// cluster (started on first use). Without PostgreSQL the test is skipped,
// or fails under CI=true.
func URL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = Start() })
	if shared.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL (scripts/deps.sh test installs it): %v", shared.err)
		}
		t.Skipf("skipping: no PostgreSQL cluster: %v", shared.err)
	}
	u, err := shared.c.NewDatabase(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// binDir finds the newest installed PostgreSQL's server binaries.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return "", fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb (Debian package postgresql)")
	}
	sort.Slice(ok, func(i, j int) bool { return version(ok[i]) < version(ok[j]) })
	return ok[len(ok)-1], nil
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// runAs is the credential the server runs with: the current user unless
// that is root, then TestUser or nobody.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(TestUser)
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return nil, fmt.Errorf("running as root and neither %s nor nobody exists", TestUser)
		}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Start initialises and starts a cluster for tests (fsync off). The server
// dies with the process that started it.
func Start() (*Cluster, error) { return start(false) }

// StartDurable is Start with PostgreSQL's defaults for durability (fsync,
// synchronous commit, full page writes on), for measurements.
func StartDurable() (*Cluster, error) { return start(true) }

func start(durable bool) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hookci-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, cred: cred, dir: dir, sock: filepath.Join(dir, "sock"), durable: durable}
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	for _, d := range []string{c.sock, filepath.Join(dir, "data")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail(err)
		}
	}
	if cred != nil {
		for _, d := range []string{dir, c.sock, filepath.Join(dir, "data")} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return fail(err)
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w: %s", err, out))
	}
	if err := c.run(); err != nil {
		return fail(err)
	}
	return c, nil
}

// run starts the server on the cluster's directory and waits until it
// accepts connections.
func (c *Cluster) run() error {
	log, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	// The server, not pg_ctl: a child of this process with a parent-death
	// signal, so a killed test binary leaves no server behind.
	args := []string{"-D", filepath.Join(c.dir, "data"), "-k", c.sock, "-c", "listen_addresses=", "-c", "max_connections=200"}
	if !c.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "shared_buffers=16MB")
	}
	c.cmd = exec.Command(filepath.Join(c.bin, "postgres"), args...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = log, log
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	c.done = make(chan struct{})
	var werr error
	go func() { werr = c.cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), c.url("postgres"))
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-c.done:
			out, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %v: %s", werr, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.cmd.Process.Kill()
			<-c.done
			return fmt.Errorf("postgres did not accept connections within 60s: %w", err)
		}
	}
}

// Pause stops the server (fast shutdown: connections are cut), keeping its
// databases: the database going away under a running hookci.
func (c *Cluster) Pause() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// Resume starts a paused server again.
func (c *Cluster) Resume() error { return c.run() }

func (c *Cluster) url(db string) string {
	return "postgres://postgres@/" + db + "?host=" + c.sock
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	c.mu.Lock()
	c.n++
	name := "t" + strconv.Itoa(c.n)
	c.mu.Unlock()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return c.url(name), nil
}

// Stop stops the server (fast shutdown) and removes its directory.
func (c *Cluster) Stop() {
	c.Pause()
	os.RemoveAll(c.dir)
}

// SocketDir is the directory of the server's unix socket.
func (c *Cluster) SocketDir() string { return c.sock }

// StoreEnv names the environment variable that moves the store of other
// packages' tests to PostgreSQL: HOOKCI_TEST_STORE=postgres.
const StoreEnv = "HOOKCI_TEST_STORE"

// StoreURL is the database URL a package's tests give store.Open: "" (the
// embedded SQLite store) unless HOOKCI_TEST_STORE=postgres, then a fresh
// PostgreSQL database (see URL).
func StoreURL(t testing.TB) string {
	t.Helper()
	if os.Getenv(StoreEnv) != "postgres" {
		return ""
	}
	return URL(t)
}

// Own starts a cluster for one test alone (one it may Pause and Resume),
// stopped when the test ends. Without PostgreSQL the test is skipped, or
// fails under CI=true.
func Own(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL (scripts/deps.sh test installs it): %v", err)
		}
		t.Skipf("skipping: no PostgreSQL cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}
