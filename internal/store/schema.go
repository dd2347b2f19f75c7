package store

// migrations are applied in order, each once, recorded in hookci_schema.
// Append only: never edit a migration that has shipped.
var migrations = []string{
	`CREATE TABLE deliveries (
		id          TEXT PRIMARY KEY,
		event       TEXT NOT NULL,
		action      TEXT NOT NULL DEFAULT '',
		repo        TEXT NOT NULL DEFAULT '',
		received_at INTEGER NOT NULL,
		payload     BLOB NOT NULL,
		status      TEXT NOT NULL,
		message     TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE runs (
		id            INTEGER PRIMARY KEY AUTOINCREMENT,
		delivery_id   TEXT NOT NULL,
		repo          TEXT NOT NULL,
		workflow_file TEXT NOT NULL,
		workflow_name TEXT NOT NULL,
		run_name      TEXT NOT NULL DEFAULT '',
		event         TEXT NOT NULL,
		sha           TEXT NOT NULL,
		ref           TEXT NOT NULL DEFAULT '',
		pr_number     INTEGER NOT NULL DEFAULT 0,
		run_number    INTEGER NOT NULL DEFAULT 1,
		attempt       INTEGER NOT NULL DEFAULT 1,
		status        TEXT NOT NULL,
		conclusion    TEXT NOT NULL DEFAULT '',
		message       TEXT NOT NULL DEFAULT '',
		created_at    INTEGER NOT NULL,
		started_at    INTEGER NOT NULL DEFAULT 0,
		finished_at   INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX runs_repo_sha ON runs(repo, sha);
	CREATE INDEX runs_delivery ON runs(delivery_id);
	CREATE TABLE jobs (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		run_id      INTEGER NOT NULL REFERENCES runs(id),
		job_key     TEXT NOT NULL,
		name        TEXT NOT NULL,
		matrix      TEXT NOT NULL DEFAULT '',
		status      TEXT NOT NULL,
		conclusion  TEXT NOT NULL DEFAULT '',
		outputs     TEXT NOT NULL DEFAULT '{}',
		backend     TEXT NOT NULL DEFAULT '',
		message     TEXT NOT NULL DEFAULT '',
		attempt     INTEGER NOT NULL DEFAULT 0,
		created_at  INTEGER NOT NULL,
		started_at  INTEGER NOT NULL DEFAULT 0,
		finished_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX jobs_run ON jobs(run_id);
	CREATE TABLE steps (
		job_id      INTEGER NOT NULL REFERENCES jobs(id),
		idx         INTEGER NOT NULL,
		name        TEXT NOT NULL,
		status      TEXT NOT NULL,
		outcome     TEXT NOT NULL DEFAULT '',
		conclusion  TEXT NOT NULL DEFAULT '',
		started_at  INTEGER NOT NULL DEFAULT 0,
		finished_at INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (job_id, idx)
	);
	CREATE TABLE log_chunks (
		job_id   INTEGER NOT NULL REFERENCES jobs(id),
		seq      INTEGER NOT NULL,
		step_idx INTEGER NOT NULL,
		data     BLOB NOT NULL,
		PRIMARY KEY (job_id, seq)
	);
	CREATE TABLE run_counters (
		repo     TEXT NOT NULL,
		workflow TEXT NOT NULL,
		next     INTEGER NOT NULL,
		PRIMARY KEY (repo, workflow)
	);`,
	// 2: concurrency groups (workflow and job level).
	`ALTER TABLE runs ADD COLUMN concurrency TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN cancel_in_progress INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX runs_concurrency ON runs(repo, concurrency, status);`,
	// 3: what a job reports beyond its conclusion; check run ids per job.
	`ALTER TABLE jobs ADD COLUMN annotations TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE jobs ADD COLUMN summary TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN check_run_id INTEGER NOT NULL DEFAULT 0;`,
	// 4: the commit a delivery is about, for the reconciler.
	`ALTER TABLE deliveries ADD COLUMN sha TEXT NOT NULL DEFAULT '';
	CREATE INDEX deliveries_repo_sha ON deliveries(repo, sha);`,
	// 5: job-level concurrency groups.
	`ALTER TABLE jobs ADD COLUMN concurrency TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN cancel_in_progress INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX jobs_concurrency ON jobs(concurrency, status);`,
	// 6: payload fingerprints (replay detection within a window).
	`ALTER TABLE deliveries ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
	CREATE INDEX deliveries_fingerprint ON deliveries(fingerprint, received_at) WHERE fingerprint != '';`,
	// 7: schedules and workflow_run events (schedules.go).
	scheduleMigration,
}
