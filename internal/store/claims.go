package store

import (
	"context"
	"fmt"
	"time"
)

// migration8 records when each periodic task last ran, so that on a shared
// database one host, not every host, runs it per period.
var migration8 = migration{
	SQLite:   `CREATE TABLE periodic_claims (name TEXT PRIMARY KEY, last_run INTEGER NOT NULL, host TEXT NOT NULL DEFAULT '');`,
	Postgres: `CREATE TABLE periodic_claims (name TEXT PRIMARY KEY, last_run BIGINT NOT NULL, host TEXT NOT NULL DEFAULT '');`,
}

// Claim reports whether this host should run periodic task name now: true
// for exactly one caller per period across every host sharing the store
// (the first to ask once about a period has passed since the last run, by
// the database's clock, with a tenth of the period's slack for tickers
// that fire a little early). Hosts call it from their own tickers.
func (s *Store) Claim(ctx context.Context, name string, period time.Duration) (bool, error) {
	db := boundDB{s: s, e: s.db}
	now := s.dialect.dbNowMS()
	if _, err := db.ExecContext(ctx, `INSERT INTO periodic_claims (name, last_run) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return false, fmt.Errorf("store: claim %s: %w", name, err)
	}
	res, err := db.ExecContext(ctx, `UPDATE periodic_claims SET last_run = `+now+`, host = ?
		WHERE name = ? AND last_run <= `+now+` - ?`, s.registryID(), name, (period - period/10).Milliseconds())
	if err != nil {
		return false, fmt.Errorf("store: claim %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim %s: %w", name, err)
	}
	return n == 1, nil
}
