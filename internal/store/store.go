// Package store owns hookci's database: deliveries, runs, jobs, steps and their
// logs, and the durable work queue (River) on the same database, so that a
// delivery and the queue job that plans it commit in one transaction.
//
// SQLite (pure Go, one file in the data directory) is the embedded default;
// a postgres:// database URL puts the store and the queue on PostgreSQL
// (pgx), where several hookci hosts can share them. Either way Open takes
// an exclusive lock on the data directory: with SQLite that is what lets it
// treat every queue job left "running" as abandoned by a crashed
// predecessor; with PostgreSQL the directory holds the host's identity, and
// only the jobs this host left running are taken back at start.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/hookci/hookci/internal/trace"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the database and the queue.
type Store struct {
	db      *sql.DB
	scratch bool // Options.Scratch
	dialect dialect
	rebound sync.Map // statement → its PostgreSQL form (see bind)
	pool    *pgxpool.Pool
	// hostID names this host in the queue (River's client id) on
	// PostgreSQL; "" on SQLite.
	hostID string
	host   HostInfo
	lease  time.Duration
	hbStop chan struct{} // heartbeats (started by StartQueue)
	hbDone chan struct{}
	lock   *os.File
	logger *slog.Logger
	river  *river.Client[*sql.Tx]
	mem    *memQueue // a scratch store's queue, instead of River (memqueue.go)
	// listener is River's in-process listener on SQLite (nil on
	// PostgreSQL): Store.wake raises insert notifications on it.
	listener *localListener
	// poll is the queue's fetch poll interval (set once in Open).
	poll time.Duration
	// planRetry is how failed planning is retried (set once in Open).
	planRetry RetryPolicy

	intake   intakeCommitter // webhook intake's group commit (intake.go, intake_postgres.go)
	ckpt     *sql.DB         // a connection that checkpoints the WAL
	ckptStop chan struct{}
	ckptDone chan struct{}

	mu       sync.Mutex // guards the fields below
	handlers Handlers
	started  bool
	lastBeat time.Time // start of the last successful heartbeat (fencing.go)
	lostSaid bool      // LeaseLost has logged the loss; a landed heartbeat logs the return (fencing.go)
	slowSaid time.Time // when slow heartbeats were last warned of (fencing.go)

	logs    logNotifier    // live log followers (lognotify.go)
	changes changeNotifier // readers waiting for any write (changes.go)
}

// Handlers are what the queue's workers call. A returned error is logged and
// the queue job retried (River's backoff) up to its attempt limit; Delivery's
// errors follow Options.PlanRetry instead, and a PermanentError is not retried.
type Handlers struct {
	// Delivery plans the runs of one stored delivery.
	Delivery func(ctx context.Context, deliveryID string) error
	// Job runs one job.
	Job func(ctx context.Context, jobID int64) error
	// Report tells GitHub where a run stands (nil: reporting off).
	Report func(ctx context.Context, runID int64) error
	// DeliveryFailed is told the reason (one of FailureReasons) of every
	// delivery that ends failed (metrics); may be nil.
	DeliveryFailed func(reason string)
}

// Options tune the queue.
type Options struct {
	// MaxJobs is how many jobs run at once (the "jobs" queue's workers).
	MaxJobs int
	// PollInterval is how often the queue looks for work nothing woke it
	// for (0: DefaultSQLitePoll; 500ms on PostgreSQL). Work committed by
	// this process wakes it at once (and, on PostgreSQL, NOTIFY).
	PollInterval time.Duration
	Logger       *slog.Logger
	// Sync is SQLite's synchronous setting: "full" (default: every commit is
	// fsynced, so an acknowledged delivery survives power loss) or "normal"
	// (survives a crash of hookci, kill -9 included, but not of the machine;
	// much faster where fsync is slow).
	Sync string
	// Scratch: the caller deletes the store after Close (`hookci run`
	// without --data-dir), so nothing is synced at all (synchronous=OFF,
	// whatever Sync says) and Close does not checkpoint the WAL; its one
	// delivery is stored on the writer's connection (no group commit).
	Scratch bool
	// PlanRetry is how planning is retried after a transient failure
	// (zero fields: DefaultPlanRetry's).
	PlanRetry RetryPolicy
	// DatabaseURL, when set (postgres://…), puts the store and the queue
	// on PostgreSQL instead of SQLite in the data directory.
	DatabaseURL string
	// Host is this host's entry in the host registry.
	Host HostInfo
	// Lease is how long a host may go without a heartbeat before its
	// running jobs are given to other hosts (0: DefaultLease).
	Lease time.Duration
}

