package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// migration7 is the host registry: every hookci server sharing the store
// and when it was last heard of.
var migration7 = migration{
	SQLite: `CREATE TABLE hosts (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		labels     TEXT NOT NULL DEFAULT '[]',
		max_jobs   INTEGER NOT NULL DEFAULT 0,
		started_at INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL
	);`,
	Postgres: `CREATE TABLE hosts (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		labels     TEXT NOT NULL DEFAULT '[]',
		max_jobs   BIGINT NOT NULL DEFAULT 0,
		started_at BIGINT NOT NULL,
		last_seen  BIGINT NOT NULL
	);`,
}

// DefaultLease is how long a host may go unheard before it is presumed
// dead and its running jobs are given to other hosts.
const DefaultLease = 30 * time.Second

// HostInfo describes this host in the registry.
type HostInfo struct {
	Name string
	// Labels are the runs-on labels and backends the host serves.
	Labels  []string
	MaxJobs int
}

// Host is one server in the registry.
type Host struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Labels    []string  `json:"labels"`
	MaxJobs   int       `json:"max_jobs"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	// Alive: heard of within the lease.
	Alive bool `json:"alive"`
}

// ErrStale is returned when a write comes from a job attempt that has been
// superseded (its host was presumed dead and the job given to another).
var ErrStale = errors.New("stale job attempt: the job was given to another host")

// registryID is this host's row in the registry.
func (s *Store) registryID() string {
	if s.hostID != "" {
		return s.hostID
	}
	return "local"
}

// dbNowMS is the database clock in Unix milliseconds (one clock for every
// host's heartbeats, whatever their own clocks say).
func (d dialect) dbNowMS() string {
	if d == postgresDialect {
		return `(extract(epoch from clock_timestamp()) * 1000)::bigint`
	}
	return `CAST(unixepoch('subsec') * 1000 AS INTEGER)`
}

// register writes this host's registry row.
func (s *Store) register(ctx context.Context) error {
	start := time.Now()
	labels, _ := json.Marshal(s.host.Labels)
	if s.host.Labels == nil {
		labels = []byte("[]")
	}
	now := s.dialect.dbNowMS()
	_, err := boundDB{s: s, e: s.db}.ExecContext(ctx, `INSERT INTO hosts (id, name, labels, max_jobs, started_at, last_seen)
		VALUES (?, ?, ?, ?, `+now+`, `+now+`) ON CONFLICT (id) DO UPDATE SET name = excluded.name, labels = excluded.labels,
		max_jobs = excluded.max_jobs, started_at = excluded.started_at, last_seen = excluded.last_seen`,
		s.registryID(), s.host.Name, string(labels), s.host.MaxJobs)
	if err != nil {
		return fmt.Errorf("store: register host: %w", err)
	}
	s.beatOK(start)
	return nil
}

// heartbeat records that this host is alive and, on a shared database,
// gives the running queue jobs of hosts presumed dead to the others.
func (s *Store) heartbeat(ctx context.Context) error {
	start := time.Now()
	db := boundDB{s: s, e: s.db}
	if _, err := db.ExecContext(ctx, `UPDATE hosts SET last_seen = `+s.dialect.dbNowMS()+` WHERE id = ?`, s.registryID()); err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	s.beatOK(start)
	if s.dialect != postgresDialect {
		return nil // one host: its jobs are taken back at its next start
	}
	n, err := s.takeOver(ctx) // fencing.go
	if err != nil {
		return err
	}
	if n > 0 {
		s.logger.Warn("took over queue jobs of hosts presumed dead (no heartbeat within the lease)", "jobs", n, "lease", s.lease)
	}
	return nil
}

// heartbeatLoop beats every third of the lease until stop is closed.
func (s *Store) heartbeatLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.lease)
			if err := s.heartbeat(ctx); err != nil {
				s.logger.Warn("heartbeat", "err", err)
			}
			cancel()
		}
	}
}

// Hosts lists the registry, newest heartbeat first.
func (q *Queries) Hosts(ctx context.Context) ([]Host, error) {
	var nowMS int64
	if err := q.db.QueryRowContext(ctx, `SELECT `+q.s.dialect.dbNowMS()).Scan(&nowMS); err != nil {
		return nil, fmt.Errorf("store: hosts: %w", err)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id, name, labels, max_jobs, started_at, last_seen FROM hosts ORDER BY last_seen DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: hosts: %w", err)
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		var h Host
		var labels string
		var started, seen int64
		if err := rows.Scan(&h.ID, &h.Name, &labels, &h.MaxJobs, &started, &seen); err != nil {
			return nil, fmt.Errorf("store: hosts: %w", err)
		}
		json.Unmarshal([]byte(labels), &h.Labels)
		h.StartedAt, h.LastSeen = fromMS(started), fromMS(seen)
		h.Alive = nowMS-seen <= q.s.lease.Milliseconds()
		out = append(out, h)
	}
	return out, rows.Err()
}
