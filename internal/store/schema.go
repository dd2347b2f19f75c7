package store

// migration is one step of the schema, in each dialect's SQL. A step that
// is the same in both may use one string for both fields.
type migration struct {
	SQLite   string
	Postgres string
}

// migrations are applied in order, each once, recorded in hookci_schema
// (version = index + 1). Append only: never edit a migration that has
// shipped. To add one, write it in a file of its own as a migration value
// (both dialects: PostgreSQL has BIGINT, BOOLEAN, BYTEA and identity
// columns where SQLite has INTEGER, INTEGER, BLOB and AUTOINCREMENT) and
// append its name to this list. The store's tests apply every migration to
// both databases.
var migrations = []migration{
	{SQLite: sqliteMigration1, Postgres: postgresMigration1},
	{SQLite: sqliteMigration2, Postgres: postgresMigration2},
	{SQLite: sqliteMigration3, Postgres: postgresMigration3},
	{SQLite: migration4, Postgres: migration4},
	{SQLite: sqliteMigration5, Postgres: postgresMigration5},
	{SQLite: migration6, Postgres: migration6},
	migration7, // hosts.go
	migration8, // claims.go
	// 9: the runs list's actor, branch and title, and the dashboard's indexes (dashboard.go).
	{SQLite: sqliteDashboardMigration, Postgres: postgresDashboardMigration},
	// 10: schedules and workflow_run events (schedules.go).
	{SQLite: scheduleMigration, Postgres: scheduleMigration},
	// 11: per-line log times (logtimes.go).
	logTimesMigration,
	// 12: the active jobs placement counts (placement.go).
	migrationActiveJobs,
	// 13: a job's runs-on labels (joblabels.go), the Actions runs list's indexes (actionsruns.go).
	migrationJobLabels,
	// 14: disabled workflows and repository activity (workflowstate.go).
	migrationWorkflowStates,
	// 15: refused and duplicate webhook requests, bounded (refused.go).
	migrationRefused,
	// 16: one run id across re-run attempts (runattempts.go).
	migrationRunFirstID,
	// 17: what was last sent to GitHub per run, shared by the hosts (reportsent.go).
	migrationReportSent,
}

const (
	sqliteMigration1 = `CREATE TABLE deliveries (
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
	);`
	// 2: concurrency groups (workflow and job level).
	sqliteMigration2 = `ALTER TABLE runs ADD COLUMN concurrency TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN cancel_in_progress INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX runs_concurrency ON runs(repo, concurrency, status);`
	// 3: what a job reports beyond its conclusion; check run ids per job.
	sqliteMigration3 = `ALTER TABLE jobs ADD COLUMN annotations TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE jobs ADD COLUMN summary TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN check_run_id INTEGER NOT NULL DEFAULT 0;`
	// 4: the commit a delivery is about, for the reconciler.
	migration4 = `ALTER TABLE deliveries ADD COLUMN sha TEXT NOT NULL DEFAULT '';
	CREATE INDEX deliveries_repo_sha ON deliveries(repo, sha);`
	// 5: job-level concurrency groups.
	sqliteMigration5 = `ALTER TABLE jobs ADD COLUMN concurrency TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN cancel_in_progress INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX jobs_concurrency ON jobs(concurrency, status);`
	// 6: payload fingerprints (replay detection within a window).
	migration6 = `ALTER TABLE deliveries ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
	CREATE INDEX deliveries_fingerprint ON deliveries(fingerprint, received_at) WHERE fingerprint != '';`
)