// Open opens (creating if needed) the store and migrates it: SQLite in
// dataDir, or the PostgreSQL database of opts.DatabaseURL (dataDir then
// holds only the lock and the host's identity).
func Open(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	d, err := parseDatabaseURL(opts.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	if d == postgresDialect {
		return openPostgres(ctx, dataDir, lock, opts)
	}
	path := filepath.Join(dataDir, "hookci.db")
	sync := "FULL"
	switch strings.ToLower(opts.Sync) {
	case "", "full":
	case "normal":
		sync = "NORMAL"
	default:
		lock.Close()
		return nil, fmt.Errorf("store: sync %q: want full or normal", opts.Sync)
	}
	if opts.Scratch {
		sync = "OFF"
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate&_pragma=wal_autocheckpoint(0)"
	db, err := openSQLite(dsn) // statements kept prepared (stmtcache.go)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// River's SQLite driver wants one connection: SQLite allows one writer.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, lock: lock, logger: opts.Logger, scratch: opts.Scratch}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := s.newQueue(opts); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Intake group-commits on a connection of its own (intake.go). A
	// scratch store (`hookci run`: one delivery) stores it on the writer's
	// connection instead: opening another costs ~1 ms of schema reading on
	// the run's path.
	if !opts.Scratch {
		idb, err := openSQLite(dsn)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
		idb.SetMaxOpenConns(1)
		s.intake = newGroupCommitter(s, idb)
	}
	// Checkpoints run beside the writer, not inside a webhook's commit.
	ckptDSN := "file:" + path + "?_pragma=busy_timeout(10000)"
	if opts.Scratch {
		ckptDSN += "&_pragma=synchronous(OFF)"
	}
	ckpt, err := sql.Open("sqlite", ckptDSN)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	s.ckpt, s.ckptStop, s.ckptDone = ckpt, make(chan struct{}), make(chan struct{})
	go s.checkpointLoop(path + "-wal")
	return s, nil
}

// checkpointLoop copies the WAL back into the database every second
// (PASSIVE: it never waits for or blocks the writer), when the WAL changed
// since the last checkpoint (an idle server does not checkpoint).
func (s *Store) checkpointLoop(wal string) {
	defer close(s.ckptDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last os.FileInfo
	for {
		select {
		case <-s.ckptStop:
			return
		case <-t.C:
			fi, err := os.Stat(wal)
			if err == nil && last != nil && fi.Size() == last.Size() && fi.ModTime().Equal(last.ModTime()) {
				continue
			}
			last = fi
			if _, err := s.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
				s.logger.Warn("store: checkpoint", "err", err)
			}
		}
	}
}

func lockDir(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "hookci.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: data directory %s is in use by another hookci process: %w", dataDir, err)
	}
	return f, nil
}

// migrate applies the store's migrations not yet applied, then River's
// (on PostgreSQL the caller holds the migration lock).
func (s *Store) migrate(ctx context.Context) error {
	defer trace.Begin(ctx, "migrations")()
	db := boundDB{s: s, e: s.db}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS hookci_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM hookci_schema`).Scan(&version); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for i := version; i < len(migrations); i++ {
		text := migrations[i].SQLite
		if s.dialect == postgresDialect {
			text = migrations[i].Postgres
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, text); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %d (%s): %w", i+1, s.dialect, err)
		}
		if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO hookci_schema (version) VALUES (?)`), i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %d: %w", i+1, err)
		}
	}
	if s.mem != nil {
		return nil // a scratch store's queue is in memory (memqueue.go)
	}
	defer trace.Begin(ctx, "queue migrations")()
	var driver riverdriver.Driver[*sql.Tx] = riversqlite.New(s.db)
	if s.dialect == postgresDialect {
		driver = riverdatabasesql.New(s.db)
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: s.riverLogger()})
	if err != nil {
		return fmt.Errorf("store: queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: queue migrations: %w", err)
	}
	return nil
}

// DB exposes the database for read-only reporting (dashboard, metrics).
func (s *Store) DB() *sql.DB { return s.db }

// Close stops the queue (if started) and closes the database.
func (s *Store) Close() error {
	s.logs.close()
	s.mu.Lock()
	started := s.started
	s.started = false
	hbStop, hbDone := s.hbStop, s.hbDone
	s.hbStop = nil
	s.mu.Unlock()
	if hbStop != nil {
		close(hbStop)
		<-hbDone
	}
	if started && s.mem != nil {
		if err := s.mem.stop(10 * time.Second); err != nil {
			s.logger.Warn("queue stop", "err", err)
		}
	}
	if started && s.river != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.river.StopAndCancel(ctx); err != nil {
			s.logger.Warn("queue stop", "err", err)
		}
	}
	if s.intake != nil {
		s.intake.close()
		s.intake = nil
	}
	if s.ckpt != nil {
		close(s.ckptStop)
		<-s.ckptDone
		if !s.scratch {
			s.ckpt.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		}
		s.ckpt.Close()
		s.ckpt = nil
	}
	err := s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// riverLogger passes on River's warnings and errors only: its info and debug
// lines are about its own machinery.
func (s *Store) riverLogger() *slog.Logger {
	return slog.New(minLevel{min: slog.LevelWarn, Handler: s.logger.Handler()})
}

type minLevel struct {
	min slog.Level
	slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func now() int64 { return time.Now().UnixMilli() }
