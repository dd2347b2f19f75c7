package store

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Advisory lock keys (pg_advisory_lock's key space is shared with anything
// else using the database; these are "hookci" and "hookci" + 1 in ASCII).
const (
	// migrationLockKey is held (session level) while a host migrates, so
	// that two hosts starting at once migrate one after the other.
	migrationLockKey int64 = 0x686f6f6b6369
	// writeLockKey is held (transaction level) by every InTx transaction:
	// write transactions run one at a time across all hosts, as they do on
	// SQLite, whose single-writer semantics the dispatcher was written for.
	writeLockKey int64 = 0x686f6f6b6369 + 1
)

// idleInTxTimeout is the least time PostgreSQL lets a hookci session sit
// idle inside a transaction (twice the lease when that is longer):
// transactions that wait on the host (planning reads git inside one) must
// fit in it.
const idleInTxTimeout = 60 * time.Second

// connectTimeout bounds reaching PostgreSQL at start.
const connectTimeout = 15 * time.Second

// openPostgres opens the store on PostgreSQL at opts.DatabaseURL, migrates
// it under the migration lock and prepares the queue. It owns lock.
func openPostgres(ctx context.Context, dataDir string, lock *os.File, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(opts.DatabaseURL)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: database URL: %w", err) // pgconn redacts the password
	}
	if !strings.Contains(opts.DatabaseURL, "pool_max_conns") {
		// Job workers append logs and update rows beside River's producers,
		// the LISTEN connection and the webhook's transactions.
		cfg.MaxConns = int32(max(16, 2*opts.MaxJobs+8))
	}
	if _, set := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		// A host frozen (SIGSTOP, a VM paused) inside a transaction keeps
		// its row locks — a log flush's FOR SHARE on the job row blocks the
		// takeover's attempt bump — until the server ends the session.
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] =
			strconv.FormatInt(max(2*opts.Lease, idleInTxTimeout).Milliseconds(), 10)
	}
	where := cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: PostgreSQL %s: %w", where, err)
	}
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		pool.Close()
		lock.Close()
		return nil, fmt.Errorf("store: cannot reach PostgreSQL %s: %w", where, err)
	}
	hostID, err := readHostID(dataDir)
	if err != nil {
		pool.Close()
		lock.Close()
		return nil, err
	}
	s := &Store{db: stdlib.OpenDBFromPool(pool), dialect: postgresDialect, pool: pool, hostID: hostID, lock: lock,
		logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := s.migrateLocked(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.newQueue(opts); err != nil {
		s.Close()
		return nil, err
	}
	// Intake group-commits on connections of its own (intake_postgres.go).
	if s.intake, err = newPGCommitter(ctx, s, cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// migrateLocked migrates while holding the migration lock.
func (s *Store) migrateLocked(ctx context.Context) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer func() {
		// A failed unlock is released with the session: close the connection.
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey); uerr != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return s.migrate(ctx)
}

// readHostID returns this host's identity, kept in the data directory
// (created on first start): its name and a random suffix, unique among the
// hosts sharing a database and the same across restarts.
func readHostID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "host-id")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("store: host id: %w", err)
	}
	name, _ := os.Hostname()
	if len(name) > 60 {
		name = name[:60]
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("store: host id: %w", err)
	}
	id := strings.Trim(name+"-"+hex.EncodeToString(r[:]), "-")
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store: host id: %w", err)
	}
	return id, nil
}

// HostID is this host's name in a shared (PostgreSQL) queue; "" on SQLite.
func (s *Store) HostID() string { return s.hostID }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect.String() }
