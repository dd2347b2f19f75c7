package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

// cmdStore implements `hookci store copy --from sqlite:PATH --to
// postgres://…`: an installation's history (deliveries, runs, jobs, steps,
// logs, run numbers) moves from its SQLite store to an empty PostgreSQL
// database. PATH is the data directory (HOOKCI_DATA_DIR) or the directory
// holding hookci.db. The server must be stopped (the copy takes the data
// directory's lock).
func cmdStore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(stderr, "usage: hookci store copy --from sqlite:PATH --to postgres://user:password@host/database")
		return 2
	}
	fs := flag.NewFlagSet("store copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the SQLite store: sqlite:PATH (the data directory)")
	to := fs.String("to", "", "the PostgreSQL database: postgres://…")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "hookci store copy: --from must be sqlite:PATH")
		return 2
	}
	if err := store.ValidateDatabaseURL(*to); err != nil || *to == "" {
		fmt.Fprintf(stderr, "hookci store copy: --to: %v\n", orMissing(err))
		return 2
	}
	dir := path
	if _, err := os.Stat(filepath.Join(path, "db", "hookci.db")); err == nil {
		dir = filepath.Join(path, "db")
	} else if _, err := os.Stat(filepath.Join(path, "hookci.db")); err != nil {
		fmt.Fprintf(stderr, "hookci store copy: no hookci.db in %s or %s\n", path, filepath.Join(path, "db"))
		return 1
	}
	src, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "hookci store copy:", err)
		return 1
	}
	defer src.Close()
	tmp, err := os.MkdirTemp("", "hookci-copy-")
	if err != nil {
		fmt.Fprintln(stderr, "hookci store copy:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	dst, err := store.Open(ctx, tmp, store.Options{DatabaseURL: *to})
	if err != nil {
		fmt.Fprintln(stderr, "hookci store copy:", err)
		return 1
	}
	defer dst.Close()
	stats, err := store.Copy(ctx, src, dst)
	if err != nil {
		fmt.Fprintln(stderr, "hookci store copy:", err)
		return 1
	}
	for _, t := range []string{"deliveries", "runs", "jobs", "steps", "log_chunks", "run_counters"} {
		fmt.Fprintf(stdout, "%-12s %d\n", t, stats.Rows[t])
	}
	fmt.Fprintf(stdout, "queued again: %d (deliveries not planned, jobs not finished)\n", stats.Requeued)
	return 0
}

func orMissing(err error) error {
	if err == nil {
		return fmt.Errorf("missing")
	}
	return err
}
